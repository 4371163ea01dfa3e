"""Who works on what, in the console: taking, releasing and assigning a task or approval on
its incident's page, stepping away from the inbox, and the inbox's count of graphic-content
steps this shift (and a lead's desk table). The real stack of test_web_e2e.py (the dev
server, a worker, uvicorn, real tokens and the Roster on disk), driven over HTTP by the
minimal browser; every wait is on a condition, with a deadline."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from tests.console_browser import Browser, csrf_of, has_form
from tests.test_api_e2e import DEADLINE_S, Stack, active, stack
from tests.test_web_e2e import VERIFY, browsers, console, incident_url, refused, text_of

pytestmark = pytest.mark.e2e
__all__ = ["browsers", "console", "stack"]  # fixtures, shared with tests/test_web_e2e.py

T = TypeVar("T")
SHIFT_LINE = re.compile(r"This shift: (\d+) graphic-content steps? since\s+\d\d:\d\d UTC")


def eventually(read: Callable[[], T], ready: Callable[[T], bool], what: str) -> T:
    """``read()`` again until ``ready`` holds, or fail at the deadline."""
    stop = time.monotonic() + DEADLINE_S
    while True:
        value = read()
        if ready(value):
            return value
        if time.monotonic() > stop:
            raise AssertionError(f"{what}: not reached before the deadline")
        time.sleep(0.05)


def claimed_by(view: dict[str, Any], step: str = "verify") -> str | None:
    return next((s.get("claimed_by") for s in view["steps"] if s["id"] == step), None)


def holder(who: str | None) -> Callable[[dict[str, Any]], bool]:
    return lambda view: claimed_by(view) == who


def claim_url(incident: str, kind: str, step: str = "verify") -> str:
    return incident_url(incident, f"/steps/{step}/{kind}")


def claim_block(html: str, step: str = "verify") -> str:
    """The text of the step's "Who has it" part of the page ("" when there is none)."""
    _, found, rest = html.partition(f'id="form-claim-{step}"')
    return text_of(re.split(r'<div class="action|</section>', rest)[0]) if found else ""


def fresh(console: Stack, who: str) -> str:
    """A new drill incident, its verify task active; ``who`` holds nothing beforehand (an
    earlier test's claims go back first)."""
    away = console.call(who, "POST", "/me/away", json={"text": "a clean start"})
    assert away.status_code == 200, away.text
    incident = console.start("dokafor")
    console.until(incident, active("verify"))
    return incident


def accepted(browser: Browser, answer: httpx.Response, anchor: str) -> httpx.Response:
    """An accepted claim's answer: a 303 to the step's part of the page, which says so."""
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith(f"#{anchor}"), answer.headers["location"]
    page = browser.get(answer.headers["location"])
    assert page.status_code == 200, page.text
    return page


# --- the incident page


def test_take_then_release_with_a_note(console: Stack, browsers: dict[str, Browser]) -> None:
    incident = fresh(console, "amoreno")
    amoreno = browsers["amoreno"]
    page = amoreno.get(incident_url(incident))
    assert "In the desk's queue" in claim_block(page.text)
    assert "in the desk's queue" in text_of(page.text)  # the steps table
    assert has_form(page.text, claim_url(incident, "take"))
    assert not has_form(page.text, claim_url(incident, "release"))
    assert not has_form(page.text, claim_url(incident, "assign"))  # not a lead

    taken = accepted(
        amoreno, amoreno.submit(page, claim_url(incident, "take")), "form-claim-verify"
    )
    assert "You have verify now" in text_of(taken.text)
    assert "With you (amoreno)" in claim_block(taken.text)
    assert not has_form(taken.text, claim_url(incident, "take"))
    assert has_form(taken.text, claim_url(incident, "release"))
    view = console.until(incident, holder("amoreno"))
    [entry] = [e for e in view["timeline"] if e["kind"] == "work.claimed"]
    assert entry["actor"] == "amoreno" and entry["detail"] == "claimed: on it"
    # Someone else who may act on it sees whose it is, and no Take it.
    slee = browsers["slee"].get(incident_url(incident))
    assert "With amoreno" in claim_block(slee.text)
    assert "with amoreno" in text_of(slee.text)
    assert not has_form(slee.text, claim_url(incident, "take"))

    # Releasing needs a note: refused beside the form, nothing sent.
    sent = amoreno.submit(taken, claim_url(incident, "release"), text="")
    blank = refused(amoreno, sent, "form-claim-verify")
    assert blank.status_code == 422, blank.text
    assert 'id="release-text-verify-error"' in blank.text and 'aria-invalid="true"' in blank.text
    assert claimed_by(console.until(incident, lambda v: True)) == "amoreno"
    sent = amoreno.submit(blank, claim_url(incident, "release"), text="checked half; see notes")
    back = accepted(amoreno, sent, "form-claim-verify")
    assert "verify is back in the desk's queue" in text_of(back.text)
    assert has_form(back.text, claim_url(incident, "take"))
    view = console.until(incident, holder(None))
    released = [e for e in view["timeline"] if e["kind"] == "work.released"]
    assert released[-1]["detail"] == "released: checked half; see notes"
    # A claim is advisory: the task's own form is there all along.
    assert has_form(back.text, incident_url(incident, VERIFY))


def test_a_lead_assigns_and_releases_anyones(console: Stack, browsers: dict[str, Browser]) -> None:
    incident = fresh(console, "slee")
    lead = browsers["dokafor"]
    page = lead.get(incident_url(incident))
    assert not has_form(page.text, claim_url(incident, "take"))  # holds no responder role
    assert has_form(page.text, claim_url(incident, "assign"))
    # The desk's people who hold the step's role: US responders, not the UK's.
    options = re.findall(r'<option value="([a-z]+)"', page.text.split('id="assignee-verify"')[1])
    assert "amoreno" in options and "slee" in options
    assert "tbrennan" not in options and "dokafor" not in options

    # Nobody chosen: refused beside the control, what was typed kept.
    sent = lead.submit(page, claim_url(incident, "assign"), text="rotating", assignee="")
    bad = refused(lead, sent, "form-claim-verify")
    assert bad.status_code == 422, bad.text
    assert "choose who takes it" in text_of(bad.text) and "rotating" in bad.text
    assert claimed_by(console.until(incident, lambda v: True)) is None

    sent = lead.submit(bad, claim_url(incident, "assign"), text="rotating", assignee="slee")
    done = accepted(lead, sent, "form-claim-verify")
    assert "verify is with slee now" in text_of(done.text)
    assert "With slee" in claim_block(done.text)
    view = console.until(incident, holder("slee"))
    [entry] = [e for e in view["timeline"] if e["kind"] == "work.assigned"]
    assert entry["actor"] == "dokafor" and entry["detail"] == "assigned to slee: rotating"
    # A responder sees whose it is and has no control over it.
    amoreno = browsers["amoreno"].get(incident_url(incident))
    assert "with slee" in text_of(amoreno.text)
    assert not has_form(amoreno.text, claim_url(incident, "take"))
    assert not has_form(amoreno.text, claim_url(incident, "release"))
    # The lead releases it from slee.
    assert has_form(done.text, claim_url(incident, "release"))
    sent = lead.submit(done, claim_url(incident, "release"), text="slee is needed elsewhere")
    accepted(lead, sent, "form-claim-verify")
    console.until(incident, holder(None))


def test_a_non_lead_has_no_assign_control_and_a_forged_one_is_refused(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    incident = fresh(console, "amoreno")
    amoreno = browsers["amoreno"]
    page = amoreno.get(incident_url(incident))
    assert not has_form(page.text, claim_url(incident, "assign"))
    assert 'id="assignee-verify"' not in page.text
    forged = [
        ("csrf", csrf_of(page.text)),
        ("assignee", "slee"),
        ("text", "you take it"),
    ]
    sent = amoreno.post(claim_url(incident, "assign"), forged)
    shown = refused(amoreno, sent, "form-claim-verify")
    assert shown.status_code == 403, shown.text
    said = text_of(shown.text)
    assert "Refused:" in said and "only the 'lead' role assigns work" in said
    view = console.until(incident, lambda v: True)
    assert claimed_by(view) is None
    assert "work.assigned" not in [e["kind"] for e in view["timeline"]]
    # Through the API, the same refusal as a problem.
    body = {"text": "x", "step": "verify", "claim": "assign", "assignee": "slee"}
    api = console.call("amoreno", "POST", f"/incidents/{incident}/notes", json=body)
    assert api.status_code == 403 and api.json()["type"] == "/problems/forbidden"


# --- the inbox


def test_step_away_releases_everything_and_says_how_many(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    first = fresh(console, "amoreno")
    second = console.start("dokafor")
    console.until(second, active("verify"))
    amoreno = browsers["amoreno"]
    for incident in (first, second):
        page = amoreno.get(incident_url(incident))
        accepted(amoreno, amoreno.submit(page, claim_url(incident, "take")), "form-claim-verify")
        console.until(incident, holder("amoreno"))
    # Stepping away finds the person's work through visibility: wait until it lists both.
    eventually(
        lambda: {t["incident"] for t in console.call("amoreno", "GET", "/me/tasks").json()},
        lambda listed: {first, second} <= listed,
        "both incidents in amoreno's tasks",
    )
    inbox = amoreno.get("/console/")
    assert has_form(inbox.text, "/console/away")
    # A note is required: refused beside the form, nothing released.
    sent = amoreno.submit(inbox, "/console/away", text="  ")
    assert sent.status_code == 303 and sent.headers["location"].endswith("#form-away")
    blank = amoreno.get(sent.headers["location"])
    assert blank.status_code == 422
    assert 'id="away-text-error"' in blank.text and "write something here" in text_of(blank.text)
    assert claimed_by(console.until(first, lambda v: True)) == "amoreno"

    sent = amoreno.submit(blank, "/console/away", text="end of my shift")
    assert sent.status_code == 303 and sent.headers["location"] == "/console/"
    flashed = amoreno.get("/console/")
    assert "2 tasks went back to their desks' queues." in text_of(flashed.text)
    for incident in (first, second):
        view = console.until(incident, holder(None))
        released = [e for e in view["timeline"] if e["kind"] == "work.released"]
        assert released[-1]["detail"] == "released: end of my shift"
    # The flash shows once; stepping away again gives nothing back.
    assert "went back" not in text_of(amoreno.get("/console/").text)
    again = amoreno.submit(flashed, "/console/away", text="still away")
    assert "You had taken nothing" in text_of(amoreno.get(again.headers["location"]).text)


def test_the_shift_line_appears_after_a_graphic_step(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    # Someone who never did a graphic step sees no line.
    assert "This shift:" not in browsers["rhalvorsen"].get("/console/").text
    before = SHIFT_LINE.search(text_of(browsers["amoreno"].get("/console/").text))
    count = int(before.group(1)) if before else 0
    incident = console.start("dokafor", sop="api-graphic")
    console.until(incident, active("verify"))
    amoreno = browsers["amoreno"]
    page = amoreno.get(incident_url(incident))
    done = amoreno.submit(page, incident_url(incident, VERIFY), **{"task-verify/ok": "true"})
    assert done.status_code == 303 and done.headers["location"].endswith("#timeline")
    console.until(incident, active("signoff"))

    def shown(html: str) -> int:
        found = SHIFT_LINE.search(text_of(html))
        return int(found.group(1)) if found else 0

    inbox = eventually(
        lambda: amoreno.get("/console/").text,
        lambda html: shown(html) > count,
        "the shift line counting the graphic step",
    )
    assert 'href="#form-away"' in inbox
    assert "desk this shift" not in inbox  # not a lead
    # The US desk's lead sees amoreno's count in the desk's table; no incident is named.
    lead = eventually(
        lambda: browsers["dokafor"].get("/console/").text,
        lambda html: bool(re.search(r"\(amoreno\)</span></th>\s*<td>[1-9]", html)),
        "amoreno's graphic steps in the lead's desk table",
    )
    table = lead.split("The US desk this shift")[1].split("</table>")[0]
    assert incident not in table and "Alice Moreno" in table
