"""`POST /incidents/{id}/updates`: the real API app over the time-skipping server (a cadence
is at least 5m, which only that server can skip): refusals as problems, then an accepted
update that reaches the stakeholders once and shows on the incident's timeline."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from sopflow.api.app import create_app
from sopflow.api.settings import ApiSettings
from tests.conftest import SHIPPED
from tests.harness import bench, run
from tests.test_api_unit import FakeTokens, auth
from tests.test_workflow_updates import PLAN, sent

pytestmark = pytest.mark.e2e


def test_post_an_update_through_the_api() -> None:
    async def scenario() -> None:
        async with bench() as b:
            app = create_app(
                ApiSettings(definitions=SHIPPED), tokens=FakeTokens(), service=b.incidents
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                h = await b.start(PLAN, {"severity": "SEV0"}, opened_by="dokafor")
                await b.until(h, lambda s: s.steps["work"].status == "active")
                path = f"/api/v1/incidents/{h.id}/updates"
                body = {"text": "Referral made."}
                # amoreno is a responder, not the lead: 403; nothing is due yet: 409.
                wrong = await api.post(path, json=body, headers=auth("amoreno"))
                assert wrong.status_code == 403, wrong.text
                assert wrong.headers["content-type"].startswith("application/problem+json")
                early = await api.post(path, json=body, headers=auth("dokafor"))
                assert early.status_code == 409 and "no stakeholder update is due" in early.text
                await b.env.sleep(timedelta(minutes=31))
                await b.until(h, lambda s: s.updates is not None and len(s.updates.records) == 1)
                empty = await api.post(path, json={"text": " "}, headers=auth("dokafor"))
                assert empty.status_code == 422 and "empty" in empty.text
                headers = {**auth("dokafor"), "Idempotency-Key": "update-1"}
                first = await api.post(path, json=body, headers=headers)
                again = await api.post(path, json=body, headers=headers)
                assert first.status_code == again.status_code == 200, first.text
                assert len(sent(b, "posted")) == 1
                view = await api.get(f"/api/v1/incidents/{h.id}", headers=auth("dokafor"))
                kinds = [e["kind"] for e in view.json()["timeline"]]
                assert "update.due" in kinds and kinds.count("update.posted") == 1
                spec = await api.get("/api/v1/openapi.json", headers=auth("dokafor"))
                assert "/api/v1/incidents/{incident_id}/updates" in spec.json()["paths"]

    run(scenario)
