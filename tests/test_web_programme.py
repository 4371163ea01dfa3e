"""The console's programme page end to end: the API stack of test_api_e2e.py (the real dev
server, a worker, uvicorn, real tokens and a Roster on disk) with the console, driven over
HTTP by the minimal browser of tests/console_browser.py.

Need-to-know: `api-secret` incidents are restricted to specialists and leads. amoreno is a
specialist; rhalvorsen holds only `legal`, so for her such an incident does not exist, and
the programme page must not count it, chart it or name its SOP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from sopflow.client.metrics.cache import CACHE_DIR
from sopflow.web.pages.programme import MemoryFactsCache
from sopflow.web.security import CSP
from tests.console_browser import Browser
from tests.test_api_e2e import DEADLINE_S, Stack, active, stack
from tests.test_web_e2e import console

pytestmark = pytest.mark.e2e

__all__ = ["console", "stack"]  # the fixtures, used by the tests below

PAGE = "/console/programme"
SPECIALIST, OUTSIDER = "amoreno", "rhalvorsen"
_ROW = re.compile(r'<th scope="row">([^<]*)</th>\s*<td>([^<]*)</td>\s*<td>(\d+)', re.MULTILINE)


@pytest.fixture(scope="module")
def state_dir(console: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page's facts cache, on disk under a temporary directory (the stack's API settings
    name `.sopflow`, which would be the checkout's): given to the app before any visit."""
    where = tmp_path_factory.mktemp("state")
    console.apps["main"].state.programme_facts = MemoryFactsCache(where)
    return where


@pytest.fixture
def browsers(console: Stack, state_dir: Path) -> Iterator[Callable[[str], Browser]]:
    """A browser per person, signed in with their own token."""
    clients: list[httpx.Client] = []

    def browser(who: str) -> Browser:
        http = httpx.Client(base_url=console.urls["main"], timeout=60)
        clients.append(http)
        b = Browser(http, console.urls["main"])
        assert b.sign_in(console.tokens[who]).status_code == 303
        return b

    yield browser
    for http in clients:
        http.close()


def headline(html: str) -> dict[tuple[str, str], int]:
    """The headline table: incidents per (SOP, region)."""
    table = html.split('<table class="programme"', 1)[-1].split("</table>", 1)[0]
    return {(unescape(s), unescape(r)): int(n) for s, r, n in _ROW.findall(table)}


def total(html: str) -> int:
    found = re.search(r'<p id="programme-scope">(\d+) incidents? opened', html)
    assert found, html[:2000]
    return int(found[1])


def page_until(b: Browser, ready: Callable[[str], bool], path: str = PAGE) -> str:
    """GET the page until ``ready`` holds for it, or fail at the deadline."""
    stop = time.monotonic() + DEADLINE_S
    while True:
        answer = b.get(path)
        assert answer.status_code == 200, answer.text[:2000]
        if ready(answer.text):
            return answer.text
        if time.monotonic() > stop:
            raise AssertionError(f"not reached before the deadline: {headline(answer.text)}")
        time.sleep(0.1)


def test_a_restricted_incident_is_counted_only_for_those_who_may_see_it(
    console: Stack, browsers: Callable[[str], Browser], state_dir: Path
) -> None:
    secret = console.start("dokafor", sop="api-secret", input={})
    console.until(secret, active("counsel"), who="dokafor")
    drill = console.start("dokafor")
    console.until(drill, active("verify"))

    # Visibility lists new runs a moment later: wait until the specialist sees both.
    specialist = page_until(
        browsers(SPECIALIST),
        lambda html: (
            headline(html).get(("api-secret", "US"), 0) >= 1
            and headline(html).get(("api-drill", "US"), 0) >= 1
        ),
    )
    theirs = headline(specialist)
    drills = theirs[("api-drill", "US")]
    # The outsider sees the same unrestricted incidents, and never the restricted one.
    outsider_browser = browsers(OUTSIDER)
    outsider = page_until(
        outsider_browser, lambda html: headline(html).get(("api-drill", "US"), 0) >= drills
    )
    hers = headline(outsider)
    assert hers == {k: v for k, v in theirs.items() if k[0] != "api-secret"}
    assert total(outsider) == total(specialist) - theirs[("api-secret", "US")]
    # Not in the table, not in any chart, not in any text alternative: not even its name.
    assert "api-secret" not in outsider and "api-secret" in specialist
    for window in ("7d", "90d"):
        assert "api-secret" not in outsider_browser.get(f"{PAGE}?since={window}").text
    # The charts carry the same counts: the volume chart's bar for the drill.
    assert f"api-drill: {drills}: " in specialist and f"api-drill: {drills}: " in outsider

    # Closed, the restricted incident is read once, kept, and still counted only for her.
    cancel = console.call("dokafor", "POST", f"/incidents/{secret}/cancel", json={"reason": "t"})
    assert cancel.status_code == 200, cancel.text
    console.until(secret, lambda v: v["summary"]["status"] == "cancelled", who="dokafor")
    closed = page_until(
        browsers(SPECIALIST), lambda html: "cancelled 1" in html.split("api-secret", 1)[-1]
    )
    assert headline(closed)[("api-secret", "US")] == theirs[("api-secret", "US")]
    assert len(list((state_dir / CACHE_DIR).glob("*.json"))) == 1  # the closed run only
    assert "api-secret" not in outsider_browser.get(PAGE).text


def test_the_page_passes_the_csp_and_embeds_three_accessible_charts(
    console: Stack, browsers: Callable[[str], Browser]
) -> None:
    lead = browsers("dokafor")
    answer = lead.get(f"{PAGE}?since=7d")
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"] == CSP
    assert answer.headers["Cache-Control"] == "no-store"
    html = answer.text
    # The one script is live.js from this site; nothing inline, no style, no handler.
    scripts = re.findall(r"<script[^>]*>[^<]*</script>", html)
    assert len(scripts) == 1 and re.fullmatch(
        r'<script src="/console/static/live\.js[^"]*" defer></script>', scripts[0]
    )
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+\s*=", html), re.search(r"\son[a-z]+\s*=", html)
    svgs = re.findall(r"<svg [^>]*>", html)
    assert len(svgs) == 3 and all('role="img"' in s for s in svgs)
    labelled = [re.search(r'aria-labelledby="([^" ]+) ([^"]+)"', s) for s in svgs]
    ids = [i for m in labelled if m for i in m.groups()]
    assert len(ids) == 6 and all(html.count(f'id="{i}"') == 1 for i in ids)  # unique ids
    assert '<option value="7d" selected>' in html
    assert '<a href="/console/programme" aria-current="page">Programme</a>' in html
    # Longer than 90 days is not offered, and not honoured: the default window instead.
    assert '<option value="30d" selected>' in lead.get(f"{PAGE}?since=365d").text


def test_the_page_needs_a_signed_in_person(console: Stack, state_dir: Path) -> None:
    with httpx.Client(base_url=console.urls["main"], timeout=60) as http:
        answer = http.get(PAGE)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/signin?next=%2Fconsole%2Fprogramme")
