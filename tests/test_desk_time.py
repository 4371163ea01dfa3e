"""Business time at a desk and whose turn it is (sopflow.language.desk_time): business hours
across weekends, public holidays and daylight saving time; shifts as business time; and the
follow-the-sun turn between desks with gaps in their cover."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sopflow.language.desk_time import (
    OFF_HOURS,
    BusinessDue,
    advance_business,
    business_spans,
    desk_turn,
)
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import DeskClock, RotaError
from sopflow.language.validation import validate_document
from sopflow.language.yaml_source import parse_text

pytestmark = pytest.mark.unit

# In January, New York is UTC-5, London UTC+0 and Sydney UTC+11: the US desk's shift is
# 14:00-23:00 UTC, the UK's 08:00-16:00 UTC and the AU's 22:00 (the day before) to 06:00
# UTC, Monday to Friday local. Nobody covers 06:00-08:00 UTC, nor the weekend.
ROTA = """\
apiVersion: sopflow/v1
kind: Rota
desks:
  US:
    timezone: America/New_York
    holidays: {country: US}
    business_hours: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
    shifts:
      - {name: day, days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
    oncall:
      - {role: lead, shift: day, people: [dokafor]}
      - {role: legal, shift: day, people: [rhalvorsen, kowusu]}
  UK:
    timezone: Europe/London
    holidays: {country: GB, subdivision: ENG}
    shifts:
      - {name: day, days: [mon, tue, wed, thu, fri], from: "08:00", to: "16:00"}
      - {name: holiday, days: [mon, tue, wed, thu, fri], from: "10:00", to: "14:00",
         holidays: only}
    oncall:
      - {role: lead, shift: day, people: [tbrennan]}
      - {role: lead, shift: holiday, people: [okhan]}
  AU:
    timezone: Australia/Sydney
    shifts:
      - {name: day, days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
    oncall:
      - {role: lead, shift: day, people: [jnguyen]}
      - {role: legal, shift: day, people: [mharris]}
"""


def rota_of(text: str) -> RotaDoc:
    source, problems = parse_text(textwrap.dedent(text), "rota.yaml")
    assert source is not None and problems == []
    model, problems = validate_document(source)
    assert problems == [] and isinstance(model, RotaDoc)
    return model


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


MODEL = rota_of(ROTA)
US = DeskClock.of("US", MODEL.desks["US"])
UK = DeskClock.of("UK", MODEL.desks["UK"])
HOUR = 3600.0


def business_seconds(clock: DeskClock, start: datetime, end: datetime) -> float:
    return sum((hi - lo).total_seconds() for lo, hi in business_spans(clock, start, end))


# Business hours


def test_business_hours_pause_over_the_weekend_and_a_public_holiday() -> None:
    # Friday 2030-01-18 15:00 EST: 2 hours that day, then the weekend and Monday, Martin
    # Luther King Jr. Day; Tuesday 09:00-15:00 EST makes 8.
    got = advance_business(US, utc("2030-01-18 20:00"), 8 * HOUR)
    assert got == BusinessDue(
        utc("2030-01-22 20:00"), [OFF_HOURS, "2030-01-21 Martin Luther King Jr. Day"]
    )


def test_business_spans_are_the_hours_on_their_days_less_holidays() -> None:
    assert business_spans(US, utc("2030-01-18 00:00"), utc("2030-01-23 00:00")) == [
        (utc("2030-01-18 14:00"), utc("2030-01-18 22:00")),
        (utc("2030-01-22 14:00"), utc("2030-01-22 22:00")),
    ]
    # Clipped to the window asked about.
    assert business_spans(US, utc("2030-01-18 20:00"), utc("2030-01-18 21:00")) == [
        (utc("2030-01-18 20:00"), utc("2030-01-18 21:00"))
    ]


def test_a_start_outside_business_hours_counts_from_the_next_opening() -> None:
    got = advance_business(US, utc("2030-01-23 02:00"), 30 * 60)  # Wed 21:00 EST on Tue
    assert got == BusinessDue(utc("2030-01-23 14:30"), [OFF_HOURS])


def test_business_hours_follow_daylight_saving_time() -> None:
    # New York springs forward on Sunday 2030-03-10: 09:00-17:00 is 14:00-22:00 UTC on the
    # Friday before and 13:00-21:00 UTC on the Monday after.
    assert business_spans(US, utc("2030-03-08 00:00"), utc("2030-03-12 00:00")) == [
        (utc("2030-03-08 14:00"), utc("2030-03-08 22:00")),
        (utc("2030-03-11 13:00"), utc("2030-03-11 21:00")),
    ]
    # Friday 16:00 EST plus 3 hours: 1 on Friday, 2 on Monday, to 11:00 EDT.
    got = advance_business(US, utc("2030-03-08 21:00"), 3 * HOUR)
    assert got == BusinessDue(utc("2030-03-11 15:00"), [OFF_HOURS])


def test_business_hours_may_end_at_midnight() -> None:
    text = ROTA.replace('from: "09:00", to: "17:00"}', 'from: "18:00", to: "24:00"}')
    clock = DeskClock.of("US", rota_of(text).desks["US"])
    assert business_spans(clock, utc("2030-01-22 00:00"), utc("2030-01-23 12:00")) == [
        (utc("2030-01-22 23:00"), utc("2030-01-23 05:00")),
    ]


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ('{days: [mon], from: "17:00", to: "09:00"}', "is not after `from`"),
        ('{days: [mon], from: "09:00", to: "09:00"}', "is not after `from`"),
        ('{days: [mon], from: "24:00", to: "24:00"}', "`24:00` only ends them"),
        ('{days: [], from: "09:00", to: "17:00"}', "at least 1 item"),
    ],
)
def test_business_hours_stay_within_one_day(hours: str, message: str) -> None:
    text = ROTA.replace('{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}', hours)
    source, problems = parse_text(text, "rota.yaml")
    assert source is not None and problems == []
    _, problems = validate_document(source)
    assert any(message in p.message for p in problems), problems


def test_no_time_is_due_at_once_and_a_desk_without_business_time_is_an_error() -> None:
    assert advance_business(US, utc("2030-01-19 12:00"), 0) == BusinessDue(
        utc("2030-01-19 12:00"), []
    )
    with pytest.raises(RotaError, match="desk US has not enough business time"):
        advance_business(US, utc("2030-01-19 12:00"), HOUR, horizon=timedelta(days=1))
    with pytest.raises(ValueError, match="UTC offset"):
        advance_business(US, datetime(2030, 1, 19, 12), HOUR)


# Shifts as business time


def test_without_business_hours_the_shifts_count_but_not_holiday_shifts() -> None:
    # New Year's Day, Tuesday 2030-01-01: the day shift is off and the holiday-only shift,
    # 10:00-14:00, does not count.
    assert business_spans(UK, utc("2029-12-31 00:00"), utc("2030-01-03 00:00")) == [
        (utc("2029-12-31 08:00"), utc("2029-12-31 16:00")),
        (utc("2030-01-02 08:00"), utc("2030-01-02 16:00")),
    ]
    got = advance_business(UK, utc("2029-12-31 15:00"), 2 * HOUR)
    assert got == BusinessDue(utc("2030-01-02 09:00"), [OFF_HOURS, "2030-01-01 New Year's Day"])


def test_a_shift_that_runs_on_holidays_keeps_the_clock_running() -> None:
    text = ROTA.replace(
        'from: "08:00", to: "16:00"}', 'from: "08:00", to: "16:00", holidays: also}'
    )
    clock = DeskClock.of("UK", rota_of(text).desks["UK"])
    got = advance_business(clock, utc("2029-12-31 15:00"), 2 * HOUR)
    assert got == BusinessDue(utc("2030-01-01 09:00"), [OFF_HOURS])


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([US, UK]),
    st.datetimes(min_value=datetime(2029, 6, 1), max_value=datetime(2031, 6, 1)),
    st.floats(min_value=0, max_value=200 * HOUR, allow_nan=False),
)
def test_the_business_time_to_the_due_instant_is_the_time_asked_for(
    clock: DeskClock, start: datetime, seconds: float
) -> None:
    at = start.replace(tzinfo=UTC)
    got = advance_business(clock, at, seconds)
    assert got.due >= at
    assert abs(business_seconds(clock, at, got.due) - seconds) < 1
    assert len(got.paused) == len(set(got.paused)) <= 10


# Following the sun


def test_the_holder_keeps_the_turn_while_it_covers() -> None:
    turn = desk_turn(MODEL, ["lead"], every=False, holder="US", at=utc("2030-01-15 20:00"))
    assert (turn.desk, turn.until, turn.people) == ("US", utc("2030-01-15 23:00"), ("dokafor",))
    assert turn.reason == "US is on shift for lead until 2030-01-15T23:00Z"


def test_a_holder_off_shift_hands_to_the_desk_covering_longest() -> None:
    # At 22:30 UTC both the US (to 23:00) and AU (to 06:00) cover; AU lasts longer.
    turn = desk_turn(MODEL, ["lead"], every=False, holder="UK", at=utc("2030-01-15 22:30"))
    assert (turn.desk, turn.until, turn.people) == ("AU", utc("2030-01-16 06:00"), ("jnguyen",))
    assert turn.reason == "UK is off shift; AU is on shift for lead until 2030-01-16T06:00Z"
    # A holder that is no desk of the Rota never covers.
    turn = desk_turn(MODEL, ["legal"], every=False, holder="HQ", at=utc("2030-01-15 20:00"))
    assert (turn.desk, turn.people) == ("US", ("kowusu", "rhalvorsen"))
    assert turn.reason.startswith("HQ is not a desk; US is on shift for legal")


def test_in_a_gap_the_holder_keeps_the_turn_until_a_desk_starts() -> None:
    turn = desk_turn(MODEL, ["lead"], every=False, holder="AU", at=utc("2030-01-16 07:00"))
    assert (turn.desk, turn.until, turn.people) == ("AU", utc("2030-01-16 08:00"), ())
    assert "UK starts at 2030-01-16T08:00Z" in turn.reason
    # Over the weekend, and Martin Luther King Jr. Day on the Monday: Sydney's Monday
    # 09:00 AEDT is the first cover, Sunday 22:00 UTC.
    turn = desk_turn(MODEL, ["lead"], every=False, holder="US", at=utc("2030-01-19 12:00"))
    assert (turn.desk, turn.until, turn.people) == ("US", utc("2030-01-20 22:00"), ())


def test_every_role_must_be_covered_when_every_is_asked() -> None:
    # The UK desk has a lead on call but nobody for legal.
    at = utc("2030-01-15 10:00")
    turn = desk_turn(MODEL, ["lead", "legal"], every=True, holder="UK", at=at)
    assert (turn.desk, turn.until, turn.people) == ("UK", utc("2030-01-15 14:00"), ())
    turn = desk_turn(MODEL, ["lead", "legal"], every=False, holder="UK", at=at)
    assert (turn.desk, turn.until, turn.people) == ("UK", utc("2030-01-15 16:00"), ("tbrennan",))
    # The US has both: from 14:00 UTC the turn goes there, with everyone on call for either.
    turn = desk_turn(MODEL, ["lead", "legal"], every=True, holder="UK", at=utc("2030-01-15 17:00"))
    assert (turn.desk, turn.until) == ("US", utc("2030-01-15 23:00"))
    assert turn.people == ("dokafor", "kowusu", "rhalvorsen")


def test_a_turn_without_change_in_the_horizon_has_no_end() -> None:
    text = """\
    apiVersion: sopflow/v1
    kind: Rota
    desks:
      HQ:
        timezone: Europe/London
        shifts:
          - {name: round, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "00:00"}
        oncall:
          - {role: lead, shift: round, people: [a]}
    """
    turn = desk_turn(rota_of(text), ["lead"], every=True, holder="HQ", at=utc("2030-01-15 10:00"))
    assert (turn.desk, turn.until, turn.people) == ("HQ", None, ("a",))
    assert turn.reason == "HQ is on shift for lead with no change within 14 days"
    turn = desk_turn(rota_of(text), ["legal"], every=True, holder="HQ", at=utc("2030-01-15 10:00"))
    assert (turn.desk, turn.until, turn.people) == ("HQ", None, ())
