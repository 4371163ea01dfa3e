"""`sopflow metrics` on thousands of incidents, against a hand-written read of the same runs.

``python bench/metrics.py [--incidents N] [--concurrency C] [--json]`` starts a Temporal dev
server (127.0.0.1, SQLite in memory) and one worker (``bench.bench_worker``), opens N
incidents of ``sops.AUTOMATED`` (each closes by itself: seven activities, an end) and waits
until visibility lists all N. Then, in one process, it times:

- **hand**: the least any metrics reader does: list the window's runs, then fetch every
  run's result (its final state) with ``C`` reads at once. No reduction, no computation.
- **sopflow, cold**: ``sopflow.client.metrics.read.collect`` on an empty cache: the same
  listing and reads, each state reduced to its facts, the facts cached, the figures computed.
- **sopflow, cached**: ``collect`` again: closed runs come from the cache, only the listing
  goes to Temporal.

Each is run ``--rounds`` times in alternation; the figures are medians, and the ratios are
sopflow's time over the hand-written read's. Targets: cold at most 1.5x the hand-written read
(the reduction and computation cost little beside the reads), cached at most 0.5x (the point
of the cache). The exit status is 0 unless ``--check`` is given and a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/metrics.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench.sops import AUTOMATED, POLICY, compile_sop
from bench.temporal_env import BENCH_WORKER, connect, dev_server, incident_service, worker_process
from sopflow.client.metrics.read import collect
from sopflow.client.metrics.window import Window, runs_query
from sopflow.client.visibility import incidents_only
from sopflow.contract.messages import IncidentState

INPUT = {"urgent": True, "summary": "credible threat against a named person"}
MAX_COLD_RATIO = 1.5
MAX_CACHED_RATIO = 0.5
VISIBLE_DEADLINE_S = 120.0
OPEN_DEADLINE_S = 600.0
WORKER_ENV = {"BENCH_WORKFLOWS": "sopflow"}


async def open_incidents(client: Client, queue: str, count: int) -> None:
    """Open ``count`` incidents, 50 at a time, and wait for every result."""
    plan = compile_sop(AUTOMATED, POLICY)
    incidents = incident_service(client, queue)
    prefix = f"bench-metrics-{uuid.uuid4().hex[:8]}"
    for first in range(0, count, 50):
        handles = await asyncio.gather(
            *(
                incidents.start(plan, INPUT, opened_by="bench", incident_id=f"{prefix}-{n}")
                for n in range(first, min(first + 50, count))
            )
        )
        results = asyncio.gather(*(h.result() for h in handles))
        await asyncio.wait_for(results, OPEN_DEADLINE_S)  # a worker that serves none: fail


async def until_listed(client: Client, window: Window, count: int) -> None:
    """Wait (with a deadline) until visibility lists ``count`` incidents in ``window``."""
    query = incidents_only(runs_query(window) + " AND ExecutionStatus = 'Completed'")
    stop = time.monotonic() + VISIBLE_DEADLINE_S
    while (await client.count_workflows(query)).count < count:
        if time.monotonic() > stop:
            raise RuntimeError(f"visibility did not list {count} incidents in time")
        await asyncio.sleep(0.5)


async def hand_read(client: Client, window: Window, concurrency: int) -> int:
    """List the window's runs and fetch each one's final state: the floor of any reader."""
    gate = asyncio.Semaphore(concurrency)
    runs = [wf async for wf in client.list_workflows(incidents_only(runs_query(window)))]

    async def result(workflow_id: str, run_id: str | None) -> IncidentState:
        async with gate:
            handle = client.get_workflow_handle(
                workflow_id, run_id=run_id, result_type=IncidentState
            )
            state: IncidentState = await handle.result()
            return state

    states = await asyncio.gather(*(result(wf.id, wf.run_id) for wf in runs))
    return len(states)


async def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await action
    return time.perf_counter() - started, value


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    queue = f"bench-metrics-{uuid.uuid4().hex[:6]}"
    times: dict[str, list[float]] = {"hand": [], "cold": [], "cached": []}
    async with dev_server() as server:
        client = await connect(server.address)
        async with worker_process(BENCH_WORKER, server.address, queue, WORKER_ENV):
            window = Window(datetime.now(UTC) - timedelta(minutes=1))
            opened = await timed(open_incidents(client, queue, args.incidents))
            print(f"opened {args.incidents} incidents in {opened[0]:.1f} s", flush=True)
            await until_listed(client, window, args.incidents)
        # The worker has stopped: every read below is of a closed run's result.
        for round_ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as cache:
                hand_s, read = await timed(hand_read(client, window, args.concurrency))
                run = collect(client, window, state_dir=Path(cache), concurrency=args.concurrency)
                cold_s, cold = await timed(run)
                again = collect(client, window, state_dir=Path(cache), concurrency=args.concurrency)
                cached_s, cached = await timed(again)
            if not read == cold.incidents == cached.incidents == args.incidents:
                raise RuntimeError(f"read {read}, {cold.incidents}, {cached.incidents} incidents")
            for name, seconds in (("hand", hand_s), ("cold", cold_s), ("cached", cached_s)):
                times[name].append(seconds)
            print(
                f"round {round_ + 1}: hand {hand_s:.2f} s, sopflow cold {cold_s:.2f} s, "
                f"cached {cached_s:.2f} s",
                flush=True,
            )
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "incidents": args.incidents,
        "concurrency": args.concurrency,
        "seconds": medians,
        "cold_ratio": medians["cold"] / medians["hand"],
        "cached_ratio": medians["cached"] / medians["hand"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(figures, indent=2))
    s = figures["seconds"]
    rows = [
        ["hand-written read (list + every result)", f"{s['hand']:.2f} s", "1.00x"],
        ["sopflow metrics, empty cache", f"{s['cold']:.2f} s", f"{figures['cold_ratio']:.2f}x"],
        ["sopflow metrics, cached", f"{s['cached']:.2f} s", f"{figures['cached_ratio']:.2f}x"],
    ]
    report.table(["reading " + str(figures["incidents"]) + " incidents", "median", "ratio"], rows)
    cold_ok = report.verdict(
        figures["cold_ratio"] <= MAX_COLD_RATIO, f"cold <= {MAX_COLD_RATIO}x the hand-written read"
    )
    cached_ok = report.verdict(
        figures["cached_ratio"] <= MAX_CACHED_RATIO, f"cached <= {MAX_CACHED_RATIO}x"
    )
    passed = cold_ok.startswith("PASS") and cached_ok.startswith("PASS")
    return 0 if passed or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
