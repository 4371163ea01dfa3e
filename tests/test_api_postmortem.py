"""The post-mortem review routes: the real API app over the time-skipping server (a review
lives for days). Need-to-know holds (the review of an incident a person cannot see is a 404,
as an unknown one); refusals are problems with the review's reason; an Idempotency-Key
applies once; the review closes when its owner marks it done with every item closed.

People (the shipped Roster): dokafor is a lead, amoreno a responder, rhalvorsen only legal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from sopflow.api.app import create_app
from sopflow.api.settings import ApiSettings
from sopflow.contract.messages import Actor, CompleteTask
from tests.conftest import SHIPPED
from tests.harness import Bench, bench, compile_text, run
from tests.test_api_unit import FakeTokens, auth
from tests.test_workflow_people import active

pytestmark = pytest.mark.e2e

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: api-reviewed
version: 1
title: API reviewed drill
owner: tests
region: US
roles:
  responder: {description: Responder}
  lead: {description: Lead}
restricted_to: [responder, lead]
defaults:
  sla: 1h
steps:
  - id: respond
    type: task
    assignee: responder
    escalate: [lead]
  - id: postmortem
    type: postmortem
    owner: lead
    due: 5d
  - id: done
    type: end
    outcome: resolved
"""


async def closed_incident(b: Bench) -> str:
    h = await b.start(compile_text(SOP), opened_by="dokafor")
    await b.until(h, active("respond"))
    responder = Actor(id="amoreno", roles=["responder"], region="US")
    await b.act(h, CompleteTask(step="respond", actor=responder))
    await b.until(h, lambda s: s.status == "completed")
    return h.id


async def review_of(api: httpx.AsyncClient, base: str) -> dict[str, Any]:
    """The review, once its workflow has started (the step starts it as it closes)."""
    for _ in range(500):
        got = await api.get(base, headers=auth("dokafor"))
        if got.status_code == 200:
            body: dict[str, Any] = got.json()
            return body
    raise AssertionError(f"no review at {base}")


def test_the_review_through_the_api() -> None:
    async def scenario() -> None:
        async with bench() as b:
            app = create_app(
                ApiSettings(definitions=SHIPPED), tokens=FakeTokens(), service=b.incidents
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                incident = await closed_incident(b)
                base = f"/api/v1/incidents/{incident}/postmortem"
                review = await review_of(api, base)
                assert review["owner"] == "lead" and review["status"] == "open"
                assert "recent_requests" not in review

                # Need-to-know: hidden exactly as an unknown incident is.
                hidden = await api.get(base, headers=auth("rhalvorsen"))
                unknown = await api.get(
                    base.replace(incident, "inc-nope"), headers=auth("rhalvorsen")
                )
                assert hidden.status_code == unknown.status_code == 404
                assert hidden.json()["detail"].replace(incident, "X") == unknown.json()[
                    "detail"
                ].replace("inc-nope", "X")
                item = {"title": "Page at once", "owner": "amoreno", "due_at": _due(review, 2)}
                sneaky = await api.post(f"{base}/items", json=item, headers=auth("rhalvorsen"))
                assert sneaky.status_code == 404
                # An owner nobody has is not checked first: that would say the incident exists.
                nobody_hidden = {**item, "owner": "nobody"}
                probe = await api.post(
                    f"{base}/items", json=nobody_hidden, headers=auth("rhalvorsen")
                )
                assert probe.status_code == 404

                # Refusals are problems with the review's reason.
                wrong = await api.post(f"{base}/items", json=item, headers=auth("amoreno"))
                assert wrong.status_code == 403 and "may not change" in wrong.text
                nobody = {**item, "owner": "nobody"}
                bad = await api.post(f"{base}/items", json=nobody, headers=auth("dokafor"))
                assert bad.status_code == 422 and "neither a person" in bad.text

                once = {**auth("dokafor"), "Idempotency-Key": "item-1"}
                first = await api.post(f"{base}/items", json=item, headers=once)
                again = await api.post(f"{base}/items", json=item, headers=once)
                assert first.status_code == again.status_code == 200, first.text
                assert first.json()["detail"].startswith("A1 added")
                assert len((await review_of(api, base))["items"]) == 1

                early = await api.post(f"{base}/done", json={}, headers=auth("dokafor"))
                assert early.status_code == 409 and "still open: A1" in early.text
                cause = {"factors": ["late-signal"], "step": "nope", "changes": "c"}
                wrong_step = await api.post(
                    f"{base}/root-cause", json=cause, headers=auth("dokafor")
                )
                assert wrong_step.status_code == 422 and "no step 'nope'" in wrong_step.text
                cause["step"] = "respond"
                recorded = await api.post(f"{base}/root-cause", json=cause, headers=auth("dokafor"))
                assert recorded.status_code == 200, recorded.text
                closing = {"note": "paging rule changed"}
                closed = await api.post(
                    f"{base}/items/A1/close", json=closing, headers=auth("amoreno")
                )
                assert closed.status_code == 200, closed.text
                done = await api.post(f"{base}/done", json={}, headers=auth("dokafor"))
                assert done.status_code == 200, done.text
                final = await review_of(api, base)
                assert final["status"] == "closed" and final["root_cause"]["step"] == "respond"
                late = await api.post(f"{base}/items", json=item, headers=auth("dokafor"))
                assert late.status_code == 409
                spec = await api.get("/api/v1/openapi.json", headers=auth("dokafor"))
                assert "/api/v1/incidents/{incident_id}/postmortem/items" in spec.json()["paths"]

    run(scenario)


def _due(review: dict[str, Any], days: int) -> str:
    opened = datetime.fromisoformat(review["opened_at"])
    return (opened + timedelta(days=days)).isoformat()
