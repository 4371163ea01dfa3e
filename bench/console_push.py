"""The console benchmark's action rounds (see ``bench/console_latency.py``): how long slee's
action (A) takes to reach amoreno's open page (B), through the API and directly."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client

from bench.api_latency import Person
from bench.console_http import Browser, EventStream
from bench.console_report import BASELINE_PUSH, Figures
from bench.console_setup import ACTOR, Case, Stack
from bench.lean_http import LeanClient
from sopflow.client.incidents import IncidentService
from sopflow.client.visibility import quote
from sopflow.contract.messages import CompleteTask
from sopflow.web.live import POLL_S as HUB_POLL_S
from sopflow.web.live import window_query
from sopflow.web.visits import LIVE_HEADER

EVENT_TIMEOUT_S = 10.0
POLL_S = 0.02  # the direct baseline's visibility poll
QUIET = 50  # incidents changed in the last minute, at most, before the actions start


async def quiet_window(service: IncidentService, timeout_s: float = 120.0) -> int:
    """Wait (at most ``timeout_s``) until the hub's poll, which lists the incidents changed
    in the last minute, lists at most QUIET: the opening's burst of changes is over, as on a
    working day. How many it lists then."""
    deadline = time.monotonic() + timeout_s
    while (listed := await service.count(window_query(datetime.now(UTC)))) > QUIET:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    return listed


@dataclass
class Pusher:
    """What the action rounds need."""

    api: LeanClient
    browser: Browser
    stream: EventStream
    service: IncidentService
    client: Client
    actor: Person
    figures: Figures
    api_acted: list[str] = field(default_factory=list)
    direct_acted: list[str] = field(default_factory=list)

    def heard(self, incidents: list[str]) -> float:
        """How many events B's stream brought, on average, for each of ``incidents``."""
        counts = self.stream.counts
        return sum(counts[i] for i in incidents) / max(1, len(incidents))


async def api_round(rig: Pusher, incident: str, case: Case, counted: bool) -> None:
    """A completes ``case.step`` through the API (the API announces an accepted action to the
    hub of its own process at once); until B's stream names the incident, and until B has
    the page again."""
    rig.figures.other_events += rig.stream.drain()
    path = f"/api/v1/incidents/{incident}/steps/{case.step}/complete"
    began = time.perf_counter()
    answer = await rig.api.post(path, {"data": case.data}, rig.actor.auth)
    answered = time.perf_counter()
    if answer.status != 200 or answer.json().get("accepted") is not True:
        raise RuntimeError(f"the API did not accept {incident}: {answer.status} {answer.body!r}")
    rig.api_acted.append(incident)
    heard = await page_hears(rig, incident, case, counted)
    if heard is not None and counted:
        rig.figures.add("action (API)", 1000 * (answered - began))
        rig.figures.add("API action to event", 1000 * (heard[0] - began))
        rig.figures.add("API action to page", 1000 * (heard[1] - began))


async def direct_round(rig: Pusher, incident: str, case: Case, counted: bool) -> None:
    """The same completion through the service from this process (as the CLI in direct
    mode, another API process or the workflow itself would change an incident: the hub hears
    of it only from its visibility poll); until visibility no longer lists the step (the
    baseline), then until B's stream names the incident and B has the page again."""
    rig.figures.other_events += rig.stream.drain()
    action = CompleteTask(step=case.step, actor=rig.actor.actor, data=case.data)
    query = f"WorkflowId = {quote(incident)} AND ActiveSteps = {quote(case.step)}"
    began = time.perf_counter()
    result = await rig.service.act(incident, action)
    answered = time.perf_counter()
    if not result.accepted:
        raise RuntimeError(f"the service did not accept {incident}: {result}")
    rig.direct_acted.append(incident)
    deadline = began + EVENT_TIMEOUT_S
    while (await rig.client.count_workflows(query)).count:
        if time.perf_counter() > deadline:
            print(f"  visibility still lists {case.step} of {incident}")
            rig.figures.missed += counted
            return
        await asyncio.sleep(POLL_S)
    seen = time.perf_counter()
    heard = await page_hears(rig, incident, case, counted)
    if heard is not None and counted:
        rig.figures.add("action (direct)", 1000 * (answered - began))
        rig.figures.add(BASELINE_PUSH, 1000 * (seen - began))
        rig.figures.add("direct action to event", 1000 * (heard[0] - began))
        rig.figures.add("direct action to page", 1000 * (heard[1] - began))


async def page_hears(
    rig: Pusher, incident: str, case: Case, counted: bool
) -> tuple[float, float] | None:
    """When B's stream delivered an event naming ``incident`` (at most EVENT_TIMEOUT_S after
    now), and when B had fetched its page again (as live.js does); None if no event came."""
    deadline = time.perf_counter() + EVENT_TIMEOUT_S
    arrived = None
    while arrived is None and (left := deadline - time.perf_counter()) > 0:
        try:
            event = await asyncio.wait_for(rig.stream.events.get(), left)
        except TimeoutError:
            break
        if event.name == "changed" and event.json().get("incident") == incident:
            arrived = event.at
        else:
            rig.figures.other_events += 1
    if arrived is None:
        print(f"  no event for {incident} within {EVENT_TIMEOUT_S:.0f} s")
        rig.figures.missed += counted
        return None
    page = await rig.browser.get(f"/console/incidents/{incident}", {LIVE_HEADER: "1"})
    fetched = time.perf_counter()
    if page.status != 200:
        raise RuntimeError(f"{incident}'s page answered {page.status}")
    rig.figures.stale += counted and f'id="form-task-{case.step}"' in page.text
    return arrived, fetched


async def measure_push(
    rig: Pusher, incidents: list[tuple[str, Case]], args: argparse.Namespace
) -> None:
    """W + A rounds, API and direct alternating (which goes first alternates by round), each
    round after a random pause within the hub's poll period. The warm-up rounds also let the
    hub take its first snapshot (the baseline it diffs against: a change made before it is
    no event)."""
    jitter = random.Random(11)
    for r in range(args.warmup + args.actions):
        counted = r >= args.warmup
        (api_id, api_case), (direct_id, direct_case) = incidents[2 * r], incidents[2 * r + 1]
        # A person acts at any moment of the hub's one-second cycle; rounds back to back
        # would fall into step with it (each starting just after a poll) and always measure
        # the worst case.
        await asyncio.sleep(jitter.uniform(0.0, HUB_POLL_S))
        if r % 2 == 0:
            await api_round(rig, api_id, api_case, counted)
            await direct_round(rig, direct_id, direct_case, counted)
        else:
            await direct_round(rig, direct_id, direct_case, counted)
            await api_round(rig, api_id, api_case, counted)
        if (r + 1) % 10 == 0:
            print(f"  {r + 1}/{args.warmup + args.actions} rounds")


async def run_push(
    stack: Stack,
    browser: Browser,
    incidents: list[tuple[str, Case]],
    args: argparse.Namespace,
    figures: Figures,
) -> None:
    """B's event stream opened, the action rounds, and the events each action brought."""
    stream = await EventStream.open("127.0.0.1", stack.port, browser.cookie or "")
    lean = LeanClient("127.0.0.1", stack.port)
    try:
        actor = stack.people[ACTOR]
        rig = Pusher(lean, browser, stream, stack.service, stack.client, actor, figures)
        await measure_push(rig, incidents, args)
        figures.heard = {"api": rig.heard(rig.api_acted), "direct": rig.heard(rig.direct_acted)}
    finally:
        await stream.close()
        await lean.close()
