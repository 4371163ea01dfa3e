"""Encrypted histories: an incident run with sopflow's AES-GCM payload codec (the server
stores ciphertext) is exported as it is stored, and verified, replayed and reported only
when its key is configured; without the key every command says so in one line."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sopflow.audit.report_model import AuditReport
from sopflow.cli.app import app
from sopflow.client.codec import data_converter_from_env
from sopflow.client.incidents import ActionRefused, IncidentService, Refusal
from sopflow.client.testing import TEST_SIGNER, incident_worker, time_skipping_server
from sopflow.contract.messages import CompleteTask, IncidentState, Note, Vote
from tests.conftest import SHIPPED
from tests.harness import Fakes, compile_text, run
from tests.test_audit_report import ALICE, AUDITED, BOB, CARA, FORM, POLICY, NoteHandlerFails

pytestmark = pytest.mark.workflow

KEYS = "k1:" + base64.b64encode(bytes(range(32))).decode()
runner = CliRunner()


def sopflow(*args: str, env: dict[str, str | None]) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def encrypted_incident(incidents: IncidentService) -> str:
    """AUDITED with the note handler failing (its failure message is encrypted too)."""
    plan = compile_text(AUDITED, POLICY)
    incident_id = f"inc-{uuid.uuid4().hex[:8]}"
    h = await incidents.start(plan, {"urgent": True}, opened_by="intake", incident_id=incident_id)

    for _ in range(500):  # wait for the task, with a deadline (about 10 s)
        state = await incidents.state(incident_id)
        if state.steps["assess"].status == "active":
            break
        await asyncio.sleep(0.02)
    with pytest.raises(ActionRefused) as caught:
        await incidents.act(incident_id, Note(actor=ALICE, text="on it", step="assess"))
    assert caught.value.kind == Refusal.REFUSED  # the codec client decrypted the failure
    assert caught.value.reason == "the note store is unavailable"
    await incidents.act(incident_id, CompleteTask(step="assess", actor=ALICE, data=FORM))
    for voter in (BOB, CARA):
        for _ in range(500):
            state = await incidents.state(incident_id)
            if state.steps["approve"].status == "active":
                break
            await asyncio.sleep(0.02)
        vote = Vote(step="approve", actor=voter, decision="approve", reason="ok")
        await incidents.act(incident_id, vote)
    final: IncidentState = await h.result()
    assert final.outcome == "disclosed"
    return incident_id


def _payload_bytes(value: Any) -> list[bytes]:
    """Every payload's data and metadata values in a JSON history, base64-decoded."""
    if isinstance(value, list):
        return [b for item in value for b in _payload_bytes(item)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("data"), str) and isinstance(value.get("metadata"), dict):
        parts = [value["data"], *value["metadata"].values()]
        return [base64.b64decode(p) for p in parts]
    return [b for item in value.values() for b in _payload_bytes(item)]


def test_encrypted_history_needs_its_key_for_every_command(tmp_path: Path) -> None:
    async def scenario() -> None:
        converter = data_converter_from_env({"SOPFLOW_CODEC_KEYS": KEYS})
        async with time_skipping_server(data_converter=converter) as env:
            workers = incident_worker(env, Fakes().activities(), workflow=NoteHandlerFails)
            async with workers as queue:
                incidents = IncidentService(env.client, task_queue=queue, signer=TEST_SIGNER)
                incident_id = await encrypted_incident(incidents)
            address = env.client.service_client.config.target_host
            keyed: dict[str, str | None] = {"TEMPORAL_ADDRESS": address, "SOPFLOW_CODEC_KEYS": KEYS}
            path = tmp_path / "export.json"
            code, _, err = await asyncio.to_thread(
                sopflow, "audit", "export", incident_id, "-o", str(path), env=keyed
            )
            assert code == 0, err

        stored = b"".join(_payload_bytes(json.loads(path.read_text(encoding="utf-8"))))
        assert b"binary/encrypted" in stored  # the export holds what the server stores
        for secret in (b"alice", b"a named target", b"2702(b)(8)", b"note store"):
            assert secret not in stored
        no_key: dict[str, str | None] = {
            "SOPFLOW_CODEC_KEYS": None,
            "SOPFLOW_CODEC_KEYS_FILE": None,
        }
        with_key: dict[str, str | None] = {"SOPFLOW_CODEC_KEYS": KEYS}

        _, public = TEST_SIGNER.write(tmp_path / "keys")
        verify = ("audit", "verify", str(path), "-d", str(SHIPPED), "--keys", str(public))
        code, out, _ = await asyncio.to_thread(sopflow, *verify, env=with_key)
        assert code == 0, out
        assert "ok    signatures: 4 signed action(s)" in out  # decrypted to be checked
        code, out, _ = await asyncio.to_thread(sopflow, *verify, env=no_key)
        assert code == 1 and "ok    digest" in out, out
        assert "FAIL  plan: cannot decode run 1: the incident's input: " in out
        assert "FAIL  signatures: cannot decode run 1: the incident's input: " in out
        assert "encrypted with key 'k1' and no key is configured" in out, out

        code, out, _ = await asyncio.to_thread(sopflow, "audit", "replay", str(path), env=with_key)
        assert code == 0 and out.startswith("ok")
        code, out, _ = await asyncio.to_thread(sopflow, "audit", "replay", str(path), env=no_key)
        assert code == 1 and out.startswith(f"FAIL  {path} run 1/")

        code, out, _ = await asyncio.to_thread(
            sopflow, "audit", "report", "-f", "json", str(path), env=with_key
        )
        assert code == 0
        report = AuditReport.model_validate_json(out)
        note, task = report.actions[:2]
        assert (note.actor, note.result, note.failure) == (
            "alice",
            "handler_failed",
            "the note store is unavailable",
        )
        assert task.data == FORM
        assert report.disclosures[0].legal_basis == "18 U.S.C. 2702(b)(8)"
        code, out, err = await asyncio.to_thread(sopflow, "audit", "report", str(path), env=no_key)
        assert code == 1 and out == "" and len(err.splitlines()) == 1
        assert err.startswith("error: cannot decode run 1: the incident's input: payload is")

    run(scenario)
