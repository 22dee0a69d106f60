"""The custom scalars: how ids, JSON and times cross the wire.

The astro CLI decodes ``createdAt``/``updatedAt`` with Go's RFC 3339 parser, which needs a zone designator, so
times always leave as UTC with a trailing ``Z`` (millisecond precision, like Houston). Uuid input is checked here,
so a malformed id is refused by GraphQL validation with the argument named, before any resolver runs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ariadne import ScalarType

uuid_scalar = ScalarType("Uuid")
id_scalar = ScalarType("Id")
json_scalar = ScalarType("JSON")
datetime_scalar = ScalarType("DateTime")


def rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} cannot be sent: times must carry their zone")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@datetime_scalar.serializer
def _serialize_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return rfc3339(value)
    raise ValueError(f"expected a datetime, got {type(value).__name__}")


@datetime_scalar.value_parser
def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a DateTime must be an RFC 3339 string such as 2026-01-02T03:04:05Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 time such as 2026-01-02T03:04:05Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no zone; add Z or an offset such as +02:00")
    return parsed.astimezone(UTC)


@uuid_scalar.serializer
def _serialize_uuid(value: Any) -> str:
    return str(value)


@uuid_scalar.value_parser
def _parse_uuid(value: Any) -> str:
    """The empty string passes as "no id" (the astro CLI sends ``cursorUuid: ""`` for a first page, as Houston
    accepts); a required id that is empty then reads as not found."""
    if not isinstance(value, str):
        raise ValueError("a Uuid must be a string such as 3fa85f64-5717-4562-b3fc-2c963f66afa6")
    if value == "":
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        shown = value if len(value) <= 60 else value[:60] + "..."
        raise ValueError(f"{shown!r} is not a UUID (expected e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6)") from None


@id_scalar.serializer
def _serialize_id(value: Any) -> str:
    return str(value)


@id_scalar.value_parser
def _parse_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("an Id must be a string")
    return value


@json_scalar.serializer
def _serialize_json(value: Any) -> Any:
    return value


@json_scalar.value_parser
def _parse_json(value: Any) -> Any:
    return value


SCALARS = (uuid_scalar, id_scalar, json_scalar, datetime_scalar)
