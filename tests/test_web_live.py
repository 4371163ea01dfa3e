"""Live updates, without Temporal: the hub's diff, its need-to-know filter, its start and
stop with its subscribers, the script's route, and the event stream's sign-in check."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi import FastAPI

from sopflow.api.identity import Person
from sopflow.client.views import IncidentSummary
from sopflow.web.live import Hub, MaySee, Subscriber, changed, snapshot
from sopflow.web.render import LIVE_JS_VERSION
from sopflow.web.sessions import SessionStore, TokenLogin
from sopflow.web.settings import ConsoleSettings
from tests.console_browser import Browser, in_process
from tests.test_web_unit import ORIGIN, app_with

BASE = IncidentSummary(
    id="inc-a",
    sop="api-drill",
    version=1,
    region="US",
    severity="SEV2",
    status="running",
    outcome=None,
    started_at=None,
    active_steps=("verify",),
    pending_roles=("responder",),
    sla_breached=False,
)
LEAD = Person("slee", ("lead",), "token", None)


def test_the_diff_names_what_appeared_or_changed_and_the_first_poll_is_the_baseline() -> None:
    before = snapshot([BASE, replace(BASE, id="inc-b"), replace(BASE, id="inc-old")])
    assert changed(None, before) == set()
    after = snapshot(
        [
            replace(BASE, active_steps=("signoff",), pending_roles=("lead",)),  # moved on
            replace(BASE, id="inc-b"),  # the same
            replace(BASE, id="inc-new"),  # opened
        ]
    )  # inc-old left the window (closed over a minute ago): no change
    assert changed(before, after) == {"inc-a", "inc-new"}
    for variant in [
        replace(BASE, status="completed"),
        replace(BASE, severity="SEV1"),
        replace(BASE, outcome="resolved"),
        replace(BASE, sla_breached=True),
        replace(BASE, pending_roles=("lead", "responder")),
    ]:
        assert changed(before, snapshot([variant])) == {"inc-a"}, variant
    # The order visibility lists steps or roles in is no change.
    two = replace(BASE, active_steps=("a", "b"))
    assert changed(snapshot([two]), snapshot([replace(two, active_steps=("b", "a"))])) == set()


def test_the_hub_tells_each_person_only_what_they_may_see_and_asks_once() -> None:
    asked: list[tuple[str, str]] = []

    def checker(who: str, hidden: set[str]) -> MaySee:
        async def may_see(incident_id: str) -> bool:
            asked.append((who, incident_id))
            return incident_id not in hidden

        return may_see

    polls = [
        [BASE, replace(BASE, id="inc-secret")],
        [replace(BASE, sla_breached=True), replace(BASE, id="inc-secret", status="completed")],
        [replace(BASE, sla_breached=True, severity="SEV1"), replace(BASE, id="inc-secret")],
    ]

    async def lister() -> list[IncidentSummary]:
        return polls.pop(0)

    async def scenario() -> tuple[list[str], list[str]]:
        hub = Hub(poll_s=3600)  # driven by hand below
        lead = Subscriber(LEAD, checker("slee", set()))
        other = Subscriber(Person("x", ("legal",), "token", None), checker("x", {"inc-secret"}))
        async with hub.subscribed(lead, lister), hub.subscribed(other, lister):
            await asyncio.sleep(0)  # the poller's first poll: the baseline
            assert hub.polls == 1 and lead.queue.empty()
            assert await hub.poll_once() == {"inc-a", "inc-secret"}
            assert await hub.poll_once() == {"inc-a", "inc-secret"}
            drained: tuple[list[str], list[str]] = ([], [])
            for queue, out in ((lead.queue, drained[0]), (other.queue, drained[1])):
                while not queue.empty():
                    out.append(queue.get_nowait())
            return drained

    seen_by_lead, seen_by_other = asyncio.run(scenario())
    assert sorted(seen_by_lead) == ["inc-a", "inc-a", "inc-secret", "inc-secret"]
    assert seen_by_other == ["inc-a", "inc-a"]  # never a word about inc-secret
    # Each person is asked about each incident once for the stream's life.
    assert sorted(asked) == sorted(
        [("slee", "inc-a"), ("slee", "inc-secret"), ("x", "inc-a"), ("x", "inc-secret")]
    )


def running(hub: Hub) -> bool:
    return hub._task is not None


def test_the_hub_polls_only_while_someone_listens_and_publishes_console_actions_at_once() -> None:
    async def scenario() -> None:
        calls = 0

        async def lister() -> list[IncidentSummary]:
            nonlocal calls
            calls += 1
            return [BASE]

        async def anyone(_incident: str) -> bool:
            return True

        hub = Hub(poll_s=0.01)
        hub.notify("inc-a")  # nobody listens: nothing to do, nothing started
        assert not running(hub)
        one = Subscriber(LEAD, anyone)
        async with hub.subscribed(one, lister):
            task = hub._task
            assert task is not None and running(hub)
            while calls < 3:
                await asyncio.sleep(0.01)
            hub.notify("inc-z")
            assert await asyncio.wait_for(one.queue.get(), 1) == "inc-z"
        assert not running(hub) and task.cancelling()
        await asyncio.sleep(0.05)
        stopped = calls
        await asyncio.sleep(0.05)
        assert calls == stopped  # no query while nobody listens

    asyncio.run(scenario())


def test_a_stream_does_not_keep_a_session_alive() -> None:
    now = [0.0]
    store = SessionStore(ConsoleSettings(), clock=lambda: now[0])
    sid, _ = store.new(TokenLogin("sft_x"))
    anonymous, _ = store.new(None)
    assert store.alive(sid) and not store.alive(anonymous) and not store.alive("nope")
    now[0] = ConsoleSettings().idle_timeout_s - 1
    assert store.alive(sid)
    now[0] = ConsoleSettings().idle_timeout_s + 1  # alive() did not restart the idle time
    assert not store.alive(sid)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return app_with(tmp_path_factory.mktemp("live"))


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    with in_process(app, ORIGIN) as http:
        yield Browser(http, ORIGIN)


def test_the_script_is_served_as_javascript_and_cached_only_when_versioned(
    browser: Browser,
) -> None:
    versioned = browser.get(f"/console/static/live.js?v={LIVE_JS_VERSION}")
    assert versioned.status_code == 200
    assert versioned.headers["content-type"].startswith("text/javascript")
    assert versioned.headers["X-Content-Type-Options"] == "nosniff"
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "EventSource" in versioned.text
    for stale in ("/console/static/live.js", "/console/static/live.js?v=0000000000000000"):
        answer = browser.get(stale)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    # The signed-in pages link it, with its version; the sign-in page does not.
    assert "live.js" not in browser.get("/console/signin").text
    browser.sign_in("sft_dokafor")
    assert (
        f'src="/console/static/live.js?v={LIVE_JS_VERSION}" defer'
        in browser.get("/console/sops").text
    )


def test_the_event_stream_refuses_anyone_not_signed_in(browser: Browser) -> None:
    answer = browser.get("/console/events")
    assert answer.status_code == 401
    assert answer.headers["Cache-Control"] == "no-store"
    assert "text/event-stream" not in answer.headers["content-type"]


def test_an_announced_change_is_not_announced_again_by_the_next_poll() -> None:
    """After this process's own action the hub publishes at once and reads the incident
    fresh: the poll that then lists the same change finds nothing new, so an open page
    fetches itself once per action, not twice. A later change is still announced."""
    moved = replace(BASE, active_steps=("signoff",), pending_roles=("lead",))
    later = replace(moved, sla_breached=True)
    polls = [[BASE], [moved], [later]]

    async def lister() -> list[IncidentSummary]:
        return polls.pop(0)

    async def describer(incident_id: str) -> IncidentSummary | None:
        return moved if incident_id == BASE.id else None

    async def allowed(incident_id: str) -> bool:
        return True

    async def scenario() -> list[str]:
        hub = Hub(poll_s=3600)  # driven by hand below
        lead = Subscriber(LEAD, allowed)
        async with hub.subscribed(lead, lister, describer):
            await asyncio.sleep(0)  # the baseline poll
            hub.notify(BASE.id)
            while hub._notes:  # the announcement, and the fresh read after it
                await asyncio.sleep(0)
            assert await hub.poll_once() == set()  # the same change: not again
            assert await hub.poll_once() == {BASE.id}  # a new one: announced
            heard = []
            while not lead.queue.empty():
                heard.append(lead.queue.get_nowait())
            return heard

    assert asyncio.run(scenario()) == [BASE.id, BASE.id]


def test_a_poll_marks_what_changed_for_the_open_task_index_before_anyone_hears() -> None:
    """A page fetched on an event must not read an index that has not seen the change."""
    polls = [[BASE], [replace(BASE, active_steps=("signoff",))]]
    order: list[str] = []

    async def lister() -> list[IncidentSummary]:
        return polls.pop(0)

    async def allowed(incident_id: str) -> bool:
        order.append(f"heard {incident_id}")
        return True

    async def scenario() -> None:
        hub = Hub(poll_s=3600)
        mark = lambda incident_id: order.append(f"marked {incident_id}")  # noqa: E731
        async with hub.subscribed(Subscriber(LEAD, allowed), lister, None, mark):
            await asyncio.sleep(0)  # the baseline poll
            assert await hub.poll_once() == {BASE.id}

    asyncio.run(scenario())
    assert order == [f"marked {BASE.id}", f"heard {BASE.id}"]
