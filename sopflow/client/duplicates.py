"""Duplicates: two reports about the same case should not become two unrelated incidents.

An SOP may name a ``correlation`` (a CEL expression over the input, e.g. ``input.account_id``).
Its value, digested with the SOP id, is the incident's ``Correlation`` search attribute (the
value itself is user data and never leaves the history). Before a start, the running
incidents of the same SOP with the same digest are its duplicates; the opener chooses to
start anyway, linked both ways, or to attach the report to the open one as a note.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from sopflow.client.incidents import IncidentService
from sopflow.client.visibility import incidents_only, quote
from sopflow.contract.messages import Actor, LinkNotice, Note
from sopflow.contract.names import SIGNAL_LINK
from sopflow.contract.plan import Plan
from sopflow.contract.search import correlation_key

IfDuplicate = Literal["refuse", "start", "attach"]
# Notes attached to an open incident keep the report's input up to this many characters.
ATTACHED_INPUT_CHARS = 4000


async def open_duplicates(
    service: IncidentService, plan: Plan, data: dict[str, Any], roles: Iterable[str] | None
) -> list[str]:
    """The running incidents of ``plan``'s SOP about the same case, oldest first; with
    ``roles``, those a holder may see (need-to-know)."""
    key = correlation_key(plan, data)
    if key is None:
        return []
    query = f"ExecutionStatus = 'Running' AND Correlation = {quote(key)}"
    found = service.client.list_workflows(incidents_only(query, roles))
    listed = [(wf.start_time, wf.id) async for wf in found]
    return [incident_id for _, incident_id in sorted(listed)]


def duplicate_refusal(plan: Plan, open_ids: list[str]) -> str:
    """Why a start is held back, and the two ways on."""
    return (
        f"{', '.join(open_ids)} is open about the same case ({plan.sop.id} by "
        f"`{plan.correlation}`): start a linked incident anyway, or attach this report to "
        f"{open_ids[0]} as a note"
    )


async def link_back(service: IncidentService, new_id: str, open_ids: list[str], by: str) -> None:
    """Tell each open incident that ``new_id`` was opened as its duplicate."""
    for open_id in open_ids:
        notice = LinkNotice(incident=new_id, relation="duplicate", by=by)
        await service.client.get_workflow_handle(open_id).signal(SIGNAL_LINK, notice)


def attachment(actor: Actor, data: dict[str, Any]) -> Note:
    """The note that attaches a duplicate report to the open incident."""
    text = json.dumps(data, sort_keys=True, default=str)
    if len(text) > ATTACHED_INPUT_CHARS:
        text = text[:ATTACHED_INPUT_CHARS] + "…"
    return Note(actor=actor, text=f"another report about this case: {text}")
