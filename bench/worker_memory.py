"""Worker memory: RSS of the sopflow worker holding open incidents that wait on people.

``python bench/worker_memory.py [--incidents N] [--json] [--check]``: for each of sopflow and
the hand-written baseline, a fresh dev server (127.0.0.1) and a worker subprocess: sopflow's
own ``python worker.py`` (TEMPORAL_ADDRESS pointing at the server; ``SOPFLOW_TRUSTED_KEYS``
at the benchmark's signing key, as ``temporal_env.worker_process`` sets it: it verifies action
signatures, though no action is sent here), and ``python -m bench.bench_worker``
(``worker.py``'s settings, serving ``handwritten.HandStep``).
N workflows start (sopflow: ``sops.TASK``, one task with a 30-day SLA; hand-written: an update
under a 30-day SLA timer that publishes ActiveSteps), in chunks; the benchmark polls
visibility (``ActiveSteps``) until all N wait, printing the count and the worker's RSS, then
reads the worker's VmRSS and VmHWM from ``/proc/<pid>/status``.

Both workers keep the SDK's default sticky cache of 1,000 workflows (``max_cached_workflows``),
so past 1,000 open workflows the oldest are evicted and RSS should level off. Target: the
sopflow worker's RSS below 300 MB with N = 2,000. The exit status is 0 unless ``--check`` is
given and the target fails.

What-if runs (``--experiment passthrough``, ``--max-cached N``) start both workers as
``bench.bench_worker`` with that setting (``worker.py`` has no such options), so they measure a
candidate fix, not the shipped worker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/worker_memory.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench import experiments
from bench.hand_models import HandStepInput
from bench.handwritten import HandStep
from bench.sops import TASK, compile_sop
from bench.temporal_env import (
    BENCH_WORKER,
    SOPFLOW_WORKER,
    DevServer,
    connect,
    dev_server,
    incident_service,
    rss_mb,
    worker_process,
)

MAX_RSS_MB = 300.0
CHUNK = 100
SLA_S = 30 * 86400
Starter = Callable[[Client, str, int], Awaitable[Any]]


@dataclass
class Measurement:
    kind: str
    baseline: float = 0.0  # RSS of the idle worker, MiB
    rss: float = 0.0  # after all N wait
    hwm: float = 0.0  # peak RSS
    seconds: float = 0.0  # from the first start to all waiting
    curve: list[tuple[int, float]] = field(default_factory=list)  # (waiting, RSS)


def sopflow_starter() -> tuple[list[str], Starter, str]:
    plan = compile_sop(TASK)
    tag = uuid.uuid4().hex[:6]

    async def start(client: Client, queue: str, i: int) -> Any:
        incident = f"mem-{tag}-{i:05d}"
        incidents = incident_service(client, queue)
        return await incidents.start(plan, {}, opened_by="bench", incident_id=incident)

    return SOPFLOW_WORKER, start, "work"


def hand_starter() -> tuple[list[str], Starter, str]:
    tag = uuid.uuid4().hex[:6]

    async def start(client: Client, queue: str, i: int) -> Any:
        wid = f"hmem-{tag}-{i:05d}"
        inp = HandStepInput(incident_id=wid, kind="update", sla_s=SLA_S, publish=True)
        return await client.start_workflow(HandStep.run, inp, id=wid, task_queue=queue)

    return BENCH_WORKER, start, "x"


def worker_settings(args: argparse.Namespace) -> dict[str, str]:
    """bench_worker's environment for the what-if settings asked for (none: empty)."""
    return experiments.worker_env(args.experiment, args.max_cached)


async def run_one(kind: str, args: argparse.Namespace) -> Measurement:
    """One worker subprocess on a fresh dev server, N open workflows, its RSS."""
    command, start, step = sopflow_starter() if kind == "sopflow" else hand_starter()
    what_if = worker_settings(args)
    env = {**what_if, "BENCH_WORKFLOWS": kind}
    if what_if:  # worker.py has no such settings: sopflow's workflow in bench.bench_worker
        command = BENCH_WORKER
    result = Measurement(kind)
    queue = f"bench-mem-{uuid.uuid4().hex[:6]}"
    async with dev_server() as server:
        client = await connect(server.address)
        async with worker_process(command, server.address, queue, env) as worker:
            await asyncio.sleep(2)
            result.baseline = worker.rss()[0]
            print(f"{kind}: worker pid {worker.pid} idle, RSS {result.baseline:.1f} MB")
            await _open(client, server, queue, start, step, args.incidents, worker.pid, result)
            await asyncio.sleep(3)  # let the last workflow tasks settle
            samples = []
            for _ in range(3):
                samples.append(worker.rss())
                await asyncio.sleep(1)
            result.rss = max(s[0] for s in samples)
            result.hwm = max(s[1] for s in samples)
    return result


async def _open(
    client: Client,
    server: DevServer,
    queue: str,
    start: Starter,
    step: str,
    n: int,
    pid: int,
    result: Measurement,
) -> None:
    """Start N workflows in chunks, then poll until visibility shows all N waiting."""
    query = f"TaskQueue = '{queue}' AND ActiveSteps = '{step}' AND ExecutionStatus = 'Running'"
    began = time.monotonic()
    for first in range(0, n, CHUNK):
        await asyncio.gather(
            *(start(client, queue, i) for i in range(first, min(first + CHUNK, n)))
        )
        if (first // CHUNK) % 5 == 4:
            waiting = (await client.count_workflows(query)).count
            rss = rss_mb(pid)[0]
            result.curve.append((waiting, rss))
            print(f"  started {first + CHUNK}, waiting {waiting}, worker RSS {rss:.1f} MB")
    deadline = time.monotonic() + 300
    while (waiting := (await client.count_workflows(query)).count) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {waiting} of {n} workflows reached their wait")
        rss = rss_mb(pid)[0]
        result.curve.append((waiting, rss))
        print(f"  waiting {waiting}/{n}, worker RSS {rss:.1f} MB")
        await asyncio.sleep(2)
    result.seconds = time.monotonic() - began
    result.curve.append((n, rss_mb(pid)[0]))
    print(f"  all {n} waiting after {result.seconds:.1f} s (server CPU {server.cpu():.1f} s)")


def summarise(args: argparse.Namespace, results: dict[str, Measurement]) -> bool:
    print()
    cached = min(args.incidents, args.max_cached or 1000)
    report.table(
        ["worker", "idle MB", f"RSS at {args.incidents} MB", "peak MB", "KB per cached wf"],
        [
            [
                m.kind,
                m.baseline,
                m.rss,
                m.hwm,
                1024 * (m.rss - m.baseline) / cached,
            ]
            for m in results.values()
        ],
    )
    print(f"(KB per cached workflow: (RSS - idle) / {cached}, the most the sticky cache holds)")
    sop, hand = results["sopflow"], results["hand"]
    print(
        f"sopflow/hand-written RSS: {sop.rss / hand.rss:.2f}x; growth: "
        f"{(sop.rss - sop.baseline) / max(hand.rss - hand.baseline, 0.1):.2f}x"
    )
    passed = sop.rss < MAX_RSS_MB
    report.verdict(
        passed,
        f"sopflow worker RSS < {MAX_RSS_MB:.0f} MB with {args.incidents} open ({sop.rss:.1f} MB)",
    )
    if args.json:
        report.emit_json(
            "worker_memory",
            {
                "incidents": args.incidents,
                "results": {k: vars(v) for k, v in results.items()},
                "passed": passed,
            },
        )
    return passed


async def measure(args: argparse.Namespace) -> dict[str, Measurement]:
    return {kind: await run_one(kind, args) for kind in ("sopflow", "hand")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--incidents", type=int, default=2000, help="open workflows (2000)")
    parser.add_argument(
        "--experiment",
        action="append",
        default=[],
        choices=["passthrough"],
        help="a what-if worker setting (bench/experiments.py), for both workers",
    )
    parser.add_argument(
        "--max-cached", type=int, help="max_cached_workflows for both workers (what-if)"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    args = parser.parse_args()
    what_if = ", ".join(f"{k}={v}" for k, v in worker_settings(args).items())
    report.header(
        f"Worker memory: {args.incidents} open workflows waiting on people"
        + (f"; what-if {what_if} (both in bench.bench_worker)" if what_if else "")
    )
    results = asyncio.run(measure(args))
    report.finish(summarise(args, results), args.check)


if __name__ == "__main__":
    report.run_main(main)
