"""One soak run: the stack and the sinks up, the incidents opened and worked through the API
by simulated people while the faults strike, then every incident compared with the oracle.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.soak import stack as stacks
from bench.soak.faults import Fault, inject
from bench.soak.oracle import (
    Verdicts,
    check_incident,
    compare_effects,
    compare_postmortems,
    expected_effects,
)
from bench.soak.people import Api
from bench.soak.scenarios import Scenario, Sink, scenarios
from bench.soak.signatures import SignatureChecks, probe
from bench.soak.sinks import (
    SmtpSink,
    WebhookSink,
    channel_config,
    disclosure_log_keys,
    postmortem_documents,
)
from bench.soak.target import Target, TargetError, local, remote
from bench.soak.work import Outcome, person, work
from bench.temporal_env import connect
from sopflow.contract.messages import Actor

CLOSE_DEADLINE_S = 300.0


@dataclass
class Options:
    incidents: int = 1000
    responders: int = 40  # incidents worked at once
    think_s: float = 0.5  # mean think time before each move
    seed: int = 1
    faults: bool = True
    down_s: float = 2.0
    probe_every: int = 25  # forged and replayed signatures on every n-th incident
    keep: Path | None = None  # keep the stack's directory (logs, SQLite file) here
    # A deployment to soak instead of a stack of its own (see bench/soak/target.py).
    api: str | None = None
    tokens: Path | None = None
    temporal: str | None = None
    operator_key: Path | None = None
    disclosure_log: Path | None = None
    artifacts: Path | None = None
    sink_host: str = "127.0.0.1"
    sink_port: int = 0  # 0: any free port (a stack of its own); SMTP listens on the next one


@dataclass
class Run:
    """Everything a report needs."""

    options: Options
    outcomes: list[Outcome] = field(default_factory=list)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdicts: Verdicts = field(default_factory=Verdicts)
    faults: list[Fault] = field(default_factory=list)
    checks: SignatureChecks = field(default_factory=SignatureChecks)
    api: Api | None = None
    wall_s: float = 0.0
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    plan_problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # what this target could not show
    skipped: set[str] = field(default_factory=set)  # checks not made: signatures, postmortems,
    # faults, disclosure


async def _check_plans(api: Api, runs: list[Scenario]) -> list[str]:
    """Every step the model names must be a step of the compiled plan of its SOP and region
    (a model out of date with its SOP is a finding, not a pass)."""
    problems: list[str] = []
    named: dict[tuple[str, str], set[str]] = {}
    for sc in runs:
        steps = named.setdefault((sc.sop, sc.region), set())
        steps |= sc.expect.steps | {m.step for m in sc.moves}
    for (sop, region), steps in sorted(named.items()):
        who = person(region, "lead", 1)
        path = f"/sops/{sop}/versions/1/plan?region={region}"
        status, plan = await api.send("GET", path, who, kind="read", expected={200}, record=False)
        if status != 200:
            problems.append(f"{sop} ({region}): no plan ({status})")
            continue
        known = _plan_steps(plan.get("steps", []))
        if unknown := sorted(steps - known):
            problems.append(f"{sop} ({region}): the model names steps the plan lacks: {unknown}")
    return problems


def _plan_steps(steps: list[dict[str, Any]]) -> set[str]:
    ids: set[str] = set()
    for step in steps:
        ids.add(step["id"])
        for branch in step.get("branches", []) or []:
            if isinstance(branch, dict) and "steps" in branch:
                ids |= _plan_steps(branch["steps"])
    return ids


async def _work_all(run: Run, api: Api, target: Target, runs: list[Scenario]) -> None:
    """Work every incident, ``responders`` at a time, with the faults and the probes."""
    opts = run.options
    limit = asyncio.Semaphore(opts.responders)
    client = await connect(target.address) if target.address else None
    operator = target.operator

    async def one(n: int, sc: Scenario) -> None:
        async def signatures() -> None:
            assert client is not None and operator is not None
            actor = Actor(id=person(sc.region, "lead", 1), roles=["lead"], region=sc.region)
            await probe(client, run.checks, sc.incident_id, actor, operator)

        async with limit:
            rng = random.Random(opts.seed * 1_000_003 + n)
            probing = signatures if client and n % opts.probe_every == 0 else None
            run.outcomes.append(await work(api, sc, rng, opts.think_s, probing))

    def progress() -> float:
        return len(run.outcomes) / len(runs)

    stack = target.stack
    background = []
    if stack is not None:
        background.append(asyncio.create_task(_sample(stack)))
    faults = None
    if stack is not None and opts.faults:
        faults = asyncio.create_task(inject(stack, progress, run.faults, down_s=opts.down_s))
    await asyncio.gather(*(one(n, sc) for n, sc in enumerate(runs)))
    if faults is not None:
        await faults
    for task in background:
        task.cancel()


async def _sample(stack: stacks.Stack) -> None:
    while True:
        stack.sample()
        await asyncio.sleep(1.0)


async def _settle(run: Run, api: Api) -> None:
    """Wait until every incident has closed (or the deadline), then read each one."""
    stop = time.monotonic() + CLOSE_DEADLINE_S
    pending = [o.scenario for o in run.outcomes if o.stuck is None]
    while pending and time.monotonic() < stop:
        still: list[Scenario] = []
        for sc in pending:
            detail = await api.incident(person(sc.region, "lead", 1), sc.incident_id)
            if detail is None or detail["summary"]["status"] == "running":
                still.append(sc)
            else:
                run.details[sc.incident_id] = detail
        pending = still
        if pending:
            await asyncio.sleep(1.0)
    for sc in pending:  # still running at the deadline: compared as they are
        detail = await api.incident(person(sc.region, "lead", 1), sc.incident_id)
        if detail is not None:
            run.details[sc.incident_id] = detail


def _judge(run: Run, target: Target, webhook: WebhookSink, smtp: SmtpSink) -> None:
    verdicts = run.verdicts
    for outcome in run.outcomes:
        detail = run.details.get(outcome.scenario.incident_id)
        problems = check_incident(outcome, detail, run.checks)
        if detail is not None and detail["summary"]["status"] != "running":
            verdicts.finished += 1
        verdicts.mismatched += [f"{outcome.scenario.incident_id}: {p}" for p in problems]
    expected = expected_effects(run.outcomes, run.details)
    arrived: dict[Sink, Counter[str]] = {
        "http": webhook.counts.snapshot(),
        "email": smtp.counts.snapshot(),
    }
    if target.disclosure_log is not None:
        arrived["disclosure"] = disclosure_log_keys(target.disclosure_log)
    else:
        run.skipped.add("disclosure")
        run.unchecked.append("the disclosure log (give --disclosure-log)")
    compare_effects(verdicts, {k: v for k, v in expected.items() if k in arrived}, arrived)
    if target.artifacts is not None:
        compare_postmortems(verdicts, run.outcomes, postmortem_documents(target.artifacts))
    else:
        run.skipped.add("postmortems")
        run.unchecked.append("the post-mortem drafts (give --artifacts)")
    if target.operator is None:
        run.skipped.add("signatures")
        run.unchecked.append("forged and replayed signatures (give --temporal, --operator-key)")
    if target.stack is None or not run.options.faults:
        run.skipped.add("faults")
        run.unchecked.append("faults: the soak kills only the processes it started")


async def _target(options: Options, work_dir: Path, channels: str) -> Target:
    """The deployment named by ``--api``, or a stack of our own, started."""
    if options.api is not None:
        if options.tokens is None:
            raise TargetError("--api needs --tokens: a directory with a token file per person")
        return remote(
            options.api,
            options.tokens,
            temporal=options.temporal,
            operator_key=options.operator_key,
            disclosure_log=options.disclosure_log,
            artifacts=options.artifacts,
        )
    stack = stacks.build(work_dir, channels)
    try:
        await stacks.start(stack)
    except BaseException:
        stacks.stop(stack)
        raise
    return local(stack)


async def soak(options: Options) -> Run:
    """Run the soak against its target and judge it."""
    run = Run(options)
    work_dir = options.keep or Path(tempfile.mkdtemp(prefix="sopflow-soak-"))
    host, port = options.sink_host, options.sink_port
    webhook = WebhookSink(port, host).start()
    smtp = SmtpSink(port + 1 if port else 0, host).start()
    started = time.monotonic()
    target: Target | None = None
    try:
        target = await _target(options, work_dir, channel_config(webhook, smtp))
        runs = scenarios(options.incidents, options.seed, f"{int(time.time()) % 100000:05d}")
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as client:
            api = Api(target.api_url, target.tokens, client)
            run.api = api
            run.plan_problems = await _check_plans(api, runs)
            await _work_all(run, api, target, runs)
            await _settle(run, api)
        run.wall_s = time.monotonic() - started
        if target.stack is not None:
            run.peak_rss_mb = dict(target.stack.peak_rss_mb)
            run.server_cpu_s = target.stack.server_cpu_total()
        _judge(run, target, webhook, smtp)
    finally:
        if target is not None and target.stack is not None:
            stacks.stop(target.stack)
        webhook.stop()
        smtp.stop()
        if options.keep is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return run
