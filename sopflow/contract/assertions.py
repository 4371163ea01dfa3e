"""What a signed action asserts, and the exact bytes that are signed.

A responder action reaches the workflow with an :class:`ActionSignature` made by the service
that authenticated the person (the HTTP API, or an operator's CLI). The signature covers the
*claims*: who acts (actor id and the roles the Roster gave them), on which incident, which
action on which step, a digest of everything else the action says (form data, decision,
reason, note text), the request id, when it was issued and by which key. The worker rebuilds
the claims from the update it receives and checks the signature over them, and an auditor's
``sopflow audit verify`` does the same from an exported history: so changing any field of a
recorded action, or replaying a signature on another incident, step or action, breaks it.

Plain data only (json and hashlib): the crypto lives with the keys in ``sopflow.client``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, assert_never

from sopflow.contract.messages import (
    ActionSignature,
    Cancel,
    CompleteTask,
    Migrate,
    Note,
    PostUpdate,
    SignedAction,
    Vote,
)
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

# Bumped if the claims' shape ever changes; a verifier refuses versions it does not know.
CLAIMS_VERSION = 1

# A post-mortem review's actions are signed like an incident's (the claims' incident is
# the review's workflow id).
Signable = SignedAction | ReviewAction


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def action_name(action: Signable) -> str:
    """The update an action travels as (what the claims call the action)."""
    match action:
        case CompleteTask():
            return UPDATE_COMPLETE
        case Vote():
            return UPDATE_VOTE
        case Note():
            return UPDATE_NOTE
        case Cancel():
            return UPDATE_CANCEL
        case Migrate():
            return UPDATE_MIGRATE
        case PostUpdate():
            return UPDATE_POST
        case ReviewAction():
            return UPDATE_REVIEW
        case _:
            assert_never(action)


def data_digest(action: Signable) -> str:
    """SHA-256 of everything the action says apart from its signature.

    Fields left at their defaults are left out, so a field added later (with a default)
    does not change the digest of an action that does not use it."""
    body = action.model_dump(mode="json", exclude={"signature"}, exclude_defaults=True)
    return hashlib.sha256(canonical_json(body)).hexdigest()


def stamp(moment: datetime) -> str:
    """An instant as the claims write it: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claims(
    action: Signable, incident_id: str, request_id: str, issued_at: datetime, key_id: str
) -> dict[str, Any]:
    """The claims a signature over ``action`` on ``incident_id`` covers."""
    step = getattr(action, "step", None)
    return {
        "v": CLAIMS_VERSION,
        "incident": incident_id,
        "action": action_name(action),
        "step": step,
        "actor": action.actor.id,
        "roles": sorted(set(action.actor.roles)),
        "digest": data_digest(action),
        "request_id": request_id,
        "issued_at": stamp(issued_at),
        "key_id": key_id,
        # Only when named, so actions signed before desks existed still verify.
        **({"region": action.actor.region} if action.actor.region is not None else {}),
        **({"desks": _desks(action.actor.desks)} if action.actor.desks else {}),
    }


def _desks(desks: dict[str, list[str]]) -> dict[str, list[str]]:
    return {desk: sorted(set(roles)) for desk, roles in sorted(desks.items())}


def claims_of(action: Signable, incident_id: str, signature: ActionSignature) -> dict[str, Any]:
    """The claims ``signature`` says it covers, rebuilt from the action as received."""
    return claims(action, incident_id, signature.request_id, signature.issued_at, signature.key_id)


def signing_bytes(claim_set: dict[str, Any]) -> bytes:
    """The bytes the Ed25519 signature is over (domain-separated from any other use)."""
    return b"sopflow-action-v1\n" + canonical_json(claim_set)


class SignatureRefused(Exception):
    """An action's signature does not hold; ``str()`` says why (for the refusal and the
    audit)."""
