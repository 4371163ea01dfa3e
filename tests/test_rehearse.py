"""``sopflow rehearse`` end to end: real time-skipping test server, real interpreter, a small
library written per test. Each test asserts what the engine did, not what the file says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from tests.conftest import WriteLib

pytestmark = pytest.mark.workflow

runner = CliRunner()

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: demo
version: 1
title: Demo procedure
owner: tests
region: US
input:
  type: object
  required: [ref]
  properties: {ref: {type: string}}
roles:
  responder: {description: On-shift responder}
  lead: {description: Shift lead}
defaults:
  sla: 30m
steps:
  - id: work
    type: task
    assignee: responder
    sla: 1h
    escalate: [lead]
  - id: approve
    type: approval
    approvers: [lead]
    four_eyes: true
    sla: 2d
    escalate: [lead]
    on: {approved: hold, rejected: refused}
  - id: hold
    type: wait
    for: 7d
  - id: close
    type: end
    outcome: resolved
  - id: refused
    type: end
    outcome: declined
"""

ROSTER = """\
apiVersion: sopflow/v1
kind: Roster
people:
  alice: {name: Alice, region: US, roles: [responder]}
  bob: {name: Bob, region: US, roles: [lead]}
  carol: {name: Carol, region: US, roles: [lead]}
"""


def rehearsal(actions: str, expect: str) -> str:
    return (
        "apiVersion: sopflow/v1\nkind: Rehearsal\nsop: demo@1\ninput: {ref: R-1}\n"
        f"actions:\n{actions}expect:\n{expect}"
    )


WORK = "  - after: 10m\n    complete: {step: work, as: alice}\n"
APPROVE = "  - after: 1h\n    vote: {step: approve, as: bob, decision: approve, reason: ok}\n"


def rehearse(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["rehearse", *args])
    return result.exit_code, result.stdout, result.stderr


def as_json(*args: str) -> dict[str, Any]:
    code, out, err = rehearse("--format", "json", *args)
    body: dict[str, Any] = json.loads(out)
    assert code == (0 if body["passed"] else 1), err
    return body


@pytest.fixture
def lib(write_lib: WriteLib) -> Path:
    return write_lib({"demo.yaml": SOP, "roster.yaml": ROSTER})


def test_a_passing_rehearsal_and_a_week_of_timers_in_seconds(lib: Path) -> None:
    (lib / "happy.yaml").write_text(
        rehearsal(
            WORK + APPROVE,
            "  path: [work, approve, hold, close]\n  outcome: resolved\n"
            "  breached: []\n  rejected_actions: 0\n",
        )
    )
    # The approval waits 3 days against a 2-day SLA: one breach, escalated to the lead;
    # then the 7-day hold runs out with nobody acting.
    (lib / "late.yaml").write_text(
        rehearsal(
            WORK + "  - after: 3d\n    vote: {step: approve, as: bob, decision: approve, "
            "reason: late}\n",
            "  path: [work, approve, hold, close]\n  outcome: resolved\n  breached: [approve]\n",
        )
    )
    body = as_json("--definitions", str(lib))
    assert body["passed"] is True
    by_file = {Path(r["file"]).name: r for r in body["rehearsals"]}
    late = by_file["late.yaml"]
    assert late["breached"] == ["approve"]
    assert late["escalations"] == ["approve -> lead"]
    # 10m + 3d + 7d of simulated time, most of it after the last action.
    assert late["simulated_seconds"] >= (10 * 86400 + 600)
    assert by_file["happy.yaml"]["breached"] == []


def test_a_mismatch_exits_1_and_shows_where_and_the_difference(lib: Path) -> None:
    (lib / "wrong.yaml").write_text(
        rehearsal(WORK + APPROVE, "  path: [work, approve, close]\n  outcome: declined\n")
    )
    code, out, _ = rehearse("--definitions", str(lib), "lib/wrong.yaml")
    assert code == 1
    assert "FAIL" in out
    assert "lib/wrong.yaml:11:9: path differs" in out
    assert "+ hold" in out
    assert "lib/wrong.yaml:12:12: outcome: expected declined, got resolved" in out
    assert "1 rehearsal: 0 passed, 1 failed" in out


def test_refused_actions_are_counted_with_the_engine_reason(lib: Path) -> None:
    # alice is not a lead: the approval refuses her vote; bob's is accepted.
    actions = (
        WORK + "  - vote: {step: approve, as: alice, decision: approve, reason: mine}\n" + APPROVE
    )
    (lib / "refused.yaml").write_text(
        rehearsal(actions, "  outcome: resolved\n  rejected_actions: 1\n")
    )
    body = as_json("--definitions", str(lib))
    [result] = body["rehearsals"]
    assert result["passed"] is True
    [refusal] = result["refused"]
    assert refusal["action"] == 2
    assert "lead" in refusal["reason"]


def test_four_eyes_refuses_the_person_who_opened_the_incident(lib: Path) -> None:
    text = rehearsal(
        WORK + APPROVE.replace("bob", "carol") + APPROVE,
        "  path: [work, approve, hold, close]\n  rejected_actions: 1\n",
    ).replace("input: {ref: R-1}\n", "input: {ref: R-1}\nopened_by: carol\n")
    (lib / "opener.yaml").write_text(text)
    body = as_json("--definitions", str(lib))
    [result] = body["rehearsals"]
    assert result["passed"] is True
    [refusal] = result["refused"]
    assert "four eyes: carol opened this incident" in refusal["reason"]


def test_the_story_stops_when_the_incident_waits_on_a_person(lib: Path) -> None:
    # Nobody approves: time does not run on, so the 2-day SLA is not breached.
    (lib / "open.yaml").write_text(
        rehearsal(WORK, "  path: [work]\n  outcome: running\n  breached: []\n")
    )
    body = as_json("--definitions", str(lib))
    [result] = body["rehearsals"]
    assert result["passed"] is True
    assert result["waiting"] == ["approve (lead)"]
    assert result["simulated_seconds"] == 600


def test_an_entry_with_only_after_lets_time_pass(lib: Path) -> None:
    # Nobody approves for 5 days against a 2-day SLA: two breaches, the chain of one lead
    # is spent after the first; the incident keeps waiting (on_timeout: escalate).
    (lib / "idle.yaml").write_text(
        rehearsal(WORK + "  - after: 5d\n", "  outcome: running\n  breached: [approve]\n")
    )
    body = as_json("--definitions", str(lib))
    [result] = body["rehearsals"]
    assert result["passed"] is True
    assert result["escalations"] == ["approve -> lead"]
    assert result["refused"] == []
    assert result["simulated_seconds"] == 600 + 5 * 86400


def test_a_rejection_takes_the_other_branch_and_coverage_says_what_is_left(lib: Path) -> None:
    reject = "  - after: 1h\n    vote: {step: approve, as: bob, decision: reject, reason: no}\n"
    (lib / "reject.yaml").write_text(
        rehearsal(WORK + reject, "  path: [work, approve, refused]\n  outcome: declined\n")
    )
    code, out, err = rehearse("--definitions", str(lib), "--coverage")
    assert code == 0, out + err
    assert "coverage demo@1 (US): 1 rehearsals, steps 3/5, branches 1/4" in out
    assert "steps not reached: hold, close" in out
    assert "approve: approved" in out and "work: escalated" in out


def test_broken_rehearsals_are_reported_with_positions_and_do_not_run(lib: Path) -> None:
    (lib / "typo.yaml").write_text(
        rehearsal("  - complete: {step: wrok, as: alice}\n", "  outcome: resolved\n")
    )
    code, _, err = rehearse("--definitions", str(lib))
    assert code == 1
    assert "lib/typo.yaml:6:22: error[E603]: no step `wrok`" in err
    assert "did you mean `work`" in err


def test_a_file_that_is_not_a_rehearsal_is_refused(lib: Path) -> None:
    code, _, err = rehearse("--definitions", str(lib), str(lib / "demo.yaml"))
    assert code == 1
    assert "error[E201]: not a Rehearsal document (kind: SOP)" in err


def test_no_rehearsals_is_an_error(lib: Path) -> None:
    code, _, err = rehearse("--definitions", str(lib))
    assert code == 1
    assert "no Rehearsal documents" in err


def test_a_failed_incident_says_where_and_why(write_lib: WriteLib) -> None:
    # `input.level` is declared in the schema but absent: the decision cannot be evaluated.
    sop = SOP.replace(
        "  properties: {ref: {type: string}}\n",
        "  properties: {ref: {type: string}, level: {type: integer}}\n",
    ).replace(
        "  - id: hold\n    type: wait\n    for: 7d\n",
        "  - id: hold\n    type: decision\n    branches:\n      - when: input.level > 1\n"
        "        goto: refused\n      - goto: close\n",
    )
    lib = write_lib({"demo.yaml": sop, "roster.yaml": ROSTER})
    (lib / "fail.yaml").write_text(rehearsal(WORK + APPROVE, "  outcome: resolved\n"))
    code, out, _ = rehearse("--definitions", str(lib))
    assert code == 1
    assert "got expression_error (at hold:" in out
    assert "input.level > 1" in out


def test_a_duplicate_start_and_its_expectations(write_lib: WriteLib) -> None:
    """`earlier` incidents open first; one with the same correlation makes this start a
    duplicate, handled by `if_duplicate`; `expect.start` and `expect.duplicates` say what
    the opener saw, and a wrong expectation names what happened."""
    sop = SOP.replace("roles:\n", "correlation: input.ref\nroles:\n", 1)
    lib = write_lib({"demo.yaml": sop, "roster.yaml": ROSTER})
    head = "apiVersion: sopflow/v1\nkind: Rehearsal\nsop: demo@1\ninput: {ref: R-1}\n"
    earlier = "earlier:\n  - input: {ref: R-1}\n  - input: {ref: R-2}\n"
    (lib / "refused.yaml").write_text(
        head + earlier + "expect:\n  start: refused\n  duplicates: 1\n"
    )
    (lib / "linked.yaml").write_text(
        head
        + earlier
        + "if_duplicate: start\nactions:\n"
        + WORK
        + "expect:\n  start: started\n  duplicates: 1\n  path: [work]\n"
    )
    (lib / "wrong.yaml").write_text(head + earlier + "expect:\n  start: started\n")
    body = as_json("--definitions", str(lib))
    by_file = {Path(r["file"]).name: r for r in body["rehearsals"]}
    assert by_file["refused.yaml"]["passed"] and by_file["refused.yaml"]["start"] == "refused"
    assert by_file["linked.yaml"]["passed"] and len(by_file["linked.yaml"]["duplicates"]) == 1
    [mismatch] = by_file["wrong.yaml"]["mismatches"]
    assert "start: expected started, got refused" in mismatch["summary"]
    assert "is open about the same case" in mismatch["summary"]


def test_an_unexpected_refusal_is_reported_at_the_action(lib: Path) -> None:
    """An action the engine refuses, in a story that expects no refusal, is a mismatch at
    the action's own line, with the engine's reason (not only a wrong path at `expect:`)."""
    bad = "  - after: 10m\n    complete: {step: work, as: bob}\n"
    (lib / "wrong-person.yaml").write_text(rehearsal(bad + WORK, "  outcome: resolved\n"))
    code, out, _ = rehearse("--definitions", str(lib), "lib/wrong-person.yaml")
    assert code == 1
    assert "lib/wrong-person.yaml:6:5: action #1 (complete work as bob) was refused:" in out


def test_verbose_shows_messages_with_recipients_and_record_writes_the_expectations(
    lib: Path,
) -> None:
    (lib / "story.yaml").write_text(rehearsal(WORK + "  - after: 3d\n", "  outcome: running\n"))
    target = lib.parent / "recorded.yaml"
    code, out, _ = rehearse(
        "--definitions", str(lib), "lib/story.yaml", "-v", "--record", str(target)
    )
    assert code == 0, out
    # The approval's 2-day SLA runs out: the escalation goes to the lead role's people.
    assert "escalation from approve to role lead (bob, carol):" in out
    recorded = target.read_text(encoding="utf-8")
    assert recorded.startswith("apiVersion: sopflow/v1\nkind: Rehearsal\n")
    assert "expect:\n  path: [work]\n  outcome: running\n  breached: [approve]\n" in recorded
    assert rehearse("--definitions", str(lib), str(target))[0] == 0  # it passes as written
