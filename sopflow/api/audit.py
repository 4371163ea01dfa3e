"""An incident's audit report and export, built from its Temporal history alone by
``sopflow.audit``: the same report and the same export file as ``sopflow audit report`` and
``sopflow audit export`` (docs/audit.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from sopflow.api.context import Caller, PartsDep
from sopflow.api.identity import authorise_read
from sopflow.api.incidents import IncidentIdPath
from sopflow.audit.envelope import dump_envelope
from sopflow.audit.export import export_incident
from sopflow.audit.history_io import fetch_runs
from sopflow.audit.payloads import Decoder
from sopflow.audit.report import build_report
from sopflow.audit.report_model import AuditReport, Source
from sopflow.audit.report_render import render_markdown
from sopflow.audit.signatures import keys_for_report
from sopflow.client.incidents import IncidentService

router = APIRouter(tags=["audit"])


class ReportFormat(StrEnum):
    """The report's form: JSON for machines, Markdown for people."""

    json = "json"
    markdown = "markdown"


def _decoder(service: IncidentService) -> Decoder:
    # The service's own converter: whatever decrypts its payloads decrypts the history's.
    return Decoder(service.client.data_converter)


@router.get(
    "/incidents/{incident_id}/audit",
    summary="The audit report",
    response_model=AuditReport,
    responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
)
async def audit_report(
    incident_id: IncidentIdPath,
    person: Caller,
    parts: PartsDep,
    format: Annotated[ReportFormat, Query(description="json or markdown")] = ReportFormat.json,
) -> AuditReport | Response:
    """Who did what, when and on what basis, from the incident's history: SOP, version,
    region and plan hash, every accepted action, votes, disclosure decisions, SLA breaches
    and escalations, the timeline and the outcome."""
    service = parts.temporal.require()
    await authorise_read(person, incident_id, service)
    runs = await fetch_runs(service, incident_id)
    source = Source(kind="server", location=f"{service.namespace}/{incident_id}")
    # The public keys the workers trust ($SOPFLOW_TRUSTED_KEYS, else the dev keys), read per
    # report so a rotation shows without a restart; without any, signatures are shown unchecked.
    keys = keys_for_report(None)
    report = await build_report(runs, _decoder(service), source, workflow_id=incident_id, keys=keys)
    if format is ReportFormat.markdown:
        return Response(render_markdown(report), media_type="text/markdown; charset=utf-8")
    return report


@router.get(
    "/incidents/{incident_id}/export",
    summary="The export file",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def export(incident_id: IncidentIdPath, person: Caller, parts: PartsDep) -> Response:
    """Every run of the incident in Temporal's JSON history format, inside an envelope with
    its plan hash and SHA-256 digest: the file ``sopflow audit export`` writes, which
    ``sopflow audit verify`` checks."""
    service = parts.temporal.require()
    await authorise_read(person, incident_id, service)
    envelope: dict[str, Any]
    envelope, _runs = await export_incident(service, incident_id, _decoder(service))
    return Response(
        dump_envelope(envelope),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{incident_id}.json"'},
    )
