"""The audit report's "Post-mortem review" section in Markdown: the review's owner and due
date, each action item (who added it, its owner and due date, who closed it, when, with
what note), the root cause, the reminders and escalations sent, who marked it done, and
every review action with who signed it. Event references are ``run:event`` of the review's
own history. docs/audit.md describes the section."""

from __future__ import annotations

from sopflow.audit.report_markdown import cell, ref, signed, table, when, who
from sopflow.audit.report_model import AuditReport, ReviewReport


def review_section(r: AuditReport) -> list[str]:
    """The section; nothing when the report holds no review."""
    v = r.postmortem_review
    if v is None:
        return []
    done = (
        f"marked done by **{v.done_by}** {when(v.done_at)} (event {ref(v.done_ref)})"
        + (f": {cell(v.done_note)}" if v.done_note else "")
        if v.done_by
        else "not marked done"
    )
    summary = [
        ("Review", v.review_id),
        ("Opened", f"{when(v.opened_at)} by step {v.step} (draft {v.document})"),
        ("Owner", v.owner),
        ("Due", when(v.due_at)),
        ("Escalates to", v.escalate_to),
        ("Status", f"{v.status}, {done}"),
        ("Runs", str(v.runs)),
    ]
    return [
        "## Post-mortem review",
        "",
        "From the review's own history (events are `run:event` of the review).",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {cell(val)} |" for k, val in summary],
        "",
        *_items(v),
        *_cause(v),
        *_notices(v),
        *_actions(v),
        *([f"- {cell(n)}" for n in v.notes] + [""] if v.notes else []),
    ]


def _items(v: ReviewReport) -> list[str]:
    headings = ["item", "title", "owner", "due", "added by", "added", "status"]
    headings += ["closed by", "closed", "note"]
    rows = [
        (
            i.id,
            i.title,
            i.owner,
            when(i.due_at),
            i.added_by,
            f"{when(i.added_at)} ({ref(i.added_ref)})",
            i.status,
            i.closed_by,
            f"{when(i.closed_at)} ({ref(i.closed_ref)})" if i.closed_at else None,
            i.note,
        )
        for i in v.items
    ]
    return ["### Action items", "", *table(headings, rows)]


def _cause(v: ReviewReport) -> list[str]:
    c = v.root_cause
    if c is None:
        return ["### Root cause", "", "None recorded.", ""]
    revised = f", revising {c.revisions} earlier" if c.revisions else ""
    rows = [
        ("Factors", ", ".join(c.factors)),
        ("Step", c.step),
        ("Policy", c.policy),
        ("What changes", c.changes),
        ("Recorded", f"by {c.recorded_by} {when(c.recorded_at)} ({ref(c.ref)}{revised})"),
    ]
    return [
        "### Root cause",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {cell(x)} |" for k, x in rows],
        "",
    ]


def _notices(v: ReviewReport) -> list[str]:
    rows = [
        (
            when(n.at),
            ref(n.scheduled),
            "escalation" if n.escalation else "reminder",
            n.key,
            f"{n.to} (role)" if n.to_is_role else n.to,
            n.failure or ("delivered" if n.delivered else n.status),
        )
        for n in v.notices
    ]
    headings = ["when", "event", "notice", "key", "to", "result"]
    return ["### Reminders and escalations", "", *table(headings, rows)]


def _actions(v: ReviewReport) -> list[str]:
    rows = [
        (
            when(a.at),
            ref(a.ref),
            a.kind or "?",
            who(a.actor, a.roles),
            a.item,
            a.note,
            a.result if a.failure is None else f"{a.result}: {a.failure}",
            signed(a.signature),
        )
        for a in v.actions
    ]
    headings = ["when", "event", "action", "actor (roles)", "item", "what", "result", "signature"]
    return ["### Review actions", "", *table(headings, rows)]
