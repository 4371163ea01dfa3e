"""The audit report for people: Markdown, one section per question an auditor asks.

Event references are written ``run:event`` (``1:25`` is event 25 of the incident's first
run), so every row can be found in the exported history.
"""

from __future__ import annotations

from collections.abc import Callable

from sopflow.audit.report_markdown import cell as _cell
from sopflow.audit.report_markdown import ref as _ref
from sopflow.audit.report_markdown import signed as _signed
from sopflow.audit.report_markdown import table as _table
from sopflow.audit.report_markdown import when as _when
from sopflow.audit.report_markdown import who as _who
from sopflow.audit.report_model import AuditReport, RunSummary
from sopflow.audit.report_review_render import review_section
from sopflow.audit.report_updates import updates_section


def render_markdown(r: AuditReport) -> str:
    """The whole report as Markdown: the summary, then one section per question."""
    out: list[str] = [f"# Audit report: {r.incident_id}", ""]
    for section in _SECTIONS:
        out += section(r)
    return "\n".join(out).rstrip() + "\n"


def _outcome(r: AuditReport) -> list[str]:
    o = r.outcome
    line = f"**{o.status}**" + (f", outcome **{o.outcome}**" if o.outcome else "")
    if o.closed_at:
        line += f", closed {_when(o.closed_at)} (event {_ref(o.ref)})"
    return ["## Outcome", "", line + (f": {o.detail}" if o.detail else "") + ".", ""]


def _actions(r: AuditReport) -> list[str]:
    rows = [
        (
            _when(a.at),
            _ref(a.ref),
            a.action,
            _who(a.actor, a.roles),
            a.step,
            a.reason if a.data is None else a.data,
            a.result if a.failure is None else f"{a.result}: {a.failure}",
            _signed(a.signature),
        )
        for a in r.actions
    ]
    return [
        "## Actions",
        "",
        "Accepted responder actions (Workflow Updates). Refused ones never reach the history.",
        "",
        *_table(
            [
                "when",
                "event",
                "action",
                "actor (roles)",
                "step",
                "reason / form",
                "result",
                "signature",
            ],
            rows,
        ),
    ]


def _signatures(r: AuditReport) -> str:
    """The summary's line: how many actions each verdict has."""
    if not r.actions:
        return "no actions"
    counts: dict[str, int] = {}
    for a in r.actions:
        status = a.signature.status if a.signature else "undecodable"
        counts[status] = counts.get(status, 0) + 1
    words = {
        "valid": "signed by a given key",
        "invalid": "SIGNATURE INVALID",
        "unknown_key": "SIGNED BY AN UNKNOWN KEY",
        "unsigned": "unsigned",
        "not_checked": "signed, not checked (no public keys given)",
        "undecodable": "not decoded",
    }
    return ", ".join(f"{n} {words[k]}" for k, n in counts.items())


def _votes(r: AuditReport) -> list[str]:
    rows = [
        (_when(v.at), _ref(v.ref), v.step, _who(v.voter, v.roles), v.decision, v.reason, v.result)
        for v in r.votes
    ]
    headings = ["when", "event", "step", "voter (roles)", "decision", "reason", "result"]
    return ["## Votes", "", *_table(headings, rows)]


def _disclosures(r: AuditReport) -> list[str]:
    headings = [
        "when",
        "events",
        "step",
        "policy (jurisdiction)",
        "decision",
        "legal basis",
        "allowed categories",
        "rule",
        "facts",
        "log record",
    ]
    rows = [
        (
            _when(d.at),
            f"{_ref(d.scheduled)} → {_ref(d.completed)}",
            d.step,
            f"{d.policy} ({d.jurisdiction})",
            d.decision or f"{d.status}: {d.failure or '-'}",
            d.legal_basis or d.reason,
            d.allowed,
            "-" if d.rule is None else f"{d.rule}: {d.rule_when or 'default'}",
            d.facts,
            d.record_hash,
        )
        for d in r.disclosures
    ]
    return ["## Disclosure decisions", "", *_table(headings, rows)]


def _breaches(r: AuditReport) -> list[str]:
    headings = ["when", "step", "breach", "escalated to", "escalation event", "source"]
    rows = [
        (_when(b.at), b.step, b.detail, b.escalated_to, _ref(b.escalation), b.source)
        for b in r.sla_breaches
    ]
    return ["## SLA breaches and escalations", "", *_table(headings, rows)]


def _notifications(r: AuditReport) -> list[str]:
    rows = [
        (
            _when(n.at),
            f"{_ref(n.scheduled)} → {_ref(n.completed)}",
            n.step,
            n.channel,
            n.to,
            _notified(n.status, n.delivered, n.failure),
        )
        for n in r.notifications
    ]
    headings = ["when", "events", "step", "channel", "to", "status"]
    return ["## Notifications", "", *_table(headings, rows)]


def _signals(r: AuditReport) -> list[str]:
    rows = [(_when(s.at), _ref(s.ref), s.name, s.data, s.client_identity) for s in r.signals]
    return ["## External events", "", *_table(["when", "event", "name", "data", "client"], rows)]


def _steps(r: AuditReport) -> list[str]:
    rows = [
        (
            s.id,
            s.type,
            s.status,
            s.role,
            _when(s.started_at),
            _when(s.finished_at),
            s.submitted_by,
            f"{s.breaches} (escalated to {', '.join(s.escalated_to)})"
            if s.escalated_to
            else s.breaches,
        )
        for s in r.steps
    ]
    headings = ["step", "type", "status", "role", "started", "finished", "submitted by", "breaches"]
    as_of = f"as of {r.state_source}" if r.state_source else "no state recorded"
    return [f"## Steps ({as_of})", "", *_table(headings, rows)]


def _timelines(r: AuditReport) -> list[str]:
    """The timeline read from the events; then, when the history holds a state, the one
    the workflow recorded in it."""
    rows = [(_when(i.at), _ref(i.ref), i.kind, i.actor, i.step, i.detail) for i in r.timeline]
    headings = ["when", "event", "kind", "actor", "step", "detail"]
    out = ["## Timeline (from the history events)", "", *_table(headings, rows)]
    if r.state_source:
        recorded = [(_when(e.at), e.actor, e.kind, e.step, e.detail) for e in r.recorded_timeline]
        out += [f"## Timeline recorded by the workflow ({r.state_source})", ""]
        out += _table(["when", "actor", "kind", "step", "detail"], recorded)
    return out


def _runs(r: AuditReport) -> list[str]:
    rows = [
        (
            x.run,
            x.run_id,
            _when(x.started_at),
            _when(x.closed_at),
            x.events,
            x.closed_by,
            "-" if x.version is None else x.version,
            _run_plan(x),
        )
        for x in r.runs
    ]
    headings = ["run", "run id", "started", "closed", "events", "ended by", "version", "plan"]
    return ["## Runs", "", *_table(headings, rows)]


def _run_plan(run: RunSummary) -> str:
    if run.plan_hash is None:
        return "-"
    return run.plan_hash[:12] + ("" if run.plan_hash_ok else " (DOES NOT MATCH its plan)")


def _notes(r: AuditReport) -> list[str]:
    return ["## Notes", "", *([f"- {_cell(n)}" for n in r.notes] or ["None."])]


def _notified(status: str, delivered: bool | None, failure: str | None) -> str:
    if status != "completed":
        return f"{status}: {failure or '-'}"
    return "delivered" if delivered else "not delivered"


def _later_plans(r: AuditReport) -> list[tuple[str, str]]:
    """A row per plan the incident moved to (`sopflow migrate`), after the first."""
    out, seen = [], r.plan_hash
    for run in r.runs:
        if run.plan_hash is not None and run.plan_hash != seen:
            ok = "matches" if run.plan_hash_ok else "DOES NOT MATCH"
            row = f"{run.plan_hash} (version {run.version}, from run {run.run}; {ok} its plan)"
            out.append(("Migrated to", row))
            seen = run.plan_hash
    return out


def _summary(r: AuditReport) -> list[str]:
    source = f"{r.source.kind}: {r.source.location}"
    if r.source.digest_ok is not None:
        verdict = "matches the content" if r.source.digest_ok else "DOES NOT MATCH the content"
        source += f"; digest {r.source.digest} {verdict}"
    plan = "matches the recorded plan" if r.plan_hash_ok else "DOES NOT MATCH the recorded plan"
    events = sum(x.events for x in r.runs)
    rows = [
        ("Incident", f"{r.incident_id} (workflow {r.workflow_id})"),
        ("SOP", f"{r.sop.id}@{r.sop.version}: {r.sop.title} (owner {r.sop.owner})"),
        ("Region", r.region),
        ("Plan hash", f"{r.plan_hash} ({plan})"),
        *_later_plans(r),
        ("Opened", f"{_when(r.opened_at)} by {r.opened_by}"),
        ("Status", r.outcome.status),
        ("Outcome", r.outcome.outcome or "-"),
        ("Severity", r.severity or "-"),
        ("Runs", f"{len(r.runs)} ({events} events)"),
        ("Signatures", _signatures(r)),
        ("Source", source),
        ("Report generated", _when(r.generated_at)),
    ]
    return ["| | |", "|---|---|", *[f"| {k} | {_cell(v)} |" for k, v in rows], ""]


_SECTIONS: tuple[Callable[[AuditReport], list[str]], ...] = (
    _summary,
    _outcome,
    _actions,
    _votes,
    _disclosures,
    _breaches,
    _notifications,
    updates_section,
    review_section,
    _signals,
    _steps,
    _timelines,
    _runs,
    _notes,
)
