"""One Jinja2 environment for every page, with the few filters the templates share.

Templates live inside the package (``ui/templates``) so a wheel install serves them without any build step.
Autoescaping is always on: every value a user typed reaches the page escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("airpool.ui", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    auto_reload=False,
)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(value: datetime | None) -> str:
    """Absolute time in UTC, minute precision: what an operator compares with logs."""
    if value is None:
        return "—"
    return _utc(value).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return "" if value is None else _utc(value).isoformat().replace("+00:00", "Z")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """Coarse relative time ("3 min ago", "in 2 days") next to the absolute one."""
    if value is None:
        return ""
    seconds = int((_utc(value) - (now or datetime.now(UTC))).total_seconds())
    future, seconds = seconds > 0, abs(seconds)
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = round(seconds / size)  # 2.9 days reads "3 days", not "2 days"
            text = f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
            break
    else:
        return "just now"
    return f"in {text}" if future else f"{text} ago"


_env.filters.update(when=when, iso=iso, ago=ago)


def render(template: str, context: dict[str, Any]) -> str:
    return _env.get_template(template).render(context)
