"""The audit report's stakeholder updates: each update the incident asked for, when, of
whom, and whether it was posted (when, by whom) or missed (and who was paged), read from the
last state the history holds. docs/audit.md describes the section."""

from __future__ import annotations

from datetime import datetime

from sopflow.audit.report_model import AuditReport, UpdateEntry
from sopflow.contract.messages import IncidentState


def stakeholder_updates(state: IncidentState | None) -> list[UpdateEntry]:
    """The updates of the incident's last recorded state (none without `updates`)."""
    if state is None or state.updates is None:
        return []
    return [
        UpdateEntry(
            number=r.number,
            severity=r.severity,
            asked=r.asked,
            asked_at=r.asked_at,
            status=r.status,
            posted_at=r.posted_at,
            posted_by=r.posted_by,
            escalated_to=r.escalated_to,
        )
        for r in state.updates.records
    ]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"


def updates_section(r: AuditReport) -> list[str]:
    """The "Stakeholder updates" section; nothing for an SOP that asks for none."""
    if not r.stakeholder_updates:
        return []
    posted = sum(u.status == "posted" for u in r.stakeholder_updates)
    missed = sum(u.status == "missed" for u in r.stakeholder_updates)
    heading = "| # | severity | asked of | due (asked) | status | posted | by | escalated to |"
    rows = [
        f"| {u.number} | {u.severity} | {u.asked} | {_when(u.asked_at)} | {u.status} | "
        f"{_when(u.posted_at)} | {u.posted_by or '-'} | {u.escalated_to or '-'} |"
        for u in r.stakeholder_updates
    ]
    summary = f"{len(rows)} asked, {posted} posted, {missed} missed."
    return ["## Stakeholder updates", "", summary, "", heading, "|---" * 8 + "|", *rows, ""]
