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
# Who may see the incident (need-to-know): the plan's `restricted_to` roles, or EVERYONE.
# Set at start only, never by the workflow; incidents started before it existed have none,
# and read as unrestricted (`Audience IS NULL`).
AUDIENCE = SearchAttributeKey.for_keyword_list("Audience")
EVERYONE = "*"

# The keys the workflow keeps current (``updates``). Adding one changes the commands the
# interpreter issues: see docs/versioning.md.
WORKFLOW_KEYS = (
    SOP_ID,
    SOP_VERSION,
    REGION,
    SEVERITY,
    ACTIVE_STEPS,
    PENDING_ROLES,
    SLA_BREACHED,
    OUTCOME,
)
# Every key an incident may carry: what a namespace must register before incidents start.
ALL_KEYS = (*WORKFLOW_KEYS, AUDIENCE)


def audience(restricted_to: list[str] | None) -> list[str]:
    """The ``Audience`` of an incident whose plan is restricted to ``restricted_to``."""
    return [EVERYONE] if restricted_to is None else sorted(set(restricted_to))


def start_attributes(
    sop: str, version: int, region: str, restricted_to: list[str] | None = None
) -> TypedSearchAttributes:
    """Set by the client when it starts an incident, so they cost no history event."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SOP_ID, sop),
            SearchAttributePair(SOP_VERSION, version),
            SearchAttributePair(REGION, region),
            SearchAttributePair(AUDIENCE, audience(restricted_to)),
        ]
    )


def updates(current: dict[str, Any], last: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """Upserts for the keys whose values changed since ``last``."""
    out: list[SearchAttributeUpdate[Any]] = []
    for key in WORKFLOW_KEYS:
        value: Any = current.get(key.name)
        if key.name not in current or value == last.get(key.name):
            continue
        if key.name not in last and value in ([], False):
            continue  # an unset list or flag already reads as empty or false
        out.append(key.value_set(value))
    return out
