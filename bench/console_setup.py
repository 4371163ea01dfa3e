"""The console benchmark's stack and its open incidents (see ``bench/console_latency.py``).

``stack`` stands up, all on 127.0.0.1, the dev server, the worker as production runs it and
``sopflow serve``, with a token each for ``READER`` and ``ACTOR``; ``open_incidents`` starts
the incidents through the incident service and waits until every one waits at its first task.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.api_latency import DEFINITIONS, Person, _api_env, api_process, serve_command
from bench.temporal_env import (
    SOPFLOW_WORKER,
    WorkerProcess,
    connect,
    dev_server,
    incident_service,
    worker_process,
)
from sopflow.api.tokens import TokenStore
from sopflow.client.incidents import IncidentService
from sopflow.client.testing import TEST_SIGNER
from sopflow.client.visibility import quote
from sopflow.compile.lint import lint_library
from sopflow.contract.plan import Plan, TaskPlan
from sopflow.language.roster import load_roster

READER = "amoreno"  # signs in to the console: her inbox, her pages, her event stream (B)
ACTOR = "slee"  # acts through the API (A): responder and specialist, like every first task
# The shipped SOPs page and email through channels named pager and email: here both are the
# log channel (nothing is sent anywhere).
CHANNELS = '[channels.pager]\nkind = "log"\n\n[channels.email]\nkind = "log"\n'


@dataclass(frozen=True)
class Case:
    """An SOP version in one region, its input and its first task, from a shipped
    happy-path rehearsal."""

    plan: Plan
    input: dict[str, Any]
    opened_by: str | None
    step: str
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.plan.sop.id}@{self.plan.sop.version} {self.region}"

    @property
    def region(self) -> str:
        return str(self.plan.region.code)


def desk_of(handle: str) -> str:
    """The region whose desk ``handle`` works on (the Roster's ``region``): a person acts on
    that region's incidents (others' only through an SOP's global roles)."""
    return str(load_roster(DEFINITIONS).person(handle).region)


def load_cases() -> list[Case]:
    """The happy-path rehearsals of the shipped library whose first action completes a task
    that ACTOR and READER may both do."""
    result = lint_library(DEFINITIONS)
    roster = load_roster(DEFINITIONS)
    able = set(roster.actor(ACTOR).roles) & set(roster.actor(READER).roles)
    cases = []
    for loaded in result.library.rehearsals:
        doc = loaded.model
        if not Path(loaded.source.path).name.endswith("happy-path.yaml"):
            continue
        first = doc.actions[0].complete if doc.actions else None
        sop, _, version = doc.sop.partition("@")
        plan = result.plans.get((sop, int(version), doc.region or ""))
        if first is None or plan is None:
            continue
        step = plan.steps_by_id().get(first.step)
        if isinstance(step, TaskPlan) and step.assignee in able:
            cases.append(Case(plan, doc.input, doc.opened_by, first.step, first.data))
    if not cases:
        raise RuntimeError(f"no happy-path rehearsal in {DEFINITIONS} fits")
    return sorted(cases, key=lambda c: c.name)


@dataclass
class Stack:
    """What runs for a measurement: the client and service of this process, the worker, the
    API process (``port`` on 127.0.0.1) and the two people's tokens."""

    client: Client
    service: IncidentService
    worker: WorkerProcess
    api: subprocess.Popen[bytes]
    port: int
    people: dict[str, Person]


@asynccontextmanager
async def stack(profile: Path | None) -> AsyncIterator[Stack]:
    """The dev server, ``python worker.py`` and ``sopflow serve`` (under cProfile, switched on
    by SIGUSR1, when ``profile`` is given), on a fresh task queue; everything stopped on exit."""
    roster = load_roster(DEFINITIONS)
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-console-") as tmp:
        root = Path(tmp)
        key, _ = TEST_SIGNER.write(root / "keys")  # the key the worker trusts
        store = TokenStore(root / "tokens.json")
        people = {h: Person(h, store.issue(h)[0], roster.actor(h)) for h in (READER, ACTOR)}
        config = root / "config.toml"
        config.write_text(CHANNELS, encoding="utf-8")
        worker_env = {
            "SOPFLOW_CONFIG": str(config),
            "SOPFLOW_ARTIFACTS": str(root / "artifacts"),
            "SOPFLOW_DISCLOSURE_LOG": str(root / "disclosures.jsonl"),
        }

        def command(port: int) -> list[str]:
            return serve_command(port, profile, [])

        async with dev_server() as server:
            client = await connect(server.address)
            queue = f"bench-console-{uuid.uuid4().hex[:6]}"
            env = _api_env(server.address, queue, key, root / "tokens.json", root / "state", None)
            async with (
                worker_process(SOPFLOW_WORKER, server.address, queue, worker_env) as worker,
                api_process(env, root / "api.log", command) as (api, base),
            ):
                service = incident_service(client, queue)
                port = int(base.rsplit(":", 1)[1])
                yield Stack(client, service, worker, api, port, people)


async def open_incidents(
    rig: Stack, cases: list[Case], args: argparse.Namespace
) -> tuple[list[tuple[str, Case]], float, float]:
    """Start N incidents (``args.open_in_flight`` at a time), then wait until visibility
    lists all N running and waiting at their first task. The incidents, the seconds the
    starts took, and the seconds until all were waiting."""
    run = uuid.uuid4().hex[:6]
    plan = [(f"bench-{run}-{i:05d}", cases[i % len(cases)]) for i in range(args.incidents)]
    gate = asyncio.Semaphore(args.open_in_flight)

    async def one(incident: str, case: Case) -> None:
        async with gate:
            await rig.service.start(
                case.plan, case.input, opened_by=case.opened_by or READER, incident_id=incident
            )

    began = time.perf_counter()
    await asyncio.gather(*(one(i, c) for i, c in plan))
    started = time.perf_counter() - began
    print(f"  {args.incidents} started in {started:.1f} s")
    try:
        await _until_waiting(rig, cases, args.incidents)
    except TimeoutError as exc:
        tail = rig.worker.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{exc}; the worker's log ends:\n{tail}") from None
    return plan, started, time.perf_counter() - began


async def _until_waiting(rig: Stack, cases: list[Case], count: int) -> None:
    """Until visibility lists ``count`` incidents running and waiting at their first task;
    TimeoutError if one closes or it takes too long."""
    queue = quote(rig.service.task_queue)
    steps = ", ".join(sorted({quote(c.step) for c in cases}))
    query = f"TaskQueue = {queue} AND ExecutionStatus = 'Running' AND ActiveSteps IN ({steps})"
    closed = f"TaskQueue = {queue} AND ExecutionStatus != 'Running'"
    deadline = time.monotonic() + max(120.0, 0.5 * count)
    shown = time.monotonic()
    while (found := (await rig.client.count_workflows(query)).count) < count:
        ended = (await rig.client.count_workflows(closed)).count
        if ended or time.monotonic() > deadline:
            raise TimeoutError(f"only {found} of {count} incidents reached a task ({ended} closed)")
        if time.monotonic() - shown > 10:
            print(f"  {found}/{count} waiting at their first task")
            shown = time.monotonic()
        await asyncio.sleep(0.5)
