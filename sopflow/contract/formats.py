"""The JSON Schema ``format`` values sopflow asserts, and how: one set of rules for the
workflow's form check (``workflows/form_check.py``, inside the Temporal sandbox) and the CLI's
input check (``sopflow.language.input_check``, through jsonschema), so a value is accepted or
refused the same way wherever it is checked. Any other ``format`` is an annotation.

``date``, ``email``, ``ipv4``, ``ipv6`` and ``uuid`` follow jsonschema's own checks (standard
library only); ``date-time`` is RFC 3339 with seconds and a time zone, since a bare local time
on a case handed between desks is ambiguous.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date
from uuid import UUID

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)


def is_date_time(value: str) -> bool:
    """RFC 3339 ``date-time``: ``2025-03-01T10:00:00Z`` or ``...+01:00``; a time zone is required,
    since a bare local time on a cross-desk case is ambiguous."""
    found = _DATE_TIME.fullmatch(value)
    if not found:
        return False
    year, month, day, hour, minute, second, off_hour, off_minute = (
        int(g or 0) for g in found.groups()
    )
    try:
        date(year, month, day)
    except ValueError:
        return False
    return hour < 24 and minute < 60 and second < 60 and off_hour < 24 and off_minute < 60


def _is_date(value: str) -> bool:
    try:
        return bool(_DATE.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _is_ipv6(value: str) -> bool:
    try:
        return not ipaddress.IPv6Address(value).scope_id
    except ValueError:
        return False


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return all(value[i] == "-" for i in (8, 13, 18, 23))


ASSERTED_FORMATS: dict[str, Callable[[str], bool]] = {
    "date": _is_date,
    "date-time": is_date_time,
    "email": lambda value: "@" in value,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "uuid": _is_uuid,
}
