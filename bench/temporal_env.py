"""Temporal servers and process figures for the execution benchmarks.

Every server here listens on 127.0.0.1 only and is a binary from the venv (the SDK never
downloads one): the dev server (``temporal server start-dev``, SQLite in memory) started as a
subprocess so its CPU time can be read from ``/proc`` (which ``sopflow.client.testing``'s
in-process environment does not allow), and the time-skipping test server of
``sopflow.client.testing``.

Actions are signed and verified as in production: sopflow's incident services here sign with
``sopflow.client.testing.TEST_SIGNER`` (a key made fresh in each process) and every worker
running ``IncidentWorkflow`` verifies signatures against it (in this process with
:func:`verifying`; a worker subprocess through ``$SOPFLOW_TRUSTED_KEYS``, which
:func:`worker_process` points at the key's public half). The hand-written baselines stay
unsigned: they have no validators, so the verification never runs for them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Interceptor

from sopflow.client.connection import dev_server_flags
from sopflow.client.incidents import IncidentService, wall_clock
from sopflow.client.signing import TRUSTED_KEYS_ENV
from sopflow.client.testing import TEMPORAL_CLI, TEST_KEYS, TEST_SIGNER, time_skipping_server
from sopflow.contract.names import TASK_QUEUE
from workflows.trust import verification_interceptor

HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc/<pid>/status."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


async def connect(address: str) -> Client:
    """A client with sopflow's data converter (pydantic), as the CLI and the worker use."""
    return await Client.connect(address, data_converter=pydantic_data_converter)


@dataclass
class DevServer:
    """A running ``temporal server start-dev`` subprocess."""

    process: subprocess.Popen[bytes]
    address: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


@asynccontextmanager
async def dev_server(*, ready_timeout: float = 60.0) -> AsyncIterator[DevServer]:
    """The dev server on a free port of 127.0.0.1, with sopflow's search attributes
    registered at start, headless, state in memory; stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as tmp:
        log = Path(tmp, "server.log")
        cmd = [
            str(TEMPORAL_CLI),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            HOST,
            "--port",
            str(port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "error",
            *dev_server_flags(),
        ]
        with log.open("wb") as sink:
            process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
            server = DevServer(process, f"{HOST}:{port}", log)
            try:
                await _wait_until_serving(server, ready_timeout)
                yield server
            finally:
                stop_process(process)


async def _wait_until_serving(server: DevServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            tail = server.log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the dev server exited ({server.process.returncode}):\n{tail}")
        try:
            client = await connect(server.address)
            await client.count_workflows()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds: only this process, by its id."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# The time-skipping server is sopflow's own test setup, as the tests and rehearsals use it.
time_skipping = time_skipping_server


def verifying() -> list[Interceptor]:
    """The interceptors of an in-process worker running ``IncidentWorkflow``: it verifies
    every action's signature before any validator, as ``worker.py``'s does, trusting
    ``TEST_SIGNER``'s key."""
    return [verification_interceptor(TEST_KEYS.verify)]


def incident_service(
    client: Client,
    task_queue: str = TASK_QUEUE,
    *,
    clock: Callable[[], Awaitable[datetime]] = wall_clock,
) -> IncidentService:
    """sopflow's incident service as the API builds it: every action signed (with
    ``TEST_SIGNER``, which the benchmarks' workers trust). On the time-skipping server pass
    ``clock=env.get_current_time``: the worker checks a signature's age against workflow time."""
    return IncidentService(client, task_queue=task_queue, signer=TEST_SIGNER, clock=clock)


REPO = Path(__file__).resolve().parents[1]
BENCH_WORKER = [sys.executable, "-m", "bench.bench_worker"]
SOPFLOW_WORKER = [sys.executable, "worker.py"]


@dataclass
class WorkerProcess:
    """A worker subprocess (``worker.py`` or ``bench.bench_worker``) and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> tuple[float, float]:
        return rss_mb(self.pid)


@asynccontextmanager
async def worker_process(
    command: list[str], address: str, queue: str, extra_env: dict[str, str] | None = None
) -> AsyncIterator[WorkerProcess]:
    """Start ``command`` from the repository root against ``address`` on ``queue``, trusting
    the action signatures of ``TEST_SIGNER`` (its public key written to a temporary
    directory named in ``$SOPFLOW_TRUSTED_KEYS``, whatever the caller's environment says);
    yield once it says ``worker.started``; stop it with SIGTERM (then SIGKILL) on exit."""
    with tempfile.TemporaryDirectory(prefix="sopflow-bench-") as tmp:
        keys = Path(tmp, "keys")
        TEST_SIGNER.write(keys)  # the private half too (0600): deleted with the directory
        env = {**os.environ, TRUSTED_KEYS_ENV: str(keys), **(extra_env or {})}
        env.update(TEMPORAL_ADDRESS=address, SOPFLOW_TASK_QUEUE=queue, PYTHONUNBUFFERED="1")
        for name in ("SOPFLOW_DATA_REGIONS", "SOPFLOW_DEPLOYMENT", "SOPFLOW_BUILD_ID"):
            env.pop(name, None)
        log = Path(tmp, "worker.log")
        with log.open("ab") as sink:
            process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
            worker = WorkerProcess(process, log)
            try:
                await _wait_for_start(worker)
                yield worker
            finally:
                stop_process(process)


async def _wait_for_start(worker: WorkerProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while "worker.started" not in worker.log.read_text(encoding="utf-8", errors="replace"):
        if worker.process.poll() is not None or time.monotonic() > deadline:
            tail = worker.log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the worker did not start:\n{tail}")
        await asyncio.sleep(0.1)
