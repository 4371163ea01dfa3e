"""The post-mortem kickoff: a blameless draft, ``<incident_id>.md`` under ``$SOPFLOW_ARTIFACTS``.

The draft holds what the history knows (summary, timeline, steps) and leaves what only
people can write (contributing factors, action items) as prompts. It depends on the request
alone, so a retry renders the same bytes; it is written atomically (temporary file, then
rename) and never over a draft that people have started to edit.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from sopflow.contract.messages import PostmortemRequest, PostmortemResult, StepState, TimelineEntry
from sopflow.contract.names import ACT_POSTMORTEM

ARTIFACTS_ENV = "SOPFLOW_ARTIFACTS"
DEFAULT_ARTIFACTS = Path(".sopflow/artifacts")
# The layouts this module knows; all are blameless. Lint may check a step's template here.
TEMPLATES = ("default", "blameless")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

_log = structlog.get_logger(__name__)


def artifacts_dir() -> Path:
    """``$SOPFLOW_ARTIFACTS``, else ``.sopflow/artifacts``."""
    return Path(os.environ.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS)


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def _happened(entry: TimelineEntry) -> str:
    what = entry.kind + (f" `{entry.step}`" if entry.step else "")
    return f"{what}: {entry.detail}" if entry.detail else what


def _timeline(entries: list[TimelineEntry]) -> list[str]:
    if not entries:
        return ["_The history recorded no events._"]
    rows = ["| Time (UTC) | Actor | What happened |", "| --- | --- | --- |"]
    rows += [
        f"| {_utc(e.at)} | {_cell(e.actor)} | {_cell(_happened(e))} |"
        for e in entries  # history order, which is the order things happened in
    ]
    return rows


def _steps(steps: list[StepState]) -> list[str]:
    if not steps:
        return ["_No steps ran._"]
    rows = [
        "| Step | Type | Status | Role | Started (UTC) | Finished (UTC) "
        "| SLA breaches | Escalated to |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in steps:
        started = _utc(s.started_at) if s.started_at else "-"
        finished = _utc(s.finished_at) if s.finished_at else "-"
        escalated = ", ".join(s.escalated_to) or "-"
        rows.append(
            f"| `{s.id}` | {s.type} | {s.status} | {_cell(s.role or '-')} | {started} "
            f"| {finished} | {s.breaches} | {_cell(escalated)} |"
        )
    return rows


def render(request: PostmortemRequest) -> str:
    """The Markdown draft: a pure function of the request."""
    template_note = (
        []
        if request.template in TEMPLATES
        else [
            f"_The SOP asks for template `{request.template}`, which this sopflow does not "
            f"know; this draft uses the default layout._",
            "",
        ]
    )
    lines = [
        f"# Post-mortem: {request.title}",
        "",
        *template_note,
        "This review is blameless. It asks how the procedure, the tools and the circumstances "
        "shaped what happened, not who is at fault: everyone acted on what they knew at the "
        "time. The summary, timeline and steps below are drafted from the incident's history; "
        "check them, then write the sections that only people can write.",
        "",
        "## Summary",
        "",
        "| | |",
        "| --- | --- |",
        f"| Incident | `{request.incident_id}` |",
        f"| Procedure | `{request.sop}` version {request.version}, region {request.region} |",
        f"| Severity | {_cell(request.severity or 'not set')} |",
        f"| Outcome | {_cell(request.outcome or 'not recorded')} |",
        f"| Post-mortem owner | {_cell(request.owner)} |",
        f"| Due | {_utc(request.due_at)} UTC |",
        "",
        "## Timeline",
        "",
        *_timeline(request.timeline),
        "",
        "## Steps",
        "",
        *_steps(request.steps),
        "",
        "## What went well",
        "",
        "_To be written in the review._",
        "",
        "## Contributing factors",
        "",
        "_To be written in the review: the conditions that made the incident possible or "
        "harder to handle, such as gaps in the procedure, tooling, signals that came late, "
        "load on the desk. Describe systems and circumstances, not individuals._",
        "",
        "## Action items",
        "",
        "| Action | Owner | Due |",
        "| --- | --- | --- |",
        "| _to be agreed in the review_ | | |",
        "",
    ]
    return "\n".join(lines)


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file in the same directory, so a
    reader sees the old file or the new one, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@activity.defn(name=ACT_POSTMORTEM)
def postmortem(request: PostmortemRequest) -> PostmortemResult:
    """Draft the post-mortem document; idempotent, and an edited draft is left alone."""
    log = _log.bind(incident=request.incident_id, sop=request.sop)
    if not _SAFE_ID.match(request.incident_id):
        raise ApplicationError(
            f"incident id {request.incident_id!r} cannot name a file: use letters, digits, "
            "'.', '_' and '-'",
            type="BadIncidentId",
            non_retryable=True,
        )
    target = artifacts_dir() / f"{request.incident_id}.md"
    text = render(request)
    try:
        current: str | None = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current is None:
        write_atomically(target, text)
        log.info("postmortem.drafted", document=str(target))
    elif current == text:
        log.info("postmortem.unchanged", document=str(target))
    else:
        # People have started on it: their words outrank a regenerated draft.
        log.info("postmortem.kept", document=str(target))
    return PostmortemResult(
        document=str(target.resolve()), owner=request.owner, due_at=request.due_at
    )
