"""End to end, as a team runs it: ``sopflow dev`` (the real Temporal dev server, setup and the
worker) as a subprocess, and every command through the installed ``sopflow`` console script.

The kill test runs its own workers (``python -m worker``, with the environment ``sopflow dev``
gives its worker) on their own task queue, SIGKILLs them mid-incident, and checks that the
incident still ran every step once and sent one notification per idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from sopflow.client.actions import update_id
from sopflow.client.connection import connect
from sopflow.client.incidents import IncidentService
from sopflow.client.signing import ActionSigner
from sopflow.contract.messages import Actor, CompleteTask, IncidentState
from tests.conftest import SHIPPED
from tests.test_cli_incidents import ID_LINE, referral, round_the_clock_library
from workflows.incident import IncidentWorkflow

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
SOPFLOW = BIN / "sopflow"
ASSESS_FALSE = {
    "credible": False, "harm": "other_harm", "imminence": "none", "location_known": False,
    "rationale": "r",
}  # fmt: skip
PRESERVED = {"preservation_id": "P-1", "preserved_at": "2025-03-01T11:00:00Z"}


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, chosen below the kernel's ephemeral range
    (32768 and up): between this check and ``sopflow dev`` binding it, any outgoing connection
    on the machine may take an ephemeral port as its own, and the stack would stop."""
    while True:
        port = random.randrange(20000, 32000)  # noqa: S311 - spreads tests apart, no secret
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Temporal or sopflow setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SOPFLOW_"))}
    return {**env, **extra}


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Ask a process we started to stop, then kill it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class Dev:
    address: str
    tmp: Path
    # The library `sopflow dev` and every command read: the shipped one, with every desk of
    # its Rota on call around the clock, so the follow-the-sun steps of threat-to-life@2 stay
    # with the incident's own desk whenever the tests run.
    definitions: Path = SHIPPED

    @property
    def keys(self) -> Path:
        """Where ``sopflow dev`` keeps the action signing keys."""
        return self.tmp / "state" / "keys"

    def sopflow(self, *args: str, queue: str | None = None) -> subprocess.CompletedProcess[str]:
        env = clean_env(
            TEMPORAL_ADDRESS=self.address,
            SOPFLOW_DEFINITIONS=str(self.definitions),
            # The operator key `sopflow dev` made in its state directory.
            SOPFLOW_SIGNING_KEY=str(self.keys / "operator.key"),
        )
        if queue:
            env["SOPFLOW_TASK_QUEUE"] = queue
        done = subprocess.run(
            [str(SOPFLOW), *args], env=env, capture_output=True, text=True, timeout=90
        )
        assert "Traceback" not in done.stderr and "Fatal Python error" not in done.stderr
        return done

    def ok(self, *args: str, queue: str | None = None) -> str:
        done = self.sopflow(*args, queue=queue)
        assert done.returncode == 0, (args, done.stdout, done.stderr, self.log_tail())
        return done.stdout

    def log_tail(self, lines: int = 30) -> str:
        """The end of what ``sopflow dev`` printed: says why, when the stack itself stopped."""
        log = (self.tmp / "dev.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(log.splitlines()[-lines:])

    def start(self, ref: str, region: str, data: dict[str, Any], opener: str, **kw: Any) -> str:
        path = self.tmp / f"input-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        out = self.ok("incident", "start", ref, "-r", region, "-i", str(path), "--as", opener, **kw)
        incident = out.strip().splitlines()[-1]
        assert ID_LINE.match(incident), out
        return incident

    def until(
        self, incident: str, ready: Callable[[dict[str, Any]], bool], deadline: float = 30.0
    ) -> dict[str, Any]:
        stop_at = time.monotonic() + deadline
        while True:
            view: dict[str, Any] = json.loads(self.ok("incident", "show", incident, "--json"))
            if ready(view):
                return view
            if time.monotonic() > stop_at:
                raise AssertionError(f"not reached before the deadline: {json.dumps(view)[:2000]}")
            time.sleep(0.1)


def status_of(view: dict[str, Any], step_id: str) -> str:
    """The step's status; "" when the view does not list it: just after a worker was killed
    no worker may answer the query yet, and the view then lists only the active steps, from
    visibility."""
    return str(next((s["status"] for s in view.get("steps", []) if s["id"] == step_id), ""))


def due_at(view: dict[str, Any], step_id: str) -> bool:
    """Whether the step has its due time (a follow-the-sun step: once its desk is known)."""
    steps = view.get("steps", [])
    return next((s.get("due_at") for s in steps if s["id"] == step_id), None) is not None


def active(*steps: str) -> Callable[[dict[str, Any]], bool]:
    return lambda view: all(status_of(view, s) == "active" for s in steps)


def wait_for_output(
    log: Path, proc: subprocess.Popen[bytes], text: str, deadline: float = 90.0
) -> None:
    """Wait until ``sopflow dev`` writes ``text`` to its log; fail with the log if it exits
    first or the deadline passes. An open port is not enough: the stack may still be setting
    up, or stop because another of its processes failed."""
    stop_at = time.monotonic() + deadline
    while text not in (output := log.read_text(encoding="utf-8", errors="replace")):
        assert proc.poll() is None, f"sopflow dev exited:\n{output}"
        assert time.monotonic() < stop_at, f"no {text!r} in {deadline}s:\n{output}"
        time.sleep(0.1)


def _default_sigint() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and the child
    # would inherit that: `sopflow dev` stops cleanly on Ctrl-C (SIGINT) only.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn_dev(
    where: Path, log: IO[bytes], definitions: Path = SHIPPED
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``sopflow dev`` in ``where`` on free ports (state in ``where/state``), its output
    to ``log``, in a process group of its own; returns the process and the frontend port."""
    port, ui_port, api_port = free_port(), free_port(), free_port()
    command = [str(SOPFLOW), "dev", "--port", str(port), "--ui-port", str(ui_port)]
    command += ["--api-port", str(api_port)]
    proc = subprocess.Popen(
        [*command, "--state-dir", str(where / "state")],
        # The API serves this library (and its Roster), as `make run` from the repo root does.
        env=clean_env(SOPFLOW_DEFINITIONS=str(definitions)),
        cwd=where,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so nothing it starts can leak
        preexec_fn=_default_sigint,
    )
    return proc, port


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """``sopflow dev`` on free ports, its state in a temporary directory."""
    tmp = tmp_path_factory.mktemp("e2e")
    library = round_the_clock_library(tmp / "library")
    with (tmp / "dev.log").open("wb") as log:
        proc, port = spawn_dev(tmp, log, library)
        try:
            wait_for_output(tmp / "dev.log", proc, "Worker running.")
            yield Dev(address=f"127.0.0.1:{port}", tmp=tmp, definitions=library)
        finally:
            stop(proc, signal.SIGINT)  # Ctrl-C: `sopflow dev` stops its worker and server
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything of ours still in the group


def test_an_incident_through_the_cli_on_sopflow_dev(dev: Dev) -> None:
    data = {**referral(), "imminence": "unclear", "location_country": "GB"}
    incident = dev.start("threat-to-life@2", "UK", data, "tbrennan")
    view = dev.until(incident, active("assess"))
    assert (view["sop"], view["region"], view["severity"]) == ("threat-to-life", "UK", "SEV2")
    queue = json.loads(dev.ok("task", "list", "--as", "pshah", "--json"))
    mine = [(r["step"], r["type"]) for r in queue if r["incident"] == incident]
    assert mine == [("assess", "task")]
    form = json.dumps(ASSESS_FALSE)
    done = dev.sopflow("task", "complete", incident, "assess", "--as", "ewhitfield", "--data", form)
    assert done.returncode == 1 and "refused: ewhitfield does not hold role" in done.stderr
    dev.ok("task", "complete", incident, "assess", "--as", "pshah", "--data", form)
    dev.until(incident, active("content_action", "preserve"))
    action = json.dumps({"action": "restricted"})
    dev.ok("task", "complete", incident, "content_action", "--as", "pshah", "--data", action)
    preserved = json.dumps(PRESERVED)
    dev.ok("task", "complete", incident, "preserve", "--as", "tbrennan", "--data", preserved)
    view = dev.until(incident, lambda v: v["status"] != "running")
    assert (view["status"], view["outcome"]) == ("completed", "resolved")
    listed = json.loads(dev.ok("incident", "list", "-q", "SopId = 'threat-to-life'", "--json"))
    assert [(r["status"], r["outcome"]) for r in listed if r["id"] == incident] == [
        ("completed", "resolved")
    ]


def test_the_workers_of_sopflow_dev_refuse_a_tampered_action_and_keep_running(dev: Dev) -> None:
    """The production worker (its sandbox settings, its keys from `sopflow dev`): an action
    signed with the operator key and then edited is refused, the history is unchanged, and
    the worker still runs the genuine action afterwards."""
    data = {**referral(), "location_country": "GB"}
    incident = dev.start("threat-to-life@2", "UK", data, "tbrennan")
    dev.until(incident, active("assess"))
    operator = ActionSigner.from_file(dev.keys / "operator.key")
    genuine = CompleteTask(
        step="assess", actor=Actor(id="pshah", roles=["responder"]), data=ASSESS_FALSE
    )

    async def scenario() -> tuple[str, int, int]:
        incidents = IncidentService(await connect(dev.address, "default"))
        handle = incidents.handle(incident)
        signed = operator.sign(genuine, incident, "r1", datetime.now(UTC))
        forged = signed.model_copy(update={"actor": Actor(id="mallory", roles=["responder"])})
        before = len((await incidents.history(incident)).events)
        try:
            await handle.execute_update(
                IncidentWorkflow.complete_task, forged, id=update_id(forged, "r1")
            )
            refusal = ""
        except WorkflowUpdateFailedError as exc:
            refusal = str(exc.cause)
        after = len((await incidents.history(incident)).events)
        await handle.execute_update(
            IncidentWorkflow.complete_task, signed, id=update_id(signed, "r1")
        )
        return refusal, before, after

    refusal, before, after = asyncio.run(scenario())
    assert "does not match the action" in refusal
    assert after == before
    view = dev.until(incident, lambda v: status_of(v, "assess") == "done")
    assert [e["actor"] for e in view["timeline"] if e["kind"] == "task.completed"] == ["pshah"]


# --- the kill test


class Sink(BaseHTTPRequestHandler):
    """A webhook receiver that records each request's Idempotency-Key."""

    keys: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.keys.append(self.headers.get("Idempotency-Key", ""))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[tuple[str, list[str]]]:
    keys: list[str] = []
    handler = type("RecordingSink", (Sink,), {"keys": keys})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", keys
    finally:
        server.shutdown()
        server.server_close()


async def _history(address: str, incident: str) -> tuple[IncidentState, Counter[str], list[int]]:
    incidents = IncidentService(await connect(address, "default"))
    history = await incidents.history(incident)
    scheduled: Counter[str] = Counter()
    attempts = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attempts.append(event.activity_task_started_event_attributes.attempt)
    return await incidents.handle(incident).result(), scheduled, attempts


def test_killing_the_worker_mid_incident_runs_every_step_once(
    dev: Dev, sink: tuple[str, list[str]]
) -> None:
    url, keys = sink
    config = dev.tmp / "kill.toml"
    config.write_text(
        f'[channels.pager]\nkind = "webhook"\nurl = "{url}"\n'
        '[channels.email]\nkind = "log"\n[channels.webhook]\nkind = "log"\n',
        encoding="utf-8",
    )
    queue = "e2e-kill"
    env = clean_env(
        TEMPORAL_ADDRESS=dev.address,
        SOPFLOW_TASK_QUEUE=queue,
        SOPFLOW_CONFIG=str(config),
        SOPFLOW_ARTIFACTS=str(dev.tmp / "kill-artifacts"),
        SOPFLOW_DISCLOSURE_LOG=str(dev.tmp / "kill-disclosures.jsonl"),
        SOPFLOW_TRUSTED_KEYS=str(dev.keys),
        SOPFLOW_DEFINITIONS=str(dev.definitions),  # the Rota the desk turns read
    )
    workers: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []

    def worker() -> subprocess.Popen[bytes]:
        logs.append((dev.tmp / f"kill-worker-{len(workers)}.log").open("wb"))
        command = [sys.executable, "-m", "worker"]
        proc = subprocess.Popen(command, env=env, cwd=dev.tmp, stdout=logs[-1], stderr=logs[-1])
        workers.append(proc)
        return proc

    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    try:
        first = worker()
        data = {**referral(), "imminence": "immediate"}  # SEV1: pages the commander
        incident = dev.start("threat-to-life", "US", data, "dokafor", queue=queue)
        # Active, and its desk (it follows the sun) known: nothing is in flight.
        view = dev.until(incident, lambda v: active("assess")(v) and due_at(v, "assess"))
        assert view["severity"] == "SEV1" and status_of(view, "page_commander") == "done"
        kill(first)  # mid-incident, waiting on a person
        second = worker()
        form = json.dumps(ASSESS_FALSE)
        dev.ok("task", "complete", incident, "assess", "--as", "amoreno", "--data", form)
        kill(second)  # right after a step completed
        worker()
        # The two tasks of the response open once the Rota has said which desk holds each.
        both = ("content_action", "preserve")
        dev.until(incident, lambda v: active(*both)(v) and all(due_at(v, s) for s in both))
        action = json.dumps({"action": "removed"})
        dev.ok("task", "complete", incident, "content_action", "--as", "amoreno", "--data", action)
        preserved = json.dumps(PRESERVED)
        dev.ok("task", "complete", incident, "preserve", "--as", "slee", "--data", preserved)
        view = dev.until(incident, lambda v: v["status"] != "running")
    finally:
        for proc in workers:
            stop(proc)
        for log in logs:
            log.close()

    assert (view["status"], view["outcome"]) == ("completed", "resolved")
    state, scheduled, attempts = asyncio.run(_history(dev.address, incident))
    # Every step ran at most once, every activity was scheduled once and ran on its first try.
    assert {s.id: s.starts for s in state.steps.values() if s.starts != 1} == {
        s.id: 0 for s in state.steps.values() if s.status in ("pending", "skipped")
    }
    # The page and a check-in after each of the two graphic tasks (assess, content_action);
    # the desk turn of each follow-the-sun task (assess, content_action, preserve).
    assert scheduled == {
        "sopflow.enrich": 1,
        "sopflow.notify": 3,
        "sopflow.desk_turn": 3,
        "sopflow.postmortem": 1,
    }
    assert attempts == [1] * 8
    timeline = Counter((e["kind"], e["step"]) for e in view["timeline"])
    assert timeline[("notified", "page_commander")] == 1
    assert timeline[("postmortem.opened", "postmortem")] == 1
    assert timeline[("triage", "triage")] == 1
    # One notification per idempotency key: the sink saw the page's key, and no other.
    assert set(keys) == {f"{incident}/page_commander/1/pager/0"}
    assert [p.name for p in (dev.tmp / "kill-artifacts").iterdir()] == [f"{incident}.md"]
