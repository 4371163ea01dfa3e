"""The console end to end: the API stack of test_api_e2e.py (the real dev server, a worker,
uvicorn, real tokens and a Roster on disk) with the console included in its apps, driven
over HTTP by a minimal browser (tests/console_browser.py). No JavaScript, no real browser."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from html import unescape
from typing import Any

import httpx
import pytest

from sopflow.api.tokens import TokenStore
from sopflow.web import ConsoleSettings
from sopflow.web.pages import inbox as inbox_page
from sopflow.web.security import COOKIE, CSP
from tests.console_browser import Browser, Pairs, csrf_of, form_values, has_form, with_console
from tests.test_api_e2e import (  # noqa: F401 (stack is a fixture)
    DEADLINE_S,
    DRILL_INPUT,
    Stack,
    active,
    stack,
)

pytestmark = pytest.mark.e2e

VERIFY = "/steps/verify/complete"


@pytest.fixture(scope="module")
def console(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Stack:  # noqa: F811
    """The stack with the console: in ``main`` and the proxied apps as create_app will have
    it, in ``slow`` with the dev picker on (dev tokens written for its people)."""
    dev = tmp_path_factory.mktemp("dev-tokens")
    for who, token in stack.tokens.items():
        (dev / who).write_text(token + "\n", encoding="utf-8")
    for name in ("main", "proxied", "unproxied"):
        with_console(stack.apps[name], ConsoleSettings())
    with_console(stack.apps["slow"], ConsoleSettings(dev_picker=True, dev_tokens=dev))
    return stack


@pytest.fixture
def browsers(console: Stack) -> Iterator[dict[str, Browser]]:
    """A browser per person, each signed in with their own token on ``main``."""
    made: dict[str, Browser] = {}
    clients: list[httpx.Client] = []

    def browser(who: str, app: str = "main") -> Browser:
        http = httpx.Client(base_url=console.urls[app], timeout=60)
        clients.append(http)
        b = Browser(http, console.urls[app])
        if who:
            assert b.sign_in(console.tokens[who]).status_code == 303
        return b

    class Lazy(dict[str, Browser]):
        def __missing__(self, who: str) -> Browser:
            self[who] = browser(who)
            return self[who]

    made = Lazy()
    yield made
    for http in clients:
        http.close()


def incident_url(incident: str, rest: str = "") -> str:
    return f"/console/incidents/{incident}{rest}"


def timeline_kinds(on: Stack, incident: str) -> list[str]:
    view = on.call("amoreno", "GET", f"/incidents/{incident}").json()
    return [e["kind"] for e in view["timeline"]]


def refused(browser: Browser, answer: httpx.Response, anchor: str) -> httpx.Response:
    """A refused form's answer: a 303 to the incident's page at the form, whose GET shows
    the refusal (once)."""
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith(f"#{anchor}"), answer.headers["location"]
    return browser.get(answer.headers["location"])


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


# --- the inbox


def test_the_inbox_lists_what_tasks_for_gives(console: Stack, browsers: dict[str, Browser]) -> None:
    incident = console.start("dokafor")
    console.until(incident, active("verify"))
    inbox = browsers["amoreno"].get("/console/")
    assert inbox.status_code == 200
    api = console.call("amoreno", "GET", "/me/tasks").json()
    rows = re.findall(r'href="/console/incidents/([^"#]+)#form-(?:task|vote)-([^"]+)"', inbox.text)
    assert rows == [(t["incident"], t["step"]) for t in api]  # the same tasks, same order
    assert (incident, "verify") in rows and "Verify the report" in inbox.text
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+Z">', inbox.text)
    assert f"{len(api)} task" in inbox.text
    filtered = browsers["amoreno"].get("/console/?sop=api-drill&region=US")
    assert all(t == "api-drill" for t in re.findall(r"<td>([a-z-]+)@\d+</td>", filtered.text))
    none = browsers["amoreno"].get("/console/?sop=csea-report&severity=SEV0")
    assert "Nothing waiting on you with these filters" in none.text
    # A lead holds no responder role: the verify task is not in their inbox.
    lead = browsers["dokafor"].get("/console/")
    assert f"/console/incidents/{incident}#form-task-verify" not in lead.text


def test_a_long_inbox_shows_the_soonest_due_and_says_how_many(
    console: Stack, browsers: dict[str, Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):
        console.until(console.start("dokafor"), active("verify"))
    monkeypatch.setattr(inbox_page, "MAX_ROWS", 1)
    page = text_of(browsers["amoreno"].get("/console/").text)
    api = console.call("amoreno", "GET", "/me/tasks").json()
    assert len(api) >= 2
    assert f"{len(api)} tasks waiting on you" in page
    assert "Showing the 1 soonest due: filter by SOP, severity or region" in page
    html = browsers["amoreno"].get("/console/?sop=api-drill").text
    rows = re.findall(r'href="/console/incidents/([^"#]+)#', html)
    assert rows == [t["incident"] for t in api if t["sop"] == "api-drill"][:1]


# --- the incident page and its actions


def test_the_incident_page_shows_only_the_actions_allowed(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    incident = console.start("dokafor")
    console.until(incident, active("verify"))
    responder = browsers["amoreno"].get(incident_url(incident))
    assert responder.status_code == 200
    assert has_form(responder.text, incident_url(incident, VERIFY))
    assert not has_form(responder.text, incident_url(incident, "/cancel"))
    assert not has_form(responder.text, incident_url(incident, "/steps/signoff/vote"))
    assert has_form(responder.text, incident_url(incident, "/notes"))
    assert "Audit report" not in responder.text
    lead = browsers["dokafor"].get(incident_url(incident))
    assert has_form(lead.text, incident_url(incident, "/cancel"))
    assert not has_form(lead.text, incident_url(incident, VERIFY))
    assert 'href="/console/incidents/' + incident + '/audit"' in lead.text
    # The summary, the graph with step states, the steps.
    for said in ("api-drill@1", "US", "running", "Plan hash", "<svg", 'class="node step-active"'):
        assert said in lead.text, said
    assert "<style" not in lead.text and " style=" not in lead.text
    assert lead.headers["Content-Security-Policy"] == CSP
    assert lead.headers["Cache-Control"] == "no-store"
    assert lead.headers["X-Content-Type-Options"] == "nosniff"


def test_a_completed_form_moves_the_incident_and_a_bad_one_keeps_what_was_typed(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    incident = console.call(
        "dokafor",
        "POST",
        "/incidents",
        json={"sop": "api-assess", "region": "US", "input": DRILL_INPUT},
    ).json()["id"]
    console.until(incident, active("assess"))
    amoreno = browsers["amoreno"]
    page = amoreno.get(incident_url(incident))
    action = incident_url(incident, "/steps/assess/complete")
    name = {
        n: f"task-assess/{n}"
        for n in (
            "credible",
            "imminence",
            "location_known",
            "agency_with_jurisdiction",
            "rationale",
        )
    }
    # Nothing answered but the agency: every problem listed, what was typed kept.
    sent = amoreno.submit(page, action, **{name["agency_with_jurisdiction"]: "Metro PD"})
    bad = refused(amoreno, sent, "form-task-assess")
    assert bad.status_code == 422, bad.text
    assert 'value="Metro PD"' in bad.text and 'aria-invalid="true"' in bad.text
    said = text_of(bad.text)
    assert "problems with this form" in said and "Credible: is required" in said
    assert "task.completed" not in timeline_kinds(console, incident)
    # Answered (the enum radio by its option, the booleans both ways): completed.
    imminence = re.search(
        rf'name="{name["imminence"]}" value="(\d)"[^>]*>\s*<label[^>]*>Unclear', bad.text
    )
    assert imminence
    done = amoreno.submit(
        bad,
        action,
        **{
            name["credible"]: "false",
            name["location_known"]: "true",
            name["imminence"]: imminence.group(1),
            name["rationale"]: "no target named",
        },
    )
    assert done.status_code == 303, done.text
    after = amoreno.get(done.headers["location"])
    assert "task.completed" in after.text and 'role="status"' in after.text
    state = console.call("amoreno", "GET", f"/incidents/{incident}").json()
    assess = next(s for s in state["steps"] if s["id"] == "assess")
    assert assess["status"] == "done" and assess["output"] == {
        "credible": False,
        "imminence": "unclear",
        "location_known": True,
        "agency_with_jurisdiction": "Metro PD",
        "rationale": "no target named",
    }
    console.call("dokafor", "POST", f"/incidents/{incident}/cancel", json={"reason": "drill"})


def test_refusals_show_the_workflows_reason_beside_the_form(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    incident = console.start("dokafor")
    console.until(incident, active("verify"))
    # Wrong role: a lead sends the responder's form (as from a stale or forged page).
    lead = browsers["dokafor"]
    page = lead.get(incident_url(incident))
    csrf = csrf_of(page.text)
    sent = lead.post(incident_url(incident, VERIFY), [("csrf", csrf), ("task-verify/ok", "true")])
    wrong = refused(lead, sent, "form-task-verify")
    assert wrong.status_code == 403
    assert "does not hold role &#39;responder&#39;" in wrong.text
    # The responder completes it; the approval opens.
    done = browsers["amoreno"].submit(
        browsers["amoreno"].get(incident_url(incident)),
        incident_url(incident, VERIFY),
        **{"task-verify/ok": "true"},
    )
    assert done.status_code == 303
    console.until(incident, active("signoff"))
    vote = incident_url(incident, "/steps/signoff/vote")
    # Four eyes: the opener may not approve. The reason typed stays in the form.
    page = lead.get(incident_url(incident))
    sent = lead.post(
        vote, [*form_values(page.text, vote)[:2], ("reason", "mine"), ("decision", "approve")]
    )
    four_eyes = refused(lead, sent, "form-vote-signoff")
    assert four_eyes.status_code == 409
    assert "four eyes" in four_eyes.text and ">\nmine</textarea>" in four_eyes.text
    assert 'id="refusal-vote-signoff"' in four_eyes.text
    reload = lead.get(sent.headers["location"])  # once: a reload shows the page afresh
    assert reload.status_code == 200 and "four eyes" not in reload.text
    # A second vote from the same person (a stale page sent twice): refused, with why.
    slee = browsers["slee"]
    stale = slee.get(incident_url(incident))
    pairs = [*form_values(stale.text, vote), ("decision", "approve")]
    first = slee.post(vote, [(k, "ok" if k == "reason" else v) for k, v in pairs])
    assert first.status_code == 303
    sent = slee.post(
        vote, [(k, "ok" if k == "reason" else "new-key" if k == "key" else v) for k, v in pairs]
    )
    again = refused(slee, sent, "form-vote-signoff")
    assert again.status_code == 409 and "already voted" in again.text
    assert "You voted: approve" in again.text
    kinds = timeline_kinds(console, incident)
    assert kinds.count("vote.approve") == 1


def test_csrf_and_cross_site_posts_change_nothing(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    incident = console.start("dokafor")
    console.until(incident, active("verify"))
    amoreno = browsers["amoreno"]
    page = amoreno.get(incident_url(incident))
    notes = incident_url(incident, "/notes")
    good = [(k, "hello" if k == "text" else v) for k, v in form_values(page.text, notes)]
    before = timeline_kinds(console, incident)
    attempts: list[tuple[Pairs, dict[str, Any]]] = [
        ([p for p in good if p[0] != "csrf"], {}),
        ([(k, "x" * 43 if k == "csrf" else v) for k, v in good], {}),
        (good, {"same_site": False, "headers": {"Origin": "https://evil.example"}}),
        (good, {"same_site": False, "headers": {"Sec-Fetch-Site": "cross-site"}}),
    ]
    for pairs, kw in attempts:
        refused = amoreno.post(notes, pairs, **kw)
        assert refused.status_code == 403 and "nothing was done" in refused.text
        assert refused.headers["Content-Security-Policy"] == CSP
    assert timeline_kinds(console, incident) == before
    accepted = amoreno.post(notes, good)
    assert accepted.status_code == 303
    assert timeline_kinds(console, incident) == [*before, "note"]


def test_a_lead_cancels_and_reads_the_audit(console: Stack, browsers: dict[str, Browser]) -> None:
    incident = console.start("dokafor")
    console.until(incident, active("verify"))
    lead = browsers["dokafor"]
    page = lead.get(incident_url(incident))
    sent = lead.submit(page, incident_url(incident, "/cancel"), reason="   ")
    blank = refused(lead, sent, "form-cancel")
    assert blank.status_code == 422 and "write something here" in blank.text
    cancelled = lead.submit(blank, incident_url(incident, "/cancel"), reason="drill <b>over</b>")
    assert cancelled.status_code == 303
    console.until(incident, lambda v: v["summary"]["status"] == "cancelled")
    closed = lead.get(incident_url(incident))
    assert not has_form(closed.text, incident_url(incident, "/cancel"))
    assert "drill &lt;b&gt;over&lt;/b&gt;" in closed.text
    audit = lead.get(incident_url(incident, "/audit"))
    assert audit.status_code == 200 and f"Audit report: {incident}" in audit.text
    assert "<b>over</b>" not in audit.text and '<th scope="row">' in audit.text
    export = lead.get(incident_url(incident, "/audit/export"))
    assert export.status_code == 200 and export.json()["workflow_id"] == incident
    assert "attachment" in export.headers["Content-Disposition"]
    assert browsers["amoreno"].get(incident_url(incident, "/audit")).status_code == 403


def test_start_an_incident_from_its_input_form(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    amoreno = browsers["amoreno"]
    page = amoreno.get("/console/start?plan=api-drill@1:US")
    assert page.status_code == 200
    sent = amoreno.submit(page, "/console/start#input", **{"input/ref": "R-9", "input/count": "-1"})
    assert sent.status_code == 303 and sent.headers["location"].endswith("#input")
    bad = amoreno.get(sent.headers["location"])
    assert bad.status_code == 422
    assert 'value="R-9"' in bad.text and 'value="-1"' in bad.text
    assert "-1 is less than the minimum of 0" in bad.text
    started = amoreno.submit(
        bad, "/console/start#input", **{"input/count": "3", "input/tags": "a\nb"}
    )
    assert started.status_code == 303
    incident = started.headers["location"].rsplit("/", 1)[-1]
    shown = amoreno.get(started.headers["location"])
    assert shown.status_code == 200 and "Opened " + incident in shown.text
    view = console.call("amoreno", "GET", f"/incidents/{incident}").json()
    assert view["opened_by"] == "amoreno"
    console.call("dokafor", "POST", f"/incidents/{incident}/cancel", json={"reason": "drill"})


def test_unknown_incident_is_a_404_page(browsers: dict[str, Browser]) -> None:
    missing = browsers["amoreno"].get("/console/incidents/inc-nope")
    assert missing.status_code == 404 and "no incident" in missing.text


# --- who is signed in


def test_removing_a_person_from_the_roster_ends_their_session(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    legal = browsers["rhalvorsen"]
    assert legal.get("/console/sops").status_code == 200
    roster = console.library / "roster.yaml"
    original = roster.read_text(encoding="utf-8")
    start, end = original.index("  rhalvorsen:"), original.index("  kowusu:")
    try:
        roster.write_text(original[:start] + original[end:], encoding="utf-8")
        ended = legal.get("/console/sops")
        assert ended.status_code == 303 and "why=removed" in ended.headers["location"]
        assert browsers["amoreno"].get("/console/sops").status_code == 200
    finally:
        roster.write_text(original, encoding="utf-8")
    assert legal.get("/console/sops").status_code == 303  # the session is over for good


def test_revoking_the_token_ends_the_session(console: Stack, browsers: dict[str, Browser]) -> None:
    token, record = TokenStore(console.store.path).issue("jnguyen")
    browser = browsers[""]
    browser.sign_in(token)
    assert browser.get("/console/sops").status_code == 200
    TokenStore(console.store.path).revoke(record.id)
    ended = browser.get("/console/sops")
    assert ended.status_code == 303 and "why=ended" in ended.headers["location"]


def test_the_trusted_header_signs_in_only_from_a_listed_proxy(console: Stack) -> None:
    named = {"X-Forwarded-User": "amoreno"}
    with httpx.Client(base_url=console.urls["proxied"], timeout=60) as http:
        page = Browser(http, console.urls["proxied"], headers=named).get("/console/sops")
        assert page.status_code == 200 and "Alice Moreno" in page.text
    with httpx.Client(base_url=console.urls["unproxied"], timeout=60) as http:
        assert (
            Browser(http, console.urls["unproxied"], headers=named).get("/console/sops").status_code
            == 303
        )


def test_the_dev_picker_signs_in_with_a_dev_token(console: Stack) -> None:
    with httpx.Client(base_url=console.urls["slow"], timeout=60) as http:
        dev = Browser(http, console.urls["slow"])
        page = dev.get("/console/signin")
        assert "Dev only" in page.text and "Sign in as slee" in page.text
        signed = dev.submit(page, "/console/signin/dev", handle="slee")
        assert signed.status_code == 303
        assert "Samuel Lee" in dev.get("/console/sops").text
    with httpx.Client(base_url=console.urls["main"], timeout=60) as http:
        plain = Browser(http, console.urls["main"]).get("/console/signin")
        assert "Dev only" not in plain.text and "/signin/dev" not in plain.text


# --- live updates: the event stream


class Stream:
    """One tab's ``GET /console/events``, read in a thread: each event with when it came."""

    def __init__(self, console: Stack, browser: Browser) -> None:
        self.http = httpx.Client(base_url=console.urls["main"], timeout=httpx.Timeout(60))
        self.cookie = browser.cookie
        self.events: queue.Queue[tuple[str, str, float]] = queue.Queue()
        self.opened = threading.Event()
        self.status: int | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.opened.wait(DEADLINE_S), "the stream never opened"

    def _read(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # closed by the test
            self._events()
        self.events.put(("closed", "", time.monotonic()))

    def _events(self) -> None:
        headers = {"Cookie": f"{COOKIE}={self.cookie}", "Accept": "text/event-stream"}
        with self.http.stream("GET", "/console/events", headers=headers) as answer:
            self.status = answer.status_code
            self.type = answer.headers.get("content-type", "")
            self.opened.set()
            kind = ""
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.events.put((kind, line.removeprefix("data: "), time.monotonic()))
                elif line.startswith("retry: "):
                    self.events.put(("retry", line.removeprefix("retry: "), time.monotonic()))

    def until(self, kind: str, incident: str | None = None) -> tuple[list[str], float]:
        """Every incident heard until a ``kind`` event (about ``incident``); when it came."""
        heard: list[str] = []
        stop = time.monotonic() + DEADLINE_S
        while True:
            try:
                got, data, at = self.events.get(timeout=max(0.0, stop - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind} {incident} in time; heard {heard}") from None
            about = json.loads(data).get("incident") if got == "changed" else None
            if about:
                heard.append(about)
            if got == kind and (incident is None or about == incident):
                return heard, at

    def close(self) -> None:
        self.http.close()


def test_live_events_follow_others_actions_and_never_name_a_hidden_incident(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    # 401 without a session: no stream.
    assert httpx.get(console.urls["main"] + "/console/events").status_code == 401
    drill = console.start("dokafor")
    console.until(drill, active("verify"))
    # rhalvorsen (legal) may not see api-secret incidents; slee (a lead) may.
    outsider, lead = Stream(console, browsers["rhalvorsen"]), Stream(console, browsers["slee"])
    try:
        assert (outsider.status, lead.status) == (200, 200)
        assert outsider.type.startswith("text/event-stream")
        assert outsider.until("retry")[0] == [] and lead.until("retry")[0] == []
        secret = console.start("dokafor", sop="api-secret", input={})
        lead.until("changed", secret)  # the lead hears of it (the hub's poll saw it open)
        # Another person's action through the API: both hear of it, promptly.
        done = console.call(
            "slee",
            "POST",
            f"/incidents/{drill}/steps/verify/complete",
            json={"data": {"ok": True}},
            headers={"Idempotency-Key": "live-verify-1"},
        )
        sent = time.monotonic()
        assert done.status_code == 200, done.text
        heard, at = outsider.until("changed", drill)
        print(f"action to event on another person's stream: {at - sent:.2f} s")
        assert at - sent < 2.0
        assert secret not in heard  # need-to-know: not a word about it
        lead.until("changed", drill)
        # Signing out ends the stream.
        sign_out(browsers["slee"])
        lead.until("signedout")
        lead.until("closed")
        sign_out(browsers["rhalvorsen"])
        outsider.until("closed")
    finally:
        outsider.close()
        lead.close()


def test_a_note_through_the_api_reaches_open_pages_at_once(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    """A note changes nothing visibility shows, so the hub's poll never sees it: the API
    process announces every accepted action to the console's hub itself."""
    drill = console.start("dokafor")
    console.until(drill, active("verify"))
    deadline = time.monotonic() + DEADLINE_S
    while drill not in {t["incident"] for t in console.call("amoreno", "GET", "/me/tasks").json()}:
        assert time.monotonic() < deadline, "visibility never listed the incident"
        time.sleep(0.05)
    watcher = Stream(console, browsers["rhalvorsen"])
    try:
        watcher.until("retry")
        noted = console.call(
            "amoreno",
            "POST",
            f"/incidents/{drill}/notes",
            json={"text": "called the requester back"},
            headers={"Idempotency-Key": "live-note-1"},
        )
        sent = time.monotonic()
        assert noted.status_code == 200, noted.text
        _heard, at = watcher.until("changed", drill)
        assert at - sent < 2.0
    finally:
        watcher.close()


def sign_out(browser: Browser) -> None:
    """End the session (and with it, within 2 s, its streams)."""
    browser.post("/console/signout", [("csrf", csrf_of(browser.get("/console/sops").text))])


def test_a_revoked_token_ends_the_live_stream_at_the_next_heartbeat(
    console: Stack, browsers: dict[str, Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sopflow.web.pages import events

    monkeypatch.setattr(events, "HEARTBEAT_S", 0.5)  # the stack runs in this process
    token, record = TokenStore(console.store.path).issue("jnguyen")
    browser = browsers[""]
    browser.sign_in(token)
    stream = Stream(console, browser)
    try:
        stream.until("retry")
        TokenStore(console.store.path).revoke(record.id)
        stream.until("signedout")
        stream.until("closed")
    finally:
        stream.close()
    ended = browser.get("/console/sops")  # the session ended with it
    assert ended.status_code == 303 and "why=" in ended.headers["location"]
