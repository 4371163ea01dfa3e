"""The post-mortem review in a real browser (Debian's Chromium, driven by Playwright), against
the real stack of tests/test_api_e2e.py, as tests/test_console_browser.py does: the lead adds
an action item for a responder, who closes it from the same panel; axe on the panel at each
turn. Every wait is on a condition with a deadline, never a sleep.

``SOPFLOW_SCREENSHOTS=1`` writes the review panel to ``docs/images/console-review.png``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser import IMAGES, axe, browser, contexts, screenshots_on
from tests.test_api_e2e import Stack, active, stack
from tests.test_console_browser import People, chromium_first, console, people

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["browser", "chromium_first", "console", "contexts", "people", "stack"]  # fixtures


def review_screenshot(page: Page) -> None:
    """``docs/images/console-review.png``: the review panel, when screenshots are on."""
    if screenshots_on():
        page.locator("#review").screenshot(
            path=IMAGES / "console-review.png", animations="disabled", caret="hide"
        )


def test_a_lead_adds_an_action_item_and_its_owner_closes_it(people: People, stack: Stack) -> None:
    incident = stack.start("dokafor", sop="api-reviewed", input={})
    stack.until(incident, active("respond"))
    done = stack.call(
        "amoreno", "POST", f"/incidents/{incident}/steps/respond/complete", json={"data": {}}
    )
    assert done.status_code == 200, done.text
    stack.until(incident, lambda v: "postmortem.review" in [e["kind"] for e in v["timeline"]])

    lead = people("dokafor")
    lead.open(incident)
    review = lead.page.locator("#review")
    expect(review.get_by_role("heading", name="Post-mortem review")).to_be_visible()
    expect(review).to_contain_text("No action items yet")
    add = lead.page.locator("#form-review-item")
    add.get_by_label("Title").fill("Page the desk at once on SEV1")
    add.get_by_label("Owner").select_option("amoreno")
    due = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    add.get_by_label("Due").fill(due)
    add.get_by_role("button", name="Add the item").click()
    expect(lead.page.locator("p.flash")).to_contain_text("A1 added")
    expect(lead.page).to_have_url(re.compile(rf"/console/incidents/{incident}#review$"))
    row = review.locator("#item-A1")
    expect(row).to_contain_text("Page the desk at once on SEV1")
    expect(row).to_contain_text("open")
    cause = lead.page.locator("#form-review-cause")
    cause.get_by_label("Contributing factors").fill("late-signal, no-runbook")
    cause.get_by_label("Step involved").select_option("respond")
    cause.get_by_label("What changes").fill("The desk is paged at once on SEV1.")
    cause.get_by_role("button", name="Record the root cause").click()
    expect(review).to_contain_text("late-signal, no-runbook")
    axe(lead.page, "incident, post-mortem review")
    review_screenshot(lead.page)

    owner = people("amoreno")
    owner.open(incident)
    close = owner.page.locator("#form-review-close-A1")
    expect(owner.page.locator("#form-review-item")).to_have_count(0)  # not theirs to add
    close.get_by_label("What was done").fill("Paging rule changed")
    close.get_by_role("button", name="Close A1").click()
    expect(owner.page.locator("p.flash")).to_contain_text("A1 closed")
    expect(owner.page.locator("#item-A1")).to_contain_text("by amoreno: Paging rule changed")
    expect(owner.page.locator("#form-review-close-A1")).to_have_count(0)
    axe(owner.page, "incident, action item closed")
