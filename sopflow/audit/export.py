"""``sopflow audit export``: every run of an incident, from the server or from history files,
into one envelope (see ``envelope``), with every run of its post-mortem review when the
incident started one (format 2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from temporalio.client import WorkflowHistory

from sopflow.audit.envelope import build_envelope
from sopflow.audit.errors import AuditError
from sopflow.audit.history_io import chain_problems, fetch_runs
from sopflow.audit.payloads import Decoder
from sopflow.audit.review_io import fetch_review_runs
from sopflow.client.incidents import IncidentService


async def envelope_from_runs(
    runs: Sequence[WorkflowHistory],
    decoder: Decoder,
    *,
    workflow_id: str | None = None,
    namespace: str | None = None,
    exported_at: datetime | None = None,
    review_runs: Sequence[WorkflowHistory] = (),
) -> dict[str, object]:
    """The envelope of an incident's runs (first to last), and of its review's runs when
    given. The SOP, region and plan hash come from the plan recorded in the first run's
    input; the plan hash is recomputed from that plan, so it states what the history holds,
    whatever the plan declared."""
    problems = chain_problems(runs)
    if problems:
        raise AuditError(f"not every run of one incident: {'; '.join(problems)}")
    if review_runs and (problems := chain_problems(review_runs)):
        raise AuditError(f"not every run of one review: {'; '.join(problems)}")
    first = await decoder.incident_input(runs[0], "run 1")
    plan = first.plan
    return build_envelope(
        workflow_id=workflow_id or first.incident_id,
        namespace=namespace,
        runs=runs,
        sop=plan.sop.id,
        sop_version=plan.sop.version,
        region=plan.region.code,
        plan_hash=plan.compute_hash(),
        exported_at=exported_at,
        review_runs=review_runs,
    )


async def export_incident(
    incidents: IncidentService,
    workflow_id: str,
    decoder: Decoder,
    notes: list[str] | None = None,
) -> tuple[dict[str, object], list[WorkflowHistory]]:
    """The envelope of incident ``workflow_id`` from the service's namespace, every run
    across continue-as-new (and every run of the post-mortem review it started), and the
    incident's runs themselves. A review the server no longer has is said in ``notes``."""
    runs = await fetch_runs(incidents, workflow_id)
    review_runs = await fetch_review_runs(incidents, runs, notes)
    envelope = await envelope_from_runs(
        runs,
        decoder,
        workflow_id=workflow_id,
        namespace=incidents.namespace,
        review_runs=review_runs,
    )
    return envelope, runs
