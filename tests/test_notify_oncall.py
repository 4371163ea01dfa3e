"""A notification to a role reaches the person on call for it (activities/recipients.py with
activities/rota_source.py): at the desk named like the incident's region, else at the desks on
shift, else the Roster's holders; the result says whom and why. A real Roster and Rota in a
temporary library, a fixed clock, and one end-to-end send through a real SMTP server."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.config import EmailChannelConfig
from activities.email_channel import EmailChannel
from activities.notify import Notifier
from activities.recipients import Recipients, RoleDirectory
from activities.rota_source import RotaSource
from sopflow.contract.messages import NotifyRequest
from sopflow.language.yaml_source import load_file
from tests.test_activities_notify import _AnyPortController, _Collect

pytestmark = pytest.mark.unit

ROSTER = """\
apiVersion: sopflow/v1
kind: Roster
people:
  ulead:
    name: UK Lead
    region: UK
    roles: [lead]
    email: uk.lead@sopflow.example
  ulead2:
    name: Second UK Lead
    region: UK
    roles: [lead]
    email: uk.lead2@sopflow.example
  alead:
    name: AU Lead
    region: AU
    roles: [lead]
    email: au.lead@sopflow.example
  uslead:
    name: US Lead
    region: US
    roles: [lead]
    email: us.lead@sopflow.example
  quiet:
    name: No Email
    region: UK
    roles: [privacy]
  uspriv:
    name: US Privacy
    region: US
    roles: [privacy]
    email: us.privacy@sopflow.example
"""

ALL_DAYS = "[mon, tue, wed, thu, fri, sat, sun]"


def rota(uk_lead: str = "ulead2") -> str:
    # In June: UK 08:00-16:00 UTC (BST), US 13:00-21:00 UTC (EDT), AU 23:00-07:00 UTC (AEST).
    return f"""\
apiVersion: sopflow/v1
kind: Rota
desks:
  UK:
    timezone: Europe/London
    shifts:
      - {{name: day, days: {ALL_DAYS}, from: "09:00", to: "17:00"}}
    oncall:
      - {{role: lead, shift: day, people: [{uk_lead}]}}
      - {{role: privacy, shift: day, people: [quiet]}}
  US:
    timezone: America/New_York
    shifts:
      - {{name: day, days: {ALL_DAYS}, from: "09:00", to: "17:00"}}
    oncall:
      - {{role: lead, shift: day, people: [uslead]}}
      - {{role: privacy, shift: day, people: [uspriv]}}
  AU:
    timezone: Australia/Sydney
    shifts:
      - {{name: day, days: {ALL_DAYS}, from: "09:00", to: "17:00"}}
    oncall:
      - {{role: lead, shift: day, people: [alead]}}
"""


UK_ONLY = "2026-06-03 10:00"  # Wednesday 11:00 in London: only the UK desk is on shift
AU_ONLY = "2026-06-03 02:00"  # 12:00 in Sydney; night in London and New York
UK_AND_US = "2026-06-03 14:00"  # 15:00 in London, 10:00 in New York
NOBODY = "2026-06-03 22:00"  # every desk off shift


class Clock:
    """A settable clock for the directory."""

    def __init__(self, at: str) -> None:
        self.set(at)

    def set(self, at: str) -> None:
        self.at = datetime.fromisoformat(at).replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "defs"
    root.mkdir()
    (root / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    (root / "rota.yaml").write_text(rota(), encoding="utf-8")
    monkeypatch.setenv("SOPFLOW_DEFINITIONS", str(root))
    return root


def directory(at: str, table: dict[str, list[str]] | None = None) -> tuple[RoleDirectory, Clock]:
    clock = Clock(at)
    return RoleDirectory(table or {}, clock=clock), clock


def test_a_role_on_call_at_the_regions_desk_reaches_that_person_only(library: Path) -> None:
    found = directory(UK_ONLY)[0].recipients("lead", "UK")
    # ulead also holds `lead` in the UK, but is not on call.
    assert found == Recipients(["uk.lead2@sopflow.example"], ["ulead2"], "on call at UK desk")
    assert found.summary == "on call at UK desk: ulead2"
    assert directory(UK_ONLY)[0].addresses("lead", "UK") == ["uk.lead2@sopflow.example"]


def test_the_desk_is_matched_to_the_region_in_any_case(library: Path) -> None:
    assert directory(UK_AND_US)[0].recipients("lead", "us").people == ["uslead"]


def test_when_the_regions_desk_is_off_shift_the_desk_on_shift_answers(library: Path) -> None:
    found = directory(AU_ONLY)[0].recipients("lead", "UK")
    assert found.addresses == ["au.lead@sopflow.example"]
    assert found.source == "on call at AU desk, none on call at UK"


def test_every_desk_on_shift_answers_sorted_by_person(library: Path) -> None:
    found = directory(UK_AND_US)[0].recipients("lead", "AU")
    assert found.people == ["ulead2", "uslead"]
    assert found.addresses == ["uk.lead2@sopflow.example", "us.lead@sopflow.example"]
    assert found.source == "on call at UK, US desks, none on call at AU"


def test_a_region_without_a_desk_goes_to_the_desks_on_shift(library: Path) -> None:
    found = directory(UK_ONLY)[0].recipients("lead", "EU")
    assert (found.people, found.source) == (["ulead2"], "on call at UK desk, none on call at EU")


def test_someone_on_call_without_an_email_is_passed_over(library: Path) -> None:
    # `quiet` is on call for privacy at the UK desk but has no email; the US desk answers.
    found = directory(UK_AND_US)[0].recipients("privacy", "UK")
    assert found.people == ["uspriv"]
    assert found.source == "on call at US desk, nobody on call at UK has an email"


def test_nobody_on_call_falls_back_to_the_roster(library: Path) -> None:
    found = directory(NOBODY)[0].recipients("lead", "UK")
    assert found.people == ["ulead", "ulead2"]
    assert found.addresses == ["uk.lead@sopflow.example", "uk.lead2@sopflow.example"]
    assert found.source == "roster, holders in UK, nobody on call"
    # No holder in the region: every holder.
    elsewhere = directory(NOBODY)[0].recipients("lead", "EU")
    assert elsewhere.people == ["alead", "ulead", "ulead2", "uslead"]
    assert elsewhere.source == "roster, all holders, nobody on call"


def test_the_channel_table_comes_before_the_rota(library: Path) -> None:
    found = directory(UK_ONLY, {"lead": ["leads@desk.example"]})[0].recipients("lead", "UK")
    assert found == Recipients(["leads@desk.example"], [], "channel table")


def test_without_a_rota_the_roster_answers_as_before(library: Path) -> None:
    (library / "rota.yaml").unlink()
    assert RotaSource().load() is None
    found = directory(UK_ONLY)[0].recipients("lead", "UK")
    assert found.addresses == ["uk.lead@sopflow.example", "uk.lead2@sopflow.example"]
    assert found.source == "roster, holders in UK, no Rota"


def test_a_changed_rota_is_read_again_and_an_unchanged_one_is_not(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []

    def counting(file: Path, display: str | None = None) -> Any:
        reads.append(file)
        return load_file(file, display)

    monkeypatch.setattr("activities.documents.load_file", counting)
    roles, _ = directory(UK_ONLY)
    assert roles.recipients("lead", "UK").people == ["ulead2"]
    assert roles.recipients("lead", "UK").people == ["ulead2"]
    assert [p.name for p in reads] == ["roster.yaml", "rota.yaml"]  # once each

    path = library / "rota.yaml"
    before = path.stat().st_mtime_ns
    path.write_text(rota(uk_lead="ulead"), encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a coarse clock cannot hide the edit
    assert roles.recipients("lead", "UK").people == ["ulead"]
    assert [p.name for p in reads] == ["roster.yaml", "rota.yaml", "rota.yaml"]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('from: "09:00"', 'from: "25:00"', r"rota\.yaml:7:70: error\[E205\]: .*'25:00'"),
        ("Europe/London", "Europe/Londn", r"rota\.yaml:5:15: error\[E700\]: desk UK: .*Londn"),
        ("kind: Rota", "kind: Rotaa", r"rota\.yaml:2:7: error\[E201\]: unknown kind 'Rotaa'"),
        ("desks:\n", "desks: [\n", r"rota\.yaml:\d+:\d+: error\[E101\]: YAML syntax error"),
    ],
)
def test_an_invalid_rota_is_reported_with_file_line_and_column(
    library: Path, old: str, new: str, where: str
) -> None:
    path = library / "rota.yaml"
    path.write_text(rota().replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ApplicationError) as failure:
        RotaSource().load()
    error = failure.value
    assert error.non_retryable and error.type == "RotaUnavailable"
    assert error.message.startswith(f"the Rota cannot be used: {path}:")
    assert "Traceback" not in error.message and "\n" not in error.message
    assert re.search(where, error.message), error.message
    # A notification is not silenced by it: the Roster's holders are told, saying why.
    found = directory(UK_ONLY)[0].recipients("lead", "UK")
    assert found.source == "roster, holders in UK, the Rota cannot be used"


def test_a_rota_at_a_given_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text(rota(), encoding="utf-8")
    source = RotaSource(path)
    assert source.path == path
    at = datetime(2026, 6, 3, 14, 0, tzinfo=UTC)
    assert source.on_call("lead", at) == {"UK": ["ulead2"], "US": ["uslead"]}
    assert RotaSource(tmp_path / "absent.yaml").on_call("lead", at) is None


# --- End to end: the email channel through a real SMTP server on 127.0.0.1


@pytest.fixture
def smtp_sink() -> Iterator[tuple[_Collect, int]]:
    handler = _Collect()
    controller = _AnyPortController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def email_request(**changes: Any) -> NotifyRequest:
    fields: dict[str, Any] = {
        "incident_id": "inc-7",
        "step": "escalate",
        "channel": "email",
        "to": "lead",
        "to_is_role": True,
        "region": "UK",
        "message": "SLA breached: the lead is needed",
        "idempotency_key": "inc-7/escalate/1",
    }
    return NotifyRequest(**(fields | changes))


def email_notifier(port: int, clock: Clock) -> Notifier:
    config = EmailChannelConfig.model_validate(
        {"kind": "email", "host": "127.0.0.1", "port": port, "from": "sopflow@desk.example"}
    )
    channel = EmailChannel(config, password=None, directory=RoleDirectory({}, clock=clock))
    return Notifier({"email": channel})


def test_an_email_to_a_role_goes_to_the_person_on_call_and_says_so(
    library: Path, smtp_sink: tuple[_Collect, int]
) -> None:
    clock = Clock(UK_ONLY)
    notifier = email_notifier(smtp_sink[1], clock)
    with capture_logs() as logs:
        result = ActivityEnvironment().run(notifier.notify, email_request())
        clock.set(AU_ONLY)
        later = ActivityEnvironment().run(notifier.notify, email_request(idempotency_key="k2"))

    first, second = smtp_sink[0].messages
    assert first.rcpt_tos == ["uk.lead2@sopflow.example"]
    assert first.message["To"] == "uk.lead2@sopflow.example"
    assert result.delivered
    assert result.detail.endswith("to 1 of 1 recipients (on call at UK desk: ulead2)")
    assert second.rcpt_tos == ["au.lead@sopflow.example"]
    assert later.detail.endswith("(on call at AU desk, none on call at UK: alead)")
    # The log names the people and the rule, never their addresses.
    assert any("ulead2" in str(e) for e in logs)
    assert not any("@sopflow.example" in str(e) for e in logs)


def test_an_email_to_an_address_says_nothing_about_it(
    library: Path, smtp_sink: tuple[_Collect, int]
) -> None:
    notifier = email_notifier(smtp_sink[1], Clock(UK_ONLY))
    req = email_request(to="requester@police.example", to_is_role=False)
    result = ActivityEnvironment().run(notifier.notify, req)
    assert smtp_sink[0].messages[0].rcpt_tos == ["requester@police.example"]
    assert result.detail.endswith("to 1 of 1 recipients")


def test_an_invalid_rota_still_reaches_the_roles_holders(
    library: Path, smtp_sink: tuple[_Collect, int]
) -> None:
    """A broken rota.yaml must not silence a live incident's escalation: the Roster's
    holders of the role get it, and the result says why."""
    (library / "rota.yaml").write_text(rota().replace("shift: day", "shift: 3", 1), "utf-8")
    notifier = email_notifier(smtp_sink[1], Clock(UK_ONLY))
    result = ActivityEnvironment().run(notifier.notify, email_request())
    assert "roster, holders in UK, the Rota cannot be used" in result.detail
    assert len(smtp_sink[0].messages) == 1
