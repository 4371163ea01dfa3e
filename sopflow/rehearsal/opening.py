"""How a rehearsal's incident opens, as `sopflow incident start` opens one: an incident of the
same SOP already open about the same case (its `correlation`) is a duplicate, which the
rehearsal's `if_duplicate` handles as the opener would (refuse, start a linked one, or attach
the report to the open one as a note); and a retired version is refused when the rehearsal
expects that (`expect: {start: refused}`), else its story plays as the old version's record.

The earlier incidents a rehearsal lists (`earlier`) are started first and left waiting.
Duplicates are found by the same correlation key the start path writes to visibility,
compared among the rehearsal's own incidents: the test server's visibility does not answer
queries on search attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sopflow.client.duplicates import attachment, duplicate_refusal, link_back
from sopflow.client.incidents import IncidentService
from sopflow.contract.search import correlation_key
from sopflow.rehearsal.cases import Case

How = Literal["started", "refused", "attached"]
DEFAULT_OPENER = "rehearsal"


class OpeningError(Exception):
    """The rehearsal cannot be opened as written (e.g. attach with nobody to attach as)."""


@dataclass(frozen=True, slots=True)
class Opening:
    """How it went: ``incident_id`` is the incident the story follows (the new one, or the
    open one the report was attached to; empty when refused), ``detail`` why it was
    refused."""

    how: How
    incident_id: str
    detail: str | None = None
    duplicates: list[str] = field(default_factory=list)
    earlier: list[str] = field(default_factory=list)


async def open_story(incidents: IncidentService, case: Case, incident_id: str) -> Opening:
    """Open the rehearsal's incident (after its `earlier` ones)."""
    doc, plan = case.doc, case.plan
    lock = case.library.lock if case.library is not None else None
    retired = lock.start_refusal(plan.sop.id, plan.sop.version) if lock is not None else None
    if retired is not None and doc.expect.start == "refused":
        # A rehearsal of a retired version otherwise plays its story: incidents may still run
        # on it (lint warns, W600); expecting the refusal is how to rehearse the refusal.
        return Opening("refused", "", retired)
    earlier = []
    for number, before in enumerate(doc.earlier, start=1):
        earlier_id = f"{incident_id}-earlier-{number}"
        opener = before.opened_by or DEFAULT_OPENER
        await incidents.start(plan, dict(before.input), opened_by=opener, incident_id=earlier_id)
        earlier.append(earlier_id)
    key = correlation_key(plan, doc.input)
    duplicates = [
        earlier_id
        for earlier_id, before in zip(earlier, doc.earlier, strict=True)
        if key is not None and correlation_key(plan, before.input) == key
    ]
    opener = doc.opened_by or DEFAULT_OPENER
    if duplicates and doc.if_duplicate == "refuse":
        return Opening("refused", "", duplicate_refusal(plan, duplicates), duplicates, earlier)
    if duplicates and doc.if_duplicate == "attach":
        if doc.opened_by is None:
            raise OpeningError("`if_duplicate: attach` needs `opened_by`: the note is theirs")
        note = attachment(case.roster.actor(doc.opened_by), dict(doc.input))
        await incidents.act(duplicates[0], note)
        return Opening("attached", duplicates[0], None, duplicates, earlier)
    await incidents.start(
        plan, dict(doc.input), opened_by=opener, incident_id=incident_id, links=duplicates
    )
    await link_back(incidents, incident_id, duplicates, opener)
    return Opening("started", incident_id, None, duplicates, earlier)
