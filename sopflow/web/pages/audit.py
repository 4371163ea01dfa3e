"""An incident's audit report as a page, and its export as a download, for leads (the demo
Roster has no auditor role). Both come from the API's own routes, so they are the report
and the file ``GET /api/v1/incidents/{id}/audit`` and ``.../export`` give."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from sopflow.api.audit import ReportFormat, audit_report, export
from sopflow.web.pages.common import IncidentId
from sopflow.web.pages.incident import AUDITORS
from sopflow.web.render import Refused
from sopflow.web.report_html import report_html
from sopflow.web.visits import Visit, console_of

READERS = " or ".join(AUDITORS)


def _may_audit(visit: Visit) -> None:
    if not visit.holds(*AUDITORS):
        raise Refused(403, "Not allowed", f"The audit report is for people holding {READERS}.")


async def audit_page(request: Request, incident_id: IncidentId) -> Response:
    """``GET /console/incidents/{id}/audit``: the Markdown report, as HTML."""
    console = console_of(request)
    visit = await console.visit(request)
    _may_audit(visit)
    answer = await audit_report(
        incident_id=incident_id,
        person=visit.person,
        parts=visit.parts,
        format=ReportFormat.markdown,
    )
    assert isinstance(answer, Response)
    text = bytes(answer.body).decode("utf-8")
    return console.page(
        request, visit, "audit.html", incident_id=incident_id, report=report_html(text)
    )


async def audit_export(request: Request, incident_id: IncidentId) -> Response:
    """``GET /console/incidents/{id}/audit/export``: the file ``sopflow audit verify`` checks."""
    visit = await console_of(request).visit(request)
    _may_audit(visit)
    return await export(incident_id=incident_id, person=visit.person, parts=visit.parts)


ROUTES = (
    ("/incidents/{incident_id}/audit", audit_page, ("GET",)),
    ("/incidents/{incident_id}/audit/export", audit_export, ("GET",)),
)
