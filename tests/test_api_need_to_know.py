"""Need-to-know incidents through the real API (the stack of test_api_e2e.py: the dev server,
a worker, uvicorn): an incident of an SOP with `restricted_to` is, for anyone without one of
those roles, exactly an incident that does not exist, on every route; for a holder it is an
incident like any other; and an unrestricted incident is unaffected.

People (the shipped Roster): dokafor is a lead, amoreno a specialist (and responder), slee
holds every role, rhalvorsen only `legal`, which the SOP declares and hands a task to but
does not let see its incidents.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import structlog.testing

from tests.test_api_e2e import Stack, active, problem, stack

pytestmark = pytest.mark.e2e

__all__ = ["stack"]  # the fixture, used by the tests below

OUTSIDER = "rhalvorsen"
OK_FORM: dict[str, Any] = {"data": {"ok": True}}


def shape(response: httpx.Response, incident: str) -> dict[str, Any]:
    """A 404 problem with the incident id and request id taken out: what must not differ
    between a hidden incident and one that does not exist."""
    body = problem(response, 404, "not-found")
    body = {k: v for k, v in body.items() if k != "request_id"}
    return {k: v.replace(incident, "ID") if isinstance(v, str) else v for k, v in body.items()}


def routes(incident: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route that reads or acts on one incident, with a body that would be valid."""
    base = f"/incidents/{incident}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/audit", None),
        ("GET", f"{base}/export", None),
        ("POST", f"{base}/steps/counsel/complete", {"data": {}}),
        ("POST", f"{base}/steps/review/complete", OK_FORM),
        ("POST", f"{base}/steps/review/approve", {"reason": "r"}),
        ("POST", f"{base}/steps/review/reject", {"reason": "r"}),
        ("POST", f"{base}/notes", {"text": "who is this?"}),
        ("POST", f"{base}/cancel", {"reason": "r"}),
        ("POST", f"{base}/events", {"name": "ping"}),
    ]


def ids(stack: Stack, who: str, **params: Any) -> set[str]:
    listed = stack.call(who, "GET", "/incidents", params=params)
    assert listed.status_code == 200, listed.text
    return {i["id"] for i in listed.json()}


def task_incidents(stack: Stack, who: str) -> set[str]:
    return {t["incident"] for t in stack.call(who, "GET", "/me/tasks").json()}


def test_a_restricted_incident_does_not_exist_for_others(stack: Stack) -> None:
    secret = stack.start("dokafor", sop="api-secret", input={})
    stack.until(secret, active("counsel"), who="dokafor")
    drill = stack.start("dokafor")  # unrestricted
    stack.until(drill, active("verify"))
    unknown = "inc-20250301-000000"

    # Every route answers the outsider what it answers for an id that does not exist.
    with structlog.testing.capture_logs() as logs:
        for method, path, body in routes(secret):
            hidden = stack.call(OUTSIDER, method, path, json=body)
            missing = stack.call(OUTSIDER, method, path.replace(secret, unknown), json=body)
            assert shape(hidden, secret) == shape(missing, unknown), (method, path)
    refused = [e for e in logs if e["event"] == "api.refused"]
    assert len(refused) == len(routes(secret))
    assert {(e["actor"], e["incident"], e["outcome"]) for e in refused} == {
        (OUTSIDER, secret, "refused:404")
    }
    assert all("restricted to lead, specialist" in e["reason"] for e in refused)

    # Lists, raw queries (ANDed, whatever they say) and the queue never include it.
    assert secret not in ids(stack, OUTSIDER, sop="api-secret")
    assert secret not in ids(stack, OUTSIDER, limit=500)
    for query in (
        f"WorkflowId = '{secret}'",
        f"WorkflowId = '{secret}' OR Audience IS NOT NULL",
        "Audience = 'specialist' OR Audience = 'lead'",
    ):
        assert secret not in ids(stack, OUTSIDER, query=query), query
    assert secret not in task_incidents(stack, OUTSIDER)  # though `counsel` waits on legal
    # The unrestricted incident is unaffected, for the same person.
    assert stack.call(OUTSIDER, "GET", f"/incidents/{drill}").status_code == 200
    assert ids(stack, OUTSIDER, query=f"WorkflowId = '{drill}'") == {drill}

    # A specialist sees it everywhere, and acts on it.
    assert ids(stack, "amoreno", query=f"WorkflowId = '{secret}'") == {secret}
    assert secret in ids(stack, "amoreno", sop="api-secret", status="running")
    assert secret in task_incidents(stack, "amoreno")
    for path in (f"/incidents/{secret}/audit", f"/incidents/{secret}/export"):
        assert stack.call("amoreno", "GET", path).status_code == 200, path
    done = stack.call("amoreno", "POST", f"/incidents/{secret}/steps/review/complete", json=OK_FORM)
    assert done.status_code == 200 and done.json()["accepted"] is True, done.text
    # The workflow's own rules still apply to those who may see it: no role for `counsel`.
    problem(
        stack.call("amoreno", "POST", f"/incidents/{secret}/steps/counsel/complete", json={}),
        403,
        "forbidden",
    )
    # A lead (who opened it) sees it too, and may cancel it.
    cancel = stack.call("dokafor", "POST", f"/incidents/{secret}/cancel", json={"reason": "drill"})
    assert cancel.status_code == 200, cancel.text
    view = stack.until(secret, lambda v: v["summary"]["status"] == "cancelled", who="slee")
    assert view["summary"]["id"] == secret
    # Closed, it stays hidden: 404, not the 409 a closed incident answers those who see it.
    late = stack.call(OUTSIDER, "POST", f"/incidents/{secret}/notes", json={"text": "late"})
    assert shape(late, secret)["detail"] == "no incident 'ID'"
    problem(
        stack.call("amoreno", "POST", f"/incidents/{secret}/notes", json={"text": "late"}),
        409,
        "refused",
    )
    assert secret not in ids(stack, OUTSIDER, sop="api-secret", status="cancelled")
