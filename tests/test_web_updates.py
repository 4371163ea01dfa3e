"""Stakeholder updates in the console, on the time-skipping server (a cadence is at least
5m, which only that server can skip; the real stack of test_web_e2e.py runs in real time):
the real API app with the console included, called in process with a session cookie as a
browser would. The section lists every update asked; the form is there for the asked role
only, while one is open; a refusal comes back beside it (or, for a form not shown, at the
top of the actions); an accepted post is announced to open pages, reaches the stakeholders
once and shows on the page; a missed one is shown escalated and may still be posted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from urllib.parse import urlencode

import httpx
import pytest

from sopflow.api.app import create_app
from sopflow.api.settings import ApiSettings
from sopflow.web import ConsoleSettings
from sopflow.web.security import COOKIE
from tests.conftest import SHIPPED
from tests.console_browser import Pairs, csrf_of, form_values, has_form, replaced, with_console
from tests.harness import bench, run
from tests.test_api_unit import FakeTokens
from tests.test_workflow_updates import PLAN, records, sent

pytestmark = pytest.mark.e2e

ORIGIN = "https://console.test"


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@dataclass
class Tab:
    """One person's browser on the in-process app: their session cookie, what a browser
    sends with a form (``Origin``, ``Sec-Fetch-Site``)."""

    http: httpx.AsyncClient
    cookie: str | None = None

    async def send(
        self,
        method: str,
        path: str,
        content: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if self.cookie is not None:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        response = await self.http.request(method, path, headers=headers, content=content)
        self.http.cookies.clear()  # one client serves every tab: each keeps its own cookie
        found = re.search(rf"{COOKIE}=([^;]+)", response.headers.get("set-cookie", ""))
        if found:
            self.cookie = found.group(1)
        return response

    async def get(self, path: str) -> httpx.Response:
        return await self.send("GET", path)

    async def post(self, path: str, pairs: Pairs) -> httpx.Response:
        headers = {
            "Origin": ORIGIN,
            "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return await self.send("POST", path, content=urlencode(pairs), headers=headers)

    async def submit(self, page: httpx.Response, action: str, **values: str) -> httpx.Response:
        return await self.post(action, replaced(form_values(page.text, action), **values))

    async def follow(self, answer: httpx.Response, anchor: str) -> httpx.Response:
        """A form's answer: a 303 to the incident's page at ``anchor``; that page."""
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].endswith(f"#{anchor}"), answer.headers["location"]
        return await self.get(answer.headers["location"])


async def signed_in(http: httpx.AsyncClient, who: str) -> Tab:
    tab = Tab(http)
    page = await tab.get("/console/signin")
    answer = await tab.submit(page, "/console/signin", token=f"sft_{who}")
    assert answer.status_code == 303, answer.text
    return tab


def test_the_lead_posts_the_update_that_is_due_and_a_missed_one_late() -> None:
    async def scenario() -> None:
        async with bench() as b:
            app = create_app(
                ApiSettings(definitions=SHIPPED), tokens=FakeTokens(), service=b.incidents
            )
            with_console(app, ConsoleSettings())
            announced: list[str] = []
            app.state.parts.changes.listen(announced.append)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
                lead, responder = await signed_in(http, "dokafor"), await signed_in(http, "amoreno")
                h = await b.start(PLAN, {"severity": "SEV0"}, opened_by="dokafor")
                await b.until(h, lambda s: s.steps["work"].status == "active")
                url = f"/console/incidents/{h.id}"
                action = f"{url}/updates"

                page = await lead.get(url)
                assert page.status_code == 200, page.text
                said = text_of(page.text)
                assert "Stakeholder updates" in said and "No update has been asked for yet" in said
                assert "At SEV0: lead is asked for an update every 30 min" in said
                assert not has_form(page.text, action)  # nothing is due yet

                await b.env.sleep(timedelta(minutes=31))
                await b.until(h, lambda s: records(s) == [(1, "SEV0", "due")])
                page = await lead.get(url)
                assert has_form(page.text, action) and "Post update 1 (SEV0)" in page.text
                assert 'href="#form-update"' in page.text  # pointed at from What you can do
                other = await responder.get(url)
                assert 'id="update-1"' in other.text and not has_form(other.text, action)

                # A responder's forged form: the workflow's 403, at the top of the actions.
                forged = [("csrf", csrf_of(other.text)), ("text", "All fine.")]
                shown = await responder.follow(await responder.post(action, forged), "form-update")
                assert shown.status_code == 403, shown.text
                assert "does not hold role 'lead'" in text_of(shown.text)
                # Without the CSRF token: refused before anything is read.
                bare = await lead.post(action, [("text", "All fine.")])
                assert bare.status_code == 403 and "nothing was done" in text_of(bare.text)
                # Empty: the workflow's reason beside the form.
                empty = await lead.follow(await lead.submit(page, action, text=" "), "form-update")
                assert empty.status_code == 422, empty.text
                assert 'id="refusal-update"' in empty.text and "empty" in text_of(empty.text)
                assert not sent(b, "posted") and not announced

                posted = await lead.submit(empty, action, text="Referral made.")
                page = await lead.follow(posted, "updates")
                said = text_of(page.text)
                assert "Your stakeholder update is sent (update 1 posted)" in said
                row = text_of(page.text.split('id="update-1"')[1].split("</tr>")[0])
                assert "posted" in row and "dokafor" in row and "Referral made." in row
                assert not has_form(page.text, action)
                assert announced == [h.id]  # live pages hear of it at once
                assert len(sent(b, "posted")) == 1

                # The next is asked 30m later and missed 10m after that: escalated, still
                # open to a late post until the third is asked.
                await b.env.sleep(timedelta(minutes=30 + 11))
                await b.until(h, lambda s: [r[2] for r in records(s)] == ["posted", "missed"])
                page = await lead.get(url)
                row = text_of(page.text.split('id="update-2"')[1].split("</tr>")[0])
                assert "missed" in row and "commander" in row
                assert "Its time ran out" in page.text and "Post update 2 (SEV0)" in page.text
                late = await lead.submit(page, action, text="Late, sorry: agency replied.")
                page = await lead.follow(late, "updates")
                assert "update 2 posted" in text_of(page.text)
                await b.until(h, lambda s: [r[2] for r in records(s)] == ["posted", "posted"])

    run(scenario)
