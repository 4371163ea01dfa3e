"""History events per step type: sopflow's interpreter against the hand-written primitive.

``python bench/events.py [--json] [--check]`` runs, on the time-skipping test server, a minimal
SOP per step type (the step, then ``end``: ``sops.single_step``) and the hand-written
equivalent (``handwritten.HandStep``), drives the human steps (an update, a vote, a signal,
sent once the SLA or timeout timer is in the history: reading the history touches no workflow,
where a query would run a workflow task) and counts the events of each finished history.
sopflow's actions go through the incident service, signed, and the worker verifies them (as
``worker.py``'s does); the hand-written updates are unsigned, as in the other benchmarks.

A step's cost is its history minus the fixed overhead: for sopflow, ``[step, end]`` minus the
SOP ``[end]``; for ``end`` itself, ``[end]`` minus a hand-written workflow that returns at once;
for the hand-written side, the primitive minus that same empty workflow. The "+publish"
column is the hand-written step also publishing what sopflow publishes (an upsert of
ActiveSteps while it waits, of Outcome at the end). Event counts are deterministic (the second
parallel lane's no-op takes 0.3 s, so the two completions never race into one workflow task),
so each history runs once. Target: no step type costs more events than its
hand-written equivalent. The exit status is 0 unless ``--check`` is given and a row fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/events.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench.hand_models import HandStepInput, StepKind
from bench.handwritten import HandStep
from bench.noop_activities import Recorder
from bench.sops import POLICY, STEP_BODIES, compile_sop, single_step
from bench.temporal_env import incident_service, time_skipping, verifying
from sopflow.contract.messages import (
    Actor,
    CompleteTask,
    ExternalEvent,
    IncidentState,
    Vote,
)
from sopflow.contract.names import SIGNAL_EVENT, UPDATE_COMPLETE
from workflows.incident import IncidentWorkflow

# Step type -> (the hand-written equivalent, how it is described).
EQUIVALENT: dict[str, tuple[StepKind, str]] = {
    "triage": ("none", "if/else in code"),
    "triage+enrich": ("activity", "an activity"),
    "task": ("update", "update + SLA timer"),
    "approval": ("update", "update + SLA timer"),
    "decision": ("none", "if/else in code"),
    "disclosure_check": ("activity", "an activity"),
    "notify": ("activity", "an activity"),
    "wait (for)": ("timer", "a timer"),
    "wait (event)": ("signal", "signal + timeout timer"),
    "parallel (2 notify lanes)": ("parallel2", "2 concurrent activities"),
    "postmortem": ("activity", "an activity"),
    "end": ("none", "return"),
}


@dataclass(frozen=True)
class History:
    """The events of one finished workflow: how many, of which types, how many bytes."""

    types: Counter[str]
    size: int

    @property
    def count(self) -> int:
        return sum(self.types.values())


async def history_of(handle: WorkflowHandle[Any, Any]) -> History:
    history = await handle.fetch_history()
    types = Counter(
        EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events
    )
    return History(types, sum(e.ByteSize() for e in history.events))


async def until_waiting(handle: WorkflowHandle[Any, Any], deadline: float = 10.0) -> None:
    """Wait, in real time, until the workflow has started its SLA or timeout timer: it is
    then waiting for the update or signal. Reading the history touches no workflow (a query
    would run a workflow task on the test server and could add events)."""
    stop = time.monotonic() + deadline
    started = EventType.EVENT_TYPE_TIMER_STARTED
    while not any(e.event_type == started for e in (await handle.fetch_history()).events):
        if time.monotonic() > stop:
            raise TimeoutError(f"{handle.id} did not reach its wait")
        await asyncio.sleep(0.02)


async def run_sopflow(env: WorkflowEnvironment, queue: str, kind: str) -> History:
    """Run the minimal SOP for ``kind`` to its end through the incident service, as the CLI
    and the API do (actions signed, at the test server's time), driving it when it waits on
    people."""
    plan = compile_sop(single_step(kind), *((POLICY,) if kind == "disclosure_check" else ()))
    incidents = incident_service(env.client, queue, clock=env.get_current_time)
    incident = f"inc-{uuid.uuid4().hex[:8]}"
    handle = await incidents.start(plan, {"urgent": True}, opened_by="op", incident_id=incident)
    if kind == "task":
        await until_waiting(handle)
        actor = Actor(id="r1", roles=["responder"])
        await incidents.act(incident, CompleteTask(step="x", actor=actor, data={"done": True}))
    elif kind == "approval":
        await until_waiting(handle)
        actor = Actor(id="l1", roles=["lead"])
        await incidents.act(incident, Vote(step="x", actor=actor, decision="approve", reason="ok"))
    elif kind == "wait (event)":
        await until_waiting(handle)
        await incidents.act(incident, ExternalEvent(name="data-produced"))
    final: IncidentState = await handle.result()
    if final.status != "completed":
        raise RuntimeError(f"{kind}: the incident ended {final.status} ({final.outcome})")
    return await history_of(handle)


async def run_hand(client: Client, queue: str, kind: StepKind, *, publish: bool) -> History:
    """Run the hand-written primitive ``kind`` to its end, driving it when it waits."""
    incident = f"hand-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        HandStep.run,
        HandStepInput(incident_id=incident, kind=kind, publish=publish),
        id=incident,
        task_queue=queue,
    )
    if kind in ("update", "signal"):
        await until_waiting(handle)
        if kind == "signal":
            await handle.signal(SIGNAL_EVENT, ExternalEvent(name="data-produced"))
        else:
            await handle.execute_update(
                UPDATE_COMPLETE, CompleteTask(step="x", actor=Actor(id="r1"), data={})
            )
    await handle.result()
    return await history_of(handle)


@dataclass(frozen=True)
class Row:
    """One step type: its events in sopflow and by hand, and what sopflow adds."""

    kind: str
    sopflow: int
    hand: int
    hand_published: int  # the hand-written step also publishing what sopflow publishes
    equivalent: str
    extra: Counter[str]
    sopflow_bytes: int
    hand_bytes: int

    @property
    def ok(self) -> bool:
        return self.sopflow <= self.hand


def _minus(a: Counter[str], b: Counter[str]) -> Counter[str]:
    out = Counter(a)
    out.subtract(b)
    return +out  # only the positive counts


def _describe(extra: Counter[str]) -> str:
    return ", ".join(f"+{n} {name.lower()}" for name, n in sorted(extra.items())) or "-"


# The step types for which sopflow publishes search attributes (ActiveSteps, Outcome).
PUBLISHING = ("task", "approval", "wait (for)", "wait (event)", "end")
# Lane b's notification takes this long, so the two lanes' completions never share a
# workflow task (a race that would otherwise change the count by 3 from run to run).
SLOW_LANE = {"b": 0.3}

HAND_RUNS: tuple[tuple[StepKind, bool], ...] = (
    ("none", False),
    ("none", True),
    ("activity", False),
    ("parallel2", False),
    ("timer", False),
    ("timer", True),
    ("update", False),
    ("update", True),
    ("signal", False),
    ("signal", True),
)


def _hand_key(kind: StepKind, publish: bool) -> str:
    return f"hand:{kind}{'+publish' if publish else ''}"


async def measure(env: WorkflowEnvironment, queue: str) -> tuple[list[Row], dict[str, History]]:
    """Every row of the table, and the raw histories by name."""
    raw: dict[str, History] = {}
    for kind in (*STEP_BODIES, "end"):
        raw[f"sopflow:{kind}"] = await run_sopflow(env, queue, kind)
    for hand_kind, publish in HAND_RUNS:
        raw[_hand_key(hand_kind, publish)] = await run_hand(
            env.client, queue, hand_kind, publish=publish
        )
    empty, base = raw["hand:none"], raw["sopflow:end"]
    rows = []
    for kind, (hand_kind, described) in EQUIVALENT.items():
        mine, zero = (base, empty) if kind == "end" else (raw[f"sopflow:{kind}"], base)
        hand = raw[_hand_key(hand_kind, False)]
        published = raw[_hand_key(hand_kind, True)] if kind in PUBLISHING else hand
        sop_delta = _minus(mine.types, zero.types)
        hand_delta = _minus(hand.types, empty.types)
        rows.append(
            Row(
                kind=kind,
                sopflow=mine.count - zero.count,
                hand=hand.count - empty.count,
                hand_published=published.count - empty.count,
                equivalent=described,
                extra=_minus(sop_delta, hand_delta),
                sopflow_bytes=mine.size - zero.size,
                hand_bytes=hand.size - empty.size,
            )
        )
    return rows, raw


async def main_async(args: argparse.Namespace) -> bool:
    report.header("History events per step type (time-skipping test server)")
    async with time_skipping() as env:
        queue = f"bench-events-{uuid.uuid4().hex[:6]}"
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(
                env.client,
                task_queue=queue,
                workflows=[IncidentWorkflow, HandStep],
                activities=Recorder(SLOW_LANE).activities(),
                activity_executor=executor,
                interceptors=verifying(),  # as worker.py: every action's signature checked
            ):
                rows, raw = await measure(env, queue)
    print(
        f"fixed overhead: an empty hand-written workflow {raw['hand:none'].count} events, "
        f"the SOP [end] {raw['sopflow:end'].count}; the columns are events per step"
    )
    print()
    report.table(
        ["step type", "sopflow", "hand", "hand-written equivalent", "+publish", "sopflow extra"],
        [
            [r.kind, r.sopflow, r.hand, r.equivalent, r.hand_published, _describe(r.extra)]
            for r in rows
        ],
    )
    print(
        "\n+publish: the hand-written equivalent also publishing what sopflow publishes "
        "(ActiveSteps while waiting, Outcome at the end)"
    )
    print(
        "payload bytes per step (history size), sopflow/hand: "
        + ", ".join(f"{r.kind} {r.sopflow_bytes}/{r.hand_bytes}" for r in rows)
    )
    print()
    passed = True
    for r in rows:
        passed &= r.ok
        report.verdict(r.ok, f"{r.kind}: {r.sopflow} <= {r.hand} events")
    if args.json:
        report.emit_json(
            "events",
            {
                "rows": {
                    r.kind: {
                        "sopflow": r.sopflow,
                        "hand": r.hand,
                        "hand_published": r.hand_published,
                        "extra": dict(r.extra),
                        "bytes": [r.sopflow_bytes, r.hand_bytes],
                    }
                    for r in rows
                },
                "histories": {k: dict(v.types) for k, v in raw.items()},
                "passed": passed,
            },
        )
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    report.finish(asyncio.run(main_async(args)), args.check)


if __name__ == "__main__":
    report.run_main(main)
