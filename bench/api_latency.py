"""API latency: an action through the HTTP API against the same action through the incident
service directly.

``python bench/api_latency.py [--actions N] [--warmup W] [--incidents K] [--clients C]
[--rounds R] [--max-in-flight M] [--experiment NAME] [--profile FILE] [--json] [--check]``
stands up, all on 127.0.0.1:

- the Temporal dev server (a subprocess, ``bench.temporal_env.dev_server``);
- one worker in this process (``worker.py``'s workflow runner, a 16-thread activity
  executor, the recording activities of ``sopflow.rehearsal.fakes``), trusting one generated
  Ed25519 action key;
- the real API, ``sopflow serve`` in a subprocess on a free port (its own interpreter: it
  shares neither the event loop nor the GIL with the clients), signing with that key
  (``SOPFLOW_SIGNING_KEY``), reading the shipped library and its Roster
  (``SOPFLOW_DEFINITIONS``) and a token store in a temporary directory (``SOPFLOW_TOKENS``)
  holding one token per client, for the US desk's Roster people taken in turn (amoreno first).

Incidents of ``emergency-disclosure`` (its current version, US) are opened through the API
and left waiting at their first task (``verify``); every Roster person holds one of its
roles, so anyone may add a note. The action measured is adding a note, which can be
repeated on one running incident:

- ``api``: ``POST /api/v1/incidents/{id}/notes`` with the person's bearer token, over one
  ``httpx.AsyncClient`` keeping its connections alive (as a CLI session or a console would);
  the API authenticates the token, reads the person's roles from the Roster, signs the
  ``Note`` and sends it through its incident service, and answers JSON;
- ``direct``: ``IncidentService.act(id, Note(...))`` in this process, built with
  ``signer=`` the same key and the same ``Actor`` (handle and Roster roles) the API builds.

So the difference is the API's overhead: HTTP, authentication, the Roster lookup, the
middleware, JSON, logging. Two modes, each path on its own incidents so histories stay short
(a note costs about five history events; each incident stays far below 1,000):

- sequential: N + W actions per path, one at a time, the paths alternating (api then direct,
  then direct then api...), spread over K incidents per path;
- concurrent: R + 1 rounds; in each, C clients act at once (one ``asyncio.gather``), each on
  its own incident, first through one path, then the other (the order alternates by round).
  For the API each client has its own token, for the US desk's people in turn (another desk's
  may not act on a US incident); with C = 20 and 5 of them nobody has more than 4 requests in
  flight, under the API's default limit of 8.

Latency is the client's wall time from the call to the parsed answer (an accepted action: a
200 whose body says ``accepted``, or an accepted ``ActionResult``). The first W sequential
actions and the first round are warm-up. Reported: p50, p90, p99, mean, max per mode and path,
the ratios api/direct of p50 and p99, and the API process's CPU time per API action (its
own work only: it does nothing else meanwhile). Target: **p50 of ``api`` at most 1.3x the p50
of ``direct``**, sequentially. The exit status is 0 unless ``--check`` is given and the
target fails.

``--profile FILE`` runs the API under cProfile, switched on only while the measurements run
(the latencies are then inflated by the profiler and the target is not judged), and writes
the pstats file FILE. ``--experiment NAME`` runs the API with a candidate fix applied from
outside (``EXPERIMENTS``), to measure it before anyone changes sopflow. ``--max-in-flight M``
sets ``SOPFLOW_API_MAX_IN_FLIGHT`` for the API (default: its own default, 8).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

try:
    from bench import report
except ModuleNotFoundError:  # run as a script: python bench/api_latency.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import report
from bench.lean_http import LeanClient
from bench.temporal_env import REPO, connect, cpu_seconds, dev_server, free_port, stop_process
from sopflow.api.tokens import TokenStore
from sopflow.client.incidents import IncidentService
from sopflow.client.signing import ActionSigner
from sopflow.contract.messages import Actor, Note
from sopflow.language.roster import load_roster

MAX_P50_RATIO = 1.3
DEFINITIONS = REPO / "sop_definitions"
SOP = "emergency-disclosure"
STEP = "verify"  # the incidents wait here; notes name it
TEXT = "called the reporter back"
# An emergency request as the shipped happy-path rehearsals write one.
INPUT: dict[str, Any] = {
    "request_id": "LE-2026-0412",
    "received_at": "2026-11-02T03:10:00Z",
    "requester": {
        "agency": "Springfield PD",
        "officer_name": "Det. Ana Ruiz",
        "email": "a.ruiz@springfieldpd.example",
        "phone": "+1 555 0100",
    },
    "target_accounts": ["acct-88121"],
    "emergency_description": "Kidnapping in progress; the victim's phone last used the account.",
    "data_requested": ["basic_subscriber_info", "location"],
    "imminent_threat": True,
    "person_at_risk_minor": False,
}
FIRST = "amoreno"  # a responder: the sequential mode acts as them
DESK = "US"  # the incidents' region (the SOP's base), whose people act on them
# Variables of the caller's environment that would change what the API does: not passed on.
DROPPED_ENV = ("SOPFLOW_", "TEMPORAL_")
SERIES = ("sequential", "concurrent")
PATHS = ("api", "direct")
CPU_KINDS = ("total", "loop", "core", "other")
TICKS = os.sysconf("SC_CLK_TCK")

# `sopflow serve` (argv[1:]) started from code, for --profile and --experiment: each part
# below runs before the CLI is imported.
SERVE = """
import sys
from sopflow.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
"""
# cProfile, switched on by SIGUSR1 and off by SIGUSR2 (which also writes the file): it covers
# the event loop's thread, where every request runs, and nothing of the start-up.
PROFILE = """
import cProfile, signal
_profile = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: _profile.enable())
def _dump(*_):
    _profile.disable()
    _profile.dump_stats({path!r})
signal.signal(signal.SIGUSR2, _dump)
"""
# What-if settings of the API, to measure a candidate fix before anyone changes sopflow:
# name -> Python run in the API process before the CLI starts. None at present (the last one,
# async dependencies in sopflow/api/context.py, was measured here and then applied).
EXPERIMENTS: dict[str, str] = {}


@dataclass
class Person:
    """One simulated person: a handle, their token, and the actor the Roster gives them."""

    handle: str
    token: str
    actor: Actor

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Rig:
    """Everything a measurement needs."""

    http: httpx.AsyncClient
    service: IncidentService
    people: list[Person]
    api_pid: int
    # The measured API calls go through this when set (--client lean), else through httpx.
    lean: LeanClient | None = None
    incidents: dict[tuple[str, str], list[str]] = field(default_factory=dict)


@dataclass
class Samples:
    """Milliseconds per (mode, path), and the API process's CPU seconds per mode (in all and
    by thread, see ``api_cpu``)."""

    ms: dict[tuple[str, str], list[float]]
    api_cpu_s: dict[str, dict[str, float]]
    api_actions: dict[str, int]
    max_events: int = 0


def api_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the API process, in all and by thread: ``loop`` (the main thread, where
    uvicorn's event loop runs every request), ``core`` (the Temporal SDK core's Rust threads,
    named ``tokio-*``), ``other`` (the rest, ended threads included: Python threads such as
    the thread pool FastAPI runs sync dependencies in). /proc counts in clock ticks (10 ms) and
    the threads are read one after another, so a short run's split is approximate."""
    total = cpu_seconds(pid)
    found = {"total": total, "loop": 0.0, "core": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text(encoding="ascii").strip()
            text = (task / "stat").read_text(encoding="ascii")
        except OSError:
            continue  # the thread ended meanwhile: counted in "other"
        fields = text[text.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / TICKS
        if task.name == str(pid):
            found["loop"] += seconds
        elif comm.startswith("tokio"):
            found["core"] += seconds
    found["other"] = total - found["loop"] - found["core"]
    return found


def _cpu_since(pid: int, before: dict[str, float]) -> dict[str, float]:
    return {k: v - before[k] for k, v in api_cpu(pid).items()}


def people_in_turn(count: int) -> list[str]:
    """``count`` Roster handles, the Roster's people of the incidents' desk (US) in turn,
    ``FIRST`` first: a person of another desk may not note a US incident."""
    people = load_roster(DEFINITIONS).people
    handles = sorted(h for h, p in people.items() if p.region == DESK)
    handles.remove(FIRST)
    handles.insert(0, FIRST)
    return [handles[i % len(handles)] for i in range(count)]


def _api_env(
    address: str, queue: str, key: Path, tokens: Path, state: Path, max_in_flight: int | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
    env.update(
        TEMPORAL_ADDRESS=address,
        SOPFLOW_TASK_QUEUE=queue,
        SOPFLOW_SIGNING_KEY=str(key),
        SOPFLOW_TOKENS=str(tokens),
        SOPFLOW_DEFINITIONS=str(DEFINITIONS),
        SOPFLOW_STATE_DIR=str(state),
        PYTHONUNBUFFERED="1",
    )
    if max_in_flight is not None:
        env["SOPFLOW_API_MAX_IN_FLIGHT"] = str(max_in_flight)
    return env


def serve_command(port: int, profile: Path | None, experiments: list[str]) -> list[str]:
    """The API's command line: ``python -m sopflow.cli.app serve``, or the same started from
    code with the profiler and the experiments' changes before it."""
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if profile is None and not experiments:
        return [sys.executable, "-m", "sopflow.cli.app", *serve]
    parts = [EXPERIMENTS[name] for name in experiments]
    if profile is not None:
        parts.append(PROFILE.format(path=str(profile)))
    return [sys.executable, "-c", "".join([*parts, SERVE]), *serve]


@asynccontextmanager
async def api_process(
    env: dict[str, str], log: Path, command: Callable[[int], list[str]]
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """The API (``command(port)``) on a free port; yields it and its base URL once
    ``/healthz`` says Temporal is reachable; stopped with SIGTERM (then SIGKILL) on exit."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command(port), cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            await _until_healthy(process, base, log)
            yield process, base
        finally:
            stop_process(process)


async def _until_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"the API did not become healthy:\n{tail}")
            try:
                if (await http.get("/api/v1/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def open_incidents(rig: Rig, client: Client, queue: str, plan: dict[str, int]) -> None:
    """Open ``plan[mode]`` incidents per path and mode through the API, four at a time,
    and wait until visibility shows every one waiting at ``STEP``."""
    gate = asyncio.Semaphore(4)  # one person opens them all: under the in-flight limit
    opener = rig.people[0]

    async def one() -> str:
        async with gate:
            # Each about its own account: the SOP refuses a second open incident about the
            # same case (its `correlation`), as it should for a real duplicate.
            account = {"target_accounts": [f"acct-{uuid.uuid4().hex[:8]}"]}
            body = {"sop": SOP, "input": {**INPUT, **account}}
            response = await rig.http.post("/incidents", json=body, headers=opener.auth)
        if response.status_code != 201:
            raise RuntimeError(f"could not open an incident: {response.text}")
        incident: str = response.json()["id"]
        return incident

    for mode, count in plan.items():
        for path in PATHS:
            rig.incidents[mode, path] = list(await asyncio.gather(*(one() for _ in range(count))))
    total = 2 * sum(plan.values())
    query = f"TaskQueue = '{queue}' AND ActiveSteps = '{STEP}' AND ExecutionStatus = 'Running'"
    deadline = time.monotonic() + 120
    while (found := (await client.count_workflows(query)).count) < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {found} of {total} incidents reached {STEP!r}")
        await asyncio.sleep(0.2)


def _calls(rig: Rig, who: Person, incident: str) -> dict[str, Callable[[], Awaitable[None]]]:
    """The same note through each path, as ``who`` on ``incident``."""
    url = f"/incidents/{incident}/notes"
    body = {"text": TEXT, "step": STEP}

    async def api() -> None:
        if rig.lean is not None:
            answer = await rig.lean.post(f"/api/v1{url}", body, who.auth)
            status, parsed, text = answer.status, answer.json(), answer.body.decode()
        else:
            response = await rig.http.post(url, json=body, headers=who.auth)
            status, parsed, text = response.status_code, response.json(), response.text
        if status != 200 or parsed.get("accepted") is not True:
            raise RuntimeError(f"the API did not accept a note: {status} {text}")

    async def direct() -> None:
        result = await rig.service.act(incident, Note(actor=who.actor, text=TEXT, step=STEP))
        if not result.accepted:
            raise RuntimeError(f"the service did not accept a note: {result}")

    return {"api": api, "direct": direct}


async def timed(call: Callable[[], Awaitable[None]]) -> float:
    began = time.perf_counter()
    await call()
    return 1000 * (time.perf_counter() - began)


async def sequential(rig: Rig, args: argparse.Namespace, samples: Samples) -> None:
    who = rig.people[0]
    total = args.warmup + args.actions
    cpu_before: dict[str, float] = {}
    for i in range(total):
        if i == args.warmup:
            cpu_before = api_cpu(rig.api_pid)
        order = PATHS if i % 2 == 0 else PATHS[::-1]
        for path in order:
            incident = rig.incidents["sequential", path][i % args.incidents]
            elapsed = await timed(_calls(rig, who, incident)[path])
            if i >= args.warmup:
                samples.ms["sequential", path].append(elapsed)
        if (i + 1) % 100 == 0:
            print(f"  sequential: {i + 1}/{total} of each")
    samples.api_cpu_s["sequential"] = _cpu_since(rig.api_pid, cpu_before)
    samples.api_actions["sequential"] = args.actions


async def concurrent(rig: Rig, args: argparse.Namespace, samples: Samples) -> None:
    cpu_before = api_cpu(rig.api_pid)
    for r in range(args.rounds + 1):
        if r == 1:
            cpu_before = api_cpu(rig.api_pid)
        order = PATHS if r % 2 == 0 else PATHS[::-1]
        for path in order:
            incidents = rig.incidents["concurrent", path]
            calls = [
                _calls(rig, who, incident)[path]
                for who, incident in zip(rig.people, incidents, strict=True)
            ]
            results = await asyncio.gather(*(timed(call) for call in calls))
            if r >= 1:
                samples.ms["concurrent", path].extend(results)
        if (r + 1) % 5 == 0:
            print(f"  concurrent: {r + 1}/{args.rounds + 1} rounds")
    samples.api_cpu_s["concurrent"] = _cpu_since(rig.api_pid, cpu_before)
    samples.api_actions["concurrent"] = args.rounds * args.clients


async def _max_events(client: Client, queue: str) -> int:
    longest = 0
    async for wf in client.list_workflows(f"TaskQueue = '{queue}'"):
        described = await client.get_workflow_handle(wf.id).describe()
        longest = max(longest, described.history_length)
    return longest


async def measure(args: argparse.Namespace) -> Samples:
    samples = Samples(ms={(m, p): [] for m in SERIES for p in PATHS}, api_cpu_s={}, api_actions={})
    roster = load_roster(DEFINITIONS)
    signer = ActionSigner.generate("api")
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-api-") as tmp:
        root = Path(tmp)
        key, _ = signer.write(root / "keys")
        store = TokenStore(root / "tokens.json")
        people = [
            Person(who, store.issue(who)[0], roster.actor(who))
            for who in people_in_turn(args.clients)
        ]
        async with dev_server() as server:
            client = await connect(server.address)
            queue = f"bench-api-{uuid.uuid4().hex[:6]}"
            env = _api_env(
                server.address, queue, key, root / "tokens.json", root / "state", args.max_in_flight
            )
            # The worker runs as production runs it, in its own process (`python -m worker`):
            # in this process it would share an event loop with both paths' clients.
            worker_env = {
                **env,
                "SOPFLOW_TRUSTED_KEYS": str(root / "keys"),
                "SOPFLOW_ARTIFACTS": str(root / "artifacts"),
                "SOPFLOW_DISCLOSURE_LOG": str(root / "disclosures.jsonl"),
            }
            with (root / "worker.log").open("wb") as worker_log:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "worker"],
                    cwd=REPO,
                    env=worker_env,
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                )
                try:
                    await _bench_with_api(args, samples, signer, people, client, queue, env, root)
                finally:
                    stop_process(worker)
    return samples


async def _bench_with_api(
    args: argparse.Namespace,
    samples: Samples,
    signer: ActionSigner,
    people: list[Person],
    client: Client,
    queue: str,
    env: dict[str, str],
    root: Path,
) -> None:
    """Start the API, open the incidents, and measure both paths."""

    def command(port: int) -> list[str]:
        return serve_command(port, args.profile, args.experiment)

    async with (
        api_process(env, root / "api.log", command) as (api, base),
        httpx.AsyncClient(
            base_url=f"{base}/api/v1",
            timeout=60,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        ) as http,
    ):
        service = IncidentService(client, task_queue=queue, signer=signer)
        port = int(base.rsplit(":", 1)[1])
        lean = LeanClient("127.0.0.1", port) if args.client == "lean" else None
        rig = Rig(http, service, people, api.pid, lean)
        plan = {"sequential": args.incidents, "concurrent": args.clients}
        await open_incidents(rig, client, queue, plan)
        print(
            f"API pid {api.pid} at {base}; {2 * sum(plan.values())} incidents of "
            f"{SOP} waiting at {STEP!r}"
        )
        if args.profile is not None:
            api.send_signal(signal.SIGUSR1)
        await sequential(rig, args, samples)
        await concurrent(rig, args, samples)
        if args.profile is not None:
            api.send_signal(signal.SIGUSR2)
            await asyncio.sleep(2)  # let it write the file
        samples.max_events = await _max_events(client, queue)


def summarise(args: argparse.Namespace, samples: Samples) -> bool:
    stats = {
        key: {
            "p50": report.percentile(values, 50),
            "p90": report.percentile(values, 90),
            "p99": report.percentile(values, 99),
            "mean": statistics.fmean(values),
            "max": max(values),
        }
        for key, values in samples.ms.items()
    }
    print()
    report.table(
        ["note (ms)", "path", "n", "p50", "p90", "p99", "mean", "max"],
        [
            [
                mode,
                path,
                len(samples.ms[mode, path]),
                *(round(v, 2) for v in stats[mode, path].values()),
            ]
            for mode in SERIES
            for path in PATHS
        ],
    )
    print()
    ratios: dict[str, dict[str, float]] = {}
    for mode in SERIES:
        api, direct = stats[mode, "api"], stats[mode, "direct"]
        ratios[mode] = {pct: api[pct] / direct[pct] for pct in ("p50", "p99")}
        print(
            f"{mode}: api/direct p50 {ratios[mode]['p50']:.2f}x "
            f"(+{api['p50'] - direct['p50']:.2f} ms), p99 {ratios[mode]['p99']:.2f}x"
        )
    cpu = {
        mode: {k: 1000 * v / samples.api_actions[mode] for k, v in samples.api_cpu_s[mode].items()}
        for mode in SERIES
    }
    print()
    report.table(
        ["API process CPU (ms per action)", "total", "event loop", "Temporal core", "other"],
        [[mode, *(round(cpu[mode][k], 2) for k in CPU_KINDS)] for mode in SERIES],
    )
    print(f"longest incident history: {samples.max_events} events")
    ratio = ratios["sequential"]["p50"]
    passed = ratio <= MAX_P50_RATIO
    if args.profile is not None:
        print(f"profiled run (latencies inflated, not judged); profile in {args.profile}")
        passed = True
    else:
        report.verdict(
            passed,
            f"api p50 <= {MAX_P50_RATIO}x direct, one at a time ({ratio:.2f}x)",
        )
    if args.json:
        report.emit_json(
            "api_latency",
            {
                "actions": args.actions,
                "clients": args.clients,
                "rounds": args.rounds,
                "ms": {f"{m}/{p}": stats[m, p] for m in SERIES for p in PATHS},
                "ratios": ratios,
                "api_cpu_ms_per_action": cpu,
                "max_events": samples.max_events,
                "experiments": args.experiment,
                "client": args.client,
                "passed": passed,
            },
        )
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--actions", type=int, default=300, help="sequential, per path (300)")
    parser.add_argument("--warmup", type=int, default=20, help="sequential, per path (20)")
    parser.add_argument("--incidents", type=int, default=8, help="sequential, per path (8)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--rounds", type=int, default=15, help="concurrent rounds (15)")
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="SOPFLOW_API_MAX_IN_FLIGHT (default: the API's)",
    )
    parser.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="the measured API calls' HTTP client: lean (a minimal keep-alive client, as cheap "
        "as a browser's; the default) or httpx (what the CLI uses: ~1.7 ms more CPU per call "
        "in the calling process)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the API into FILE")
    parser.add_argument(
        "--experiment",
        action="append",
        default=[],
        choices=sorted(EXPERIMENTS),
        help="run the API with a candidate fix (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    args = parser.parse_args()
    for name in ("actions", "incidents", "clients", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.profile is not None:
        args.profile = args.profile.resolve()  # the API runs from the repository root
    tried = f"; experiments: {', '.join(args.experiment)}" if args.experiment else ""
    report.header(
        f"API latency: a note through the API vs the incident service, {args.actions} one at a "
        f"time, {args.clients} at once x {args.rounds} rounds (dev server, {args.client} HTTP "
        f"client){tried}"
    )
    samples = asyncio.run(measure(args))
    report.finish(summarise(args, samples), args.check)


if __name__ == "__main__":
    report.run_main(main)
