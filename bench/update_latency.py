"""Update latency: completing a sopflow task against a bare update on a trivial workflow.

``python bench/update_latency.py [--updates N] [--warmup W] [--json] [--check]`` starts a
Temporal dev server (127.0.0.1) and one worker in this process with sopflow's
``IncidentWorkflow`` and ``handwritten.HandStep`` and ``BareUpdate``. It opens N + W incidents
of ``sops.TASK`` (one task with a 30-day SLA, then ``end``) and N + W hand-written tasks, waits
until visibility shows every one waiting, and starts one ``BareUpdate`` workflow. Then, one
call at a time, for each incident:

- ``complete``: ``IncidentService.act(id, CompleteTask(...))`` completing its task, as the CLI
  and the API send it: signed by the service (``TEST_SIGNER``), the signature verified by the
  worker's interceptor (as ``worker.py``'s), the validator (role, form), the handler, and the
  interpreter running on to ``end`` in the same workflow task;
- ``note``: before that, ``act(id, Note(...))`` on the same incident (signed and verified,
  then validator and handler only, the incident does not move): separates the cost of the
  update from what follows;
- ``hand-task``: the same update completing a hand-written task (``HandStep``: an update under
  an SLA timer, then return), which also ends its workflow in that workflow task;
- ``bare``: ``execute_update("ping")`` on the ``BareUpdate`` workflow, same payload types.

The two baselines are unsigned, as hand-written workflows without sopflow's checks are (they
have no validators, so the verification never runs for them); sopflow's two pay for signing
and verification, as in production.

The four are interleaved in a rotating order, so drift falls on all alike; the first W of
each are a warm-up. Latency is the client's wall time around the call. Target: the p50 of
``complete`` at most 1.2x the p50 of ``bare``. The exit status is 0 unless ``--check`` is given
and the target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/update_latency.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench.hand_models import HandStepInput
from bench.handwritten import UPDATE_PING, BareUpdate, HandStep
from bench.sops import TASK, compile_sop
from bench.temporal_env import connect, dev_server, incident_service, verifying
from sopflow.client.incidents import IncidentService
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    CompleteTask,
    Note,
)
from sopflow.contract.names import UPDATE_COMPLETE
from workflows.incident import IncidentWorkflow
from workflows.sandbox import workflow_runner

MAX_P50_RATIO = 1.2
RESPONDER = Actor(id="r.ortiz", roles=["responder"])
SERIES = ("complete", "note", "hand-task", "bare")
# The rotation: a note always just before its incident's completion (the incident then ends).
GROUPS: tuple[tuple[str, ...], ...] = (("note", "complete"), ("hand-task",), ("bare",))


async def open_incidents(client: Client, queue: str, count: int) -> list[WorkflowHandle[Any, Any]]:
    """``count`` incidents of sops.TASK, returned once visibility shows all at their task."""
    plan = compile_sop(TASK)
    tag = uuid.uuid4().hex[:6]

    incidents = incident_service(client, queue)

    async def start(i: int) -> WorkflowHandle[Any, Any]:
        incident = f"lat-{tag}-{i:04d}"
        return await incidents.start(plan, {}, opened_by="bench", incident_id=incident)

    handles = list(await asyncio.gather(*(start(i) for i in range(count))))
    await _until_counted(client, f"TaskQueue = '{queue}' AND ActiveSteps = 'work'", count)
    return handles


async def open_hand_tasks(client: Client, queue: str, count: int) -> list[WorkflowHandle[Any, Any]]:
    """``count`` hand-written tasks (an update under a 30-day SLA timer, then return), once
    visibility shows all waiting (they publish ActiveSteps = ["x"] for that)."""
    tag = uuid.uuid4().hex[:6]

    async def start(i: int) -> WorkflowHandle[Any, Any]:
        wid = f"task-{tag}-{i:04d}"
        inp = HandStepInput(incident_id=wid, kind="update", sla_s=30 * 86400, publish=True)
        return await client.start_workflow(HandStep.run, inp, id=wid, task_queue=queue)

    handles = list(await asyncio.gather(*(start(i) for i in range(count))))
    await _until_counted(client, f"TaskQueue = '{queue}' AND ActiveSteps = 'x'", count)
    return handles


async def _until_counted(client: Client, query: str, count: int) -> None:
    deadline = time.monotonic() + 120
    query += " AND ExecutionStatus = 'Running'"
    while (found := (await client.count_workflows(query)).count) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {found} of {count} workflows reached their wait")
        await asyncio.sleep(0.2)


async def timed(call: Callable[[], Awaitable[ActionResult]]) -> float:
    """Milliseconds of one update, from the call to its result."""
    began = time.perf_counter()
    result = await call()
    elapsed = 1000 * (time.perf_counter() - began)
    if not result.accepted:
        raise RuntimeError(f"an update was not accepted: {result}")
    return elapsed


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    total = args.updates + args.warmup
    samples: dict[str, list[float]] = {name: [] for name in SERIES}
    async with dev_server() as server:
        client = await connect(server.address)
        queue = f"bench-latency-{uuid.uuid4().hex[:6]}"
        with ThreadPoolExecutor(max_workers=16) as executor:  # as worker.py
            async with Worker(
                client,
                task_queue=queue,
                workflows=[IncidentWorkflow, HandStep, BareUpdate],
                activity_executor=executor,
                workflow_runner=workflow_runner(),  # as worker.py
                interceptors=verifying(),  # as worker.py: every action's signature checked
            ):
                incidents = await open_incidents(client, queue, total)
                tasks = await open_hand_tasks(client, queue, total)
                print(f"{total} incidents and {total} hand-written tasks waiting")
                bare = await client.start_workflow(
                    BareUpdate.run, id=f"bare-{uuid.uuid4().hex[:6]}", task_queue=queue
                )
                for i, (incident, task) in enumerate(zip(incidents, tasks, strict=True)):
                    calls = _calls(incident_service(client, queue), incident, task, bare)
                    for group in GROUPS[i % 3 :] + GROUPS[: i % 3]:
                        for name in group:
                            elapsed = await timed(calls[name])
                            if i >= args.warmup:
                                samples[name].append(elapsed)
                    if (i + 1) % 100 == 0:
                        print(f"  {i + 1}/{total} incidents done")
                await bare.cancel()
    return samples


def _calls(
    incidents: IncidentService,
    incident: WorkflowHandle[Any, Any],
    task: WorkflowHandle[Any, Any],
    bare: WorkflowHandle[Any, Any],
) -> dict[str, Callable[[], Awaitable[ActionResult]]]:
    """The incident's actions go through the incident service, as a responder's do (signed);
    the baselines are bare updates on the hand-written workflows (unsigned)."""
    done = CompleteTask(step="work", actor=RESPONDER, data={"done": True})
    note = Note(actor=RESPONDER, text="called the reporter back", step="work")
    return {
        "complete": lambda: incidents.act(incident.id, done),
        "note": lambda: incidents.act(incident.id, note),
        "hand-task": lambda: task.execute_update(UPDATE_COMPLETE, done, result_type=ActionResult),
        "bare": lambda: bare.execute_update(UPDATE_PING, done, result_type=ActionResult),
    }


def summarise(args: argparse.Namespace, samples: dict[str, list[float]]) -> bool:
    stats = {
        name: {
            "p50": report.percentile(values, 50),
            "p90": report.percentile(values, 90),
            "p99": report.percentile(values, 99),
            "mean": statistics.fmean(values),
            "max": max(values),
        }
        for name, values in samples.items()
    }
    print()
    report.table(
        ["update (ms)", "n", "p50", "p90", "p99", "mean", "max"],
        [
            [name, len(samples[name]), *(round(v, 2) for v in stats[name].values())]
            for name in SERIES
        ],
    )
    bare = stats["bare"]
    print()
    for name in ("complete", "note", "hand-task"):
        print(
            f"{name}/bare: p50 {stats[name]['p50'] / bare['p50']:.2f}x, "
            f"p99 {stats[name]['p99'] / bare['p99']:.2f}x"
        )
    ratio = stats["complete"]["p50"] / bare["p50"]
    passed = ratio <= MAX_P50_RATIO
    report.verdict(
        passed, f"task completion p50 <= {MAX_P50_RATIO}x the bare update's ({ratio:.2f}x)"
    )
    if args.json:
        report.emit_json(
            "update_latency",
            {"updates": args.updates, "ms": stats, "p50_ratio": round(ratio, 3), "passed": passed},
        )
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=300, help="per series (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="per series (default 20)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    args = parser.parse_args()
    report.header(f"Update latency: {args.updates} of each, one at a time (dev server)")
    samples = asyncio.run(measure(args))
    report.finish(summarise(args, samples), args.check)


if __name__ == "__main__":
    report.run_main(main)
