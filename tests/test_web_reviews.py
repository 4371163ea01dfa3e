"""The post-mortem review in the console: the review panel on the incident's page once the
post-mortem step has started a review, and its four actions (add an item, close one, record
the root cause, mark it done), each shown only to whom the review's rules let act, a refused
done beside its form listing the open items; need-to-know (a 404 for those who may not see
the incident) and the CSRF check. The real stack of test_web_e2e.py (the dev server, a
worker, uvicorn, real tokens and the Roster on disk), driven over HTTP by the minimal
browser; every wait is on a condition, with a deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.console_browser import Browser, csrf_of, has_form
from tests.test_api_e2e import Stack, active, stack
from tests.test_web_claims import eventually
from tests.test_web_e2e import browsers, console, incident_url, refused, text_of

pytestmark = pytest.mark.e2e
__all__ = ["browsers", "console", "stack"]  # fixtures, shared with tests/test_web_e2e.py

ITEMS = "/postmortem/items"
CAUSE = "/postmortem/root-cause"
DONE = "/postmortem/done"


def reviewed(console: Stack) -> str:
    """An api-reviewed incident whose post-mortem step has started its review."""
    incident = console.start("dokafor", sop="api-reviewed", input={})
    console.until(incident, active("respond"))
    answer = console.call(
        "amoreno", "POST", f"/incidents/{incident}/steps/respond/complete", json={"data": {}}
    )
    assert answer.status_code == 200, answer.text
    console.until(incident, lambda v: "postmortem.review" in [e["kind"] for e in v["timeline"]])
    return incident


def review_of(console: Stack, incident: str) -> dict[str, Any]:
    answer = console.call("dokafor", "GET", f"/incidents/{incident}/postmortem")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def words(html: str) -> str:
    """A page's text, one space between words."""
    return " ".join(text_of(html).split())


def panel(html: str) -> str:
    """The words of the page's Post-mortem review section."""
    _, found, rest = html.partition('id="review"')
    assert found, "no review section"
    return words(rest.split("</section>")[0])


def hidden(browser: Browser, incident: str, token: str) -> list[tuple[int, str]]:
    """What each review form answers ``browser`` about ``incident`` (its id taken out)."""
    due = [("title", "x"), ("owner", "amoreno"), ("due", in_days(3))]
    out = []
    for action, form in (
        (ITEMS, due),
        ("/postmortem/items/A1/close", [("note", "done")]),
        (CAUSE, [("factors", "x"), ("changes", "y")]),
        (DONE, []),
    ):
        answer = browser.post(incident_url(incident, action), [*form, ("csrf", token)])
        said = words(answer.text).replace(incident, "ID")
        out.append((answer.status_code, said.split("Request id")[0]))
    return out


def accepted(browser: Browser, answer: httpx.Response, said: str) -> httpx.Response:
    """An accepted review action: a 303 to the review's section, which says what was done."""
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith("#review"), answer.headers["location"]
    page = browser.get(answer.headers["location"])
    assert page.status_code == 200, page.text
    assert said in words(page.text), words(page.text)
    return page


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def test_the_review_panel_and_its_four_actions(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    incident = reviewed(console)
    url = incident_url(incident)
    lead, responder = browsers["dokafor"], browsers["amoreno"]
    announced: list[str] = []
    console.apps["main"].state.parts.changes.listen(announced.append)

    page = lead.get(url)
    said = panel(page.text)
    assert "Owner lead" in said and "open" in said and "No action items yet" in said
    adding = incident_url(incident, ITEMS + "#")  # not an item's close form
    for action in (ITEMS + "#", CAUSE, DONE):  # the owner's role (lead): every form
        assert has_form(page.text, incident_url(incident, action))
    theirs = responder.get(url)
    assert "No action items yet" in panel(theirs.text)
    for action in (ITEMS + "#", CAUSE, DONE):  # a responder: the review, and no form
        assert not has_form(theirs.text, incident_url(incident, action))

    # A date that is no date comes back at once, nothing sent; one that has passed, refused
    # by the review with its reason.
    items = incident_url(incident, ITEMS)
    sent = lead.submit(page, items, title="Page the desk on SEV1", owner="amoreno", due="")
    bad = refused(lead, sent, "form-review-item")
    assert bad.status_code == 422 and "choose the day it is due" in words(bad.text)
    assert 'value="Page the desk on SEV1"' in bad.text  # what was typed, kept
    past = lead.submit(bad, items, due=in_days(-2))
    bad = refused(lead, past, "form-review-item")
    assert bad.status_code == 422 and "has passed" in words(bad.text)
    assert review_of(console, incident)["items"] == []

    page = accepted(lead, lead.submit(bad, items, due=in_days(5)), "A1 added")
    assert "Page the desk on SEV1" in panel(page.text)
    assert announced[-1:] == [incident]  # live pages hear of it at once

    cause = incident_url(incident, CAUSE)
    sent = lead.submit(
        page,
        cause,
        factors="late-signal, no-runbook",
        step="respond",
        changes="The desk is paged at SEV1.",
    )
    page = accepted(lead, sent, "root cause recorded: late-signal, no-runbook")
    said = panel(page.text)
    assert "late-signal, no-runbook" in said and "The desk is paged at SEV1." in said
    assert 'value="late-signal, no-runbook"' in page.text  # the form revises it

    # Done with an item open: refused beside the form, the reason naming the item.
    refusal = refused(lead, lead.submit(page, incident_url(incident, DONE)), "form-review-done")
    assert refusal.status_code == 409, refusal.text
    assert 'id="refusal-review-done"' in refusal.text
    assert '1 action item(s) still open: A1 "Page the desk on SEV1"' in words(refusal.text)
    assert review_of(console, incident)["status"] == "open"

    # The item's owner closes it (and has no other form).
    close = incident_url(incident, "/postmortem/items/A1/close")
    theirs = responder.get(url)
    assert has_form(theirs.text, close) and not has_form(theirs.text, adding)
    accepted(responder, responder.submit(theirs, close, note="Paging rule changed"), "A1 closed")

    page = lead.get(url)
    page = accepted(
        lead,
        lead.submit(page, incident_url(incident, DONE), note="Reviewed"),
        "review done: Reviewed",
    )
    said = panel(page.text)
    assert "closed by dokafor" in said and "Paging rule changed" in said
    assert not has_form(page.text, adding) and not has_form(page.text, incident_url(incident, DONE))
    assert (
        eventually(
            lambda: review_of(console, incident),
            lambda r: r["status"] == "closed",
            "the review closed",
        )["closed_by"]
        == "dokafor"
    )


def test_review_forms_need_to_know_and_the_csrf_token(
    console: Stack, browsers: dict[str, Browser]
) -> None:
    incident = reviewed(console)
    lead, outsider = browsers["dokafor"], browsers["rhalvorsen"]
    # Without the CSRF token, or with a wrong one: 403, nothing done.
    pairs = [("title", "x"), ("owner", "amoreno"), ("due", in_days(3))]
    for extra in ([], [("csrf", "x" * 43)]):
        answer = lead.post(incident_url(incident, ITEMS), [*pairs, *extra])
        assert answer.status_code == 403 and "nothing was done" in answer.text
    update = lead.post(incident_url(incident, "/updates"), [("text", "x")])
    assert update.status_code == 403 and "nothing was done" in update.text
    assert review_of(console, incident)["items"] == []

    # Someone outside a restricted incident: its page and its review's forms are 404, the
    # same answers as for an id that does not exist, and nothing is sent.
    secret = console.start("dokafor", sop="api-secret", input={})
    token = csrf_of(outsider.get("/console/").text)
    assert outsider.get(incident_url(secret)).status_code == 404
    answers = hidden(outsider, secret, token)
    assert answers == hidden(outsider, "inc-20300101-999999", token)
    assert {status for status, _ in answers} == {404}
    assert "need-to-know" not in str(answers)
    # Those who may see it, and an incident without a review: no review section.
    drill = console.start("dokafor")
    assert 'id="review"' not in lead.get(incident_url(drill)).text
