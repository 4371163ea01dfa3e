"""Lint of the Rota document: each check reports at its place, and 24/7 cover is checked for
every role the SOPs escalate to, across daylight saving time and holidays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.compile.lint import lint_library
from sopflow.language.checks.rota_cover import escalation_roles
from sopflow.language.diagnostics import Diagnostic
from tests.conftest import MINIMAL_SOP, SHIPPED, WriteLib

pytestmark = pytest.mark.unit

ROSTER = """\
apiVersion: sopflow/v1
kind: Roster
people:
  alice: {name: Alice Moreno, region: US, roles: [responder]}
  bob: {name: Bob Tan, region: US, roles: [lead]}
  carol: {name: Carol Diaz, region: UK, roles: [lead, responder]}
  dave: {name: Dave Ito, region: US, roles: [lead]}
"""

# Lines: 5 timezone, 7 the shift, 9 the entry (its role at col 16, its person at col 47).
ROTA = """\
apiVersion: sopflow/v1
kind: Rota
desks:
  HQ:
    timezone: Etc/UTC
    shifts:
      - {name: all-day, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "00:00"}
    oncall:
      - {role: lead, shift: all-day, people: [bob]}
"""


def with_holidays(spec: str) -> str:
    """ROTA with ``holidays: spec`` on its desk (line 6; the shift moves to line 8)."""
    return ROTA.replace("    shifts:\n", f"    holidays: {spec}\n    shifts:\n", 1)


def lint(write_lib: WriteLib, rota: str, **more: str) -> list[Diagnostic]:
    files = {"mini/v1.yaml": MINIMAL_SOP, "roster.yaml": ROSTER, "rota.yaml": rota, **more}
    return lint_library(write_lib(files)).diagnostics


def places(diags: list[Diagnostic]) -> list[tuple[int, int, str]]:
    return [(d.line, d.col, d.code) for d in diags]


def test_a_covered_rota_is_clean(write_lib: WriteLib) -> None:
    assert lint(write_lib, ROTA) == []


def test_no_rota_checks_nothing(write_lib: WriteLib) -> None:
    root = write_lib({"mini/v1.yaml": MINIMAL_SOP, "roster.yaml": ROSTER})
    assert lint_library(root).diagnostics == []


def test_unknown_time_zone(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace("Etc/UTC", "Europe/Londn"))
    assert (found.path, found.line, found.col, found.code) == ("lib/rota.yaml", 5, 15, "E700")
    assert "did you mean `Europe/London`?" in found.message


def test_unknown_holiday_country_and_subdivision(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, with_holidays("{country: XZ}"))
    assert places([found]) == [(6, 25, "E701")]
    [found] = lint(write_lib, with_holidays("{country: AU, subdivision: NWS}"))
    assert places([found]) == [(6, 42, "E701")]
    assert "did you mean `NSW`?" in found.message


def test_unknown_and_duplicate_shift(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace("shift: all-day", "shift: all-dya"))
    assert places([found]) == [(9, 29, "E702")]
    assert "did you mean `all-day`?" in found.message
    line = '      - {name: all-day, days: [mon], from: "01:00", to: "02:00"}\n'
    text = ROTA.replace("    oncall:\n", line + "    oncall:\n")
    [found] = lint(write_lib, text)
    assert places([found]) == [(8, 16, "E703")]
    assert "(line 7)" in found.message


def test_person_not_in_the_roster(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace("people: [bob]", "people: [bbo]"))
    assert places([found]) == [(9, 47, "E704")]
    assert "did you mean `bob`?" in found.message


def test_person_without_the_role(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace("people: [bob]", "people: [alice]"))
    assert places([found]) == [(9, 47, "E705")]
    assert "their roles on it: responder" in found.message


def test_a_person_on_call_twice_at_once(write_lib: WriteLib) -> None:
    text = (
        ROTA.replace(
            '      - {name: all-day, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", '
            'to: "00:00"}\n',
            '      - {name: all-day, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", '
            'to: "00:00"}\n'
            '      - {name: late, days: [tue], from: "18:00", to: "02:00"}\n',
        )
        + "      - {role: lead, shift: late, people: [carol, bob]}\n"
    )
    [found] = lint(write_lib, text)
    assert places([found]) == [(11, 51, "E706")]
    assert "bob is on call for 'lead' twice at once on desk HQ" in found.message
    assert "from Tuesdays 18:00 to Wednesdays 02:00 local time" in found.message


def test_crews_that_overlap_with_other_people_are_fine(write_lib: WriteLib) -> None:
    # Tue-Sat and Sun-Thu crews are both in on Tuesday to Thursday.
    text = ROTA + "      - {role: lead, shift: all-day, people: [carol]}\n"
    assert lint(write_lib, text) == []


def test_the_same_person_in_dates_that_do_not_overlap_is_fine(write_lib: WriteLib) -> None:
    text = ROTA.replace("people: [bob]}", "people: [bob], until: 2026-06-30}") + (
        "      - {role: lead, shift: all-day, people: [bob], from: 2026-07-01}\n"
    )
    assert lint(write_lib, text) == []
    clash = text.replace("from: 2026-07-01", "from: 2026-06-30")
    assert places(lint(write_lib, clash)) == [(10, 47, "E706")]


def test_a_daily_gap_in_cover_is_an_error(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace('to: "00:00"', 'to: "22:00"'))
    assert places([found]) == [(9, 16, "E707")]
    assert found.message == (
        "nobody is on call for 'lead' every day 22:00-24:00 UTC, every week "
        "(mini@1 (US) escalates to it)"
    )


def test_a_gap_on_some_days_of_the_week(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace("[mon, tue, wed, thu, fri, sat, sun]", "[mon, sat]"))
    assert "from Tuesdays 00:00 to Saturdays 00:00 UTC, every week" in found.message
    assert "; on Sundays 00:00-24:00 UTC, every week" in found.message


def test_a_role_nobody_covers(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace("role: lead", "role: responder").replace("bob", "alice"))
    assert places([found]) == [(3, 1, "E707")]
    assert found.message == "nobody is ever on call for 'lead', which mini@1 (US) escalates to"


def test_summer_time_opens_a_gap_between_desks(write_lib: WriteLib) -> None:
    # London 00:00-13:00 meets a UTC desk's 13:00 in winter; under BST it ends at 12:00 UTC.
    text = """\
    apiVersion: sopflow/v1
    kind: Rota
    desks:
      UK:
        timezone: Europe/London
        shifts: [{name: day, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "13:00"}]
        oncall: [{role: lead, shift: day, people: [carol]}]
      HQ:
        timezone: UTC
        shifts: [{name: late, days: [mon, tue, wed, thu, fri, sat, sun], from: "13:00", to: "0:00"}]
        oncall: [{role: lead, shift: late, people: [bob]}]
    """
    [found] = lint(write_lib, text)
    assert found.code == "E707"
    assert "every day 12:00-13:00 UTC on 210 days from 2026-03-29 to 2026-10-24" in found.message


def test_a_rota_that_runs_out(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, ROTA.replace("people: [bob]}", "people: [bob], until: 2026-06-30}"))
    assert places([found]) == [(9, 16, "E707")]
    assert "nobody is on call for 'lead' from Wed 2026-07-01 00:00 UTC on" in found.message


def test_a_holiday_closure_is_a_warning(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, with_holidays('{extra: {"2026-03-03": Company day}}'))
    assert places([found]) == [(10, 16, "W700")]
    assert found.message == (
        "nobody is on call for 'lead' on Tue 2026-03-03 00:00-24:00 UTC (HQ keeps Company day) "
        "(mini@1 (US) escalates to it)"
    )


def test_a_holiday_shift_covers_the_holiday(write_lib: WriteLib) -> None:
    text = with_holidays('{extra: {"2026-03-03": Company day}}').replace(
        "    oncall:\n",
        '      - {name: holiday, days: [tue], from: "00:00", to: "00:00", holidays: only}\n'
        "    oncall:\n      - {role: lead, shift: holiday, people: [carol]}\n",
    )
    assert lint(write_lib, text) == []


def test_public_holidays_of_the_checked_year_are_named(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, with_holidays("{country: GB, subdivision: ENG}"))
    assert found.code == "W700"
    assert "on Fri 2026-04-03 00:00-24:00 UTC (HQ keeps Good Friday)" in found.message
    assert found.message.count("; ") == 3 and "; and 5 more gaps" in found.message


def test_structural_errors_skip_the_cover_check(write_lib: WriteLib) -> None:
    text = ROTA.replace("Etc/UTC", "Nowhere/Town").replace('to: "00:00"', 'to: "22:00"')
    assert [d.code for d in lint(write_lib, text)] == ["E700"]


@pytest.mark.parametrize(
    ("change", "place", "needle"),
    [
        (("days: [mon,", "days: [mun,"), (7, 32), "expected 'mon'"),
        (('from: "00:00"', 'from: "25:00"'), (7, 74), "not a time of day"),
        (('to: "00:00"', 'to: "8am"'), (7, 87), "not a time of day"),
        (("people: [bob]}", "people: [bob], from: 2026-13-01}"), (9, 59), "not a date"),
        (("[bob]}", "[bob], from: 2026-02-01, until: 2026-01-01}"), (9, 9), "before"),
    ],
)
def test_bad_days_times_and_dates(
    write_lib: WriteLib, change: tuple[str, str], place: tuple[int, int], needle: str
) -> None:
    [found] = lint(write_lib, ROTA.replace(*change))
    assert ((found.line, found.col), found.code) == (place, "E205")
    assert needle in found.message


def test_a_second_rota_is_a_duplicate(write_lib: WriteLib) -> None:
    found = lint(write_lib, ROTA, **{"more/rota.yaml": ROTA})
    assert [(d.path, d.code) for d in found] == [("lib/rota.yaml", "E310")]


def test_the_shipped_rota_is_checked_for_its_escalation_roles() -> None:
    result = lint_library(SHIPPED)
    assert result.library.rota is not None
    assert sorted(escalation_roles(result.plans)) == ["commander", "lead", "legal"]
    assert [d for d in result.diagnostics if d.path.endswith("rota.yaml")] == []


def test_the_schema_command_includes_the_rota() -> None:
    done = CliRunner().invoke(app, ["schema"])
    assert done.exit_code == 0
    schema = json.loads(done.stdout)
    assert {"RotaDoc", "Desk", "Shift", "OnCall", "HolidayCalendar"} <= set(schema["$defs"])
    kinds = schema["discriminator"]["mapping"] if "discriminator" in schema else {}
    assert "Rota" in kinds or "Rota" in json.dumps(schema["$defs"]["RotaDoc"])


def test_the_rota_file_path_is_relative(write_lib: WriteLib) -> None:
    found = lint(write_lib, ROTA.replace("Etc/UTC", "Etc/UTX"))
    assert [Path(d.path).as_posix() for d in found] == ["lib/rota.yaml"]


def test_a_desk_named_after_a_region_holds_only_roles_given_on_it(write_lib: WriteLib) -> None:
    """On a desk named like a region, someone from another region is on call only for roles
    the Roster gives them there (`desks`)."""
    text = ROTA.replace("HQ:", "UK:")
    [found] = lint(write_lib, text)
    assert found.code == "E705"
    assert "bob is on call for 'lead' at the UK desk" in found.message
    roster = ROSTER.replace("roles: [lead]}", "roles: [lead], desks: {UK: [lead]}}", 1)
    assert lint(write_lib, text, **{"roster.yaml": roster}) == []
