"""The incident's typed search attributes: what responders and auditors filter on.

Values are never user data (search attributes are stored unencrypted): ids, codes, roles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from sopflow.contract.expressions import evaluate
from sopflow.contract.plan import Plan

SOP_ID = SearchAttributeKey.for_keyword("SopId")
SOP_VERSION = SearchAttributeKey.for_int("SopVersion")
REGION = SearchAttributeKey.for_keyword("Region")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
# Steps waiting on people or events (automated steps pass too fast to be worth an event).
ACTIVE_STEPS = SearchAttributeKey.for_keyword_list("ActiveSteps")
PENDING_ROLES = SearchAttributeKey.for_keyword_list("PendingRoles")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
OUTCOME = SearchAttributeKey.for_keyword("Outcome")
# When each active step is due, as ``<step id>@<UTC time>`` separated by spaces, so an inbox
# needs no query per incident (kept by incidents started on, or continued onto, the patch
# "visible-due-times"). One keyword, not a keyword list: SQL visibility allows three lists
# (taken); not text: the time-skipping test server hangs carrying text over continue-as-new.
STEPS_DUE = SearchAttributeKey.for_keyword("StepsDue")
# Temporal refuses a value over 2 KB (the workflow task would fail and retry for ever): past
# this, steps are left out, and a reader asks the incident for their due times.
STEPS_DUE_MAX_BYTES = 1_500
# The workflow time of the last change to any of the keys above (same patch): a watcher asks
# visibility for what changed lately instead of listing every open incident.
CHANGED_AT = SearchAttributeKey.for_datetime("ChangedAt")
# The plan's hash, set at start: many incidents run one plan, read once per hash.
PLAN_HASH = SearchAttributeKey.for_keyword("PlanHash")
# Who may see the incident (need-to-know): the plan's `restricted_to` roles, or EVERYONE.
# Set at start only, never by the workflow; incidents started before it existed have none,
# and read as unrestricted (`Audience IS NULL`).
AUDIENCE = SearchAttributeKey.for_keyword_list("Audience")
EVERYONE = "*"

# The desk that holds the incident's open work (its soonest-due waiting step's), kept only
# by incidents whose SOP has a step that follows the sun; the others are with `Region`'s desk.
DESK = SearchAttributeKey.for_keyword("Desk")
# Who did the incident's graphic steps, as ``<person>@<UTC time>`` separated by spaces (the
# latest that fit in EXPOSURES_MAX_BYTES), kept by incidents whose SOP marks a step graphic:
# `sopflow wellbeing` counts each person's exposure in a shift from one visibility list.
EXPOSURES = SearchAttributeKey.for_keyword("Exposures")
# The steps whose escalation chain is spent and that still wait, space-separated: their last
# role is paged again every SLA. Written only once a step stalls, so other incidents'
# commands stay. (A keyword, not a list: a namespace may have only three keyword lists.)
STALLED = SearchAttributeKey.for_keyword("Stalled")
EXPOSURES_MAX_BYTES = 1_500

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
    STEPS_DUE,
    DESK,
    EXPOSURES,
    STALLED,
)
# Duplicates: a digest of the SOP id and the value of its `correlation` expression (never the
# value itself: it is user data, and search attributes are stored unencrypted). Set at start.
CORRELATION = SearchAttributeKey.for_keyword("Correlation")

# Every key an incident may carry: what a namespace must register before incidents start.
ALL_KEYS = (*WORKFLOW_KEYS, CHANGED_AT, AUDIENCE, PLAN_HASH, CORRELATION)


def audience(restricted_to: list[str] | None) -> list[str]:
    """The ``Audience`` of an incident whose plan is restricted to ``restricted_to``."""
    return [EVERYONE] if restricted_to is None else sorted(set(restricted_to))


def correlation_key(plan: Plan, data: dict[str, Any]) -> str | None:
    """The ``Correlation`` of an incident of ``plan`` opened with ``data``: a digest of the
    SOP id and the expression's value; None when the SOP names none, or the input does not
    give it a value (a missing field: nothing to correlate on)."""
    if plan.correlation is None:
        return None
    try:
        value = evaluate(plan.correlation, {"input": data})
    except Exception:  # CEL raises several kinds; none may stop a start
        return None
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(f"{plan.sop.id}\n{text}".encode()).hexdigest()[:32]


def start_attributes(
    sop: str,
    version: int,
    region: str,
    restricted_to: list[str] | None = None,
    plan_hash: str | None = None,
    correlation: str | None = None,
) -> TypedSearchAttributes:
    """Set by the client when it starts an incident, so they cost no history event."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(SOP_ID, sop),
        SearchAttributePair(SOP_VERSION, version),
        SearchAttributePair(REGION, region),
        SearchAttributePair(AUDIENCE, audience(restricted_to)),
    ]
    if plan_hash:
        pairs.append(SearchAttributePair(PLAN_HASH, plan_hash))
    if correlation:
        pairs.append(SearchAttributePair(CORRELATION, correlation))
    return TypedSearchAttributes(pairs)


def step_due(step_id: str, due_at: datetime) -> str:
    """One ``StepsDue`` value: the step and when it is due (UTC, to the microsecond, so it
    reads back equal to the due time in the incident's state)."""
    return f"{step_id}@{due_at.astimezone(UTC).isoformat(timespec='microseconds')}"


def steps_due_text(due: Iterable[tuple[str, datetime]]) -> str:
    """The ``StepsDue`` value for these steps and due times, cut at ``STEPS_DUE_MAX_BYTES``
    (the steps that do not fit are left out whole)."""
    return " ".join(_fitting((step_due(s, at) for s, at in due), STEPS_DUE_MAX_BYTES))


def _fitting(values: Iterable[str], limit: int) -> list[str]:
    """The first ``values`` whose space-separated text fits in ``limit`` bytes."""
    kept: list[str] = []
    size = 0
    for value in values:
        size += len(value.encode()) + 1
        if size > limit:
            break
        kept.append(value)
    return kept


def steps_due(text: str | None) -> dict[str, datetime]:
    """``StepsDue`` read back: when each listed step is due (values it cannot read are left
    out, so a reader falls back to asking the incident)."""
    return dict(_stamped(text))


def _stamped(text: str | None) -> list[tuple[str, datetime]]:
    """``name@time`` values separated by spaces, read back in order; a value without a name
    or an aware time is left out."""
    out = []
    for value in (text or "").split():
        name, _, when = value.rpartition("@")
        try:
            at = datetime.fromisoformat(when)
        except ValueError:
            continue
        if name and at.tzinfo is not None:
            out.append((name, at))
    return out


def exposures_text(seen: Iterable[tuple[str, datetime]]) -> str:
    """The ``Exposures`` value: ``person@time`` for each exposure, the latest that fit."""
    values = [f"{p}@{at.astimezone(UTC).isoformat(timespec='seconds')}" for p, at in seen]
    return " ".join(reversed(_fitting(reversed(values), EXPOSURES_MAX_BYTES)))


def exposures(text: str | None) -> list[tuple[str, datetime]]:
    """``Exposures`` read back: (person, when), unreadable values left out."""
    return _stamped(text)


def updates(current: dict[str, Any], last: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """Upserts for the keys whose values changed since ``last``."""
    out: list[SearchAttributeUpdate[Any]] = []
    for key in WORKFLOW_KEYS:
        value: Any = current.get(key.name)
        if key.name not in current or value == last.get(key.name):
            continue
        if key.name not in last and value in ([], False, ""):
            continue  # an unset list, flag or text already reads as empty or false
        out.append(key.value_set(value))
    return out


def plan_start_attributes(plan: Plan, data: dict[str, Any]) -> TypedSearchAttributes:
    """``start_attributes`` of an incident of ``plan`` opened with ``data`` (by a client, or
    by another incident's `open_incident` step)."""
    return start_attributes(
        plan.sop.id,
        plan.sop.version,
        plan.region.code,
        plan.restricted_to,
        plan.plan_hash,
        correlation_key(plan, data),
    )


def start_memo(plan: Plan) -> dict[str, str]:
    """The memo of an incident of ``plan``: its title and version, for lists that show it."""
    return {
        "title": plan.sop.title,
        "sop": f"{plan.sop.id}@{plan.sop.version}",
        "region": plan.region.code,
    }
