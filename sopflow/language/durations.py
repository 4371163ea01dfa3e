"""Durations as SOP authors write them: ``30s``, ``15m``, ``4h``, ``3d``, ``2w``, or ISO 8601.

A bare number is refused on purpose: ``sla: 30`` could mean seconds or minutes, and on a
threat-to-life case that difference matters.
"""

from __future__ import annotations

import re

_SHORT = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# ISO 8601 durations without years or months, whose length in seconds varies.
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)

DURATION_HELP = "write a duration like 30s, 15m, 4h, 3d, 2w or ISO 8601 (PT15M, P90D)"
# The same rule for editors, in the JSON Schema (ECMA 262 regex: no inline flags).
DURATION_PATTERN = (
    r"^\s*\d+\s*[smhdw]\s*$|^P(?=\d|T\d)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$"
)


class DurationError(ValueError):
    """The text is not a duration sopflow accepts."""


def parse_duration(text: str) -> int:
    """Seconds in ``text``. Raises DurationError with a reason a person can act on."""
    short = _SHORT.match(text)
    if short:
        seconds = int(short.group(1)) * _UNIT_SECONDS[short.group(2)]
    else:
        iso = _ISO.match(text.strip())
        if not iso or text.strip() in ("P", "PT") or text.strip().endswith("T"):
            if re.fullmatch(r"\s*\d+\s*", text):
                raise DurationError(f"{text!r} has no unit; {DURATION_HELP}")
            if re.fullmatch(r"P(\d+Y)?(\d+M)?.*", text.strip().upper()) and re.search(
                r"\d+[YM]", text.strip().upper().split("T")[0]
            ):
                raise DurationError(
                    f"{text!r} uses years or months, whose length varies; use days or weeks"
                )
            if text.strip() != text.strip().upper() and _ISO.match(text.strip().upper()):
                raise DurationError(
                    f"{text!r}: ISO 8601 letters are upper case: write {text.upper()!r}"
                )
            raise DurationError(f"{text!r} is not a duration; {DURATION_HELP}")
        parts = {k: int(v) for k, v in iso.groupdict().items() if v is not None}
        seconds = (
            parts.get("w", 0) * 604800
            + parts.get("d", 0) * 86400
            + parts.get("h", 0) * 3600
            + parts.get("m", 0) * 60
            + parts.get("s", 0)
        )
    if seconds <= 0:
        raise DurationError(f"{text!r} is zero; a duration must be positive")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact text for ``seconds`` (e.g. 5400 -> '90m')."""
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
