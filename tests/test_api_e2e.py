"""The HTTP API end to end: uvicorn on free 127.0.0.1 ports serving the real app, the real
Temporal dev server and a worker running the interpreter, real tokens and a Roster file on
disk. Every request goes over HTTP.

One background thread runs one event loop holding the dev server, the worker and every
uvicorn server; the tests call them with a plain HTTP client. Several apps share the dev
server: ``main``; ``slow`` (one request in flight per person, on a task queue no worker
serves, so an action waits); ``rogue`` (signs with a key the worker does not trust); and
two with trusted-header sign-on, one trusting 127.0.0.1 and one trusting only 10.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sopflow.api.app import create_app
from sopflow.api.server import server as make_server
from sopflow.api.settings import ApiSettings, parse_proxies
from sopflow.api.tokens import TokenStore
from sopflow.client.incidents import IncidentService
from sopflow.client.signing import ActionSigner
from sopflow.client.testing import TEST_SIGNER, dev_server, incident_worker
from sopflow.rehearsal.fakes import RecordingActivities
from tests.conftest import SHIPPED

pytestmark = pytest.mark.e2e

DRILL = """\
apiVersion: sopflow/v1
kind: SOP
id: api-drill
version: 1
title: API drill
owner: tests
region: US
input:
  type: object
  required: [ref, count]
  properties:
    ref: {type: string, minLength: 1}
    count: {type: integer, minimum: 0}
    tags: {type: array, items: {type: string}}
roles:
  responder: {description: On-shift responder}
  lead: {description: Incident lead}
# The drill's sign-off takes leads from any desk (slee and dokafor in the US, tbrennan in the
# UK); its responders act only from the US desk.
global_roles: [lead]
defaults:
  sla: 30m
steps:
  - id: verify
    type: task
    title: Verify the report
    assignee: responder
    form:
      type: object
      required: [ok]
      properties: {ok: {type: boolean}}
  - id: signoff
    type: approval
    title: Two leads sign off
    approvers: [lead]
    quorum: 2
    on: {rejected: refused}
  - id: done
    type: end
    outcome: resolved
  - id: refused
    type: end
    outcome: rejected
"""
DRILL_INPUT = {"ref": "R-1", "count": 2}
# One task with the form of threat-to-life@1's assessment (two booleans, an enum, an optional
# and a required string), for the console's form test: that version is retired, and the
# assessment of version 2 follows the sun, which this stack's worker (the recording fakes,
# no Rota) does not run.
ASSESS_DRILL = """\
apiVersion: sopflow/v1
kind: SOP
id: api-assess
version: 1
title: API assessment drill
owner: tests
region: US
input:
  type: object
  required: [ref, count]
  properties:
    ref: {type: string, minLength: 1}
    count: {type: integer, minimum: 0}
roles:
  responder: {description: On-shift responder}
  lead: {description: Incident lead}
defaults:
  sla: 30m
steps:
  - id: assess
    type: task
    title: Assess credibility and location
    assignee: responder
    escalate: [lead]
    form:
      type: object
      required: [credible, imminence, location_known, rationale]
      additionalProperties: false
      properties:
        credible: {type: boolean}
        imminence: {enum: [immediate, within_days, unclear, none]}
        location_known: {type: boolean}
        agency_with_jurisdiction: {type: string}
        rationale: {type: string, minLength: 1}
  - id: done
    type: end
    outcome: resolved
"""
# The drill with an SLA that runs out while a test watches (the console's live SLA test).
SHORT_SLA = "short-sla"
SHORT_SLA_S = 10  # long enough to open the page first on a loaded machine
SHORT_SLA_DRILL = (
    DRILL.replace("id: api-drill", f"id: {SHORT_SLA}")
    .replace("title: API drill", "title: API drill with a short SLA")
    .replace("sla: 30m", f"sla: {SHORT_SLA_S}s")
)
# Need-to-know (tests/test_api_need_to_know.py): only specialists and leads see these
# incidents. `legal` is declared, and one branch waits on it, so a legal-only person holds
# a role of the SOP and a pending task in it, and still sees neither (lint warns: W305).
RESTRICTED_SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: api-secret
version: 1
title: API need-to-know drill
owner: tests
region: US
roles:
  specialist: {description: Child-safety specialist}
  lead: {description: Incident lead}
  legal: {description: Law-enforcement counsel}
restricted_to: [specialist, lead]
defaults:
  sla: 30m
steps:
  - id: work
    type: parallel
    branches:
      - steps:
          - id: review
            type: task
            assignee: specialist
            form: {type: object, required: [ok], properties: {ok: {type: boolean}}}
      - steps:
          - id: counsel
            type: task
            assignee: legal
  - id: done
    type: end
    outcome: resolved
"""
# One task, then a post-mortem step: its review outlives the incident.
REVIEWED_SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: api-reviewed
version: 1
title: API post-mortem drill
owner: tests
region: US
roles:
  responder: {description: On-shift responder}
  lead: {description: Incident lead}
defaults:
  sla: 30m
steps:
  - id: respond
    type: task
    assignee: responder
  - id: postmortem
    type: postmortem
    owner: lead
    due: 5d
  - id: done
    type: end
    outcome: resolved
"""
REFERRAL = {
    "referral_id": "R-1",
    "detected_by": "user_report",
    "detected_at": "2025-03-01T10:00:00Z",
    "content_ids": ["c-1"],
    "account_id": "acct-1",
    "threat_type": "violence_against_others",
    "imminence": "unclear",
    "reach": "one_person",
    "vulnerable_person": False,
    "location_country": "US",
    "records_violent_conduct": False,
}
# amoreno: responder; dokafor, slee, tbrennan: leads (slee is a responder too).
PEOPLE = ("amoreno", "dokafor", "slee", "tbrennan", "jnguyen", "rhalvorsen", "ghost")
DEADLINE_S = 30.0


@dataclass
class Stack:
    """The running servers, and how to call them as someone."""

    urls: dict[str, str]
    apps: dict[str, FastAPI]
    library: Path
    store: TokenStore
    tokens: dict[str, str]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def http(self, app: str = "main") -> httpx.Client:
        if app not in self.clients:
            self.clients[app] = httpx.Client(base_url=self.urls[app] + "/api/v1", timeout=60)
        return self.clients[app]

    def call(
        self, who: str | None, method: str, path: str, *, app: str = "main", **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.http(app).request(method, path, headers=headers, **kw)

    def start(self, who: str, app: str = "main", **body: Any) -> str:
        response = self.call(
            who,
            "POST",
            "/incidents",
            app=app,
            json={"sop": "api-drill", "input": DRILL_INPUT} | body,
        )
        assert response.status_code == 201, response.text
        incident: str = response.json()["id"]
        return incident

    def until(
        self, incident: str, ready: Callable[[dict[str, Any]], bool], who: str = "amoreno"
    ) -> dict[str, Any]:
        """Read the incident until ``ready`` holds, or fail at the deadline."""
        stop = time.monotonic() + DEADLINE_S
        while True:
            view: dict[str, Any] = self.call(who, "GET", f"/incidents/{incident}").json()
            if ready(view):
                return view
            if time.monotonic() > stop:
                raise AssertionError(f"not reached before the deadline: {view}")
            time.sleep(0.05)


def step_status(view: dict[str, Any], step: str) -> str | None:
    return next((s["status"] for s in view.get("steps", []) if s["id"] == step), None)


def active(step: str) -> Callable[[dict[str, Any]], bool]:
    return lambda view: step_status(view, step) == "active"


def write_library(root: Path) -> Path:
    library = root / "lib"
    shutil.copytree(SHIPPED, library)
    (library / "api-drill").mkdir()
    (library / "api-drill" / "v1.yaml").write_text(DRILL, encoding="utf-8")
    (library / SHORT_SLA).mkdir()
    (library / SHORT_SLA / "v1.yaml").write_text(SHORT_SLA_DRILL, encoding="utf-8")
    (library / "api-graphic").mkdir()
    graphic = DRILL.replace("id: api-drill", "id: api-graphic").replace(
        "    assignee: responder\n", "    assignee: responder\n    graphic: true\n", 1
    )
    (library / "api-graphic" / "v1.yaml").write_text(graphic, encoding="utf-8")
    (library / "api-dup").mkdir()
    dup = DRILL.replace("id: api-drill", "id: api-dup").replace(
        "roles:\n", "correlation: input.ref\nroles:\n", 1
    )
    (library / "api-dup" / "v1.yaml").write_text(dup, encoding="utf-8")
    (library / "api-assess").mkdir()
    (library / "api-assess" / "v1.yaml").write_text(ASSESS_DRILL, encoding="utf-8")
    (library / "api-secret").mkdir()
    (library / "api-secret" / "v1.yaml").write_text(RESTRICTED_SOP, encoding="utf-8")
    (library / "api-reviewed").mkdir()  # a post-mortem review (tests/test_cli_postmortem.py)
    (library / "api-reviewed" / "v1.yaml").write_text(REVIEWED_SOP, encoding="utf-8")
    return library


def _apps(
    library: Path, tokens_path: Path, service: IncidentService, slow: IncidentService
) -> dict[str, FastAPI]:
    base = ApiSettings(definitions=library)

    def app(settings: ApiSettings, svc: IncidentService) -> FastAPI:
        return create_app(settings, tokens=TokenStore(tokens_path), service=svc)

    rogue = IncidentService(
        service.client, task_queue=service.task_queue, signer=ActionSigner.generate("rogue")
    )
    header = "X-Forwarded-User"
    return {
        "main": app(base, service),
        "slow": app(ApiSettings(definitions=library, max_in_flight=1), slow),
        "rogue": app(base, rogue),
        "proxied": app(
            ApiSettings(
                definitions=library,
                identity_header=header,
                trusted_proxies=parse_proxies("127.0.0.1/32"),
            ),
            service,
        ),
        "unproxied": app(
            ApiSettings(
                definitions=library,
                identity_header=header,
                trusted_proxies=parse_proxies("10.0.0.0/8, ::1"),
            ),
            service,
        ),
    }


async def _serve(
    apps: dict[str, FastAPI], stop: asyncio.Event, on_ready: Callable[[dict[str, str]], None]
) -> None:
    servers: dict[str, uvicorn.Server] = {
        n: make_server(a, "127.0.0.1", 0) for n, a in apps.items()
    }
    for s in servers.values():
        s.config.access_log = False
    tasks = [asyncio.create_task(s.serve()) for s in servers.values()]
    deadline = time.monotonic() + DEADLINE_S
    while not all(s.started for s in servers.values()):
        if time.monotonic() > deadline or any(t.done() for t in tasks):
            raise AssertionError("the API servers did not start")
        await asyncio.sleep(0.01)
    urls = {}
    for name, s in servers.items():
        port = s.servers[0].sockets[0].getsockname()[1]
        urls[name] = f"http://127.0.0.1:{port}"
    on_ready(urls)
    await stop.wait()
    for s in servers.values():
        s.should_exit = True
    await asyncio.gather(*tasks)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The dev server, a worker, and the API apps, in one background event loop."""
    root = tmp_path_factory.mktemp("api")
    library = write_library(root)
    store = TokenStore(root / "tokens.json")
    tokens = {who: store.issue(who)[0] for who in PEOPLE}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def on_ready(urls: dict[str, str]) -> None:
        box["urls"] = urls
        ready.set()

    async def main() -> None:
        try:
            async with (
                dev_server() as env,
                incident_worker(env, RecordingActivities().activities()) as queue,
            ):
                service = IncidentService(env.client, task_queue=queue, signer=TEST_SIGNER)
                slow = IncidentService(
                    env.client,
                    task_queue=f"unserved-{uuid.uuid4().hex[:6]}",
                    signer=TEST_SIGNER,
                    action_timeout_s=2.0,
                )
                box["apps"] = _apps(library, root / "tokens.json", service, slow)
                await _serve(box["apps"], stop, on_ready)
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(90), "the stack did not start"
    if "error" in box:
        raise box["error"]
    built = Stack(box["urls"], box["apps"], library, store, tokens)
    try:
        yield built
    finally:
        for client in built.clients.values():
            client.close()
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """The response is the problem ``kind`` with ``status``; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}" and body["status"] == status, body
    assert "Traceback" not in response.text
    return body


# --- two people, one incident


def test_two_people_act_on_one_incident(stack: Stack) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    # The opener holds no responder role: the workflow refuses, 403.
    ok_form: dict[str, Any] = {"data": {"ok": True}}
    problem(
        stack.call("dokafor", "POST", f"/incidents/{incident}/steps/verify/complete", json=ok_form),
        403,
        "forbidden",
    )
    # A responder of another desk: the AU desk does not act on a US incident, 403.
    elsewhere = problem(
        stack.call("jnguyen", "POST", f"/incidents/{incident}/steps/verify/complete", json=ok_form),
        403,
        "forbidden",
    )
    assert "jnguyen works on the AU desk; this is a US incident" in elsewhere["detail"]
    # A form that does not fit the step's schema: 422.
    bad_form: dict[str, Any] = {"data": {"ok": "yes"}}
    problem(
        stack.call(
            "amoreno", "POST", f"/incidents/{incident}/steps/verify/complete", json=bad_form
        ),
        422,
        "invalid-request",
    )
    done = stack.call(
        "amoreno", "POST", f"/incidents/{incident}/steps/verify/complete", json=ok_form
    )
    assert done.status_code == 200, done.text
    assert done.json()["accepted"] is True
    stack.until(incident, active("signoff"))
    # Not a lead: 403; the opener: four eyes, 409; a second vote: 409.
    vote = {"reason": "looks right"}
    problem(
        stack.call("amoreno", "POST", f"/incidents/{incident}/steps/signoff/approve", json=vote),
        403,
        "forbidden",
    )
    problem(
        stack.call("dokafor", "POST", f"/incidents/{incident}/steps/signoff/approve", json=vote),
        409,
        "refused",
    )
    assert (
        stack.call(
            "slee", "POST", f"/incidents/{incident}/steps/signoff/approve", json=vote
        ).status_code
        == 200
    )
    second = problem(
        stack.call("slee", "POST", f"/incidents/{incident}/steps/signoff/approve", json=vote),
        409,
        "refused",
    )
    assert "already voted" in second["detail"]
    assert (
        stack.call(
            "tbrennan", "POST", f"/incidents/{incident}/steps/signoff/approve", json=vote
        ).status_code
        == 200
    )
    view = stack.until(incident, lambda v: v["summary"]["status"] == "completed")
    assert view["summary"]["outcome"] == "resolved"
    actors = {e["actor"] for e in view["timeline"]}
    assert {"amoreno", "slee", "tbrennan"} <= actors
    # The step is no longer active (and the incident closed): 409.
    again = stack.call(
        "amoreno", "POST", f"/incidents/{incident}/steps/verify/complete", json=ok_form
    )
    problem(again, 409, "refused")


def test_unknown_incident_and_step_are_404(stack: Stack) -> None:
    problem(stack.call("amoreno", "GET", "/incidents/inc-nope"), 404, "not-found")
    problem(
        stack.call("amoreno", "POST", "/incidents/inc-nope/notes", json={"text": "hi"}),
        404,
        "not-found",
    )
    problem(stack.call("amoreno", "GET", "/incidents/inc-nope/audit"), 404, "not-found")
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    missing = stack.call(
        "amoreno", "POST", f"/incidents/{incident}/steps/nosuch/complete", json={"data": {}}
    )
    problem(missing, 404, "not-found")
    problem(stack.call("amoreno", "GET", "/sops/nosuch"), 404, "not-found")
    problem(stack.call("amoreno", "GET", "/sops/api-drill/versions/9"), 404, "not-found")


def test_idempotent_retry_applies_once(stack: Stack) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/incidents/{incident}/notes"
    first = stack.call("amoreno", "POST", path, json={"text": "called the reporter"}, headers=key)
    retry = stack.call("amoreno", "POST", path, json={"text": "called the reporter"}, headers=key)
    assert first.status_code == retry.status_code == 200, (first.text, retry.text)
    assert first.json() == retry.json()
    view = stack.until(incident, lambda v: any(e["kind"] == "note" for e in v["timeline"]))
    notes = [e for e in view["timeline"] if e["kind"] == "note"]
    assert len(notes) == 1, notes
    # The same key from someone else is another request.
    other = stack.call("slee", "POST", path, json={"text": "me too"}, headers=key)
    assert other.status_code == 200
    view = stack.until(incident, lambda v: sum(e["kind"] == "note" for e in v["timeline"]) == 2)


def test_idempotent_start_answers_the_same_incident(stack: Stack) -> None:
    key = {"Idempotency-Key": f"start-{uuid.uuid4()}"}
    body = {"sop": "api-drill", "input": DRILL_INPUT}
    first = stack.call("dokafor", "POST", "/incidents", json=body, headers=key)
    retry = stack.call("dokafor", "POST", "/incidents", json=body, headers=key)
    assert first.status_code == retry.status_code == 201, (first.text, retry.text)
    assert first.json() == retry.json()
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert first.headers["Location"] == f"/api/v1/incidents/{first.json()['id']}"
    # Another person's same key opens another incident.
    theirs = stack.call("slee", "POST", "/incidents", json=body, headers=key)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    # The same key for another SOP is refused.
    other = {"sop": "threat-to-life", "region": "US", "input": REFERRAL}
    problem(stack.call("dokafor", "POST", "/incidents", json=other, headers=key), 409, "refused")
    taken = body | {"incident_id": first.json()["id"]}
    problem(stack.call("dokafor", "POST", "/incidents", json=taken), 409, "refused")


# --- authentication and the Roster, at request time


def test_no_token_bad_token_and_unknown_person(stack: Stack) -> None:
    missing = problem(stack.call(None, "GET", "/me"), 401, "unauthenticated")
    assert "Bearer" in stack.call(None, "GET", "/me").headers["WWW-Authenticate"]
    assert "token" in missing["detail"]
    bad = stack.http().get("/me", headers={"Authorization": "Bearer sft_000000000000_nope"})
    problem(bad, 401, "unauthenticated")
    problem(
        stack.http().get("/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
        401,
        "unauthenticated",
    )
    # A valid token whose user is not in the Roster.
    problem(stack.call("ghost", "GET", "/me"), 403, "forbidden")
    me = stack.call("amoreno", "GET", "/me").json()
    assert me == {"handle": "amoreno", "roles": ["responder", "specialist"], "via": "token"}


def test_revoking_a_token_takes_effect_on_the_next_request(stack: Stack) -> None:
    token, record = TokenStore(stack.store.path).issue("jnguyen")
    headers = {"Authorization": f"Bearer {token}"}
    assert stack.http().get("/me", headers=headers).status_code == 200
    TokenStore(stack.store.path).revoke(record.id)  # as `sopflow token revoke` would
    problem(stack.http().get("/me", headers=headers), 401, "unauthenticated")


def test_removing_a_person_from_the_roster_takes_effect_on_the_next_request(stack: Stack) -> None:
    roster = stack.library / "roster.yaml"
    original = roster.read_text(encoding="utf-8")
    assert stack.call("rhalvorsen", "GET", "/me").status_code == 200
    start = original.index("  rhalvorsen:")
    end = original.index("  kowusu:")
    try:
        roster.write_text(original[:start] + original[end:], encoding="utf-8")
        problem(stack.call("rhalvorsen", "GET", "/me"), 403, "forbidden")
        assert stack.call("amoreno", "GET", "/me").status_code == 200
    finally:
        roster.write_text(original, encoding="utf-8")
    assert stack.call("rhalvorsen", "GET", "/me").status_code == 200


def test_trusted_header_only_from_a_listed_proxy(stack: Stack) -> None:
    named = {"X-Forwarded-User": "amoreno"}
    # The peer (127.0.0.1) is not listed: the header is ignored, a token is needed.
    problem(stack.http("unproxied").get("/me", headers=named), 401, "unauthenticated")
    with_token = stack.call("slee", "GET", "/me", app="unproxied", headers=named)
    assert with_token.json()["handle"] == "slee"
    # Listed: the header names the person.
    me = stack.http("proxied").get("/me", headers=named)
    assert me.status_code == 200 and me.json() == {
        "handle": "amoreno",
        "roles": ["responder", "specialist"],
        "via": "header",
    }
    problem(
        stack.http("proxied").get("/me", headers={"X-Forwarded-User": "ghost"}), 403, "forbidden"
    )


# --- limits and bad requests


def test_body_limits_and_bad_json(stack: Stack) -> None:
    big = b'{"text": "' + b"x" * (70 * 1024) + b'"}'
    json_type = {"Content-Type": "application/json"}
    problem(
        stack.call("amoreno", "POST", "/incidents/inc-x/notes", content=big, headers=json_type),
        413,
        "too-large",
    )
    problem(
        stack.call(
            "amoreno",
            "POST",
            "/incidents/inc-x/notes",
            content=b"hi",
            headers={"Content-Type": "text/plain"},
        ),
        415,
        "unsupported-media-type",
    )
    bad = problem(
        stack.call("amoreno", "POST", "/incidents", content=b'{"sop": ', headers=json_type),
        422,
        "invalid-request",
    )
    assert bad["errors"][0]["pointer"] == ""
    wrong_key = stack.call(
        "amoreno",
        "POST",
        "/incidents/inc-x/notes",
        json={"text": "hi"},
        headers={"Idempotency-Key": "x" * 129},
    )
    assert problem(wrong_key, 422, "invalid-request")["errors"][0]["parameter"] == "Idempotency-Key"


def test_input_problems_have_pointers(stack: Stack) -> None:
    body = {"sop": "api-drill", "input": {"count": -1, "tags": ["a", 2]}}
    found = problem(stack.call("dokafor", "POST", "/incidents", json=body), 422, "invalid-request")
    pointers = {e["pointer"] for e in found["errors"]}
    assert pointers == {"/input/ref", "/input/count", "/input/tags/1"}, found
    schema = problem(
        stack.call("dokafor", "POST", "/incidents", json={"sop": "api-drill"}),
        422,
        "invalid-request",
    )
    assert schema["errors"] == [{"pointer": "/input", "message": "Field required"}]


def test_too_many_in_flight(stack: Stack) -> None:
    incident = stack.start("dokafor", app="slow")  # its task queue has no worker
    slow_app = stack.apps["slow"]
    pending: dict[str, httpx.Response] = {}

    def send_note() -> None:
        with httpx.Client(base_url=stack.urls["slow"] + "/api/v1", timeout=60) as client:
            pending["note"] = client.post(
                f"/incidents/{incident}/notes",
                json={"text": "waits for a worker"},
                headers={"Authorization": f"Bearer {stack.tokens['amoreno']}"},
            )

    sender = threading.Thread(target=send_note)
    sender.start()
    stop = time.monotonic() + DEADLINE_S
    while slow_app.state.parts.in_flight.count("amoreno") < 1:
        assert time.monotonic() < stop, "the note never went in flight"
        time.sleep(0.01)
    busy = problem(stack.call("amoreno", "GET", "/me", app="slow"), 429, "too-many-in-flight")
    assert "amoreno" in busy["detail"]
    assert stack.call("amoreno", "GET", "/me", app="slow").headers["Retry-After"] == "1"
    assert stack.call("slee", "GET", "/me", app="slow").status_code == 200  # others are not held up
    sender.join(DEADLINE_S)
    problem(pending["note"], 503, "unavailable")  # nobody answered: NoAnswer
    # The slot is released once the answer has been sent: the client may see it first.
    stop = time.monotonic() + DEADLINE_S
    while slow_app.state.parts.in_flight.count("amoreno") != 0:
        assert time.monotonic() < stop, "the note's in-flight slot was never released"
        time.sleep(0.01)
    assert stack.call("amoreno", "GET", "/me", app="slow").status_code == 200


def test_an_untrusted_signature_is_a_deployment_fault(stack: Stack) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    refused = stack.call(
        "amoreno", "POST", f"/incidents/{incident}/notes", app="rogue", json={"text": "hi"}
    )
    problem(refused, 503, "unavailable")


# --- reads: lists, queues, the catalog, audit


def test_lists_queues_and_cancel(stack: Stack) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    listed = stack.call(
        "amoreno", "GET", "/incidents", params={"sop": "api-drill", "status": "running"}
    )
    assert listed.status_code == 200
    ids = {i["id"] for i in listed.json()}
    assert incident in ids
    assert all(i["status"] == "running" and i["sop"] == "api-drill" for i in listed.json())
    query = stack.call(
        "amoreno", "GET", "/incidents", params={"query": f"WorkflowId = '{incident}'"}
    )
    assert [i["id"] for i in query.json()] == [incident]
    problem(
        stack.call("amoreno", "GET", "/incidents", params={"query": "x) OR (y"}),
        422,
        "invalid-request",
    )
    unparsable = stack.call("amoreno", "GET", "/incidents", params={"query": "Severity =="})
    assert problem(unparsable, 422, "invalid-request")["errors"][0]["parameter"] == "query"
    tasks = stack.call("amoreno", "GET", "/me/tasks").json()
    mine = [t for t in tasks if t["incident"] == incident]
    assert mine and mine[0]["step"] == "verify" and mine[0]["due_at"] is not None
    assert not [
        t for t in stack.call("dokafor", "GET", "/me/tasks").json() if t["incident"] == incident
    ]
    event = stack.call("amoreno", "POST", f"/incidents/{incident}/events", json={"name": "ping"})
    assert event.status_code == 200, event.text
    problem(
        stack.call("amoreno", "POST", f"/incidents/{incident}/cancel", json={"reason": "drill"}),
        403,
        "forbidden",
    )
    assert (
        stack.call(
            "dokafor", "POST", f"/incidents/{incident}/cancel", json={"reason": "drill"}
        ).status_code
        == 200
    )
    stack.until(incident, lambda v: v["summary"]["status"] == "cancelled")
    problem(
        stack.call("amoreno", "POST", f"/incidents/{incident}/notes", json={"text": "late"}),
        409,
        "refused",
    )
    cancelled = stack.call(
        "amoreno", "GET", "/incidents", params={"sop": "api-drill", "status": "cancelled"}
    )
    assert incident in {i["id"] for i in cancelled.json()}


def test_catalog(stack: Stack) -> None:
    sops = stack.call("amoreno", "GET", "/sops").json()
    drill = next(s for s in sops if s["id"] == "api-drill")
    assert drill["versions"] == [
        {"version": 1, "title": "API drill", "base_region": "US", "regions": ["US"]}
    ]
    version = stack.call("amoreno", "GET", "/sops/threat-to-life/versions/1").json()
    assert {r["region"] for r in version["regions"]} >= {"US", "UK", "AU"}
    us = next(r for r in version["regions"] if r["region"] == "US")
    assert us["runnable"] and us["input_schema"]["type"] == "object" and us["steps"]
    graph = stack.call("amoreno", "GET", "/sops/api-drill/versions/1/graph")
    assert graph.headers["content-type"].startswith("text/plain") and "flowchart" in graph.text
    dot = stack.call("amoreno", "GET", "/sops/api-drill/versions/1/graph", params={"format": "dot"})
    assert dot.text.startswith("digraph")
    plan = stack.call(
        "amoreno", "GET", "/sops/threat-to-life/versions/1/plan", params={"region": "UK"}
    )
    assert plan.json()["region"]["code"] == "UK"
    problem(
        stack.call("amoreno", "GET", "/sops/api-drill/versions/1/plan", params={"region": "UK"}),
        404,
        "not-found",
    )


def test_audit_report_and_export(stack: Stack) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    assert (
        stack.call(
            "amoreno", "POST", f"/incidents/{incident}/notes", json={"text": "n"}
        ).status_code
        == 200
    )
    report = stack.call("amoreno", "GET", f"/incidents/{incident}/audit")
    assert report.status_code == 200, report.text
    assert report.json()["incident_id"] == incident and report.json()["opened_by"] == "dokafor"
    text = stack.call(
        "amoreno", "GET", f"/incidents/{incident}/audit", params={"format": "markdown"}
    )
    assert text.headers["content-type"].startswith("text/markdown") and incident in text.text
    export = stack.call("amoreno", "GET", f"/incidents/{incident}/export")
    assert export.status_code == 200
    assert export.json()["digest"] and export.json()["workflow_id"] == incident
    assert incident in export.headers["Content-Disposition"]


def test_health(stack: Stack) -> None:
    health = stack.http().get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "temporal": True}
    assert health.headers["X-Request-Id"]


def test_wellbeing_counts_graphic_steps_for_the_person_and_their_desks_leads(
    stack: Stack,
) -> None:
    incident = stack.start("dokafor", sop="api-graphic")
    stack.until(incident, active("verify"))
    form: dict[str, Any] = {"data": {"ok": True}}
    done = stack.call("amoreno", "POST", f"/incidents/{incident}/steps/verify/complete", json=form)
    assert done.status_code == 200, done.text

    def mine() -> dict[str, Any]:
        answer = stack.call("amoreno", "GET", "/me/wellbeing")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    stop = time.monotonic() + DEADLINE_S
    while incident not in [s["incident"] for s in mine()["seen"]]:  # visibility lags
        assert time.monotonic() < stop, mine()
        time.sleep(0.1)
    assert mine()["person"] == "amoreno" and mine()["desk"] == "US"
    assert mine()["graphic_steps"] >= 1
    # A lead of the US desk sees the desk; a responder, or another desk's lead, does not.
    desk = stack.call("dokafor", "GET", "/desks/US/wellbeing")
    assert desk.status_code == 200, desk.text
    [alice] = [p for p in desk.json() if p["person"] == "amoreno"]
    assert incident in [s["incident"] for s in alice["seen"]]
    problem(stack.call("amoreno", "GET", "/desks/US/wellbeing"), 403, "forbidden")
    problem(stack.call("tbrennan", "GET", "/desks/US/wellbeing"), 403, "forbidden")


def test_claims_and_stepping_away(stack: Stack) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    notes = f"/incidents/{incident}/notes"
    take = {"text": "on it", "step": "verify", "claim": "take"}
    taken = stack.call("amoreno", "POST", notes, json=take)
    assert taken.status_code == 200, taken.text
    assert taken.json()["detail"] == "claimed"
    view = stack.until(incident, lambda v: any(s.get("claimed_by") for s in v["steps"]))
    assert [s["claimed_by"] for s in view["steps"] if s["id"] == "verify"] == ["amoreno"]
    # A claim needs its step; a responder cannot assign (a lead's to do).
    problem(
        stack.call("amoreno", "POST", notes, json={"text": "x", "claim": "take"}),
        422,
        "invalid-request",
    )
    assign = {"text": "rotate", "step": "verify", "claim": "assign", "assignee": "slee"}
    problem(stack.call("amoreno", "POST", notes, json=assign), 403, "forbidden")
    nobody = assign | {"assignee": "nobody"}
    assert (
        "'nobody' is not in the Roster"
        in problem(stack.call("dokafor", "POST", notes, json=nobody), 422, "invalid-request")[
            "detail"
        ]
    )
    away = stack.call("amoreno", "POST", "/me/away", json={"text": "taking a break"})
    assert away.status_code == 200, away.text
    assert {"incident": incident, "step": "verify"} in away.json()["released"]
    view = stack.until(incident, lambda v: not any(s.get("claimed_by") for s in v["steps"]))
    released = [e for e in view["timeline"] if e["kind"] == "work.released"]
    assert released and released[-1]["detail"] == "released: taking a break"


def test_a_duplicate_start_is_refused_linked_or_attached(stack: Stack) -> None:
    ref = f"R-{secrets.token_hex(4)}"
    body = {"sop": "api-dup", "input": {"ref": ref, "count": 1}}
    first = stack.call("dokafor", "POST", "/incidents", json=body)
    assert first.status_code == 201, first.text
    open_id = first.json()["id"]
    stack.until(open_id, active("verify"))
    again = problem(stack.call("dokafor", "POST", "/incidents", json=body), 409, "refused")
    assert f"{open_id} is open about the same case" in again["detail"]
    linked = stack.call("dokafor", "POST", "/incidents", json=body | {"if_duplicate": "start"})
    assert linked.status_code == 201, linked.text
    assert linked.json()["linked"] == [open_id]
    attached = stack.call("amoreno", "POST", "/incidents", json=body | {"if_duplicate": "attach"})
    assert attached.status_code == 200, attached.text
    assert (attached.json()["id"], attached.json()["attached"]) == (open_id, True)
    # A retry with the same Idempotency-Key finds its own incident, not a duplicate.
    key = {"Idempotency-Key": secrets.token_hex(8)}
    fresh = {"sop": "api-dup", "input": {"ref": f"R-{secrets.token_hex(4)}", "count": 1}}
    made = stack.call("dokafor", "POST", "/incidents", json=fresh, headers=key)
    assert made.status_code == 201, made.text
    stack.until(made.json()["id"], active("verify"))
    retried = stack.call("dokafor", "POST", "/incidents", json=fresh, headers=key)
    assert retried.status_code in (200, 201) and retried.json()["id"] == made.json()["id"]
