"""airpool's log lines in logfmt, as the seed's Commander examples show them:
``time=2026-11-24T09:00:00Z level=info msg="applied 63 objects" function=install package=airpool.commander.install``.

Key/value pairs passed as ``extra={"kv": {...}}`` are appended; values are quoted when they contain spaces,
quotes or ``=``. Secret values never reach a log call (``AirflowSecrets`` hides its repr), so nothing here masks.
"""

from __future__ import annotations

import logging
import sys
import time
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
        if record.exc_info:
            pairs.append(("error", self.formatException(record.exc_info).splitlines()[-1]))
        return " ".join(f"{k}={quote(v)}" for k, v in pairs)


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
