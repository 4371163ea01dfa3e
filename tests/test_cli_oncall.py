"""``sopflow oncall`` as a person runs it: the table, the JSON, and one-line refusals."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from tests.conftest import MINIMAL_SOP, SHIPPED, WriteLib

pytestmark = pytest.mark.unit

runner = CliRunner()
CHRISTMAS = "2026-12-25T14:00Z"  # 09:00 in New York, 14:00 in London, 01:00 Boxing Day in Sydney


def run(*args: str) -> tuple[int, str, str]:
    done = runner.invoke(app, ["oncall", "-d", str(SHIPPED), *args])
    return done.exit_code, done.stdout, done.stderr


def test_table_at_a_given_time() -> None:
    code, out, err = run("--at", CHRISTMAS)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "On call at Fri 2026-12-25 14:00 UTC"
    assert any("desk" in line and "on call" in line and "until (UTC)" in line for line in lines)
    au = [line for line in lines if line.startswith("│ AU")]
    assert len(au) == 1 and "Sat 26 Dec 01:00 AEDT" in au[0] and "off shift (Boxing Day)" in au[0]
    us_lead = [line for line in lines if line.startswith("│ US") and "│ lead" in line]
    assert len(us_lead) == 1
    for cell in ("Fri 25 Dec 09:00 EST", "open (Christmas Day)", "dokafor, slee", "holiday"):
        assert cell in us_lead[0]


def test_json_is_a_stable_list_of_desks() -> None:
    code, out, _ = run("--at", CHRISTMAS, "--format", "json", "--desk", "US", "--role", "lead")
    assert code == 0
    assert json.loads(out) == [
        {
            "desk": "US",
            "timezone": "America/New_York",
            "local_time": "2026-12-25T09:00-05:00",
            "status": "open",
            "holiday": "Christmas Day",
            "shifts": ["holiday"],
            "on_call": [
                {
                    "role": "lead",
                    "people": ["dokafor", "slee"],
                    "shift": "holiday",
                    "from": "2026-12-25T14:00:00Z",
                    "until": "2026-12-25T23:00:00Z",
                }
            ],
        }
    ]


def test_json_lists_every_desk_with_its_status() -> None:
    # Wednesday 2026-06-03 07:00 UTC: London's two crews are both in; the others are off.
    code, out, _ = run("--at", "2026-06-03T07:00:00+00:00", "-f", "json")
    assert code == 0
    desks = json.loads(out)
    assert [(d["desk"], d["status"]) for d in desks] == [
        ("AU", "off"),
        ("UK", "open"),
        ("US", "off"),
    ]
    uk_leads = [(c["shift"], c["people"]) for c in desks[1]["on_call"] if c["role"] == "lead"]
    assert uk_leads == [("day-sun-thu", ["okhan"]), ("day-tue-sat", ["tbrennan"])]


def test_a_time_without_an_offset_is_utc() -> None:
    assert (
        run("--at", "2026-12-25 14:00", "-f", "json")[1] == run("--at", CHRISTMAS, "-f", "json")[1]
    )
    # The same instant, written in New York time.
    ny = run("--at", "2026-12-25T09:00-05:00", "-f", "json")[1]
    assert ny == run("--at", CHRISTMAS, "-f", "json")[1]


def test_without_at_it_answers_for_now() -> None:
    code, out, _ = run("-f", "json")
    assert code == 0 and [d["desk"] for d in json.loads(out)] == ["AU", "UK", "US"]


def test_desk_and_role_match_in_any_case() -> None:
    code, out, _ = run("--at", CHRISTMAS, "-f", "json", "--desk", "uk", "--role", "LEGAL")
    assert code == 0
    [uk] = json.loads(out)
    assert [c["role"] for c in uk["on_call"]] == ["legal"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "next tuesday"], "error: --at 'next tuesday' is not an ISO 8601 time"),
        (["--desk", "UKK"], "error: no desk 'UKK' in the Rota (did you mean `UK`?); its desks: AU"),
        (["--role", "laed"], "error: no role 'laed' in the Rota (did you mean `lead`?)"),
    ],
)
def test_refusals_are_one_line(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert (code, out) == (1, "")
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_a_library_without_a_rota(write_lib: WriteLib) -> None:
    root = write_lib({"mini/v1.yaml": MINIMAL_SOP})
    done = runner.invoke(app, ["oncall", "-d", str(root)])
    assert done.exit_code == 1
    assert done.stderr.startswith("error: no valid Rota document in ")
    assert done.stderr.count("\n") == 1


def test_a_rota_with_an_unknown_zone(write_lib: WriteLib) -> None:
    rota = (SHIPPED / "rota.yaml").read_text("utf-8").replace("Europe/London", "Europe/Lundon")
    root = write_lib({"rota.yaml": rota})
    done = runner.invoke(app, ["oncall", "-d", str(root)])
    assert done.exit_code == 1
    assert done.stderr == "error: unknown time zone 'Europe/Lundon' (`sopflow lint` shows where)\n"


def test_not_a_directory(write_lib: WriteLib) -> None:
    root = write_lib({})
    done = runner.invoke(app, ["oncall", "-d", str(root / "nope")])
    assert done.exit_code == 1 and "is not a directory of SOP definitions" in done.stderr


def test_help_says_naive_times_are_utc() -> None:
    done = runner.invoke(app, ["oncall", "--help"], env={"COLUMNS": "200"})
    assert done.exit_code == 0
    assert "(no offset: UTC)" in done.stdout and "--format" in done.stdout
