"""Who signed each recorded action: the offline check of action signatures.

Every accepted responder action is in the history's WorkflowExecutionUpdateAccepted event
(``accepted_request.input.args``), with the signature the worker verified before accepting
it (``sopflow.contract.assertions`` says what is signed). Here each one is checked again,
offline, against public keys (``KeyRing.check``: no clock, since an auditor reads the
history long after the fact), and against the update id it was accepted under (a signature
is bound to its request). ``verify`` turns this into its ``signatures`` check; the report
shows each action's signer.

The incident a signature is checked against is the incident id recorded in run 1's input:
the worker checked it against the workflow id, and ``verify``'s ``claims`` check shows the
two are the same. A post-mortem review's actions (``review_action``) are signed over the
review's workflow id (``<incident id>/postmortem``), recorded in its own input.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from sopflow.audit.errors import AuditError
from sopflow.audit.payloads import DecodeError, Decoder
from sopflow.audit.report_model import SignatureEntry
from sopflow.client.actions import update_id
from sopflow.client.signing import (
    DEV_KEYS_DIR,
    TRUSTED_KEYS_ENV,
    KeyFileError,
    KeyRing,
    keyring_from_env,
)
from sopflow.contract.assertions import Signable, SignatureRefused
from sopflow.contract.messages import Cancel, CompleteTask, Migrate, Note, PostUpdate, Vote
from sopflow.contract.names import (
    UPDATE_CANCEL,
    UPDATE_COMPLETE,
    UPDATE_MIGRATE,
    UPDATE_NOTE,
    UPDATE_POST,
    UPDATE_REVIEW,
    UPDATE_VOTE,
)
from sopflow.contract.reviews import ReviewAction

ACTION_TYPES: dict[str, type[Any]] = {
    UPDATE_COMPLETE: CompleteTask,
    UPDATE_VOTE: Vote,
    UPDATE_NOTE: Note,
    UPDATE_CANCEL: Cancel,
    UPDATE_MIGRATE: Migrate,
    UPDATE_POST: PostUpdate,
    UPDATE_REVIEW: ReviewAction,
}

UNSIGNED_HINT = "(recorded before actions were signed?)"


# --- keys


def _looked_in(paths: Sequence[Path] | None) -> str:
    """Where the keys were looked for, for the message that says none were found."""
    if paths:
        return "--keys " + ", ".join(str(p) for p in paths)
    configured = os.environ.get(TRUSTED_KEYS_ENV, "").strip()
    if configured:
        return f"${TRUSTED_KEYS_ENV} ({configured})"
    return f"{DEV_KEYS_DIR}/*.pub (${TRUSTED_KEYS_ENV} is not set)"


def keys_for_verify(paths: Sequence[Path] | None) -> KeyRing:
    """The public keys in ``paths`` (files, or directories of ``*.pub``), else
    ``keyring_from_env()``. AuditError for an unreadable key file, or when there are none:
    verify checks signatures, and with no keys it could only say it did not."""
    ring = _load(paths)
    if not ring.keys:
        raise AuditError(
            f"no public keys to check action signatures with: looked in {_looked_in(paths)}; "
            f"give --keys FILE|DIR (every public key that ever signed) or set {TRUSTED_KEYS_ENV}"
        )
    return ring


def keys_for_report(paths: Sequence[Path] | None) -> KeyRing | None:
    """Like ``keys_for_verify``, but None when ``paths`` are not given and the environment
    has no keys: the report then shows the key each signature names, not checked."""
    if paths:
        return keys_for_verify(paths)  # asking for keys that are not there is a mistake
    ring = _load(None)
    return ring if ring.keys else None


def _load(paths: Sequence[Path] | None) -> KeyRing:
    try:
        return KeyRing.from_paths(paths) if paths else keyring_from_env()
    except KeyFileError as exc:
        raise AuditError(str(exc)) from None


# --- one action


def check_action(
    action: Signable, incident_id: str, recorded_update: str, keys: KeyRing | None
) -> SignatureEntry:
    """Who signed ``action`` on ``incident_id``, accepted as update ``recorded_update``:
    with ``keys``, checked (valid, invalid, unknown_key); without, only what it claims."""
    signature = action.signature
    if signature is None:
        return SignatureEntry(status="unsigned")
    named = {
        "key_id": signature.key_id,
        "request_id": signature.request_id,
        "issued_at": signature.issued_at,
    }
    if keys is None:
        return SignatureEntry(status="not_checked", **named)
    if signature.key_id not in keys.keys:
        detail = f"signed by unknown key {signature.key_id!r} (not among the keys given)"
        return SignatureEntry(status="unknown_key", detail=detail, **named)
    try:
        key = keys.check(action, incident_id)
    except SignatureRefused as exc:
        return SignatureEntry(status="invalid", detail=str(exc), **named)
    # The claims cover the request id, and the worker accepted the action only under the
    # update id made from it: another id here means the history was edited around it.
    expected = update_id(action, signature.request_id)
    if recorded_update != expected:
        detail = f"signed for update {expected!r}, recorded as update {recorded_update!r}"
        return SignatureEntry(status="invalid", label=key.label, detail=detail, **named)
    return SignatureEntry(status="valid", label=key.label, **named)


# --- every action of a history


@dataclass(frozen=True)
class RecordedAction:
    """An accepted update as the history records it, and its signature's verdict (None
    when its request could not be decoded: ``problem`` says why)."""

    run: int
    event_id: int
    at: datetime
    update: str
    step: str | None
    actor: str | None
    verdict: SignatureEntry | None
    problem: str = ""
    kind: str | None = None  # a review action's kind (add_item, close_item, ...)
    item: str | None = None  # the action item a review action names

    def describe(self) -> str:
        """``run 1 event 25 (2026-12-03 11:32:38Z): vote on step 'approve' by 'bob'``;
        a review's: ``... review_action close_item on item 'A1' by 'amoreno'``."""
        when = self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        what = f"{self.update} {self.kind}" if self.kind else self.update
        step = f" on step {self.step!r}" if self.step else ""
        item = f" on item {self.item!r}" if self.item else ""
        actor = f" by {self.actor!r}" if self.actor else ""
        return f"run {self.run} event {self.event_id} ({when}): {what}{step}{item}{actor}"


async def recorded_actions(
    runs: Sequence[WorkflowHistory], decoder: Decoder, incident_id: str, keys: KeyRing | None
) -> list[RecordedAction]:
    """Every accepted update of every run, in history order, with its signature checked."""
    found: list[RecordedAction] = []
    for number, run in enumerate(runs, start=1):
        for ev in run.events:
            if ev.HasField("workflow_execution_update_accepted_event_attributes"):
                found.append(await _recorded(number, ev, decoder, incident_id, keys))
    return found


async def _recorded(
    run: int, ev: HistoryEvent, decoder: Decoder, incident_id: str, keys: KeyRing | None
) -> RecordedAction:
    request = ev.workflow_execution_update_accepted_event_attributes.accepted_request
    name = request.input.name
    at = ev.event_time.ToDatetime(tzinfo=UTC)
    kind = ACTION_TYPES.get(name)
    if kind is None:  # the worker refuses every update that is not a responder action
        problem = f"{name!r} is not a responder action"
        return RecordedAction(run, ev.event_id, at, name, None, None, None, problem)
    what = f"run {run} event {ev.event_id}: the {name} request"
    try:
        action: Signable = await decoder.one(request.input.args, kind, what)
    except DecodeError as exc:
        return RecordedAction(run, ev.event_id, at, name, None, None, None, str(exc))
    verdict = check_action(action, incident_id, request.meta.update_id, keys)
    step = getattr(action, "step", None)
    if isinstance(action, ReviewAction):
        return RecordedAction(
            run, ev.event_id, at, name, None, action.actor.id, verdict, "", action.kind, action.item
        )
    return RecordedAction(run, ev.event_id, at, name, step, action.actor.id, verdict)


async def signature_check(
    runs: Sequence[WorkflowHistory], decoder: Decoder, keys: KeyRing, *, allow_unsigned: bool
) -> tuple[bool, str]:
    """``verify``'s ``signatures`` check of every run: passed or not, and its detail."""
    try:
        first = await decoder.incident_input(runs[0], "run 1")
    except DecodeError as exc:
        return False, f"{exc}; the signatures cannot be checked"
    actions = await recorded_actions(runs, decoder, first.incident_id, keys)
    return summarise(actions, allow_unsigned=allow_unsigned)


def _why(action: RecordedAction, allowed: bool) -> str | None:
    """Why ``action`` fails the check, or None when it passes. ``allowed``: an unsigned
    action is accepted (``--allow-unsigned``, and no signed action came before it)."""
    verdict = action.verdict
    if verdict is None:
        return action.problem
    if verdict.status == "valid":
        return None
    if verdict.status == "unsigned":
        return None if allowed else "not signed"
    return verdict.detail or verdict.status


def _unsigned(count: int) -> str:
    if count == 1:
        return f"1 action is not signed {UNSIGNED_HINT}"
    return f"{count} actions are not signed {UNSIGNED_HINT}"


def summarise(actions: Sequence[RecordedAction], *, allow_unsigned: bool) -> tuple[bool, str]:
    """The ``signatures`` check: passed or not, and its detail, naming the first action
    that fails. Unsigned actions pass only with ``allow_unsigned``, and only those recorded
    before the first signed one: once workers verified signatures, an unsigned action could
    not have been accepted, so one after a signed action had its signature removed."""
    failing: list[tuple[RecordedAction, str]] = []
    signed_seen = False
    for action in actions:
        why = _why(action, allow_unsigned and not signed_seen)
        if why == "not signed" and signed_seen:
            why = "not signed, yet recorded after a signed action (its signature was removed?)"
        if why is not None:
            failing.append((action, why))
        if action.verdict is not None and action.verdict.status != "unsigned":
            signed_seen = True
    unsigned = sum(a.verdict is not None and a.verdict.status == "unsigned" for a in actions)
    if failing:
        first, why = failing[0]
        detail = f"{len(failing)} of {len(actions)} action(s) fail; the first: "
        detail += f"{first.describe()}: {why}"
        if unsigned and not allow_unsigned:
            detail += f"; {_unsigned(unsigned)}: --allow-unsigned accepts them"
        return False, detail
    return True, _passed(actions, unsigned)


def _passed(actions: Sequence[RecordedAction], unsigned: int) -> str:
    if not actions:
        return "no actions recorded"
    signers = Counter(
        f"{a.verdict.label} {a.verdict.key_id}"
        for a in actions
        if a.verdict is not None and a.verdict.status == "valid"
    )
    signed = sum(signers.values())
    parts = []
    if signed:
        by = ", ".join(f"{n} by {who}" for who, n in signers.most_common())
        parts.append(f"{signed} signed action(s), each by a trusted key ({by})")
    if unsigned:
        parts.append(f"{_unsigned(unsigned)}, allowed by --allow-unsigned")
    return "; ".join(parts)
