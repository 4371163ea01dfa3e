"""Stakeholder updates on an incident's page: the SOP's cadence, every update asked so far
(number, severity, when asked, due, posted or missed, by whom, the text, who a missed one
was escalated to), and the form to post the one that is open, for those who may.

The updates come with the API's incident answer (``IncidentDetail.updates``), which the
page has already read. Posting (``followups.py``) goes through the API's own route (``POST
/incidents/{id}/updates``), so it is signed, idempotent and logged like every other action,
announced to open pages, and the workflow decides (the asked role on the desk asked, an
update due, the text).
"""

from __future__ import annotations

from dataclasses import dataclass

from sopflow.api.models import IncidentDetail
from sopflow.contract.messages import StakeholderUpdate
from sopflow.contract.plan import Plan
from sopflow.contract.updates import MAX_UPDATE_CHARS
from sopflow.web.pages.common import for_control, new_key, typed
from sopflow.web.sessions import FormFlash
from sopflow.web.visits import Visit

CONTROL = "update"


@dataclass(frozen=True, slots=True)
class Cadence:
    """One severity's cadence, as the page says it."""

    severity: str
    every: str
    asked: str
    grace: str


@dataclass(frozen=True, slots=True)
class UpdateForm:
    """The form for the open update: its number and severity, whether its grace ran out
    (it may still be posted late), and what a refusal brought back."""

    number: int
    severity: str
    missed: bool
    text: str
    errors: list[str]
    message: str | None
    key: str
    limit: int = MAX_UPDATE_CHARS


@dataclass(frozen=True, slots=True)
class Updates:
    """The page's Stakeholder updates section (None on the page: the SOP declares none)."""

    cadences: list[Cadence]
    records: list[StakeholderUpdate]  # newest first
    form: UpdateForm | None
    unavailable: str | None


def span(seconds: int) -> str:
    """``1800`` as ``30 min``, ``7200`` as ``2 h``, ``5400`` as ``1 h 30 min``."""
    hours, minutes = divmod(seconds // 60, 60)
    said = [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(said) or f"{seconds} s"


def open_update(records: list[StakeholderUpdate]) -> StakeholderUpdate | None:
    """The update that may be posted now (the workflow's rule): the last one asked, due or
    missed, until it is posted or the next is asked."""
    return records[-1] if records and records[-1].status != "posted" else None


def section(
    visit: Visit, detail: IncidentDetail, plan: Plan, failure: FormFlash | None
) -> Updates | None:
    """The Stakeholder updates section of the incident's page, with the form to post the
    open update to whoever holds the asked role on the desk it was asked of (the incident's,
    unless its cadence follows the sun) while it runs."""
    if not plan.updates:
        return None
    cadences = [
        Cadence(severity, span(c.every_s), c.asked, span(c.escalate_after_s))
        for severity, c in sorted(plan.updates.items())
    ]
    if detail.unavailable:
        return Updates(cadences, [], None, detail.unavailable)
    records = detail.updates
    due = open_update(records)
    running = detail.summary.status == "running" and not detail.unavailable
    # The desk it was asked of: the incident's own, or the one on shift when it follows the sun.
    desk = due.desk if due is not None and due.desk is not None else plan.region.code
    here = visit.roles_on(desk, plan.global_roles)
    form = None
    if running and due is not None and due.asked in here:
        mine = for_control(failure, CONTROL)
        form = UpdateForm(
            number=due.number,
            severity=due.severity,
            missed=due.status == "missed",
            text=typed(mine, "text"),
            errors=list(mine.errors.get("text", [])) if mine else [],
            message=mine.message if mine else None,
            key=new_key(),
        )
    return Updates(cadences, list(reversed(records)), form, None)
