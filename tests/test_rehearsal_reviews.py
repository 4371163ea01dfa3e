"""Post-mortem reviews in rehearsals: the `review` action and `expect.review`, played on the
real time-skipping test server with the real interpreter and review workflow. The shipped
story (issue 16's "a post-mortem whose action items keep it open until done") passes; a
changed expectation, or a story that leaves an item open, fails saying what differs; lint
checks review actions before anything runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.compile.lint import lint_library
from sopflow.language.models.reviews_rehearsal import ReviewExpectation
from sopflow.rehearsal.batch import rehearse_one
from sopflow.rehearsal.cases import collect
from sopflow.rehearsal.reviews import ReviewSeen, review_differs
from tests.conftest import SHIPPED, WriteLib

pytestmark = pytest.mark.workflow

STORY = SHIPPED / "csea-report" / "rehearsals" / "v2-us-postmortem-action-items.yaml"
A1 = "Page the threat-to-life desk at intake for live abuse"
A2 = "Ask about danger to life on the escalation form"
CLOSE_A2 = (
    "  - review:\n      as: slee\n      close_item: {item: A2, note: "
    '"The escalation form asks about danger to life first."}\n'
)
runner = CliRunner()


def rehearse(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["rehearse", "-d", str(SHIPPED), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout + result.stderr


def variant(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped story with one part of it changed."""
    text = STORY.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    target = tmp_path / "changed.yaml"
    target.write_text(text.replace(old, new), encoding="utf-8")
    return target


def review_line(path: Path) -> int:
    """The line where `expect.review`'s value starts in ``path`` (where its mismatch is
    reported): the line after ``  review:``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines.index("  review:") + 2


def test_the_shipped_story_keeps_the_review_open_until_its_items_are_closed() -> None:
    result = lint_library(SHIPPED)
    [case] = collect([STORY], result).ready
    played = asyncio.run(rehearse_one(case))
    assert played.passed, (played.error, [m.summary for m in played.mismatches])
    observed = played.observed
    assert observed is not None and observed.outcome == "resolved"
    review = observed.review
    assert review is not None and review.status == "closed"
    assert [(i.id, i.title, i.owner, i.status, i.closed_by) for i in review.items] == [
        ("A1", A1, "amoreno", "closed", "amoreno"),
        ("A2", A2, "specialist", "closed", "slee"),
    ]
    assert review.factors == ("late-signal", "intake-form-gap")
    # A1's reminder went out once, half-way to its due date; nothing was overdue.
    assert (review.reminders, review.escalations) == (("A1/reminder",), ())
    [refused] = observed.refused
    assert refused.label == "review: mark it done as dokafor"
    assert refused.refused is not None
    assert refused.refused.startswith(f'2 action item(s) still open: A1 "{A1}" (owner amoreno')
    # The review's notices are its own: none of them counts as the incident's.
    assert not [n for n in observed.sent if n.idempotency_key.endswith("/reminder")]


def test_the_cli_shows_the_review_and_its_items() -> None:
    code, out = rehearse(str(STORY), "-v")
    assert code == 0, out
    # (The times may be a second late on a busy machine: the clock runs while activities do.)
    assert " review: mark it done as dokafor: refused: 2 action item(s) still open: A1" in out
    assert " review: mark it done as dokafor: ok" in out
    assert (
        "  post-mortem review: closed, 2 items (0 open), root cause late-signal, "
        "intake-form-gap, 1 reminders, 0 escalations"
    ) in out
    assert f'    A2 closed "{A2}" (owner specialist, closed by slee)' in out
    code, out = rehearse(str(STORY), "--format", "json")
    [body] = json.loads(out)["rehearsals"]
    assert body["review"]["status"] == "closed"
    assert [i["status"] for i in body["review"]["items"]] == ["closed", "closed"]
    assert body["review"]["reminders"] == ["A1/reminder"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    reminders: 1\n",
            "    reminders: 2\n",
            ["reminders: expected 2, got 1 (sent: A1/reminder)"],
        ),
        (
            "    factors: [late-signal, intake-form-gap]\n",
            "      - {status: open}\n    factors: [late-signal, intake-form-gap]\n",
            [
                f'expected 3 action items, got 2 (actual: A1 closed "{A1}" (owner amoreno, '
                f'closed by amoreno); A2 closed "{A2}" (owner specialist, closed by slee))'
            ],
        ),
        (
            "    factors: [late-signal, intake-form-gap]\n",
            "    factors: [late-signal]\n",
            ["root cause factors: expected late-signal, got late-signal, intake-form-gap"],
        ),
    ],
    ids=["reminders", "item-count", "factors"],
)
def test_a_changed_expectation_fails_saying_what_differs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    old: str,
    new: str,
    expected: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    changed = variant(tmp_path, old, new)
    code, out = rehearse("changed.yaml")
    assert code == 1, out
    lines = out.splitlines()
    at = lines.index(f"  changed.yaml:{review_line(changed)}:5: the post-mortem review differs")
    assert lines[at + 1 : at + 1 + len(expected)] == [f"      {e}" for e in expected]
    assert "1 rehearsal: 0 passed, 1 failed" in out


def test_a_review_left_with_an_open_item_does_not_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without A2's close, the last `done` is refused too, and the review stays open."""
    monkeypatch.chdir(tmp_path)
    changed = variant(tmp_path, CLOSE_A2, "")
    code, out = rehearse("changed.yaml")
    assert code == 1, out
    lines = out.splitlines()
    at = lines.index(f"  changed.yaml:{review_line(changed)}:5: the post-mortem review differs")
    assert lines[at + 1 : at + 3] == [
        f'      status: expected closed, got open (open items: A2 open "{A2}" (owner specialist))',
        f'      item 2: expected closed "{A2}" closed by slee; got A2 open "{A2}" '
        "(owner specialist)",
    ]
    assert "rejected actions: expected 1, got 2" in out
    assert "#7 review: mark it done as dokafor: 1 action item(s) still open: A2" in out


def test_record_writes_the_review_and_the_recording_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = STORY.read_text(encoding="utf-8")
    bare = tmp_path / "bare.yaml"
    bare.write_text(text[: text.index("  review:\n    status: closed")], encoding="utf-8")
    target = tmp_path / "recorded.yaml"
    code, out = rehearse(str(bare), "--record", str(target))
    assert code == 0, out
    recorded = target.read_text(encoding="utf-8")
    assert (
        "  review:\n"
        "    status: closed\n"
        "    items:\n"
        f"    - {{title: {A1}, status: closed}}\n"
        f"    - {{title: {A2}, status: closed}}\n"
        "    factors: [late-signal, intake-form-gap]\n"
        "    reminders: 1\n"
        "    escalations: 0\n"
    ) in recorded
    assert rehearse(str(target))[0] == 0


# --- lint

SOP = """\
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
defaults:
  sla: 1d
steps:
  - id: work
    type: task
    assignee: responder
{postmortem}  - id: done
    type: end
    outcome: resolved
"""
POSTMORTEM = """\
  - id: cool_off
    type: wait
    for: 1h
  - id: review
    type: postmortem
    owner: lead
    due: 3d
"""


def lint_messages(write_lib: WriteLib, sop: str, actions: str, expect: str = "") -> list[str]:
    """Each diagnostic lint gives the story, as ``CODE message``."""
    rehearsal = (
        f"apiVersion: sopflow/v1\nkind: Rehearsal\nsop: {sop}@1\nactions:\n"
        f"  - complete: {{step: work, as: alice}}\n{actions}"
        f"expect: {{outcome: resolved{expect}}}\n"
    )
    roster = (
        "apiVersion: sopflow/v1\nkind: Roster\npeople:\n"
        "  alice: {name: Alice, region: US, roles: [responder]}\n"
        "  bob: {name: Bob, region: US, roles: [lead]}\n"
    )
    root = write_lib(
        {
            "with.yaml": SOP.format(sop="with-review", postmortem=POSTMORTEM),
            "without.yaml": SOP.format(sop="without-review", postmortem=""),
            "roster.yaml": roster,
            "story.yaml": rehearsal,
        }
    )
    found = lint_library(root).diagnostics
    return [f"{d.code} {d.message}" for d in found if d.path.endswith("story.yaml")]


ADD = "  - after: 2h\n    review: {as: bob, add_item: {title: Fix it, owner: alice, due: 1d}}\n"
CLOSE = "  - review: {as: alice, close_item: {item: A1, note: Fixed.}}\n"
DONE = "  - review: {as: bob, done: {}}\n"
REFUSED = "the engine will refuse this action: "


@pytest.mark.parametrize(
    ("sop", "actions", "expect", "expected"),
    [
        ("with-review", ADD + CLOSE + DONE, "", []),
        (
            "with-review",
            ADD.replace("as: bob", "as: bobby"),
            "",
            ["E604 no person `bobby` in the roster (did you mean `bob`?)"],
        ),
        (
            "with-review",
            ADD + "  - review: {as: bob, root_cause: {factors: [slow], step: wrok, changes: x}}\n",
            "",
            ["E603 no step `wrok` in with-review@1 (US) (did you mean `work`?)"],
        ),
        (
            "without-review",
            ADD,
            "",
            [
                f"W601 {REFUSED}without-review@1 (US) has no `postmortem` step, so its "
                "incidents have no review to act on"
            ],
        ),
        (
            "with-review",
            ADD.replace("after: 2h", "after: 30m"),
            "",
            [
                f"W601 {REFUSED}no review can exist 30m after the start: every way to a "
                "`postmortem` step waits at least 1h (raise this action's `after`)"
            ],
        ),
        (
            "with-review",
            ADD + CLOSE.replace("A1", "A2") + CLOSE + CLOSE,
            "",
            [
                f"W601 {REFUSED}the story has added no action item A2 (items: A1)",
                f"W601 {REFUSED}action item A1 is closed already",
            ],
        ),
        (
            "with-review",
            ADD + DONE,
            "",
            [f"W601 {REFUSED}`done` is refused while an action item is open (A1)"],
        ),
        # A story that counts its refusals means to show them.
        ("with-review", ADD + DONE, ", rejected_actions: 1", []),
    ],
    ids=[
        "fine",
        "unknown-person",
        "unknown-cause-step",
        "no-postmortem",
        "too-early",
        "item-not-added",
        "done-while-open",
        "refusal-counted",
    ],
)
def test_lint_checks_a_review_action_before_it_runs(
    write_lib: WriteLib, sop: str, actions: str, expect: str, expected: list[str]
) -> None:
    assert lint_messages(write_lib, sop, actions, expect) == expected


def test_a_review_action_is_exactly_one_kind(write_lib: WriteLib) -> None:
    both = "  - review: {as: bob, done: {}, close_item: {item: A1, note: x}}\n"
    [found] = lint_messages(write_lib, "with-review", both)
    assert found.startswith("E2")
    assert "a review action is exactly one of add_item, close_item, root_cause, done" in found


def test_a_review_expected_or_not_when_the_incident_started_none() -> None:
    """`status: none` says no post-mortem step ran; any other status then fails, and so
    does `none` when a review was started."""
    seen = ReviewSeen("open", (), (), (), ())
    assert review_differs(ReviewExpectation(status="none"), None) == []
    assert review_differs(ReviewExpectation(status="closed"), None) == [
        "expected a review closed; the incident started none (no postmortem ran)"
    ]
    assert review_differs(ReviewExpectation(status="none"), seen) == [
        "expected no review; got one open, 0 items (0 open), root cause none, 0 reminders, "
        "0 escalations"
    ]
