"""Who is on call at an instant (sopflow.language.rota): crews on Tue-Sat and Sun-Thu weeks,
shifts across midnight, daylight saving time in New York, London and Sydney, public holidays
from the `holidays` package, a desk's own holidays, and dated on-call entries."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sopflow.language.library import load_library
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import DeskNow, RotaError, on_call_at
from sopflow.language.validation import validate_document
from sopflow.language.yaml_source import parse_text
from tests.conftest import SHIPPED

pytestmark = pytest.mark.unit

ALL_DAYS = "[mon, tue, wed, thu, fri, sat, sun]"
ROTA = f"""\
apiVersion: sopflow/v1
kind: Rota
desks:
  US:
    timezone: America/New_York
    holidays: {{country: US, extra: {{"2026-12-24": Christmas Eve}}}}
    shifts:
      - {{name: tue-sat, days: [tue, wed, thu, fri, sat], from: "08:00", to: "20:00"}}
      - {{name: sun-thu, days: [sun, mon, tue, wed, thu], from: "08:00", to: "20:00"}}
      - {{name: night, days: {ALL_DAYS}, from: "20:00", to: "08:00", holidays: also}}
      - {{name: holiday, days: {ALL_DAYS}, from: "08:00", to: "20:00", holidays: only}}
    oncall:
      - {{role: responder, shift: tue-sat, people: [amoreno]}}
      - {{role: responder, shift: sun-thu, people: [slee]}}
      - {{role: lead, shift: night, people: [dokafor]}}
      - {{role: responder, shift: holiday, people: [kowusu]}}
      - {{role: lead, shift: tue-sat, people: [slee], from: 2026-12-01, until: 2026-12-31}}
  UK:
    timezone: Europe/London
    shifts:
      - {{name: day, days: {ALL_DAYS}, from: "09:00", to: "17:00"}}
    oncall:
      - {{role: lead, shift: day, people: [tbrennan]}}
  AU:
    timezone: Australia/Sydney
    holidays: {{country: AU, subdivision: NSW}}
    shifts:
      - {{name: day, days: {ALL_DAYS}, from: "09:00", to: "17:00"}}
    oncall:
      - {{role: lead, shift: day, people: [jnguyen]}}
"""


def rota_of(text: str) -> RotaDoc:
    source, problems = parse_text(textwrap.dedent(text), "rota.yaml")
    assert source is not None and problems == []
    model, problems = validate_document(source)
    assert problems == [] and isinstance(model, RotaDoc)
    return model


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def desk(at: datetime, name: str, text: str = ROTA) -> DeskNow:
    return next(d for d in on_call_at(rota_of(text), at) if d.desk == name)


def people(now: DeskNow, role: str) -> list[str]:
    return sorted(p for d in now.duties if d.role == role for p in d.people)


def test_desks_come_back_in_name_order() -> None:
    assert [d.desk for d in on_call_at(rota_of(ROTA), utc("2026-06-03 15:00"))] == [
        "AU",
        "UK",
        "US",
    ]


@pytest.mark.parametrize(
    ("when", "crew"),
    [
        ("2026-06-01 16:00", ["slee"]),  # Monday: the Sun-Thu crew only
        ("2026-06-03 16:00", ["amoreno", "slee"]),  # Wednesday: both crews
        ("2026-06-06 16:00", ["amoreno"]),  # Saturday: the Tue-Sat crew only
        ("2026-06-07 16:00", ["slee"]),  # Sunday: the Sun-Thu crew only
    ],
)
def test_tuesday_to_saturday_and_sunday_to_thursday_crews(when: str, crew: list[str]) -> None:
    # 16:00 UTC is 12:00 in New York (EDT) in June.
    now = desk(utc(when), "US")
    assert now.status == "open"
    assert people(now, "responder") == crew


def test_a_night_shift_runs_past_midnight_from_the_day_it_starts() -> None:
    # Wednesday 02:00 in New York (06:00 UTC): Tuesday's night shift, 20:00 to 08:00.
    now = desk(utc("2026-06-03 06:00"), "US")
    assert now.shifts == ("night",)
    [duty] = now.duties
    assert (duty.role, duty.people) == ("lead", ("dokafor",))
    assert duty.start == utc("2026-06-03 00:00")  # Tue 20:00 EDT
    assert duty.end == utc("2026-06-03 12:00")  # Wed 08:00 EDT
    assert now.local.strftime("%a %H:%M %Z") == "Wed 02:00 EDT"


def test_us_spring_forward_shortens_the_night_shift() -> None:
    # Clocks go from 02:00 EST to 03:00 EDT on Sunday 2026-03-08: Saturday's night shift
    # runs 01:00-12:00 UTC (11 hours), a week earlier 01:00-13:00.
    before = desk(utc("2026-03-01 12:30"), "US")
    assert people(before, "lead") == ["dokafor"]
    assert before.duties[0].end == utc("2026-03-01 13:00")
    after = desk(utc("2026-03-08 11:30"), "US")
    [duty] = after.duties
    assert (duty.start, duty.end) == (utc("2026-03-08 01:00"), utc("2026-03-08 12:00"))
    # At 12:30 UTC that Sunday it is 08:30 EDT: the day crew is on, not the night shift.
    assert people(desk(utc("2026-03-08 12:30"), "US"), "responder") == ["slee"]


def test_us_fall_back_lengthens_the_night_shift() -> None:
    # 2026-11-01, 02:00 EDT becomes 01:00 EST: Saturday's night runs 00:00-13:00 UTC.
    [duty] = desk(utc("2026-11-01 12:30"), "US").duties
    assert (duty.start, duty.end) == (utc("2026-11-01 00:00"), utc("2026-11-01 13:00"))


def test_uk_summer_time_moves_the_day_shift_an_hour_earlier_in_utc() -> None:
    # 09:00-17:00 London is 09:00-17:00 UTC in winter, 08:00-16:00 UTC from 2026-03-29.
    assert desk(utc("2026-03-28 08:30"), "UK").status == "off"
    assert people(desk(utc("2026-03-30 08:30"), "UK"), "lead") == ["tbrennan"]
    assert desk(utc("2026-03-30 16:30"), "UK").status == "off"
    # Back to GMT on 2026-10-25.
    assert people(desk(utc("2026-10-26 16:30"), "UK"), "lead") == ["tbrennan"]


def test_sydney_changes_in_the_opposite_season() -> None:
    # 09:00-17:00 Sydney is 22:00-06:00 UTC under AEDT (+11) and 23:00-07:00 UTC under AEST
    # (+10), from 2026-04-05 to 2026-10-04: summer time ends as it starts in the north.
    assert desk(utc("2026-03-31 06:30"), "AU").status == "off"  # 17:30 AEDT
    now = desk(utc("2026-04-07 06:30"), "AU")  # 16:30 AEST
    assert people(now, "lead") == ["jnguyen"]
    assert now.local.strftime("%H:%M %Z") == "16:30 AEST"
    assert desk(utc("2026-10-06 06:30"), "AU").status == "off"  # 17:30 AEDT again


def test_a_public_holiday_from_the_holidays_package_closes_the_crews() -> None:
    # Thanksgiving, Thursday 2026-11-26, 10:00 EST: both crews would be on; the holiday
    # shift is on instead.
    now = desk(utc("2026-11-26 15:00"), "US")
    assert now.holiday == "Thanksgiving Day"
    assert now.shifts == ("holiday",)
    assert people(now, "responder") == ["kowusu"]
    # The night shift runs on holidays too (`holidays: also`).
    assert people(desk(utc("2026-11-27 03:00"), "US"), "lead") == ["dokafor"]


def test_a_desk_without_a_holiday_shift_is_closed() -> None:
    # Australia Day, Monday 2026-01-26, 11:00 AEDT.
    now = desk(utc("2026-01-26 00:00"), "AU")
    assert (now.status, now.holiday, now.duties) == ("closed", "Australia Day", ())
    # The next day, the desk is open again.
    assert desk(utc("2026-01-27 00:00"), "AU").status == "open"


def test_a_date_the_desk_lists_is_a_holiday() -> None:
    # Christmas Eve is not a federal holiday; the US desk lists it.
    now = desk(utc("2026-12-24 15:00"), "US")
    assert (now.holiday, now.shifts) == ("Christmas Eve", ("holiday",))
    assert people(now, "lead") == []  # the dated lead entry is on tue-sat, which is off


@pytest.mark.parametrize(
    ("when", "leads"),
    [
        ("2026-11-27 15:00", []),  # Friday before the window
        ("2026-12-01 15:00", ["slee"]),  # `from` is inclusive
        ("2026-12-31 15:00", ["slee"]),  # `until` is inclusive
        ("2027-01-06 15:00", []),  # after the window
    ],
)
def test_dated_entries_apply_from_and_until(when: str, leads: list[str]) -> None:
    assert people(desk(utc(when), "US"), "lead") == leads


def test_any_offset_names_the_same_instant() -> None:
    here = datetime.fromisoformat("2026-06-03T02:00-04:00")
    assert on_call_at(rota_of(ROTA), here) == on_call_at(rota_of(ROTA), utc("2026-06-03 06:00"))


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        on_call_at(rota_of(ROTA), datetime(2026, 6, 3, 6, 0))


def test_an_unknown_zone_or_calendar_is_a_rota_error() -> None:
    with pytest.raises(RotaError, match="unknown time zone 'Mars/Olympus'"):
        on_call_at(rota_of(ROTA.replace("Europe/London", "Mars/Olympus")), utc("2026-06-03"))
    with pytest.raises(RotaError, match="no holiday calendar"):
        on_call_at(rota_of(ROTA.replace("country: US", "country: XX")), utc("2026-06-03"))


def test_a_24_hour_shift_and_one_ending_at_midnight() -> None:
    text = """\
    apiVersion: sopflow/v1
    kind: Rota
    desks:
      HQ:
        timezone: Europe/London
        shifts:
          - {name: round, days: [mon], from: "06:00", to: "06:00"}
          - {name: evening, days: [tue], from: "18:00", to: "24:00"}
        oncall:
          - {role: lead, shift: round, people: [a]}
          - {role: lead, shift: evening, people: [b]}
    """
    [duty] = desk(utc("2026-06-02 04:59"), "HQ", text).duties  # 05:59 BST on Tuesday
    assert (duty.people, duty.end) == (("a",), utc("2026-06-02 05:00"))
    [duty] = desk(utc("2026-06-02 22:59"), "HQ", text).duties
    assert (duty.people, duty.end) == (("b",), utc("2026-06-02 23:00"))


SHIPPED_ROTA = load_library(SHIPPED).rota
ESCALATED = ("lead", "legal", "commander")


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31)))
def test_the_shipped_rota_always_has_someone_on_call(at: datetime) -> None:
    # The shipped Rota covers 24/7 in every season and on every desk's holidays: at any
    # instant, someone is on call for every role the shipped SOPs escalate to.
    assert SHIPPED_ROTA is not None
    desks = on_call_at(SHIPPED_ROTA.model, at.replace(tzinfo=UTC))
    on_call = {duty.role for now in desks for duty in now.duties if duty.people}
    assert set(ESCALATED) <= on_call, at
