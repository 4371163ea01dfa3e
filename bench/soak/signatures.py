"""Forged and replayed signatures, sent past the API straight to Temporal, as anyone holding
a Temporal client could: a note signed by a key no worker trusts, and a note signed by a
trusted key sent once and then again under another update id. The workers must refuse both
before anything is written; the oracle then finds the forged note nowhere and the replayed
one once on the timeline.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from sopflow.client.actions import new_request_id, update_id
from sopflow.client.signing import ActionSigner
from sopflow.contract.messages import Actor, Note
from workflows.incident import IncidentWorkflow

DEADLINE_S = 180.0


@dataclass
class SignatureChecks:
    """Each probe's answer: True when the worker refused what it had to refuse."""

    forged: dict[str, bool] = field(default_factory=dict)  # incident -> refused
    replayed: dict[str, bool] = field(default_factory=dict)  # incident -> replay refused

    @staticmethod
    def forged_text(incident: str) -> str:
        return f"soak forged note {incident}"

    @staticmethod
    def replayed_text(incident: str) -> str:
        return f"soak replayed note {incident}"


async def _send(client: Client, incident: str, note: Note, update: str) -> bool:
    """True when accepted, False when refused; transport failures are tried again."""
    stop = time.monotonic() + DEADLINE_S
    while True:
        try:
            handle = client.get_workflow_handle(incident)
            await handle.execute_update(IncidentWorkflow.add_note, note, id=update)
            return True
        except WorkflowUpdateFailedError:
            return False
        except RPCError:
            if time.monotonic() > stop:
                raise
            await asyncio.sleep(0.5)


async def probe(
    client: Client, checks: SignatureChecks, incident: str, actor: Actor, trusted: ActionSigner
) -> None:
    """Send the forged note and the replayed one on a running incident."""
    stranger = ActionSigner.generate("stranger")
    rid = new_request_id()
    forged_note = Note(actor=actor, text=SignatureChecks.forged_text(incident))
    forged = stranger.sign(forged_note, incident, rid, datetime.now(UTC))
    checks.forged[incident] = not await _send(client, incident, forged, update_id(forged, rid))
    rid = new_request_id()
    note = Note(actor=actor, text=SignatureChecks.replayed_text(incident))
    signed = trusted.sign(note, incident, rid, datetime.now(UTC))
    if not await _send(client, incident, signed, update_id(signed, rid)):
        return  # the genuine note was refused (the incident ended): nothing to replay
    again = update_id(signed, new_request_id())
    checks.replayed[incident] = not await _send(client, incident, signed, again)
