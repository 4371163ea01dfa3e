"""The Rota document: the desks of the follow-the-sun rota, their shifts and holidays, and who
is on call for which role on each shift.

Times are the desk's wall-clock times in its IANA time zone; lint checks the zone, the holiday
calendar, the people and the 24/7 cover (``sopflow/language/checks/rota.py``), and
``sopflow/language/rota.py`` answers who is on call at an instant. docs/rota.md is the guide.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from sopflow.language.models.common import DocBase, RoleName, Strict

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
CLOCK_HELP = "write a local time of day as HH:MM, from 00:00 to 23:59 (or 24:00 for midnight)"


def clock_minutes(text: str) -> int:
    """Minutes after local midnight of ``HH:MM`` (``24:00`` is 1440); ValueError otherwise."""
    if text == "24:00":
        return 24 * 60
    found = _CLOCK.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time of day: {CLOCK_HELP}")
    return int(found[1]) * 60 + int(found[2])


def _check_clock(text: str) -> str:
    try:
        clock_minutes(text)
    except ValueError as exc:
        raise PydanticCustomError("clock_time", str(exc)) from None
    return text


def _check_date(text: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise PydanticCustomError("iso_date", f"{text!r} is not a date: write YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError("iso_date", f"{text!r} is not a date of the calendar") from None
    return text


ClockTime = Annotated[
    str,
    AfterValidator(_check_clock),
    Field(
        json_schema_extra={
            "pattern": r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$|^24:00$",
            "examples": ["08:00", "20:00"],
        }
    ),
]
"""A local time of day, ``HH:MM``; ``24:00`` is the midnight that ends a day."""

IsoDate = Annotated[
    str,
    AfterValidator(_check_date),
    Field(json_schema_extra={"format": "date", "examples": ["2026-12-24"]}),
]
"""A calendar date, ``YYYY-MM-DD``, kept as written."""

ShiftName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
DeskName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")]


class HolidayCalendar(Strict):
    """The days a desk keeps as holidays: a country's public holidays (from the `holidays`
    package) and dates of the desk's own, each with its name."""

    country: str | None = Field(
        default=None,
        description="A country code the `holidays` package knows: US, GB (or UK), AU, ...",
    )
    subdivision: str | None = Field(
        default=None, description="A state, province or nation of that country: NY, NSW, ENG"
    )
    extra: dict[IsoDate, str] = Field(
        default_factory=dict, description="More holidays of this desk: date and name"
    )

    @model_validator(mode="after")
    def _subdivision_needs_country(self) -> HolidayCalendar:
        if self.subdivision is not None and self.country is None:
            raise ValueError("a `subdivision` needs the `country` it belongs to")
        return self


class Shift(Strict):
    """A recurring shift: the days it starts on, and its local start and end times. A shift
    whose end is not after its start ends the next day (``to: "08:00"`` after ``from:
    "20:00"``); one that ends when it starts lasts 24 hours."""

    name: ShiftName
    days: list[Weekday] = Field(min_length=1)
    from_: ClockTime = Field(alias="from")
    to: ClockTime
    holidays: Literal["skip", "also", "only"] = Field(
        default="skip",
        description=(
            "skip: not run on the desk's holidays (the desk closes); also: run on holidays "
            "too; only: a holiday shift, run only on the desk's holidays"
        ),
    )

    @model_validator(mode="after")
    def _starts_within_the_day(self) -> Shift:
        if self.from_ == "24:00":
            raise ValueError("a shift starts at 00:00 to 23:59; `24:00` only ends one")
        return self


class OnCall(Strict):
    """Who is on call for one role on one shift, optionally between two dates (inclusive,
    the dates the shift starts on, in the desk's zone)."""

    role: RoleName
    shift: ShiftName
    people: list[str] = Field(min_length=1)
    from_: IsoDate | None = Field(default=None, alias="from")
    until: IsoDate | None = None

    @model_validator(mode="after")
    def _window_in_order(self) -> OnCall:
        if self.from_ is not None and self.until is not None and self.until < self.from_:
            raise ValueError(f"`until` ({self.until}) is before `from` ({self.from_})")
        return self


class BusinessHours(Strict):
    """The hours a business-hours SLA clock counts at this desk (e.g. when counsel and partner
    agencies work): on each of ``days``, from ``from`` to ``to`` local time, within the one
    day (``to: "24:00"`` ends at midnight). When a desk has none, its own shifts count, except
    holiday-only shifts. Either way the desk's holidays pause the clock."""

    days: list[Weekday] = Field(min_length=1)
    from_: ClockTime = Field(alias="from")
    to: ClockTime

    @model_validator(mode="after")
    def _within_one_day(self) -> BusinessHours:
        if self.from_ == "24:00":
            raise ValueError("business hours start at 00:00 to 23:59; `24:00` only ends them")
        if clock_minutes(self.to) <= clock_minutes(self.from_):
            raise ValueError(
                f"`to` ({self.to}) is not after `from` ({self.from_}): business hours stay "
                "within one local day"
            )
        return self


class Desk(Strict):
    timezone: str = Field(
        min_length=1, description="An IANA time zone", examples=["America/New_York"]
    )
    holidays: HolidayCalendar | None = None
    shifts: list[Shift] = Field(min_length=1)
    oncall: list[OnCall] = Field(default_factory=list)
    business_hours: BusinessHours | None = Field(
        default=None,
        description=(
            "The hours a business-hours SLA clock counts at this desk; without it, the "
            "desk's shifts count (not holiday-only ones). The desk's holidays pause it."
        ),
    )


class RotaDoc(DocBase):
    """The follow-the-sun rota: desks, their shifts and holidays, and who is on call."""

    kind: Literal["Rota"]
    description: str = ""
    desks: dict[DeskName, Desk] = Field(min_length=1)
