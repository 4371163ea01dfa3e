"""The console in a real browser: Debian's Chromium, driven by Playwright (tests/browser.py),
against the real stack of tests/test_api_e2e.py (the Temporal dev server, a worker running
the interpreter, the API served by uvicorn) with the console included in the API's app.

Each person has a browser context of their own (their own session cookie), signed in as a
person does: by pasting their token, or with the dev-only Roster picker. Every wait is on a
condition with a deadline (``expect``, ``wait_for_*``), never a sleep.

Another person's action shows when the page is loaded again (``Person.catch_up``) in the
older tests; the live-update tests (section f) check that it also shows without a reload,
pushed by the server (``static/live.js``), within 2 seconds.

``SOPFLOW_SCREENSHOTS=1`` writes each page's screenshot to ``docs/images/console-*.png``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.sync_api import Locator, Page, expect

from sopflow.api.tokens import DEV_TOKENS_DIR, ensure_dev_tokens
from sopflow.client.signing import TRUSTED_KEYS_ENV
from sopflow.client.testing import TEST_SIGNER
from sopflow.web import CONSOLE_PREFIX, ConsoleSettings, console_router
from tests.browser import (
    NewContext,
    assert_focus_visible,
    axe,
    browser,
    contexts,
    require_chromium,
    screenshot,
)
from tests.test_api_e2e import SHORT_SLA, SHORT_SLA_S, Stack, active, stack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["browser", "contexts", "stack"]  # fixtures, shared

DEV_PEOPLE = ("amoreno", "slee")
MAX_TABS = 60  # a page's controls, reached by Tab before giving up
SMOKE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sopflow browser smoke</title></head>
<body><main><h1>sopflow</h1><p>A page served by the test stack.</p>
<form><label for="who">Handle</label> <input id="who" name="who">
<button type="submit">Go</button></form></main></body></html>
"""


@pytest.fixture(scope="module", autouse=True)
def chromium_first() -> None:
    """Skip (or, in CI, fail) before the stack starts when there is no Chromium."""
    require_chromium()


def _has_route(app: FastAPI, path: str) -> bool:
    return any(getattr(route, "path", None) == path for route in app.router.routes)


@pytest.fixture(scope="module")
def console(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console in the stack's main app, with the dev picker over dev tokens for two
    people; its origin (the API's). Audit reports check signatures against the stack's
    signing key, as a deployment's would against its workers' trusted keys."""
    root = tmp_path_factory.mktemp("console")
    ensure_dev_tokens(stack.store, DEV_PEOPLE, root / DEV_TOKENS_DIR)
    TEST_SIGNER.write(root / "keys")
    (root / "keys" / f"{TEST_SIGNER.label}.key").unlink()  # the public key is enough
    app = stack.apps["main"]
    if not _has_route(app, f"{CONSOLE_PREFIX}/signin"):  # unless create_app includes it
        settings = ConsoleSettings(dev_picker=True, dev_tokens=root / DEV_TOKENS_DIR)
        app.include_router(console_router(settings))
    with pytest.MonkeyPatch.context() as env:
        env.setenv(TRUSTED_KEYS_ENV, str(root / "keys"))
        yield stack.urls["main"]


@dataclass
class Person:
    """Someone at the console in a browser context of their own."""

    handle: str
    page: Page
    stack: Stack
    incident: str | None = None

    def sign_in(self) -> None:
        """Paste the token and sign in; the inbox follows."""
        self.page.goto(f"{CONSOLE_PREFIX}/signin")
        self.page.get_by_role("textbox", name="API token").fill(self.stack.tokens[self.handle])
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        expect(self.page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
        expect(self.page.get_by_role("status")).to_contain_text(f"Signed in as {self.handle}")

    def open(self, incident: str) -> None:
        self.incident = incident
        self.page.goto(f"{CONSOLE_PREFIX}/incidents/{incident}")
        expect(self.page.get_by_role("heading", level=1)).to_contain_text(incident)

    def catch_up(self) -> None:
        """See what others did since the page loaded: reload it. Safe after a refused form
        too: its answer was a redirect to the page (Post/Redirect/Get), so a reload loads
        the page again and never sends the form."""
        assert self.incident is not None, "open an incident first"
        self.page.reload()
        expect(self.page.get_by_role("heading", level=1)).to_contain_text(self.incident)

    def live(self) -> str:
        """Wait until the page's live-update stream is open; a mark that the page was not
        navigated since (a reload or a new page would drop it)."""
        expect(self.page.locator("body")).to_have_attribute("data-live-state", "connected")
        mark = f"mark-{time.monotonic_ns()}"
        self.page.evaluate("m => { window.__sopflowMark = m }", mark)
        return mark

    def not_navigated(self, mark: str) -> None:
        assert self.page.evaluate("() => window.__sopflowMark") == mark, "the page was reloaded"

    def step(self, step: str) -> Locator:
        """The step's status cell in the Steps table."""
        return self.page.locator(f"#step-{step} .status")

    def vote_form(self, step: str) -> Locator:
        return self.page.locator(f"#form-vote-{step}")

    def approve(self, step: str, reason: str) -> Locator:
        """Type a reason and approve; the vote's part of the page that comes back."""
        form = self.vote_form(step)
        form.get_by_label("Reason").fill(reason)
        form.get_by_role("button", name="Approve").click()
        return self.vote_form(step)


People = Callable[[str], Person]


@pytest.fixture
def people(console: str, stack: Stack, contexts: NewContext) -> People:
    """``people(handle)``: a new browser context for that person, signed in with a token."""

    def sign_in(handle: str) -> Person:
        person = Person(handle, contexts(base_url=console).new_page(), stack)
        person.sign_in()
        return person

    return sign_in


@contextmanager
def without_role(stack: Stack, handle: str, role: str) -> Iterator[None]:
    """The Roster with ``role`` taken from ``handle`` (as an operator would edit it); the
    API reads it again on the next request. Put back after."""
    roster = stack.library / "roster.yaml"
    original = roster.read_text(encoding="utf-8")
    start = original.index(f"  {handle}:")
    end = original.index("roles:", start)
    line_end = original.index("\n", end)
    line = original[end:line_end]
    roles = [r.strip() for r in line.removeprefix("roles:").strip(" []").split(",")]
    kept = ", ".join(r for r in roles if r != role)
    try:
        roster.write_text(original[:end] + f"roles: [{kept}]" + original[line_end:], "utf-8")
        yield
    finally:
        roster.write_text(original, encoding="utf-8")


def tab_to(page: Page, target: Locator, *, limit: int = MAX_TABS) -> list[str]:
    """Press Tab until ``target`` has the focus, checking that every element on the way
    shows its focus; what was focused, in order. Past the page's last control the focus
    leaves the page (``None`` in the list), and the next Tab starts again at the top."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement === document.body"):
            seen.append("None")
            continue
        focused = assert_focus_visible(page)
        seen.append(f"{focused['tag']}:{focused['name']}")
        if target.evaluate("el => el === document.activeElement"):
            return seen
    raise AssertionError(f"Tab never reached {target}; focus went {seen}")


# --- the stack in a browser


def test_chromium_reads_the_api_and_runs_axe(stack: Stack, contexts: NewContext) -> None:
    app = stack.apps["main"]
    if not _has_route(app, "/browser-smoke"):
        app.add_api_route("/browser-smoke", lambda: HTMLResponse(SMOKE_PAGE), methods=["GET"])
    page = contexts(base_url=stack.urls["main"]).new_page()
    health = page.goto("/api/v1/healthz")
    assert health is not None and health.ok, health
    openapi = page.goto("/api/v1/openapi.json")
    assert openapi is not None and openapi.ok
    assert json.loads(openapi.text())["info"]["title"]
    page.goto("/browser-smoke")
    expect(page.get_by_role("heading", name="sopflow")).to_be_visible()
    axe(page, "smoke page")


# --- (a) signing in


def test_sign_in_by_token_and_with_the_dev_picker(
    contexts: NewContext, console: str, stack: Stack
) -> None:
    page = contexts(base_url=console).new_page()
    # A console page without a session: to sign-in, and back to that page after.
    page.goto(f"{CONSOLE_PREFIX}/sops")
    expect(page).to_have_url(re.compile(r"/console/signin\?next=%2Fconsole%2Fsops"))
    axe(page, "sign-in")
    screenshot(page, "signin")
    token = page.get_by_role("textbox", name="API token")
    token.fill("sft_000000000000_not-a-token")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("unknown, expired or revoked")
    expect(page.get_by_role("textbox", name="API token")).to_have_attribute("aria-invalid", "true")
    axe(page, "sign-in refused")
    page.get_by_role("textbox", name="API token").fill(stack.tokens["amoreno"])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="SOP library", level=1)).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("Signed in as Alice Moreno")
    # The token is kept by the server: never in the page, a cookie or an address.
    assert stack.tokens["amoreno"] not in page.content() + page.url
    cookies = page.context.cookies()
    assert all(stack.tokens["amoreno"] not in c["value"] for c in cookies)
    assert [(c["httpOnly"], c["secure"], c["sameSite"]) for c in cookies] == [
        (True, True, "Strict")
    ]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")

    # The dev-only picker: one button per person with a dev token.
    picker = page.get_by_role("region", name=re.compile("Sign in as someone"))
    expect(picker).to_contain_text("Dev only")
    expect(picker.get_by_role("button", name=re.compile("^Sign in as "))).to_have_count(
        len(DEV_PEOPLE)
    )
    picker.get_by_role("button", name="Sign in as slee").click()
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("Signed in as Samuel Lee")


# --- (b) two people, one incident


def test_a_responder_completes_and_leads_approve_with_refusals_beside_the_controls(
    people: People, stack: Stack
) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))

    responder = people("amoreno")
    task = responder.page.get_by_role("link", name="Verify the report").and_(
        responder.page.locator(f"a[href*='{incident}']")
    )
    expect(task).to_be_visible()
    task.click()
    responder.incident = incident
    form = responder.page.locator("#form-task-verify")
    expect(form).to_be_visible()
    # Sent without an answer: the error beside the field and in the summary, nothing sent.
    form.get_by_role("button", name=re.compile("^Complete")).click()
    expect(form.get_by_role("alert")).to_contain_text("problem")
    expect(responder.step("verify")).to_have_text("active")
    form.get_by_role("radio", name="Yes").check()
    form.get_by_role("button", name=re.compile("^Complete")).click()
    expect(responder.page.locator("p.flash")).to_be_visible()
    expect(responder.step("verify")).to_have_text("done")

    # The opener is a lead, but four eyes: refused, the reason beside the form, the text kept.
    opener = people("dokafor")
    opener.open(incident)
    expect(opener.step("signoff")).to_have_text("active")
    refused = opener.approve("signoff", "I opened it, and it looks right")
    expect(refused.get_by_role("alert")).to_contain_text("four eyes")
    expect(refused.get_by_label("Reason")).to_have_value("I opened it, and it looks right")
    # The refusal came back by a redirect to the page's address, at the form.
    expect(opener.page).to_have_url(
        re.compile(rf"/console/incidents/{incident}#form-vote-signoff$")
    )
    screenshot(opener.page, "incident-refused")
    # A reload loads the page afresh (the refusal was shown once) and sends no form.
    posts: list[str] = []
    opener.page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    opener.catch_up()
    expect(opener.vote_form("signoff").get_by_label("Reason")).to_have_value("")
    expect(opener.vote_form("signoff").get_by_role("alert")).to_have_count(0)
    assert posts == []

    # A lead approves; a second vote from a page loaded before the first is refused.
    lead = people("slee")
    lead.open(incident)
    stale = lead.page.context.new_page()
    stale.goto(f"{CONSOLE_PREFIX}/incidents/{incident}")
    # Typing in it keeps that form as it is when the live update comes (a form nobody is
    # using would be replaced, and would say "You voted").
    Person("slee", stale, stack).vote_form("signoff").get_by_label("Reason").fill("once more")
    lead.approve("signoff", "checked the report")
    expect(lead.vote_form("signoff")).to_contain_text("You voted: approve")
    again = Person("slee", stale, stack).approve("signoff", "once more")
    expect(again.get_by_role("alert")).to_contain_text("already voted")

    # A role taken away in the Roster between loading the page and voting: refused.
    other = people("tbrennan")
    other.open(incident)
    expect(other.vote_form("signoff")).to_be_visible()
    with without_role(stack, "tbrennan", "lead"):
        other.approve("signoff", "approved")
        expect(other.page.locator("#actions").get_by_role("alert")).to_contain_text(
            "holds none of the roles that approve"
        )
    other.catch_up()
    other.approve("signoff", "approved")
    expect(other.page.locator("p.flash")).to_be_visible()
    expect(other.page.locator(".summary .status")).to_have_text("completed")
    other.page.get_by_role("link", name="Audit report").click()
    expect(other.page.get_by_role("heading", level=1)).to_contain_text("Audit report")
    votes = other.page.locator("xpath=//h2[normalize-space()='Votes']/following-sibling::*[1]")
    expect(votes).to_contain_text("slee")
    expect(votes).to_contain_text("tbrennan")
    signatures = other.page.get_by_role("row", name=re.compile("^Signatures"))
    expect(signatures).to_contain_text("3 signed by a given key")
    axe(other.page, "audit, completed")
    screenshot(other.page, "audit")

    responder.catch_up()
    expect(responder.page.locator(".summary .status")).to_have_text("completed")
    expect(responder.page.locator("#actions")).to_contain_text("Nothing for you to do")


# --- (c) the keyboard alone


def test_sign_in_and_complete_a_task_with_the_keyboard_alone(
    contexts: NewContext, console: str, stack: Stack
) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    page = contexts(base_url=console).new_page()
    page.goto(f"{CONSOLE_PREFIX}/signin")
    tab_to(page, page.get_by_role("textbox", name="API token"))
    page.keyboard.insert_text(stack.tokens["amoreno"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()

    # The inbox links to the task's form: the next Tab after following it is in the form.
    link = page.locator(f"a[href='{CONSOLE_PREFIX}/incidents/{incident}#form-task-verify']")
    print("Tab to the task:", tab_to(page, link))
    page.keyboard.press("Enter")
    form = page.locator("#form-task-verify")
    expect(form).to_be_visible()
    yes = form.get_by_role("radio", name="Yes")
    into_form = tab_to(page, form.get_by_role("radio").first)
    assert len(into_form) <= 2, into_form
    if not yes.evaluate("el => el === document.activeElement"):
        page.keyboard.press("ArrowUp")  # within a radio group the arrows move
    expect(yes).to_be_focused()
    page.keyboard.press("Space")
    expect(yes).to_be_checked()
    submit = form.get_by_role("button", name=re.compile("^Complete"))
    tab_to(page, submit)
    page.keyboard.press("Space")
    expect(page.locator("p.flash")).to_be_visible()
    expect(page.locator("#step-verify .status")).to_have_text("done")


# --- (d, e) every page: axe, and the docs' screenshots


def test_every_page_passes_axe(people: People, stack: Stack) -> None:
    lead = people("slee")
    page = lead.page
    axe(page, "inbox")
    screenshot(page, "inbox")

    # Open an incident from the start page; a refused input keeps what was typed.
    page.get_by_role("link", name="Open an incident").click()
    page.get_by_label("SOP, version and region").select_option("api-drill@1:US")
    page.get_by_role("button", name="Show its input form").click()
    form = page.locator("#input form")
    form.get_by_label("Ref").fill("R-browser")
    form.get_by_label("Count").fill("2")
    form.get_by_label("Tags").fill("drill\nbrowser")
    axe(page, "start")
    screenshot(page, "start")
    form.get_by_label("Count").fill("-1")
    form.get_by_role("button", name="Open the incident").click()
    expect(form.get_by_role("alert")).to_contain_text("Count")
    expect(form.get_by_label("Ref")).to_have_value("R-browser")
    expect(form.get_by_label("Tags")).to_have_value("drill\nbrowser")
    axe(page, "start, refused")
    form.get_by_label("Count").fill("2")
    form.get_by_role("button", name="Open the incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Incident")
    incident = page.url.split("#")[0].rsplit("/", 1)[-1]
    stack.until(incident, active("verify"))
    lead.open(incident)
    expect(lead.page.locator("#form-task-verify")).to_be_visible()
    axe(page, "incident")
    screenshot(page, "incident")

    page.get_by_role("link", name="Audit report").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Audit")
    axe(page, "audit")

    page.get_by_role("link", name="SOP library").click()
    expect(page.get_by_role("heading", name="SOP library", level=1)).to_be_visible()
    axe(page, "catalog")
    screenshot(page, "catalog")
    page.get_by_role("link", name="API drill").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("API drill")
    axe(page, "SOP")
    screenshot(page, "sop")

    page.goto(f"{CONSOLE_PREFIX}/no-such-page")
    axe(page, "not found")


def test_screenshots_are_written_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, contexts: NewContext, console: str
) -> None:
    import tests.browser

    monkeypatch.setattr(tests.browser, "IMAGES", tmp_path)
    page = contexts(base_url=console).new_page()
    page.goto(f"{CONSOLE_PREFIX}/signin")
    monkeypatch.delenv("SOPFLOW_SCREENSHOTS", raising=False)
    assert screenshot(page, "x") is None and not list(tmp_path.iterdir())
    monkeypatch.setenv("SOPFLOW_SCREENSHOTS", "1")
    written = screenshot(page, "x")
    assert written == tmp_path / "console-x.png" and written.read_bytes()[:4] == b"\x89PNG"


# --- (f) live updates, pushed by the server

LIVE_MS = 2000  # a change shows on every open page within 2 s, without a reload


def test_another_persons_action_shows_live_and_a_form_being_typed_in_is_kept(
    people: People, stack: Stack
) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    doer, watcher = people("amoreno"), people("slee")  # slee may do verify too
    doer.open(incident)
    watcher.open(incident)
    mark = watcher.live()
    expect(watcher.step("verify")).to_have_text("active")
    # The watcher is typing a note: that form, and their own task form, must stay.
    watcher.page.get_by_label("Note").fill("typing while others act")
    count = watcher.page.locator("#timeline-count").inner_text()

    form = doer.page.locator("#form-task-verify")
    form.get_by_role("radio", name="Yes").check()
    sent = time.monotonic()
    form.get_by_role("button", name=re.compile("^Complete")).click()

    expect(watcher.step("verify")).to_have_text("done", timeout=LIVE_MS)
    shown = time.monotonic() - sent
    expect(watcher.page.locator("#timeline-count")).not_to_have_text(count, timeout=LIVE_MS)
    expect(watcher.page.locator("#live-timeline tbody tr").first).to_contain_text(
        "amoreno", timeout=LIVE_MS
    )
    expect(watcher.page.locator("#live-graph")).to_be_visible()
    print(f"from the other person's click to this page showing it done: {shown:.2f} s")
    watcher.not_navigated(mark)
    expect(watcher.page.get_by_label("Note")).to_have_value("typing while others act")
    # The verify form is kept, marked: its step is no longer active.
    stale = watcher.page.locator("#form-task-verify")
    expect(stale.get_by_role("status")).to_contain_text("no longer active", timeout=LIVE_MS)
    axe(watcher.page, "incident, after a live update")


def test_a_new_task_appears_in_the_inbox_live(people: People, stack: Stack) -> None:
    responder = people("amoreno")  # on the inbox after signing in
    mark = responder.live()
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    ready = time.monotonic()
    row = responder.page.locator(f"#inbox-tasks a[href='{CONSOLE_PREFIX}/incidents/{incident}']")
    expect(row).to_be_visible(timeout=LIVE_MS)
    print(f"a new task in the inbox {time.monotonic() - ready:.2f} s after it was active")
    responder.not_navigated(mark)


def test_sla_countdowns_tick_and_turn_overdue(people: People, stack: Stack) -> None:
    incident = stack.start("dokafor")
    stack.until(incident, active("verify"))
    lead = people("slee")
    lead.open(incident)
    lead.live()
    countdown = lead.page.locator("#step-verify time[data-due]")
    expect(countdown).to_have_text(re.compile(r"^due in 29 min \d+ s$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=LIVE_MS)  # it ticks, once a second
    seconds = [int(re.findall(r"(\d+) s", t)[0]) for t in (first, countdown.inner_text())]
    assert seconds[1] < seconds[0] or seconds[0] == 0, seconds

    # The SLA is 30 minutes: the browser's clock is moved past it (the server's is not).
    late = people("slee")
    late.page.clock.install()
    late.open(incident)
    late_countdown = late.page.locator("#step-verify time[data-due]")
    expect(late_countdown).to_have_text(re.compile(r"^due in"))
    expect(late.page.locator("#step-verify .due")).not_to_have_class(re.compile("overdue"))
    late.page.clock.run_for(31 * 60 * 1000)
    expect(late_countdown).to_have_text(re.compile(r"^overdue by (1 min|59 s)"))
    expect(late.page.locator("#step-verify .due")).to_have_class(re.compile(r"\boverdue\b"))
    expect(late.page.locator("#live-announce")).to_have_text("Now overdue: Verify the report.")


def test_a_real_sla_runs_out_on_an_open_page(people: People, stack: Stack) -> None:
    """Not the browser's clock this time: the workflow's own SLA timer fires, the incident
    records the breach, and the open page shows it without a reload."""
    incident = stack.start("dokafor", sop=SHORT_SLA)
    stack.until(incident, active("verify"))
    lead = people("slee")
    lead.open(incident)
    mark = lead.live()
    breached = lead.page.locator("#live-summary").get_by_text("SLA breached")
    expect(breached).to_have_count(0)
    due = lead.page.locator("#step-verify .due")
    expect(due).to_have_class(re.compile(r"\boverdue\b"), timeout=(SHORT_SLA_S + 2) * 1000)
    overdue_at = time.monotonic()
    # The timer fires on the server's clock, a moment after the browser's count reaches zero
    # (more on a loaded machine: the workflow task that records the breach must run first),
    # then the change reaches the page like any other.
    expect(breached).to_be_visible(timeout=LIVE_MS + 2000)
    print(f"SLA breach on the open page {time.monotonic() - overdue_at:.2f} s after it was due")
    expect(lead.page.locator("#live-timeline")).to_contain_text("sla.breached")
    lead.not_navigated(mark)
