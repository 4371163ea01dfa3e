"""Action signatures in the audit, without a server: the checked-in histories (recorded
before actions were signed) fail ``verify`` unless ``--allow-unsigned``; where verify looks
for keys, and what it says when there are none; the verdict on one signed action; and the
rule that an unsigned action after a signed one always fails (tests/test_audit_signed_export.py
runs a signed incident end to end)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.audit.envelope import dump_envelope
from sopflow.audit.export import envelope_from_runs
from sopflow.audit.history_io import load_file, order_runs
from sopflow.audit.payloads import Decoder
from sopflow.audit.report_model import AuditReport, SignatureEntry
from sopflow.audit.signatures import RecordedAction, check_action, summarise
from sopflow.cli.app import app
from sopflow.client.actions import update_id
from sopflow.client.signing import TRUSTED_KEYS_ENV, ActionSigner, KeyRing
from sopflow.client.testing import TEST_KEYS, TEST_SIGNER
from sopflow.contract.messages import Actor, Vote
from tests.conftest import SHIPPED, UNSIGNED_HISTORIES

pytestmark = pytest.mark.unit

HISTORIES = UNSIGNED_HISTORIES
CAN = sorted(HISTORIES.glob("legal-process-v1-US-continue-as-new-run*.json"))
# Each incident: the continue-as-new runs together, every other file on its own.
INCIDENTS = [CAN, *([f] for f in sorted(HISTORIES.glob("*.json")) if f not in CAN)]
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No $SOPFLOW_TRUSTED_KEYS and no .sopflow/keys unless a test sets them."""
    monkeypatch.delenv(TRUSTED_KEYS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def test_key(tmp_path: Path) -> Path:
    _, public = TEST_SIGNER.write(tmp_path / "keys")
    return public


def export(files: list[Path], tmp_path: Path) -> Path:
    runs = order_runs([load_file(f).runs[0] for f in files], "test")
    path = tmp_path / f"{files[0].stem}.audit.json"
    path.write_text(dump_envelope(asyncio.run(envelope_from_runs(runs, Decoder()))), "utf-8")
    return path


def sopflow(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def verify(path: Path, *extra: str) -> tuple[int, str, str]:
    return sopflow("audit", "verify", str(path), "-d", str(SHIPPED), *extra)


@pytest.mark.parametrize("files", INCIDENTS, ids=lambda files: files[0].stem)
def test_checked_in_histories_fail_unless_unsigned_actions_are_allowed(
    files: list[Path], tmp_path: Path, test_key: Path
) -> None:
    path = export(files, tmp_path)
    actions = AuditReport.model_validate_json(
        sopflow("audit", "report", "-f", "json", str(path))[1]
    ).actions
    assert actions and all(a.signature == SignatureEntry(status="unsigned") for a in actions)
    unsigned = f"{len(actions)} action{'s are' if len(actions) > 1 else ' is'} not signed"

    code, out, err = verify(path, "--keys", str(test_key))
    assert code == 1 and "Traceback" not in out + err
    [line] = [x for x in out.splitlines() if x.startswith("FAIL")]
    first = actions[0]
    assert line.startswith(
        f"FAIL  signatures: {len(actions)} of {len(actions)} action(s) fail; the first: "
        f"run {first.ref.run} event {first.ref.event_id} "
    )
    assert f"{first.action} " in line and f"by {first.actor!r}: not signed;" in line
    assert line.endswith(
        f"{unsigned} (recorded before actions were signed?): --allow-unsigned accepts them"
    )

    code, out, err = verify(path, "--keys", str(test_key), "--allow-unsigned")
    assert code == 0, out + err
    assert out.splitlines()[-1] == (
        f"ok    signatures: {unsigned} (recorded before actions were signed?), "
        "allowed by --allow-unsigned"
    )


def test_no_keys_at_all_is_exit_1_naming_where_it_looked(tmp_path: Path) -> None:
    path = export(CAN, tmp_path)
    code, out, err = verify(path, "--allow-unsigned")
    assert code == 1 and out == ""
    assert err == (
        "error: no public keys to check action signatures with: looked in "
        ".sopflow/keys/*.pub ($SOPFLOW_TRUSTED_KEYS is not set); give --keys FILE|DIR "
        "(every public key that ever signed) or set SOPFLOW_TRUSTED_KEYS\n"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = verify(path, "--keys", str(empty))
    assert code == 1 and err.startswith(
        f"error: no public keys to check action signatures with: looked in --keys {empty};"
    )
    code, _, err = sopflow("audit", "verify", str(path), env={TRUSTED_KEYS_ENV: str(empty)})
    assert code == 1 and f"looked in ${TRUSTED_KEYS_ENV} ({empty});" in err


def test_keys_come_from_the_environment_then_the_dev_keys(tmp_path: Path, test_key: Path) -> None:
    path = export(CAN, tmp_path)
    env = {TRUSTED_KEYS_ENV: str(test_key)}
    code, _, _ = sopflow("audit", "verify", str(path), "--allow-unsigned", env=env)
    assert code == 0
    TEST_SIGNER.write(tmp_path / ".sopflow" / "keys")  # the cwd's dev keys (`sopflow dev`)
    assert verify(path, "--allow-unsigned")[0] == 0


def test_an_unreadable_key_file_is_one_line(tmp_path: Path) -> None:
    path = export(CAN, tmp_path)
    junk = tmp_path / "junk.pub"
    junk.write_text("not a key", encoding="utf-8")
    code, out, err = verify(path, "--keys", str(junk))
    assert code == 1 and out == ""
    assert err.startswith(f"error: {junk} is not a PEM public key") and len(err.splitlines()) == 1
    code, _, err = sopflow("audit", "report", str(path), "--keys", str(tmp_path / "missing.pub"))
    assert code == 1 and "cannot read public key" in err


def test_the_report_of_an_unsigned_history_says_unsigned(tmp_path: Path) -> None:
    path = HISTORIES / "threat-to-life-v1-UK-cancelled.json"
    code, md, _ = sopflow("audit", "report", str(path))
    assert code == 0
    assert "| cancel_incident |" in md and "| applied | unsigned |" in md
    assert "| Signatures | 1 unsigned |" in md


# --- one action's verdict

VOTE = Vote(step="approve", actor=Actor(id="bob", roles=["lead"]), decision="approve", reason="ok")
AT = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def signed_vote(**change: Any) -> tuple[Vote, str]:
    vote = TEST_SIGNER.sign(VOTE, "inc-1", "req-1", AT)
    return vote.model_copy(update=change), update_id(vote, "req-1")


def test_a_signed_action_is_valid_with_its_key_and_says_which() -> None:
    vote, update = signed_vote()
    verdict = check_action(vote, "inc-1", update, TEST_KEYS)
    assert verdict == SignatureEntry(
        status="valid",
        key_id=TEST_SIGNER.key_id,
        label="test",
        request_id="req-1",
        issued_at=AT,
    )
    assert check_action(vote, "inc-1", update, None).status == "not_checked"
    assert check_action(VOTE, "inc-1", update, TEST_KEYS).status == "unsigned"


@pytest.mark.parametrize(
    ("incident", "change", "recorded", "status", "detail"),
    [
        ("inc-2", {}, None, "invalid", "does not match the action"),
        ("inc-1", {"reason": "edited"}, None, "invalid", "does not match the action"),
        ("inc-1", {"actor": Actor(id="bob", roles=["lead", "legal"])}, None, "invalid", "match"),
        ("inc-1", {}, "vote:approve:req-2", "invalid", "recorded as update 'vote:approve:req-2'"),
    ],
)
def test_what_breaks_a_signature(
    incident: str, change: dict[str, Any], recorded: str | None, status: str, detail: str
) -> None:
    vote, update = signed_vote(**change)
    verdict = check_action(vote, incident, recorded or update, TEST_KEYS)
    assert verdict.status == status and verdict.detail is not None and detail in verdict.detail


def test_a_key_not_given_is_an_unknown_key() -> None:
    vote, update = signed_vote()
    other = KeyRing.of(ActionSigner.generate("api"))
    verdict = check_action(vote, "inc-1", update, other)
    assert verdict.status == "unknown_key"
    assert (
        verdict.detail == f"signed by unknown key {TEST_SIGNER.key_id!r} (not among the keys given)"
    )


# --- the rule for unsigned actions


def recorded(event_id: int, status: str) -> RecordedAction:
    verdict = (
        SignatureEntry(status="unsigned")
        if status == "unsigned"
        else SignatureEntry(status="valid", key_id="3f2a9c10e4b5d6a7", label="api")
    )
    return RecordedAction(1, event_id, AT, "vote", "approve", "bob", verdict)


def test_unsigned_actions_are_allowed_only_before_the_first_signed_one() -> None:
    before = [recorded(10, "unsigned"), recorded(20, "valid")]
    ok, detail = summarise(before, allow_unsigned=True)
    assert ok, detail
    assert detail == (
        "1 signed action(s), each by a trusted key (1 by api 3f2a9c10e4b5d6a7); "
        "1 action is not signed (recorded before actions were signed?), allowed by "
        "--allow-unsigned"
    )
    assert not summarise(before, allow_unsigned=False)[0]
    after = [recorded(10, "valid"), recorded(20, "unsigned"), recorded(30, "unsigned")]
    ok, detail = summarise(after, allow_unsigned=True)
    assert not ok
    assert detail == (
        "2 of 3 action(s) fail; the first: run 1 event 20 (2026-12-03 11:00:00Z): vote on "
        "step 'approve' by 'bob': not signed, yet recorded after a signed action (its "
        "signature was removed?)"
    )
    assert summarise([], allow_unsigned=False) == (True, "no actions recorded")
