"""airpool's log lines read like Astronomer Commander's: logfmt with time, level, msg, function and package."""

from __future__ import annotations

import io
import logging
import re

from airpool import logfmt
from airpool.manifests.airflow.spec import AirflowSecrets


def emit(message: str, *args: object, **kv: object) -> str:
    stream = io.StringIO()
    handler = logfmt.configure(stream=stream, logger="airpool.commander")
    try:
        logging.getLogger("airpool.commander.install").info(message, *args, extra={"kv": kv} if kv else None)
    finally:
        logging.getLogger("airpool.commander").removeHandler(handler)
    return stream.getvalue().strip()


def test_a_line_has_commanders_keys_in_order() -> None:
    line = emit("install applied", deployment="dep-1", objects=63)
    assert re.fullmatch(
        r'time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ level=info msg="install applied" function=emit '
        r"package=airpool\.commander\.install deployment=dep-1 objects=63",
        line,
    ), line


def test_values_with_spaces_quotes_or_equals_are_quoted() -> None:
    assert logfmt.quote("plain") == "plain"
    assert logfmt.quote("") == '""'
    assert logfmt.quote('say "hi"') == '"say \\"hi\\""'
    assert logfmt.quote("a=b") == '"a=b"'
    assert logfmt.quote("two\nlines") == '"two\\nlines"'


def test_secret_values_cannot_leak_through_a_log_call() -> None:
    secrets = AirflowSecrets.generate()
    line = emit("rendered with %s", secrets)
    assert secrets.fernet_key not in line
    assert "AirflowSecrets(<hidden>)" in line
