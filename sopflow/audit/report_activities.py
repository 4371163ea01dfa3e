"""One timeline line per completed activity of an incident's history: what the side effect
or the Rota's answer was, read from the recorded request and result."""

from __future__ import annotations

from typing import Any

from sopflow.contract.desks import BusinessDue, DeskTurn, DeskTurnRequest
from sopflow.contract.links import LinkedPlan
from sopflow.contract.messages import (
    DisclosureResult,
    EnrichRequest,
    NotifyRequest,
    PostmortemResult,
)
from sopflow.contract.names import ESCALATION_CHANNEL

Entry = tuple[str, str | None, str]
"""(kind, step, detail) of one timeline line."""


def activity_entry(name: str, req: Any, res: Any) -> Entry:
    """The line for one completed activity (``req``/``res`` None when not decoded)."""
    step = getattr(req, "step", None)
    if isinstance(req, NotifyRequest):
        escalation = " (escalation)" if req.channel == ESCALATION_CHANNEL else ""
        return "notified", step, f"{req.channel} to {req.to}{escalation}"
    if isinstance(res, DisclosureResult):
        basis = res.legal_basis or res.reason or "-"
        detail = f"{res.policy}: {basis}; allowed: {', '.join(res.allow) or 'nothing'}"
        return f"disclosure.{res.decision}", step, detail
    if isinstance(res, PostmortemResult):
        return "postmortem.opened", None, f"{res.document}, owner {res.owner}"
    if isinstance(req, EnrichRequest):
        return "enriched", None, ", ".join(req.names)
    if isinstance(req, DeskTurnRequest) and isinstance(res, DeskTurn):
        return _desk_turn(req, res)
    if isinstance(res, BusinessDue):
        paused = f"; paused: {', '.join(res.paused)}" if res.paused else ""
        desk = getattr(req, "desk", "-")
        detail = f"due {res.due.isoformat()}, business hours of {desk}{paused}; rota {res.rota}"
        return "sla.clock", step, detail
    if isinstance(res, LinkedPlan):
        plan = res.plan
        detail = (
            f"{plan.sop.id}@{plan.sop.version} ({plan.region.code}), plan {plan.plan_hash[:12]}"
        )
        return "link.resolved", step, detail
    return "activity.completed", step, name


def _desk_turn(req: DeskTurnRequest, res: DeskTurn) -> Entry:
    """Which desk the Rota gave a follow-the-sun step: a hand-off when it changed."""
    until = res.until.isoformat() if res.until else "no change in sight"
    on_call = ", ".join(res.people) or "nobody"
    detail = f"{res.reason}; on call: {on_call}; until {until}; rota {res.rota}"
    if res.desk != req.holder:
        return "step.handed_off", req.step, f"{req.holder} -> {res.desk}: {detail}"
    return "desk.kept", req.step, f"{res.desk}: {detail}"
