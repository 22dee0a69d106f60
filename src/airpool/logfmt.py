"""airpool's log lines in logfmt, as Astronomer Commander writes them:
``time=2026-11-24T09:00:00Z level=info msg="applied 63 objects" function=install package=airpool.commander.install``.

Key/value pairs passed as ``extra={"kv": {...}}`` are appended; values are quoted when they contain spaces,
quotes or ``=``. Secret values never reach a log call (``AirflowSecrets`` hides its repr), so nothing here masks.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

_NEEDS_QUOTES = frozenset(' "=\t\n')


def quote(value: object) -> str:
    text = str(value)
    if text == "" or any(ch in _NEEDS_QUOTES for ch in text):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z"
        pairs: list[tuple[str, object]] = [
            ("time", stamp),
            ("level", record.levelname.lower()),
            ("msg", record.getMessage()),
            ("function", record.funcName),
            ("package", record.name),
        ]
        extra: Any = getattr(record, "kv", None)
        if isinstance(extra, Mapping):
            pairs.extend((str(k), v) for k, v in extra.items())
        if record.exc_info and record.exc_info[1] is not None:
            pairs.append(("error", describe(record.exc_info[1])))
            pairs.append(("stack", " | ".join(_frames(record.exc_info[2]))))
        return " ".join(f"{k}={quote(v)}" for k, v in pairs)


#: Lines of a SQLAlchemy message that are no cause: its documentation link, and the statement's parameters
#: (they can hold password hashes and token digests).
_NOISE = ("(Background on this error at", "[parameters:")


def describe(exc: BaseException) -> str:
    """An exception's type and message on one line, with its causes (``raise ... from``), without SQLAlchemy's
    documentation link or statement parameters: the log must keep the cause, not only where to read about it."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 5:
        seen.add(id(current))
        lines = [line.strip() for line in str(current).splitlines() if line.strip()]
        text = " ".join(line for line in lines if not line.startswith(_NOISE))
        kind = type(current).__qualname__
        if type(current).__module__ != "builtins":
            kind = f"{type(current).__module__}.{kind}"
        parts.append(f"{kind}: {text}".strip().rstrip(":"))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " <- ".join(parts)


def _frames(tb: Any) -> list[str]:
    """Where it happened: our own frames (libraries' frames are many and say little), and the innermost one."""
    frames = traceback.extract_tb(tb)
    kept = [frame for frame in frames if "site-packages" not in frame.filename][-10:]
    if frames and frames[-1] not in kept:
        kept.append(frames[-1])
    return [f"{frame.filename}:{frame.lineno} {frame.name}" for frame in kept]


#: Libraries that log every request at INFO; their lines drown commander's own at the default level.
_CHATTY = ("httpx", "httpx2", "httpcore", "alembic")


def configure(*, level: int | str = logging.INFO, stream: TextIO | None = None, logger: str = "") -> logging.Handler:
    """Send the process's logs (the root logger unless ``logger`` is named) to ``stream`` (stderr) in logfmt.

    One format for the server, uvicorn and commander, so a log pipeline parses every line the same way. Returns
    the handler so tests can remove it.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    target = logging.getLogger(logger)
    target.addHandler(handler)
    target.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
