"""The incident's typed search attributes: what responders and auditors filter on.

Values are never user data (search attributes are stored unencrypted): ids, codes, roles.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

SOP_ID = SearchAttributeKey.for_keyword("SopId")
SOP_VERSION = SearchAttributeKey.for_int("SopVersion")
REGION = SearchAttributeKey.for_keyword("Region")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
# Steps waiting on people or events (automated steps pass too fast to be worth an event).
ACTIVE_STEPS = SearchAttributeKey.for_keyword_list("ActiveSteps")
PENDING_ROLES = SearchAttributeKey.for_keyword_list("PendingRoles")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
OUTCOME = SearchAttributeKey.for_keyword("Outcome")

ALL_KEYS = (
    SOP_ID,
    SOP_VERSION,
    REGION,
    SEVERITY,
    ACTIVE_STEPS,
    PENDING_ROLES,
    SLA_BREACHED,
    OUTCOME,
)


def start_attributes(sop: str, version: int, region: str) -> TypedSearchAttributes:
    """Set by the client when it starts an incident, so they cost no history event."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SOP_ID, sop),
            SearchAttributePair(SOP_VERSION, version),
            SearchAttributePair(REGION, region),
        ]
    )


def updates(current: dict[str, Any], last: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """Upserts for the keys whose values changed since ``last``."""
    out: list[SearchAttributeUpdate[Any]] = []
    for key in ALL_KEYS:
        value: Any = current.get(key.name)
        if key.name not in current or value == last.get(key.name):
            continue
        if key.name not in last and value in ([], False):
            continue  # an unset list or flag already reads as empty or false
        out.append(key.value_set(value))
    return out
