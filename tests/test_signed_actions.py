"""Signed actions: the worker accepts an action only with a valid signature by a key it
trusts, over exactly what the action says, for this incident, step and update, recently.

Every refusal here must leave the history as it was. The forged update of the issue (a raw
``temporal workflow update execute`` naming an actor no roster has) runs against the real dev
server through Temporal's own CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from sopflow.client.actions import update_id
from sopflow.client.incidents import ActionRefused, IncidentService, Refusal
from sopflow.client.signing import ActionSigner, KeyFileError, KeyRing
from sopflow.client.testing import TEMPORAL_CLI, TEST_SIGNER
from sopflow.contract.assertions import SignatureRefused, claims, signing_bytes
from sopflow.contract.messages import Actor, CompleteTask, IncidentState, Note, Vote
from sopflow.contract.names import UPDATE_COMPLETE
from tests.harness import Bench, Fakes, bench, compile_text, run
from tests.test_audit_replay import TASKS
from tests.test_client_incidents import CLIENT_SOP
from workflows.incident import IncidentWorkflow

pytestmark = pytest.mark.workflow

ALICE = Actor(id="alice", roles=["responder"])
FORM = {"ok": True}
INCIDENT = "inc-1"


def _complete(actor: Actor = ALICE) -> CompleteTask:
    return CompleteTask(step="verify", actor=actor, data=FORM)


# --- the check itself (no server)


@pytest.mark.unit
def test_a_signature_holds_only_for_what_was_signed() -> None:
    signed = TEST_SIGNER.sign(_complete(), INCIDENT, "r1", _now())
    ring = KeyRing.of(TEST_SIGNER)
    assert ring.check(signed, INCIDENT).label == "test"
    edits: list[tuple[str, Any]] = [
        ("actor", Actor(id="mallory", roles=["responder"])),
        ("actor", Actor(id="alice", roles=["responder", "lead"])),
        ("data", {"ok": False}),
        ("step", "approve"),
    ]
    for field, value in edits:
        with pytest.raises(SignatureRefused, match="does not match"):
            ring.check(signed.model_copy(update={field: value}), INCIDENT)
    with pytest.raises(SignatureRefused, match="does not match"):
        ring.check(signed, "inc-2")  # another incident
    as_note = Note(actor=ALICE, text="x", step="verify", signature=signed.signature)
    with pytest.raises(SignatureRefused, match="does not match"):
        ring.check(as_note, INCIDENT)  # another action


@pytest.mark.unit
def test_unknown_keys_and_missing_signatures_are_refused() -> None:
    stranger = ActionSigner.generate("stranger")
    with pytest.raises(SignatureRefused, match="unknown key"):
        KeyRing.of(TEST_SIGNER).check(stranger.sign(_complete(), INCIDENT, "r", _now()), INCIDENT)
    with pytest.raises(SignatureRefused, match="not signed"):
        KeyRing.of(TEST_SIGNER).check(_complete(), INCIDENT)


@pytest.mark.unit
def test_the_claims_are_what_the_issue_names_and_bytes_are_stable() -> None:
    at = _now()
    c = claims(_complete(), INCIDENT, "r1", at, "k1")
    assert set(c) == {
        "v", "incident", "action", "step", "actor", "roles", "digest", "request_id",
        "issued_at", "key_id",
    }  # fmt: skip
    assert (c["action"], c["step"], c["actor"], c["roles"]) == (
        UPDATE_COMPLETE, "verify", "alice", ["responder"]
    )  # fmt: skip
    again = claims(_complete(), INCIDENT, "r1", at, "k1")
    assert signing_bytes(c) == signing_bytes(again)
    reordered = CompleteTask(step="verify", actor=ALICE, data={"b": 1, "a": 2})
    same = CompleteTask(step="verify", actor=ALICE, data={"a": 2, "b": 1})
    assert claims(reordered, INCIDENT, "r", at, "k") == claims(same, INCIDENT, "r", at, "k")


@pytest.mark.unit
def test_freshness_and_binding_to_the_update() -> None:
    ring, now = KeyRing.of(TEST_SIGNER), _now()
    signed = TEST_SIGNER.sign(_complete(), INCIDENT, "r1", now)
    ring.verify(signed, INCIDENT, update_id(signed, "r1"), now)
    with pytest.raises(SignatureRefused, match="replayed"):
        ring.verify(signed, INCIDENT, update_id(signed, "r2"), now)
    with pytest.raises(SignatureRefused, match="expired"):
        ring.verify(signed, INCIDENT, update_id(signed, "r1"), now + timedelta(minutes=6))
    with pytest.raises(SignatureRefused, match="future"):
        ring.verify(signed, INCIDENT, update_id(signed, "r1"), now - timedelta(minutes=3))


@pytest.mark.unit
def test_key_files_round_trip_rotate_and_refuse_loose_permissions(tmp_path: Path) -> None:
    old, new = ActionSigner.generate("api-2026-11"), ActionSigner.generate("api-2026-12")
    old.write(tmp_path)
    new.write(tmp_path)
    ring = KeyRing.from_paths([tmp_path])
    assert set(ring.keys) == {old.key_id, new.key_id}  # both trusted while rotating
    for signer in (old, new):
        ring.check(signer.sign(_complete(), INCIDENT, "r", _now()), INCIDENT)
    loaded = ActionSigner.from_file(tmp_path / "api-2026-12.key")
    assert (loaded.key_id, loaded.label) == (new.key_id, "api-2026-12")
    (tmp_path / "api-2026-12.key").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        ActionSigner.from_file(tmp_path / "api-2026-12.key")
    (tmp_path / "junk.pub").write_text("not a key", encoding="utf-8")
    with pytest.raises(KeyFileError, match=r"junk\.pub"):
        KeyRing.from_paths([tmp_path])


# --- at the worker: refused before any validator, the history unchanged


async def _refused(b: Bench, h: WorkflowHandle[Any, Any], send: Any, reason: str) -> None:
    before = await b.history_length(h)
    with pytest.raises(ActionRefused) as caught:
        await send
    assert caught.value.kind == Refusal.UNVERIFIED, caught.value.reason
    assert reason in caught.value.reason
    assert await b.history_length(h) == before


async def _raw(h: WorkflowHandle[Any, Any], action: Any, update: str) -> None:
    """Send an update as anyone with a client could, skipping the service's signing."""
    try:
        await h.execute_update(IncidentWorkflow.complete_task, action, id=update)
    except WorkflowUpdateFailedError as exc:
        assert isinstance(exc.cause, ApplicationError)
        cause = Refusal.of_cause(str(exc.cause.details[0]))
        raise ActionRefused(exc.cause.message, cause) from None


@pytest.mark.e2e
def test_the_worker_refuses_unsigned_forged_replayed_and_stale_actions() -> None:
    async def scenario() -> None:
        # The dev server: a rejected update leaves no trace in its history (the time-skipping
        # server still records the workflow task that ran the validator).
        async with bench(dev_server=True) as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": False})
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            unsigned = IncidentService(b.client, task_queue=b.task_queue)
            await _refused(b, h, unsigned.act(h.id, _complete()), "not signed")
            stranger = ActionSigner.generate("stranger")
            forger = IncidentService(b.client, task_queue=b.task_queue, signer=stranger)
            await _refused(b, h, forger.act(h.id, _complete()), "unknown key")
            now = await b.env.get_current_time()
            signed = TEST_SIGNER.sign(_complete(), h.id, "r1", now)
            mallory = signed.model_copy(update={"actor": Actor(id="mallory", roles=["responder"])})
            await _refused(b, h, _raw(h, mallory, update_id(mallory, "r1")), "does not match")
            await _refused(b, h, _raw(h, signed, update_id(signed, "r2")), "replayed")
            stale = TEST_SIGNER.sign(_complete(), h.id, "r3", now - timedelta(minutes=10))
            await _refused(b, h, _raw(h, stale, update_id(stale, "r3")), "expired")
            # The genuine action, as signed, goes through; the timeline names its actor.
            await _raw(h, signed, update_id(signed, "r1"))
            state = await b.until(h, lambda s: s.steps["verify"].status == "done")
            [done] = [e for e in state.timeline if e.kind == "task.completed"]
            assert done.actor == "alice"

    run(scenario)


@pytest.mark.e2e
def test_a_worker_without_trusted_keys_accepts_no_action() -> None:
    """Fail closed: a worker built without the verification interceptor refuses every
    action in its validators, rather than believing the actor each one names."""

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            fakes = Fakes()
            async with _worker_without_keys(b, fakes) as queue:
                incidents = IncidentService(b.client, task_queue=queue, signer=TEST_SIGNER)
                h = await incidents.start(
                    compile_text(CLIENT_SOP), {"urgent": False}, opened_by="o", incident_id="nk1"
                )
                await b.until(h, lambda s: s.steps["verify"].status == "active")
                note = Note(actor=ALICE, text="hello")
                await _refused(b, h, incidents.act(h.id, note), "without trusted keys")

    run(scenario)


@asynccontextmanager
async def _worker_without_keys(b: Bench, fakes: Fakes) -> AsyncIterator[str]:
    queue = f"nokeys-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            b.client,
            task_queue=queue,
            workflows=[IncidentWorkflow],
            activities=fakes.activities(),
            activity_executor=executor,
        ):
            yield queue


@pytest.mark.e2e
def test_a_raw_forged_update_through_temporals_cli_is_refused() -> None:
    """The issue's attack: with the frontend reachable, Temporal's own CLI sends
    ``complete_task`` as "mallory", a person no roster has. The worker refuses it and the
    history does not change."""

    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            h = await b.start(compile_text(CLIENT_SOP), {"urgent": False})
            await b.until(h, lambda s: s.steps["verify"].status == "active")
            before = await b.history_length(h)
            forged = {"step": "verify", "actor": {"id": "mallory", "roles": ["responder"]}}
            address = b.client.service_client.config.target_host
            # Not subprocess.run: the worker shares this event loop and must keep running.
            cli = await asyncio.create_subprocess_exec(
                str(TEMPORAL_CLI), "workflow", "update", "execute",
                "--address", address, "--namespace", b.client.namespace,
                "--workflow-id", h.id, "--name", UPDATE_COMPLETE,
                "--input", json.dumps({**forged, "data": FORM}),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(cli.communicate(), 60)
            assert cli.returncode != 0, out
            assert "signature refused: the action is not signed" in err.decode()
            assert await b.history_length(h) == before
            state: IncidentState = await b.state(h)
            assert state.steps["verify"].status == "active"
            assert all(e.actor != "mallory" for e in state.timeline)

    run(scenario)


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.unit
def test_votes_are_signed_too() -> None:
    """Not only task completions: a vote's signature covers its decision and reason."""
    vote = Vote(step="approve", actor=ALICE, decision="approve", reason="ok")
    signed = TEST_SIGNER.sign(vote, INCIDENT, "r", _now())
    flipped = signed.model_copy(update={"decision": "reject"})
    with pytest.raises(SignatureRefused):
        KeyRing.of(TEST_SIGNER).check(flipped, INCIDENT)


def test_a_signature_is_not_applied_again_after_continue_as_new() -> None:
    """Temporal deduplicates update ids within one run only; the incident remembers the
    request ids it accepted and carries them into the next run."""

    async def scenario() -> None:
        async with bench() as b:
            first = await b.start(compile_text(TASKS), continue_as_new_after=8)
            h = b.incidents.handle(first.id)  # follows continue-as-new
            await b.until(h, lambda s: s.steps["first"].status == "active")
            now = await b.env.get_current_time()
            note = TEST_SIGNER.sign(Note(actor=ALICE, text="called back"), h.id, "n1", now)
            await h.execute_update(IncidentWorkflow.add_note, note, id=update_id(note, "n1"))
            await b.act(h, CompleteTask(step="first", actor=ALICE, data={"ok": True}))
            state = await b.until(h, lambda s: s.runs == 2 and s.steps["second"].status == "active")
            with pytest.raises(WorkflowUpdateFailedError) as caught:
                await h.execute_update(IncidentWorkflow.add_note, note, id=update_id(note, "n1"))
            assert isinstance(caught.value.cause, ApplicationError)
            assert "already applied" in caught.value.cause.message
            after = await b.state(h)
            notes = [e for e in after.timeline if e.kind == "note"]
            assert len(notes) == len([e for e in state.timeline if e.kind == "note"]) == 1

    run(scenario)
