"""Signed actions in the audit: a real incident on the time-skipping server (its actions
signed by ``TEST_SIGNER``, as the incident service signs them) is exported once; then
``sopflow audit verify`` checks every action's signature offline against public key files,
names the first action that fails (an unknown key, an edited actor, a removed signature),
and ``sopflow audit report`` shows who signed each action."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.audit.envelope import compute_digest, dump_envelope
from sopflow.audit.export import export_incident
from sopflow.audit.payloads import Decoder
from sopflow.audit.report_model import Action, AuditReport
from sopflow.cli.app import app
from sopflow.client.signing import TRUSTED_KEYS_ENV, ActionSigner
from sopflow.client.testing import TEST_SIGNER
from tests.conftest import SHIPPED
from tests.harness import bench
from tests.test_audit_report import audited_incident

pytestmark = pytest.mark.workflow

runner = CliRunner()


def sopflow(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export of AUDITED (a note, a completed task, two votes, across several runs)."""

    async def scenario() -> Path:
        async with bench() as b:
            incident_id = await audited_incident(b)
            envelope, _ = await export_incident(b.incidents, incident_id, Decoder())
        path = tmp_path_factory.mktemp("export") / "signed.audit.json"
        path.write_text(dump_envelope(envelope), encoding="utf-8")
        return path

    return asyncio.run(scenario())


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys only from --keys here: no $SOPFLOW_TRUSTED_KEYS, no .sopflow/keys."""
    monkeypatch.delenv(TRUSTED_KEYS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def test_key(tmp_path: Path) -> Path:
    """A directory holding TEST_SIGNER's public key (and its private key, which --keys
    ignores: only *.pub files are read from a directory)."""
    TEST_SIGNER.write(tmp_path / "keys")
    return tmp_path / "keys"


def verify(path: Path, *extra: str) -> tuple[int, str, str]:
    return sopflow("audit", "verify", str(path), "-d", str(SHIPPED), *extra)


def report_json(path: Path, *extra: str) -> AuditReport:
    code, out, err = sopflow("audit", "report", "-f", "json", str(path), *extra)
    assert code == 0, err
    return AuditReport.model_validate_json(out)


def described(a: Action, actor: str | None = None) -> str:
    """How verify names an action: run, event, time, update, step, claimed actor."""
    return (
        f"run {a.ref.run} event {a.ref.event_id} "
        f"({a.at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%SZ')}): "
        f"{a.action} on step {a.step!r} by {actor or a.actor!r}"
    )


def accepted_requests(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload of every accepted update, in history order."""
    found = []
    for run in data["runs"]:
        for event in run["history"]["events"]:
            attrs = event.get("workflowExecutionUpdateAcceptedEventAttributes")
            if attrs:
                found.append(attrs["acceptedRequest"]["input"]["args"]["payloads"][0])
    return found


def edit_request(payload: dict[str, Any], change: Any) -> None:
    value = json.loads(base64.b64decode(payload["data"]))
    change(value)
    payload["data"] = base64.b64encode(json.dumps(value).encode()).decode()


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "edited.audit.json"
    path.write_text(dump_envelope(data), encoding="utf-8")
    return path


def test_verify_passes_with_the_key_that_signed(exported: Path, test_key: Path) -> None:
    code, out, err = verify(exported, "--keys", str(test_key))
    assert code == 0, out + err
    assert out.splitlines()[-1] == (
        "ok    signatures: 4 signed action(s), each by a trusted key "
        f"(4 by test {TEST_SIGNER.key_id})"
    )
    assert "verified" in err
    # A key file named directly works as a directory does.
    code, _, _ = verify(exported, "--keys", str(test_key / "test.pub"))
    assert code == 0


def test_verify_without_the_key_names_the_first_action(
    exported: Path, test_key: Path, tmp_path: Path
) -> None:
    ActionSigner.generate("api").write(tmp_path / "other")
    code, out, err = verify(exported, "--keys", str(tmp_path / "other"))
    assert code == 1 and "Traceback" not in out + err
    first = report_json(exported).actions[0]
    assert first.action == "add_note"
    assert out.splitlines()[-1] == (
        f"FAIL  signatures: 4 of 4 action(s) fail; the first: {described(first)}: "
        f"signed by unknown key {TEST_SIGNER.key_id!r} (not among the keys given)"
    )
    assert err.startswith(f"error: {exported}: NOT verified (1 check(s) failed)")
    # Rotation: given every key that ever signed (the new one and the old), it verifies.
    code, _, _ = verify(exported, "--keys", str(tmp_path / "other"), "--keys", str(test_key))
    assert code == 0


def test_an_edited_actor_is_caught_by_the_digest(
    exported: Path, test_key: Path, tmp_path: Path
) -> None:
    data = json.loads(exported.read_text(encoding="utf-8"))
    edit_request(accepted_requests(data)[2], lambda v: v["actor"].update(id="mallory"))
    code, out, _ = verify(write(tmp_path, data), "--keys", str(test_key))
    assert code == 1
    assert out.splitlines()[0].startswith("FAIL  digest: the file says sha256:")
    assert "FAIL  signatures: 1 of 4 action(s) fail" in out


def test_an_edited_actor_with_a_recomputed_digest_is_caught_by_its_signature(
    exported: Path, test_key: Path, tmp_path: Path
) -> None:
    data = json.loads(exported.read_text(encoding="utf-8"))
    edit_request(accepted_requests(data)[2], lambda v: v["actor"].update(id="mallory"))
    data["digest"] = compute_digest(data)  # the envelope's only hash over the history
    code, out, err = verify(write(tmp_path, data), "--keys", str(test_key))
    assert code == 1, out
    failed = [line for line in out.splitlines() if not line.startswith("ok")]
    vote = report_json(exported).actions[2]
    assert (vote.action, vote.actor) == ("vote", "bob")
    assert failed == [
        f"FAIL  signatures: 1 of 4 action(s) fail; the first: {described(vote, 'mallory')}: "
        f"the signature by key {TEST_SIGNER.key_id} (test) does not match the action"
    ]
    assert err.startswith(f"error: {tmp_path / 'edited.audit.json'}: NOT verified")


def test_a_removed_signature_after_a_signed_action_fails_even_when_unsigned_are_allowed(
    exported: Path, test_key: Path, tmp_path: Path
) -> None:
    data = json.loads(exported.read_text(encoding="utf-8"))
    edit_request(accepted_requests(data)[-1], lambda v: v.pop("signature"))
    data["digest"] = compute_digest(data)
    path = write(tmp_path, data)
    last = report_json(exported).actions[-1]
    for extra in ((), ("--allow-unsigned",)):
        code, out, _ = verify(path, "--keys", str(test_key), *extra)
        assert code == 1
        assert f"the first: {described(last)}: not signed, yet recorded after a signed" in out


def test_the_report_shows_who_signed_each_action(
    exported: Path, test_key: Path, tmp_path: Path
) -> None:
    checked = report_json(exported, "--keys", str(test_key))
    assert [a.signature.status if a.signature else None for a in checked.actions] == ["valid"] * 4
    signature = checked.actions[0].signature
    assert signature is not None
    assert (signature.key_id, signature.label) == (TEST_SIGNER.key_id, "test")
    assert signature.request_id and signature.issued_at is not None

    code, md, _ = sopflow("audit", "report", str(exported), "--keys", str(test_key))
    assert code == 0
    assert f"| applied | signed: test {TEST_SIGNER.key_id} |" in md
    assert "| Signatures | 4 signed by a given key |" in md

    # No keys anywhere: the key each signature names, not checked.
    unchecked = report_json(exported)
    assert {a.signature.status for a in unchecked.actions if a.signature} == {"not_checked"}
    _, md, _ = sopflow("audit", "report", str(exported))
    assert f"| signed by key {TEST_SIGNER.key_id} (not checked) |" in md

    # Keys from the environment, as a deployment sets them: here, the wrong ones.
    ActionSigner.generate("api").write(tmp_path / "other")
    env = {TRUSTED_KEYS_ENV: str(tmp_path / "other")}
    result = runner.invoke(app, ["audit", "report", str(exported)], env=env)
    assert result.exit_code == 0
    assert f"| SIGNATURE INVALID: signed by unknown key {TEST_SIGNER.key_id!r}" in result.stdout
    assert "| Signatures | 4 SIGNED BY AN UNKNOWN KEY |" in result.stdout

    # An edited action, checked: invalid, with why.
    data = json.loads(exported.read_text(encoding="utf-8"))
    edit_request(accepted_requests(data)[1], lambda v: v["data"].update(credible=False))
    edited = report_json(write(tmp_path, data), "--keys", str(test_key))
    assert edited.actions[1].signature is not None
    assert edited.actions[1].signature.status == "invalid"
    assert edited.actions[1].signature.detail == (
        f"the signature by key {TEST_SIGNER.key_id} (test) does not match the action"
    )
