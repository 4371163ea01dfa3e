"""Post-mortem reviews in the audit: an incident whose post-mortem step started a review is
run on the time-skipping server (items added, reminded, escalated, closed by their owners,
the root cause recorded, the review marked done); its export holds the review (format 2),
``verify`` checks every ``review_action``'s signature (a tampered or unsigned one fails,
named), ``replay`` replays the review's history with ``PostmortemReviewWorkflow``, and the
report's "Post-mortem review" section says who added, closed and marked done what, when."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.audit.envelope import compute_digest, dump_envelope
from sopflow.audit.export import export_incident
from sopflow.audit.payloads import Decoder
from sopflow.audit.report_model import AuditReport, ReviewReport
from sopflow.audit.report_sources import report_from_files, report_from_server
from sopflow.cli.app import app
from sopflow.client.signing import TRUSTED_KEYS_ENV
from sopflow.client.testing import TEST_SIGNER
from sopflow.contract.names import review_id
from sopflow.contract.reviews import ReviewAction, ReviewState
from tests.conftest import SHIPPED
from tests.harness import bench
from tests.test_audit_signed_export import edit_request
from tests.test_postmortem_review import (
    DONE,
    LEAD,
    RESPONDER,
    add,
    close,
    review_until,
    reviewed_incident,
)

pytestmark = pytest.mark.workflow

runner = CliRunner()


def sopflow(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


class Recorded:
    """What the scenario left: the export, the server's report, the plain histories."""

    def __init__(self, root: Path) -> None:
        self.export = root / "reviewed.audit.json"
        self.incident_files: list[Path] = []
        self.review_file = root / "review.json"
        self.server_report: AuditReport | None = None


async def _play(recorded: Recorded, root: Path) -> None:
    async with bench() as b:
        incident, reviews = await reviewed_incident(b)
        opened = (await review_until(reviews, incident, lambda s: True)).opened_at
        due = opened + timedelta(days=2)
        await reviews.act(incident, add("Page the desk on SEV1 at once", "amoreno", due))
        await reviews.act(incident, add("Add a location field", "responder", due))
        cause = ReviewAction(
            kind="root_cause",
            actor=LEAD,
            factors=["late-signal", "missing-location"],
            cause_step="respond",
            changes="The form asks for the location first.",
        )
        await reviews.act(incident, cause)
        await b.env.sleep(timedelta(days=1, hours=1))  # both items' reminders (a day before)
        await review_until(reviews, incident, lambda s: {"A1/reminder", "A2/reminder"} <= {*s.sent})
        await reviews.act(incident, close("A1", RESPONDER))
        await b.env.sleep(timedelta(days=1))  # A2 overdue: escalated to legal
        await review_until(reviews, incident, lambda s: "A2/overdue" in s.sent)
        await reviews.act(incident, close("A2", RESPONDER))
        await reviews.act(incident, DONE)
        final: ReviewState = await reviews.handle(incident).result()
        assert final.status == "closed"
        envelope, runs = await export_incident(b.incidents, incident, Decoder())
        recorded.export.write_text(dump_envelope(envelope), encoding="utf-8")
        for i, run in enumerate(runs, start=1):
            path = root / f"incident-run{i}.json"
            path.write_text(run.to_json(), encoding="utf-8")
            recorded.incident_files.append(path)
        history = await reviews.handle(incident).fetch_history()
        recorded.review_file.write_text(history.to_json(), encoding="utf-8")
        recorded.server_report = await report_from_server(b.incidents, incident, Decoder(), None)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("review-audit")
    found = Recorded(root)
    asyncio.run(_play(found, root))
    return found


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUSTED_KEYS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def test_key(tmp_path: Path) -> Path:
    TEST_SIGNER.write(tmp_path / "keys")
    return tmp_path / "keys"


def verify(path: Path, *extra: str) -> tuple[int, str, str]:
    return sopflow("audit", "verify", str(path), "-d", str(SHIPPED), *extra)


def review_requests(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload of every accepted review action, in history order."""
    found = []
    assert data["review"] is not None
    for run in data["review"]["runs"]:
        for event in run["history"]["events"]:
            attrs = event.get("workflowExecutionUpdateAcceptedEventAttributes")
            if attrs:
                found.append(attrs["acceptedRequest"]["input"]["args"]["payloads"][0])
    return found


def rewritten(tmp_path: Path, data: dict[str, Any], name: str = "edited.audit.json") -> Path:
    data["digest"] = compute_digest(data)
    path = tmp_path / name
    path.write_text(dump_envelope(data), encoding="utf-8")
    return path


def review_of(path: Path, *extra: str) -> ReviewReport:
    code, out, err = sopflow("audit", "report", "-f", "json", str(path), *extra)
    assert code == 0, err
    review = AuditReport.model_validate_json(out).postmortem_review
    assert review is not None
    return review


def test_the_export_holds_the_review_and_verifies(recorded: Recorded, test_key: Path) -> None:
    data = json.loads(recorded.export.read_text(encoding="utf-8"))
    incident = data["workflow_id"]
    assert data["format"] == 2
    assert data["review"]["workflow_id"] == review_id(incident)
    assert len(data["review"]["runs"]) == 1
    assert data["digest"] == compute_digest(data)  # the review is under the digest
    code, out, err = verify(recorded.export, "--keys", str(test_key))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-2] == (
        f"ok    review: {review_id(incident)}, 1 run(s), started by the incident's step "
        "'postmortem', as recorded"
    )
    assert lines[-1] == (
        "ok    review signatures: 6 signed action(s), each by a trusted key "
        f"(6 by test {TEST_SIGNER.key_id})"
    )


def test_a_tampered_review_action_fails_verify_naming_it(
    recorded: Recorded, test_key: Path, tmp_path: Path
) -> None:
    data = json.loads(recorded.export.read_text(encoding="utf-8"))
    # A1's close (the fourth action): someone else claims to have closed it.
    edit_request(review_requests(data)[3], lambda v: v["actor"].update(id="mallory"))
    code, out, err = verify(rewritten(tmp_path, data), "--keys", str(test_key))
    assert code == 1, out
    failed = [line for line in out.splitlines() if not line.startswith("ok")]
    assert len(failed) == 1
    assert failed[0].startswith("FAIL  review signatures: 1 of 6 action(s) fail; the first: run 1 ")
    assert failed[0].endswith(
        "review_action close_item on item 'A1' by 'mallory': the signature by key "
        f"{TEST_SIGNER.key_id} (test) does not match the action"
    )
    assert "NOT verified (1 check(s) failed)" in err
    edited = review_of(tmp_path / "edited.audit.json", "--keys", str(test_key))
    signature = edited.actions[3].signature
    assert signature is not None and signature.status == "invalid"


def test_an_unsigned_review_action_is_refused_unless_allowed(
    recorded: Recorded, test_key: Path, tmp_path: Path
) -> None:
    data = json.loads(recorded.export.read_text(encoding="utf-8"))
    edit_request(review_requests(data)[0], lambda v: v.pop("signature"))
    path = rewritten(tmp_path, data)
    code, out, _ = verify(path, "--keys", str(test_key))
    assert code == 1
    assert "FAIL  review signatures: 1 of 6 action(s) fail; the first: run 1 " in out
    assert "review_action add_item by 'dokafor': not signed; 1 action is not signed" in out
    code, out, _ = verify(path, "--keys", str(test_key), "--allow-unsigned")
    assert code == 0, out
    # Removed after a signed action: refused even when unsigned actions are allowed.
    data = json.loads(recorded.export.read_text(encoding="utf-8"))
    edit_request(review_requests(data)[-1], lambda v: v.pop("signature"))
    code, out, _ = verify(rewritten(tmp_path, data), "--keys", str(test_key), "--allow-unsigned")
    assert code == 1
    assert "review_action done by 'dokafor': not signed, yet recorded after a signed" in out


def test_another_review_or_a_dropped_one(
    recorded: Recorded, test_key: Path, tmp_path: Path
) -> None:
    data = json.loads(recorded.export.read_text(encoding="utf-8"))
    # An older (format 1) export holds no review: it verifies, and says the review exists.
    old = {k: v for k, v in data.items() if k != "review"} | {"format": 1}
    code, out, _ = verify(rewritten(tmp_path, old, "old.json"), "--keys", str(test_key))
    assert code == 0, out
    assert "ok    review: not in this export: the incident started the review " in out
    # The envelope claims another review id: the review check fails.
    data["review"]["workflow_id"] = "inc-other/postmortem"
    code, out, _ = verify(rewritten(tmp_path, data), "--keys", str(test_key))
    assert code == 1
    assert "FAIL  review: " in out and "not inc-other/postmortem" in out
    # The format and the review must agree: a garbled envelope is one line.
    bad = json.loads(recorded.export.read_text(encoding="utf-8")) | {"format": 1}
    code, out, err = verify(rewritten(tmp_path, bad, "bad.json"), "--keys", str(test_key))
    assert code == 1 and "Traceback" not in err
    assert "not a valid audit export" in err and "format 2 holds a review" in err


def test_replay_replays_the_review_with_the_incident(recorded: Recorded) -> None:
    code, out, err = sopflow("audit", "replay", str(recorded.export), str(recorded.review_file))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-2].startswith(f"ok    {recorded.export} review run 1/1 (")
    assert lines[-1].startswith(f"ok    {recorded.review_file} (")
    assert all(line.startswith("ok") for line in lines)


def test_the_report_shows_the_review(recorded: Recorded, test_key: Path) -> None:
    v = review_of(recorded.export, "--keys", str(test_key))
    assert (v.owner, v.escalate_to, v.status, v.step) == ("lead", "legal", "closed", "postmortem")
    assert v.due_at - v.opened_at > timedelta(days=4, hours=23)
    a1, a2 = v.items
    assert (a1.id, a1.title, a1.owner, a1.added_by) == (
        "A1",
        "Page the desk on SEV1 at once",
        "amoreno",
        "dokafor",
    )
    assert (a1.status, a1.closed_by, a1.note) == ("closed", "amoreno", "done and checked")
    assert a1.closed_at is not None and a2.closed_at is not None and a1.closed_at < a2.closed_at
    assert (a2.owner, a2.closed_by) == ("responder", "amoreno")
    assert v.root_cause is not None
    assert v.root_cause.factors == ["late-signal", "missing-location"]
    assert (v.root_cause.step, v.root_cause.recorded_by) == ("respond", "dokafor")
    keys = [(n.key, n.to, n.escalation) for n in v.notices]
    assert keys == [
        ("A1/reminder", "amoreno", False),
        ("A2/reminder", "responder", False),
        ("A2/overdue", "legal", True),
    ]
    assert (v.done_by, v.done_note) == ("dokafor", "reviewed with the desk")
    assert [a.kind for a in v.actions] == [
        "add_item",
        "add_item",
        "root_cause",
        "close_item",
        "close_item",
        "done",
    ]
    assert {a.signature.status for a in v.actions if a.signature} == {"valid"}
    assert v.notes == []

    code, md, _ = sopflow("audit", "report", str(recorded.export), "--keys", str(test_key))
    assert code == 0
    section = md[md.index("## Post-mortem review") :]
    assert "| Owner | lead |" in section
    assert "| A1 | Page the desk on SEV1 at once | amoreno |" in section
    assert "| closed | amoreno |" in section and "done and checked" in section
    assert "| Factors | late-signal, missing-location |" in section
    assert "| escalation | A2/overdue | legal (role) | delivered |" in section
    assert "marked done by **dokafor**" in section
    assert f"signed: test {TEST_SIGNER.key_id}" in section


def test_the_same_review_from_the_server_and_from_plain_histories(recorded: Recorded) -> None:
    server = recorded.server_report
    assert server is not None and server.postmortem_review is not None
    exported = asyncio.run(report_from_files([recorded.export], Decoder(), None))
    files = [recorded.review_file, *recorded.incident_files]  # any order
    plain = asyncio.run(report_from_files(files, Decoder(), None))
    assert exported.postmortem_review == server.postmortem_review == plain.postmortem_review
