from __future__ import annotations

import pytest

from sopflow.language.durations import DurationError, format_duration, parse_duration

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("4h", 14400),
        ("3d", 259200),
        ("2w", 1209600),
        ("PT15M", 900),
        ("P90D", 7776000),
        ("P1DT2H", 93600),
        ("PT1H30M", 5400),
    ],
)
def test_accepted_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("30", "no unit"),
        ("5 minutes", "not a duration"),
        ("P1M", "years or months"),
        ("0m", "zero"),
        ("PT", "not a duration"),
        ("", "not a duration"),
        ("-5m", "not a duration"),
        ("p1d", "upper case"),  # ISO 8601 designators are upper case
        ("PT1.5S", "not a duration"),
    ],
)
def test_refused_forms_say_why(text: str, reason: str) -> None:
    with pytest.raises(DurationError, match=reason):
        parse_duration(text)


def test_format_round_trips() -> None:
    for seconds in (30, 90, 900, 5400, 86400, 604800, 7776000):
        assert parse_duration(format_duration(seconds)) == seconds
