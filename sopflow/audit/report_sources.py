"""Where ``sopflow audit report`` reads an incident from: the server (every run, and every
run of the post-mortem review it started), one export (its runs and its review's), or plain
history files of one incident's runs, in any order, with its review's beside them (told
apart by their workflow type)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from temporalio.client import WorkflowHistory

from sopflow.audit.envelope import compute_digest
from sopflow.audit.errors import AuditError
from sopflow.audit.history_io import fetch_runs, load_file, order_runs
from sopflow.audit.payloads import Decoder
from sopflow.audit.report import build_report
from sopflow.audit.report_model import AuditReport, Source
from sopflow.audit.review_io import fetch_review_runs, split_reviews
from sopflow.client.incidents import IncidentService
from sopflow.client.signing import KeyRing


async def report_from_files(
    paths: Sequence[Path], decoder: Decoder, keys: KeyRing | None
) -> AuditReport:
    """The report of one export, or of plain histories (AuditError for a mix, or for
    histories that are not one incident's runs)."""
    loaded = [load_file(p) for p in paths]
    names = " ".join(str(p) for p in paths)
    if len(loaded) == 1 and loaded[0].envelope is not None:
        one = loaded[0]
        env = one.envelope
        assert env is not None
        source = Source(
            kind="export",
            location=str(one.path),
            digest=env.digest,
            digest_ok=compute_digest(one.data) == env.digest,
        )
        return await build_report(
            one.runs,
            decoder,
            source,
            workflow_id=env.workflow_id,
            keys=keys,
            review_runs=one.review_runs,
        )
    if any(f.envelope is not None for f in loaded):
        raise AuditError(f"{names}: report on one export, or on plain histories, not a mix")
    incident, review = split_reviews([f.runs[0] for f in loaded])
    if not incident:
        raise AuditError(f"{names}: a post-mortem review's history, and no incident's")
    runs = order_runs(incident, names)
    review_runs: list[WorkflowHistory] = order_runs(review, names) if review else []
    source = Source(kind="history", location=names)
    return await build_report(runs, decoder, source, keys=keys, review_runs=review_runs)


async def report_from_server(
    incidents: IncidentService, incident_id: str, decoder: Decoder, keys: KeyRing | None
) -> AuditReport:
    """The report of incident ``incident_id`` (and its review) from the server."""
    runs = await fetch_runs(incidents, incident_id)
    notes: list[str] = []
    review_runs = await fetch_review_runs(incidents, runs, notes)
    source = Source(kind="server", location=f"{incidents.namespace}/{incident_id}")
    report = await build_report(
        runs, decoder, source, workflow_id=incident_id, keys=keys, review_runs=review_runs
    )
    return report.model_copy(update={"notes": [*report.notes, *notes]}) if notes else report
