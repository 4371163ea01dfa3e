"""The console benchmark's page rounds (see ``bench/console_latency.py``): the inbox against
the visibility list it once ran, an incident page against ``view``."""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest

from bench.api_latency import timed
from bench.console_http import Browser
from bench.console_report import SETTLING, SETTLING_S, Figures
from bench.console_setup import Stack
from bench.temporal_env import cpu_seconds
from sopflow.client import queues
from sopflow.client.open_tasks import MAX_AGE_S
from sopflow.contract import search
from sopflow.contract.messages import Actor
from sopflow.contract.plan import Plan

PAGE_SIZE = 1000  # list_workflows' default page size
INBOX_COUNT = re.compile(r"(\d+) (?:of (\d+) )?tasks? (?:waiting on you|match)")
# An inbox request comes at least this long after the one before, so the index is older than
# MAX_AGE_S and looks again: every sample pays for a look, as a person alone on the console.
INBOX_GAP_S = MAX_AGE_S + 0.05

Call = Callable[[], Awaitable[None]]


@dataclass
class Pages:
    """What the page rounds need."""

    rig: Stack
    browser: Browser
    plans: dict[str, Plan]
    figures: Figures
    settled: float  # time.monotonic() when the last incident settled
    last_inbox: float = 0.0  # time.monotonic() when the last inbox request was sent


def inbox_count(html: str) -> int:
    found = INBOX_COUNT.search(html)
    if found is None:
        raise RuntimeError("the inbox does not say how many tasks it has")
    return int(found.group(2) or found.group(1))


def inbox_paths(pages: Pages, actor: Actor) -> dict[str, Call]:
    """The inbox page, the list it was (decoded by the SDK) and the same list's bare RPC."""
    figures, client = pages.figures, pages.rig.client
    # What ``IncidentService.tasks_for(actor)`` lists, as the inbox did before the index.
    query = queues.open_tasks_query(actor.roles, actor.roles)

    async def page() -> None:
        answer = await pages.browser.get("/console/")
        if answer.status != 200:
            raise RuntimeError(f"the inbox answered {answer.status}: {answer.text[:300]}")
        figures.inbox_tasks = inbox_count(answer.text)

    async def listing() -> None:
        found = [wf async for wf in client.list_workflows(query)]
        figures.listed = len(found)
        figures.fallbacks = sum(
            queues.active_from_visibility(
                pages.plans[wf.typed_search_attributes.get(search.PLAN_HASH) or ""],
                wf.typed_search_attributes,
            )
            is None
            for wf in found
        )

    async def undecoded() -> None:
        request = ListWorkflowExecutionsRequest(
            namespace=client.namespace, query=query, page_size=PAGE_SIZE
        )
        while True:
            answer = await client.workflow_service.list_workflow_executions(request)
            if not answer.next_page_token:
                return
            request.next_page_token = answer.next_page_token

    return {"inbox page": page, "inbox list (baseline)": listing, "inbox list RPC only": undecoded}


async def inbox_page(pages: Pages, page: Call, kind: str) -> float:
    """One inbox request (ms), at least INBOX_GAP_S after the one before; kept in
    ``figures.inbox_at`` as ``kind``."""
    await asyncio.sleep(max(0.0, pages.last_inbox + INBOX_GAP_S - time.monotonic()))
    pages.last_inbox = time.monotonic()
    elapsed = await timed(page)
    pages.figures.inbox_at.append((pages.last_inbox - pages.settled, elapsed, kind))
    return elapsed


async def measure_inbox(pages: Pages, actor: Actor, args: argparse.Namespace) -> None:
    """The cold inbox; the inbox alone until SETTLING_S after the last incident settled;
    then W warm-up rounds (every path) and I inbox rounds, the two lists in every (I / L)-th
    of them (L of each, the order rotating). The API's CPU over the measured rounds, per
    inbox page (the lists do not touch the API)."""
    figures = pages.figures
    paths = inbox_paths(pages, actor)
    pages.last_inbox = time.monotonic()
    figures.cold_inbox_ms = await timed(paths["inbox page"])
    while time.monotonic() + INBOX_GAP_S < pages.settled + SETTLING_S:
        figures.add(SETTLING, await inbox_page(pages, paths["inbox page"], "settling"))
    every = max(1, args.inbox_samples // args.list_samples)
    cpu = 0.0
    for r in range(args.warmup + args.inbox_samples):
        counted = r - args.warmup
        if counted == 0:
            cpu = cpu_seconds(pages.rig.api.pid)
        lists = counted < 0 or (counted % every == 0 and counted // every < args.list_samples)
        names = list(paths) if lists else ["inbox page"]
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "inbox page":
                kind = "measured" if counted >= 0 else "warm-up"
                elapsed = await inbox_page(pages, paths[name], kind)
            else:
                elapsed = await timed(paths[name])
            if counted >= 0:
                figures.add(name, elapsed)
    cpu = cpu_seconds(pages.rig.api.pid) - cpu
    figures.cpu_ms["inbox page"] = 1000 * cpu / args.inbox_samples
    if figures.inbox_tasks != figures.listed:
        raise RuntimeError(
            f"the inbox shows {figures.inbox_tasks} tasks, visibility lists "
            f"{figures.listed} incidents"
        )


async def measure_incident_pages(
    pages: Pages, incidents: list[str], args: argparse.Namespace
) -> None:
    """W + S rounds, each path once per round on its own incidents (every third of
    ``incidents``), the order rotating by round; the API's CPU over the measured rounds, per
    page (the API serves nothing else then)."""
    pools = {name: iter(incidents[k::3]) for k, name in enumerate(("page", "view", "plan"))}
    service = pages.rig.service

    async def page() -> None:
        incident = next(pools["page"])
        answer = await pages.browser.get(f"/console/incidents/{incident}")
        if answer.status != 200 or incident not in answer.text:
            raise RuntimeError(f"{incident}'s page answered {answer.status}: {answer.text[:300]}")

    async def view() -> None:
        result = await service.view(next(pools["view"]))
        if result.state is None:
            raise RuntimeError(f"no state: {result.unavailable}")

    async def view_plan() -> None:
        incident = next(pools["plan"])
        await service.view(incident)
        await service.plan(incident)

    paths = {
        "incident page": page,
        "incident view (baseline)": view,
        "incident view+plan": view_plan,
    }
    names = list(paths)
    cpu = 0.0
    for r in range(args.warmup + args.samples):
        if r == args.warmup:
            cpu = cpu_seconds(pages.rig.api.pid)
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed = await timed(paths[name])
            if r >= args.warmup:
                pages.figures.add(name, elapsed)
    pid = pages.rig.api.pid
    pages.figures.cpu_ms["incident page"] = 1000 * (cpu_seconds(pid) - cpu) / args.samples
