"""Stakeholder updates in rehearsals: the `post_update` action and `expect.updates`, played on
the real time-skipping test server with the real interpreter. The example library
(examples/stakeholder-updates) shows a SEV0's cadence with one missed update escalated; a
changed expectation makes the same story fail, saying which update differs and how."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.compile.lint import lint_library
from sopflow.contract.names import ESCALATION_CHANNEL
from sopflow.contract.updates import UPDATE_DUE, UPDATE_MISSED, UPDATE_POSTED
from sopflow.rehearsal.batch import rehearse_one
from sopflow.rehearsal.cases import collect
from tests.conftest import WriteLib

pytestmark = pytest.mark.workflow

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "stakeholder-updates"
STORY = EXAMPLE / "live-threat" / "rehearsals" / "sev0-one-update-missed.yaml"
MISSED = "    - {status: missed, severity: SEV0, escalated_to: commander}\n"
runner = CliRunner()


def rehearse(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["rehearse", "-d", str(EXAMPLE), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout + result.stderr


def variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the example's story with one line of it changed."""
    text = STORY.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    target = tmp_path / name
    target.write_text(text.replace(old, new), encoding="utf-8")
    return target


def test_the_example_shows_a_sev0_cadence_with_one_missed_update_escalated() -> None:
    result = lint_library(EXAMPLE)
    assert [d.format() for d in result.diagnostics] == []
    [case] = collect([STORY], result).ready
    played = asyncio.run(rehearse_one(case))
    assert played.passed, (played.error, [m.summary for m in played.mismatches])
    observed = played.observed
    assert observed is not None and observed.outcome == "referred-to-police"
    assert [(u.number, u.status, u.by, u.escalated_to) for u in observed.updates] == [
        (1, "posted", "dokafor", None),
        (2, "missed", None, "commander"),
        (3, "posted", "dokafor", None),
    ]
    kinds = [e.kind for e in observed.state.timeline]
    assert (kinds.count(UPDATE_DUE), kinds.count(UPDATE_POSTED), kinds.count(UPDATE_MISSED)) == (
        3,
        2,
        1,
    )
    # The miss paged the commander once, on the escalation channel; both posts went to the
    # stakeholders' destination, and nothing was asked after the incident closed.
    pages = [n for n in observed.sent if n.idempotency_key.endswith("/missed")]
    assert [(n.channel, n.to, n.idempotency_key.split("/", 1)[1]) for n in pages] == [
        (ESCALATION_CHANNEL, "commander", "updates/2/missed")
    ]
    posts = [n for n in observed.sent if n.idempotency_key.endswith("/posted")]
    assert [n.to for n in posts] == ["stakeholders@sopflow.example"] * 2
    assert "update 3 from dokafor: The police have the referral" in posts[1].message
    assert UPDATE_DUE not in kinds[kinds.index("incident.closed") :]


def test_the_cli_passes_it_and_shows_each_update(tmp_path: Path) -> None:
    code, out = rehearse(str(STORY), "-v")
    assert code == 0, out
    assert "  #2 +35m post update as dokafor: ok" in out
    assert "escalation from updates to role commander (tbrown):" in out
    assert "  stakeholder update 2: missed at SEV0, escalated to commander" in out
    code, out = rehearse(str(STORY), "--format", "json")
    [body] = json.loads(out)["rehearsals"]
    assert [(u["status"], u["pages"]) for u in body["updates"]] == [
        ("posted", []),
        ("missed", ["commander"]),
        ("posted", []),
    ]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (
            "    - {status: posted, severity: SEV0, by: dokafor}\n",
            "update 2: expected posted at SEV0 by dokafor; "
            "got missed at SEV0, escalated to commander",
        ),
        (
            "    - {status: missed, escalated_to: lead}\n",
            "update 2: expected missed, escalated to lead (paged once); "
            "got missed at SEV0, escalated to commander",
        ),
        (
            MISSED + "    - {status: missed}\n",
            "expected 4 updates asked, got 3 (actual: #1 posted at SEV0 by dokafor; "
            "#2 missed at SEV0, escalated to commander; #3 posted at SEV0 by dokafor)",
        ),
    ],
    ids=["second-posted", "wrong-role", "one-more"],
)
def test_a_changed_expectation_fails_saying_which_update_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    variant(tmp_path, "changed.yaml", MISSED, new)
    code, out = rehearse("changed.yaml")
    assert code == 1, out
    lines = out.splitlines()
    at = lines.index("  changed.yaml:28:5: stakeholder updates differ")
    assert f"      {expected}" in lines[at + 1 :]
    assert "1 rehearsal: 0 passed, 1 failed" in out


def test_a_post_by_someone_not_asked_is_refused_with_the_engine_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    variant(
        tmp_path,
        "responder.yaml",
        'post_update: {as: dokafor, text: "Stream',
        'post_update: {as: slee, text: "Stream',
    )
    code, out = rehearse("responder.yaml")
    assert code == 1, out
    assert (
        "action #2 (post update as slee) was refused: slee does not hold role 'lead', "
        "which is asked for this incident's stakeholder updates"
    ) in out
    # Refused, the first update is never posted: it is missed and the commander paged too.
    assert "update 1: expected posted at SEV0 by dokafor; got missed at SEV0" in out


def test_record_writes_the_updates_and_the_recording_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bare = variant(
        tmp_path,
        "bare.yaml",
        "  updates:\n" + "    - {status: posted, severity: SEV0, by: dokafor}\n" + MISSED,
        "  updates:\n",
    )
    target = tmp_path / "recorded.yaml"
    code, out = rehearse(str(bare), "--record", str(target))
    assert code == 1, out  # two of the three updates are left unexpected
    recorded = target.read_text(encoding="utf-8")
    assert (
        "  updates:\n"
        "  - {status: posted, severity: SEV0, by: dokafor}\n"
        "  - {status: missed, severity: SEV0, escalated_to: commander}\n"
        "  - {status: posted, severity: SEV0, by: dokafor}\n"
    ) in recorded
    assert rehearse(str(target))[0] == 0


LIBRARY_SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: {sop}
version: 1
title: Demo
owner: tests
region: US
roles:
  responder: {{description: Responder}}
  lead: {{description: Lead}}
{updates}defaults:
  sla: 1d
steps:
  - id: work
    type: task
    assignee: responder
  - id: done
    type: end
    outcome: resolved
"""
CADENCE = "updates:\n  SEV2: {every: 1h, to: lead, channel: email}\n"


def lint_messages(write_lib: WriteLib, sop: str, actions: str) -> list[tuple[str, str]]:
    rehearsal = (
        f"apiVersion: sopflow/v1\nkind: Rehearsal\nsop: {sop}@1\nactions:\n{actions}"
        "expect: {outcome: running}\n"
    )
    roster = (
        "apiVersion: sopflow/v1\nkind: Roster\npeople:\n"
        "  alice: {name: Alice, region: US, roles: [responder]}\n"
        "  bob: {name: Bob, region: US, roles: [lead]}\n"
    )
    root = write_lib(
        {
            "with.yaml": LIBRARY_SOP.format(sop="with-updates", updates=CADENCE),
            "without.yaml": LIBRARY_SOP.format(sop="without-updates", updates=""),
            "roster.yaml": roster,
            "story.yaml": rehearsal,
        }
    )
    found = lint_library(root).diagnostics
    return [(d.code, d.message) for d in found if d.path.endswith("story.yaml")]


def post(after: str, who: str) -> str:
    return f"  - after: {after}\n    post_update: {{as: {who}, text: hello}}\n"


@pytest.mark.parametrize(
    ("sop", "actions", "expected"),
    [
        ("with-updates", post("2h", "bob"), []),
        ("with-updates", post("2h", "bobby"), [("E604", "no person `bobby` in the roster")]),
        (
            "with-updates",
            post("2h", "alice"),
            [("W601", "alice holds none of lead on the US desk")],
        ),
        (
            "with-updates",
            post("30m", "bob"),
            [("W601", "no stakeholder update can be due 30m after the start")],
        ),
        (
            "without-updates",
            post("2h", "bob"),
            [("W601", "declares no stakeholder updates")],
        ),
    ],
    ids=["fine", "unknown-person", "not-asked", "too-early", "no-cadence"],
)
def test_lint_checks_a_post_update_before_it_runs(
    write_lib: WriteLib, sop: str, actions: str, expected: list[tuple[str, str]]
) -> None:
    found = lint_messages(write_lib, sop, actions)
    assert len(found) == len(expected), found
    for (code, message), (want_code, want) in zip(found, expected, strict=True):
        assert code == want_code and want in message, found
