"""The soak's stack, all on 127.0.0.1: the Temporal dev server on a SQLite file, two workers
and ``sopflow serve``, each a subprocess on a fixed port so it can be SIGKILLed and started
again in place; and the figures read from /proc (worker RSS, server CPU).

Nothing here reaches past loopback: the server, the API and the sinks bind 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.temporal_env import HOST, REPO, connect, cpu_seconds, free_port, rss_mb
from sopflow.api.tokens import TOKENS_ENV, TokenStore
from sopflow.client.connection import dev_server_flags
from sopflow.client.signing import SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, ActionSigner
from sopflow.client.testing import TEMPORAL_CLI
from sopflow.language.roster import load_roster

LIBRARY = REPO / "bench" / "soak_library"
READY_S = 60.0


@dataclass
class Part:
    """One process of the stack: how to start it, and the running one."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                self.command, cwd=REPO, env=self.env, stdout=sink, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash or an OOM kill would leave it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@dataclass
class Stack:
    """The running parts, the directory they keep their state in, and who may act."""

    directory: Path
    server: Part
    workers: list[Part]
    api: Part
    api_url: str
    address: str
    tokens: dict[str, str]
    operator: ActionSigner  # a key the workers trust, for the replayed-signature check
    disclosure_log: Path
    artifacts: Path
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    cpu_before_restart: float = 0.0  # the server's CPU seconds in its earlier lives

    def parts(self) -> list[Part]:
        return [self.server, *self.workers, self.api]

    def sample(self) -> None:
        """Keep each worker's peak resident memory (VmHWM resets when it is restarted)."""
        for worker in self.workers:
            if worker.alive():
                _rss, hwm = rss_mb(worker.pid)
                self.peak_rss_mb[worker.name] = max(self.peak_rss_mb.get(worker.name, 0.0), hwm)

    def server_cpu(self) -> float:
        """CPU seconds of the server process running now."""
        return cpu_seconds(self.server.pid) if self.server.alive() else 0.0

    def server_cpu_total(self) -> float:
        """CPU seconds of the server over the run, its lives before a kill included."""
        return self.cpu_before_restart + self.server_cpu()


def _base_env(directory: Path, address: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPFLOW_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=address,
        SOPFLOW_DEFINITIONS=str(LIBRARY),
        SOPFLOW_STATE_DIR=str(directory),
        SOPFLOW_CONFIG=str(directory / "channels.toml"),
        SOPFLOW_DISCLOSURE_LOG=str(directory / "disclosure-log.jsonl"),
        SOPFLOW_ARTIFACTS=str(directory / "artifacts"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _server_part(directory: Path, port: int) -> Part:
    command = [
        str(TEMPORAL_CLI), "server", "start-dev", "--headless",
        "--ip", HOST, "--port", str(port),
        "--http-port", str(free_port()), "--metrics-port", str(free_port()),
        "--db-filename", str(directory / "temporal.db"),
        "--log-level", "error",
        *dev_server_flags(),
    ]  # fmt: skip
    return Part("temporal", command, dict(os.environ), directory / "temporal.log")


def _keys(directory: Path) -> tuple[Path, ActionSigner]:
    """The API's signing key and an operator key, both trusted by the workers."""
    keys = directory / "keys"
    api = ActionSigner.generate("api")
    api.write(keys)
    operator = ActionSigner.generate("operator")
    operator.write(keys)
    return keys, operator


def _tokens(directory: Path) -> dict[str, str]:
    """A token per soak Roster person, in the API's token store."""
    store = TokenStore(directory / "tokens.json")
    people = sorted(load_roster(LIBRARY).people)
    return {handle: store.issue(handle)[0] for handle in people}


def build(directory: Path, channels: str) -> Stack:
    """The parts of a stack in ``directory`` (nothing started yet)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "channels.toml").write_text(channels, encoding="utf-8")
    port, api_port = free_port(), free_port()
    address = f"{HOST}:{port}"
    keys, operator = _keys(directory)
    env = _base_env(directory, address)
    worker_env = {**env, TRUSTED_KEYS_ENV: str(keys)}
    workers = [
        Part(f"worker-{n}", [sys.executable, "worker.py"], worker_env, directory / f"w{n}.log")
        for n in (1, 2)
    ]
    api_env = {
        **env,
        SIGNING_KEY_ENV: str(keys / "api.key"),
        TOKENS_ENV: str(directory / "tokens.json"),
        # Responders here are programs: the per-person limit would only slow the load down.
        "SOPFLOW_API_MAX_IN_FLIGHT": "64",
    }
    api_cmd = [sys.executable, "-m", "sopflow.cli.app", "serve", "--port", str(api_port)]
    return Stack(
        directory=directory,
        server=_server_part(directory, port),
        workers=workers,
        api=Part("api", api_cmd, api_env, directory / "api.log"),
        api_url=f"http://{HOST}:{api_port}/api/v1",
        address=address,
        tokens=_tokens(directory),
        operator=operator,
        disclosure_log=directory / "disclosure-log.jsonl",
        artifacts=directory / "artifacts",
    )


async def wait_for_server(stack: Stack, deadline_s: float = READY_S) -> None:
    """Until the dev server answers a visibility call (its port opens before it serves)."""
    stop = time.monotonic() + deadline_s
    while True:
        if not stack.server.alive():
            raise RuntimeError(f"the Temporal dev server exited: see {stack.server.log}")
        try:
            client = await connect(stack.address)
            await client.count_workflows()
            return
        except Exception:
            if time.monotonic() > stop:
                raise
            await asyncio.sleep(0.2)


async def wait_for_worker(part: Part, since: int, deadline_s: float = READY_S) -> None:
    """Until the worker's log says ``worker.started`` more than ``since`` times."""
    stop = time.monotonic() + deadline_s
    while part.log.read_text(errors="replace").count("worker.started") <= since:
        if not part.alive() or time.monotonic() > stop:
            raise RuntimeError(f"{part.name} did not start: see {part.log}")
        await asyncio.sleep(0.1)


async def wait_for_api(stack: Stack, deadline_s: float = READY_S) -> None:
    """Until the API's health check answers 200 (it asks Temporal too)."""
    stop = time.monotonic() + deadline_s
    async with httpx.AsyncClient() as client:
        while True:
            if not stack.api.alive():
                raise RuntimeError(f"the API exited: see {stack.api.log}")
            try:
                if (await client.get(f"{stack.api_url}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > stop:
                raise RuntimeError(f"the API did not become healthy: see {stack.api.log}")
            await asyncio.sleep(0.2)


def worker_starts(part: Part) -> int:
    return part.log.read_text(errors="replace").count("worker.started") if part.log.exists() else 0


async def start(stack: Stack) -> None:
    """Start the server (its flags register sopflow's search attributes), the workers and
    the API."""
    stack.server.start()
    await wait_for_server(stack)
    for worker in stack.workers:
        before = worker_starts(worker)
        worker.start()
        await wait_for_worker(worker, before)
    stack.api.start()
    await wait_for_api(stack)


async def restart(stack: Stack, part: Part) -> None:
    """Start a killed part again in place and wait until it serves."""
    if part is stack.server:
        part.start()
        await wait_for_server(stack)
    elif part is stack.api:
        part.start()
        await wait_for_api(stack)
    else:
        before = worker_starts(part)
        part.start()
        await wait_for_worker(part, before)


def stop(stack: Stack) -> None:
    """Stop everything, the API and workers first."""
    for part in reversed(stack.parts()):
        part.stop()
