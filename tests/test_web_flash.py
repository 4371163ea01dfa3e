"""Post/Redirect/Get for the console's refused forms, without Temporal: an incident service
that keeps its incidents in memory stands in for the workflow, so every refusal the workflow
can give (four eyes, a wrong role) and every action sent is counted.

A refused or invalid form answers 303 to its page's GET address, at the form; that GET
shows, once, the reason beside the form and what was typed; a reload shows the page afresh
and sends nothing. Refused forms wait in the session by incident, and show only on that
incident's page, to someone who may see it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from sopflow.api.app import create_app
from sopflow.api.settings import ApiSettings
from sopflow.client.errors import ActionRefused, Refusal
from sopflow.client.incidents import IncidentService
from sopflow.client.views import IncidentSummary, IncidentView
from sopflow.compile.lint import lint_library
from sopflow.contract.messages import (
    ActionResult,
    CompleteTask,
    IncidentState,
    StepState,
    TimelineEntry,
    Vote,
)
from sopflow.contract.plan import Plan
from sopflow.web import ConsoleSettings
from sopflow.web.sessions import MAX_FLASH_CHARS, MAX_FORM_FLASHES, TOO_BIG, FormFlash, Session
from tests.conftest import SHIPPED
from tests.console_browser import Browser, csrf_of, form_values, in_process, with_console
from tests.test_web_unit import ORIGIN, Tokens

pytestmark = pytest.mark.unit

SOP = ("emergency-disclosure", 1, "US")  # verify (responder), then approve (legal or lead)
OPENED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
VERIFY = "/console/incidents/inc-task/steps/verify/complete"
VOTE = "/console/incidents/inc-vote/steps/approve/vote"


@dataclass
class Incidents:
    """An incident service in memory: ``inc-task`` waits on verify, ``inc-vote`` on the
    approval (opened by dokafor, so four eyes refuses his vote), ``inc-secret`` is for legal
    only. An action applies once per request id, as a Workflow Update id does."""

    sop: Plan
    states: dict[str, IncidentState] = field(default_factory=dict)
    audiences: dict[str, list[str] | None] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)  # the request id of every action sent
    applied: dict[str, ActionResult] = field(default_factory=dict)

    @classmethod
    def made(cls) -> Incidents:
        made = cls(lint_library(SHIPPED).plans[SOP])
        made.add("inc-task", "verify")
        made.add("inc-vote", "approve")
        made.add("inc-secret", "verify", audience=["legal"])
        return made

    def add(self, incident_id: str, active: str, audience: list[str] | None = None) -> None:
        steps = {}
        for step in self.sop.steps_by_id().values():
            done = step.id == "verify" and active != "verify"
            status = "done" if done else "active" if step.id == active else "pending"
            steps[step.id] = StepState(id=step.id, type=step.type, status=status)
        self.states[incident_id] = IncidentState(
            incident_id=incident_id,
            sop=SOP[0],
            version=SOP[1],
            region=SOP[2],
            plan_hash=self.sop.plan_hash,
            opened_by="dokafor",
            opened_at=OPENED,
            steps=steps,
            timeline=[TimelineEntry(at=OPENED, actor="dokafor", kind="incident.opened")],
        )
        self.audiences[incident_id] = audience

    def timeline(self, incident_id: str) -> list[str]:
        return [e.kind for e in self.states[incident_id].timeline]

    # --- what the API's routes ask of an incident service

    async def restricted_to(self, incident_id: str) -> list[str] | None:
        if incident_id not in self.states:
            raise ActionRefused(f"no incident {incident_id!r}", Refusal.NOT_FOUND)
        return self.audiences[incident_id]

    async def plan(
        self, incident_id: str, run_id: str | None = None, *, plan_hash: str | None = None
    ) -> Plan:
        return self.sop

    async def view(self, incident_id: str) -> IncidentView:
        state = self.states[incident_id]
        summary = IncidentSummary(
            id=incident_id,
            sop=state.sop,
            version=state.version,
            region=state.region,
            severity=None,
            status=state.status,
            outcome=None,
            started_at=OPENED,
            active_steps=tuple(s.id for s in state.steps.values() if s.status == "active"),
            pending_roles=(),
            sla_breached=False,
        )
        return IncidentView(summary, state)

    async def act(self, incident_id: str, action: Any, *, request_id: str | None = None) -> Any:
        assert request_id is not None
        self.sent.append(request_id)
        if request_id in self.applied:  # a retry: the first answer again, nothing new
            return self.applied[request_id]
        actor = action.actor.id
        if isinstance(action, Vote) and actor == self.states[incident_id].opened_by:
            raise ActionRefused("four eyes: the opener may not approve", Refusal.REFUSED)
        if isinstance(action, CompleteTask) and "responder" not in action.actor.roles:
            raise ActionRefused(f"{actor} does not hold role 'responder'", Refusal.FORBIDDEN)
        entry = TimelineEntry(at=OPENED, actor=actor, kind=type(action).__name__.lower())
        self.states[incident_id].timeline.append(entry)
        self.applied[request_id] = ActionResult(detail="recorded")
        return self.applied[request_id]


@pytest.fixture
def incidents() -> Incidents:
    return Incidents.made()


@pytest.fixture
def people(incidents: Incidents) -> Iterator[dict[str, Browser]]:
    """A browser per person, each signed in with their token, on the API with the console
    whose incident service is the one in memory."""
    service = cast(IncidentService, incidents)
    app = create_app(ApiSettings(definitions=SHIPPED), tokens=Tokens(), service=service)
    with in_process(with_console(app, ConsoleSettings()), ORIGIN) as http:
        made: dict[str, Browser] = {}
        for who in ("amoreno", "dokafor", "rhalvorsen"):
            made[who] = Browser(http, ORIGIN)
            assert made[who].sign_in(f"sft_{who}").status_code == 303
        yield made


def incident(incident_id: str, rest: str = "") -> str:
    return f"/console/incidents/{incident_id}{rest}"


def typed(html: str, text: str) -> bool:
    """Whether a textarea holds ``text`` (the templates start its content on a new line)."""
    return f">\n{text}</textarea>" in html


# --- the incident page's forms


def test_an_invalid_task_form_redirects_to_it_and_shows_its_errors_once(
    people: dict[str, Browser], incidents: Incidents
) -> None:
    amoreno = people["amoreno"]
    page = amoreno.get(incident("inc-task"))
    assert page.status_code == 200
    # Only the notes typed, both required answers missing: the workflow's own form check
    # says so before anything is sent.
    bad = amoreno.submit(page, VERIFY, **{"task-verify/notes": "typed by hand"})
    assert bad.status_code == 303, bad.text
    assert bad.headers["location"] == "/console/incidents/inc-task#form-task-verify"
    assert incidents.sent == []
    shown = amoreno.get(bad.headers["location"])
    assert shown.status_code == 422
    assert 'id="form-task-verify"' in shown.text and "problems with this form" in shown.text
    assert 'aria-invalid="true"' in shown.text and "is required" in shown.text
    assert 'value="typed by hand"' in shown.text
    again = amoreno.get(bad.headers["location"])  # a reload: the page afresh
    assert again.status_code == 200
    assert "typed by hand" not in again.text and 'aria-invalid="true"' not in again.text
    assert "error-summary" not in again.text
    # The form shown with its errors, answered, completes the task.
    done = amoreno.submit(
        shown, VERIFY, **{"task-verify/authentic": "true", "task-verify/complete": "true"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("#timeline")
    assert incidents.timeline("inc-task")[-1] == "completetask"


def test_a_refused_vote_shows_the_reason_once_and_a_reload_sends_nothing(
    people: dict[str, Browser], incidents: Incidents
) -> None:
    lead = people["dokafor"]
    page = lead.get(incident("inc-vote"))
    pairs = [*form_values(page.text, VOTE), ("decision", "approve")]
    sent = [(k, "it looks right" if k == "reason" else v) for k, v in pairs]
    refused = lead.post(VOTE, sent)
    assert refused.status_code == 303
    assert refused.headers["location"] == "/console/incidents/inc-vote#form-vote-approve"
    assert len(incidents.sent) == 1 and incidents.timeline("inc-vote") == ["incident.opened"]
    shown = lead.get(refused.headers["location"])
    assert shown.status_code == 409
    reason = re.search(r'id="refusal-vote-approve">(.*?)</p>', shown.text, re.S)
    assert reason and "four eyes" in reason.group(1)
    assert typed(shown.text, "it looks right")
    # The form shown again has a new Idempotency-Key, not the refused one.
    keys = [v for k, v in form_values(shown.text, VOTE) if k == "key"]
    assert keys and keys != [v for k, v in sent if k == "key"]
    for _ in range(2):  # reloads: the page afresh, and the vote is never sent again
        reload = lead.get(refused.headers["location"])
        assert reload.status_code == 200
        assert "four eyes" not in reload.text and "it looks right" not in reload.text
    assert len(incidents.sent) == 1 and incidents.timeline("inc-vote") == ["incident.opened"]


def test_a_refusal_about_a_form_no_longer_shown_is_at_that_forms_anchor(
    people: dict[str, Browser],
) -> None:
    # Legal counsel sends the responder's form (as from a stale or forged page): the workflow
    # refuses the role, and the page, without that form for them, says why at its anchor.
    legal = people["rhalvorsen"]
    page = legal.get(incident("inc-task"))
    assert 'id="form-task-verify"' not in page.text
    pairs = [("csrf", csrf_of(page.text)), ("task-verify/authentic", "true")]
    refused = legal.post(VERIFY, [*pairs, ("task-verify/complete", "true")])
    assert refused.headers["location"] == "/console/incidents/inc-task#form-task-verify"
    shown = legal.get(refused.headers["location"])
    assert shown.status_code == 403
    orphan = re.search(
        r'<div id="form-task-verify">\s*<p class="refusal"[^>]*>(.*?)</p>', shown.text
    )
    assert orphan and "does not hold role &#39;responder&#39;" in orphan.group(1)
    assert "does not hold role" not in legal.get(incident("inc-task")).text


def test_a_refused_form_shows_only_on_its_own_incidents_page(
    people: dict[str, Browser], incidents: Incidents
) -> None:
    amoreno = people["amoreno"]
    page = amoreno.get(incident("inc-task"))
    blank = amoreno.submit(page, incident("inc-task", "/notes"), text="   ")
    assert blank.headers["location"] == "/console/incidents/inc-task#form-note"
    other = amoreno.get(incident("inc-vote"))  # another incident: not a word of it
    assert other.status_code == 200 and "write something here" not in other.text
    # A live update's fetch (live.js) of the page leaves it for the person's own load.
    live = amoreno.get(incident("inc-task"), headers={"X-Sopflow-Live": "1"})
    assert live.status_code == 200 and "write something here" not in live.text
    shown = amoreno.get(incident("inc-task"))
    assert shown.status_code == 422 and "write something here" in shown.text
    assert 'id="note-text-error"' in shown.text
    # Another person's session holds none of it.
    assert "write something here" not in people["dokafor"].get(incident("inc-task")).text
    assert incidents.sent == []


def test_a_hidden_incident_answers_as_an_unknown_one_and_shows_nothing_typed(
    people: dict[str, Browser], incidents: Incidents
) -> None:
    amoreno = people["amoreno"]  # not legal: may not see inc-secret
    csrf = ("csrf", csrf_of(amoreno.get(incident("inc-task")).text))
    answers = {}
    for incident_id in ("inc-secret", "inc-nope"):
        sent = amoreno.post(incident(incident_id, "/notes"), [csrf, ("text", "secret words")])
        assert sent.status_code == 303
        assert sent.headers["location"] == f"/console/incidents/{incident_id}#form-note"
        shown = amoreno.get(sent.headers["location"])
        assert shown.status_code == 404 and "secret words" not in shown.text
        # The same page but for the id and the request's own id.
        answers[incident_id] = re.sub(r"<code>[0-9a-f]{32}</code>", "", shown.text).replace(
            incident_id, "ID"
        )
    assert answers["inc-secret"] == answers["inc-nope"]  # not a word says that it exists
    assert incidents.timeline("inc-secret") == ["incident.opened"]


def test_a_genuine_retry_applies_once_and_a_forged_form_keeps_nothing(
    people: dict[str, Browser], incidents: Incidents
) -> None:
    amoreno = people["amoreno"]
    page = amoreno.get(incident("inc-task"))
    notes = incident("inc-task", "/notes")
    pairs = [(k, "hello" if k == "text" else v) for k, v in form_values(page.text, notes)]
    forged = amoreno.post(notes, [(k, "x" * 43 if k == "csrf" else v) for k, v in pairs])
    assert forged.status_code == 403 and "nothing was done" in forged.text
    assert not typed(amoreno.get(incident("inc-task")).text, "hello")  # nothing kept of it
    # The same form sent twice (a network retry): one note, the same answer both times.
    first, second = amoreno.post(notes, pairs), amoreno.post(notes, pairs)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(incidents.sent) == 2 and len(set(incidents.sent)) == 1
    assert incidents.timeline("inc-task").count("note") == 1


# --- the start form


def test_a_refused_start_form_redirects_to_itself_and_shows_its_problems_once(
    people: dict[str, Browser],
) -> None:
    amoreno = people["amoreno"]
    page = amoreno.get("/console/start?plan=threat-to-life@2:US")
    bad = amoreno.submit(page, "/console/start#input", **{"input__content_ids": "c-1"})
    assert bad.status_code == 303
    where = "/console/start?plan=threat-to-life%402%3AUS#input"
    assert bad.headers["location"] == where
    shown = amoreno.get(where)
    assert shown.status_code == 422 and "There are" in shown.text
    assert "&#39;detected_by&#39; is a required property" in shown.text
    assert typed(shown.text, "c-1") and 'aria-invalid="true"' in shown.text
    again = amoreno.get(where)
    assert again.status_code == 200 and "There are" not in again.text
    assert not typed(again.text, "c-1")
    # Kept for the plan it was typed for: another plan's form never shows it.
    amoreno.submit(page, "/console/start#input", **{"input__content_ids": "c-2"})
    other = amoreno.get("/console/start?plan=threat-to-life@2:UK")
    assert other.status_code == 200 and "c-2" not in other.text and "There are" not in other.text


# --- what a session keeps


def test_a_session_keeps_a_few_small_refused_forms_without_secrets() -> None:
    session = Session(csrf="c", created=0.0, seen=0.0)
    raw = {"csrf": ["c"], "key": ["k"], "text": ["hello"]}
    for n in range(MAX_FORM_FLASHES + 2):
        session.keep_form(f"incident:inc-{n}", FormFlash("note", 422, None, raw))
    assert list(session.forms) == [f"incident:inc-{n}" for n in range(2, MAX_FORM_FLASHES + 2)]
    session.keep_form("incident:inc-2", FormFlash("cancel", 409, "closed"))  # now the newest
    assert list(session.forms)[-1] == "incident:inc-2"
    kept = session.take_form("incident:inc-3")
    assert kept is not None and dict(kept.raw) == {"text": ["hello"]}  # no CSRF token, no key
    assert session.take_form("incident:inc-3") is None  # once
    huge = FormFlash("note", 409, "refused", {"text": ["x" * MAX_FLASH_CHARS]})
    session.keep_form("incident:big", huge)
    big = session.take_form("incident:big")
    assert big is not None and not big.raw and big.message == f"refused {TOO_BIG}"
