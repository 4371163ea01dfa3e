"""Incident throughput: sopflow's interpreter against the same procedure written by hand.

``python bench/incidents.py [--incidents N] [--rounds R] [--warmup W] [--experiment X]
[--json] [--check]`` starts a Temporal dev server (127.0.0.1, SQLite in memory) and ONE worker
process (``bench.bench_worker``: ``worker.py``'s settings, a 16-thread activity executor, the
SDK's default caches and slots) serving both sopflow's ``IncidentWorkflow`` and
``handwritten.HandIncident`` and the same recording no-op activities (``noop_activities``).
The benchmark's own process is only the client, as the CLI or console would be.

Each batch starts N incidents at once and waits for all to finish; its figure is N divided by
the wall time from the first start to the last result. sopflow runs ``sops.AUTOMATED`` (enrich
and triage, a decision, five notifications, a disclosure check, end): seven activities, the
same seven, in the same order, as the hand-written workflow, which the benchmark checks from
the worker's record of the calls it served.

Batches alternate between the two (sopflow first in odd rounds, so drift in the server's
speed falls on both alike), after a warm-up batch of W each; each round gives a ratio, and
the figure is the median of the R rounds' ratios (the ratio of the best rates is printed
too). Also measured per incident: history events and bytes, and the CPU time of the server,
the worker and the client (from ``/proc``). ``--experiment`` runs the worker with a what-if
setting from ``experiments.py`` to measure a candidate fix.

The procedure sends no responder action, so signing costs nothing here; the worker verifies
signatures as ``worker.py``'s does (trusting the benchmark's key, see ``temporal_env``).

Target: sopflow's rate at least 1.0x the hand-written one's. The exit status is 0 unless
``--check`` is given and the target fails.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/incidents.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench import experiments
from bench.hand_models import HandIncidentInput, HandIncidentResult
from bench.handwritten import HandIncident
from bench.sops import AUTOMATED, NOTIFICATIONS, POLICY, compile_sop
from bench.temporal_env import (
    BENCH_WORKER,
    DevServer,
    connect,
    dev_server,
    incident_service,
    worker_process,
)
from sopflow.client.incidents import IncidentService
from sopflow.contract.messages import IncidentState
from sopflow.contract.names import ACT_DISCLOSURE, ACT_ENRICH, ACT_NOTIFY
from sopflow.contract.plan import Plan

MIN_RATIO = 1.0
INPUT = {"urgent": True, "summary": "credible threat against a named person"}
EXPECTED_CALLS = [ACT_ENRICH, *[ACT_NOTIFY] * len(NOTIFICATIONS), ACT_DISCLOSURE]
KINDS = ("sopflow", "hand")
Starter = Callable[[Client, str, str], Awaitable[WorkflowHandle[Any, Any]]]


@dataclass(frozen=True)
class Batch:
    """N incidents of one kind, started together, all finished; CPU seconds spent meanwhile."""

    kind: str
    incidents: int
    seconds: float
    server_cpu: float
    worker_cpu: float
    client_cpu: float
    ids: list[str]

    @property
    def rate(self) -> float:
        return self.incidents / self.seconds

    def ms_per_incident(self, cpu: float) -> float:
        return 1000 * cpu / self.incidents


def sopflow_starter(plan: Plan) -> Starter:
    async def start(client: Client, queue: str, workflow_id: str) -> WorkflowHandle[Any, Any]:
        incidents = incident_service(client, queue)
        return await incidents.start(plan, INPUT, opened_by="bench", incident_id=workflow_id)

    return start


def hand_starter(plan: Plan) -> Starter:
    policy = plan.policies["us-bench"]

    async def start(client: Client, queue: str, workflow_id: str) -> WorkflowHandle[Any, Any]:
        inp = HandIncidentInput(
            incident_id=workflow_id,
            input=INPUT,
            policy=policy,
            notifications=list(NOTIFICATIONS),
        )
        return await client.start_workflow(HandIncident.run, inp, id=workflow_id, task_queue=queue)

    return start


def _check_result(kind: str, result: Any) -> None:
    if isinstance(result, IncidentState):
        ok = (result.status, result.outcome, result.severity) == ("completed", "resolved", "SEV1")
    else:
        ok = isinstance(result, HandIncidentResult) and result.outcome == "resolved"
    if not ok:
        raise RuntimeError(f"{kind}: an incident did not finish as expected: {result!r}")


async def run_batch(
    client: Client,
    server: DevServer,
    queue: str,
    kind: str,
    start: Starter,
    n: int,
    worker_cpu: Callable[[], float] = lambda: 0.0,
) -> Batch:
    """Start ``n`` incidents at once; return when every one has finished."""
    tag = uuid.uuid4().hex[:6]
    ids = [f"{kind}-{tag}-{i:04d}" for i in range(n)]
    cpu0, server0, worker0 = time.process_time(), server.cpu(), worker_cpu()
    began = time.perf_counter()
    handles = await asyncio.gather(*(start(client, queue, wid) for wid in ids))
    results = await asyncio.gather(*(h.result() for h in handles))
    seconds = time.perf_counter() - began
    batch = Batch(
        kind,
        n,
        seconds,
        server_cpu=server.cpu() - server0,
        worker_cpu=worker_cpu() - worker0,
        client_cpu=time.process_time() - cpu0,
        ids=ids,
    )
    for result in results:
        _check_result(kind, result)
    return batch


async def history_figures(client: Client, workflow_id: str) -> tuple[int, int]:
    """(events, bytes) of one finished workflow's history."""
    history = await IncidentService(client).history(workflow_id)
    return len(history.events), sum(e.ByteSize() for e in history.events)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    plan = compile_sop(AUTOMATED, POLICY)
    starters = {"sopflow": sopflow_starter(plan), "hand": hand_starter(plan)}
    batches: dict[str, list[Batch]] = {kind: [] for kind in KINDS}
    queue = f"bench-incidents-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as tmp:
        record = Path(tmp, "calls.json")
        env = {
            **experiments.worker_env(args.experiment),
            "BENCH_WORKFLOWS": "sopflow,hand-incident",
            "BENCH_RECORD": str(record),
        }
        async with dev_server() as server:
            client = await connect(server.address)
            async with worker_process(BENCH_WORKER, server.address, queue, env) as worker:
                for kind, start in starters.items():
                    warm = await run_batch(client, server, queue, kind, start, args.warmup)
                    print(f"warm-up {kind}: {warm.incidents} in {warm.seconds:.2f} s")
                for round_ in range(args.rounds):
                    order = KINDS if round_ % 2 == 0 else KINDS[::-1]
                    for kind in order:
                        batch = await run_batch(
                            client, server, queue, kind, starters[kind], args.incidents, worker.cpu
                        )
                        batches[kind].append(batch)
                        print(
                            f"round {round_ + 1} {kind:8} {batch.incidents} incidents in "
                            f"{batch.seconds:6.2f} s = {batch.rate:6.1f}/s"
                        )
            sample = {k: v[-1].ids[0] for k, v in batches.items()}
            histories = {k: await history_figures(client, wid) for k, wid in sample.items()}
        calls: dict[str, list[str]] = json.loads(record.read_text(encoding="utf-8"))
    for kind, batch_list in batches.items():
        for wid in batch_list[-1].ids:
            if calls.get(wid) != EXPECTED_CALLS:
                raise RuntimeError(f"{kind} {wid} called {calls.get(wid)}, not {EXPECTED_CALLS}")
    return {"batches": batches, "histories": histories}


def _median_ms(batches: list[Batch], field: str) -> float:
    return statistics.median(b.ms_per_incident(getattr(b, field)) for b in batches)


def summarise(args: argparse.Namespace, figures: dict[str, Any]) -> bool:
    batches: dict[str, list[Batch]] = figures["batches"]
    histories: dict[str, tuple[int, int]] = figures["histories"]
    best = {k: max(v, key=lambda b: b.rate) for k, v in batches.items()}
    print()
    rows: list[list[object]] = []
    for kind in KINDS:
        runs = batches[kind]
        rows.append(
            [
                kind,
                best[kind].rate,
                statistics.median(x.rate for x in runs),
                *histories[kind],
                _median_ms(runs, "server_cpu"),
                _median_ms(runs, "worker_cpu"),
                _median_ms(runs, "client_cpu"),
            ]
        )
    report.table(
        [
            "workflow",
            "best/s",
            "median/s",
            "events",
            "bytes",
            "server ms",
            "worker ms",
            "client ms",
        ],
        rows,
    )
    print(
        "(per incident: history events and bytes; CPU milliseconds of the dev server, the "
        "worker process and this client process, median over the rounds)"
    )
    best_ratio = best["sopflow"].rate / best["hand"].rate
    pairs = [s.rate / h.rate for s, h in zip(batches["sopflow"], batches["hand"], strict=True)]
    ratio = statistics.median(pairs)
    print("\nratio sopflow/hand-written per round: " + ", ".join(f"{r:.2f}x" for r in pairs))
    print(f"  median of the rounds {ratio:.2f}x; of the best rates {best_ratio:.2f}x")
    worker = {k: _median_ms(batches[k], "worker_cpu") for k in KINDS}
    server = {k: _median_ms(batches[k], "server_cpu") for k in KINDS}
    worker_ratio = worker["sopflow"] / worker["hand"]
    server_ratio = server["sopflow"] / server["hand"]
    print(
        f"  CPU per incident, sopflow/hand-written: worker {worker_ratio:.2f}x, "
        f"server {server_ratio:.2f}x"
    )
    passed = ratio >= MIN_RATIO
    report.verdict(
        passed, f"sopflow >= {MIN_RATIO:.1f}x the hand-written rate (median {ratio:.2f}x)"
    )
    if args.json:
        report.emit_json(
            "incidents",
            {
                "incidents": args.incidents,
                "rounds": args.rounds,
                "experiments": args.experiment,
                "rates": {k: [round(b.rate, 2) for b in v] for k, v in batches.items()},
                "cpu_ms_per_incident": {
                    k: [
                        [round(b.ms_per_incident(getattr(b, c)), 2) for b in v]
                        for c in ("server_cpu", "worker_cpu", "client_cpu")
                    ]
                    for k, v in batches.items()
                },
                "history": histories,
                "ratio": round(ratio, 3),
                "ratio_best": round(best_ratio, 3),
                "passed": passed,
            },
        )
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--incidents", type=int, default=200, help="per batch (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="batches of each (default 4)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up batch (default 20)")
    parser.add_argument(
        "--experiment",
        action="append",
        default=[],
        choices=experiments.EXPERIMENTS,
        help="a what-if worker setting (see bench/experiments.py); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    args = parser.parse_args()
    report.header(
        f"Incident throughput: {args.incidents} concurrent incidents per batch, "
        f"{args.rounds} rounds (dev server)"
        + (f"; experiments: {', '.join(args.experiment)}" if args.experiment else "")
    )
    figures = asyncio.run(measure(args))
    report.finish(summarise(args, figures), args.check)


if __name__ == "__main__":
    report.run_main(main)
