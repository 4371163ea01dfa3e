"""A worker process configured as ``worker.py`` configures sopflow's, for the benchmarks.

``python -m bench.bench_worker`` (from the repository root) connects to ``$TEMPORAL_ADDRESS``
with the pydantic data converter and serves, on ``$SOPFLOW_TASK_QUEUE`` (default ``sopflow``),
the recording no-op activities and the workflows listed in ``$BENCH_WORKFLOWS`` (comma
separated: ``sopflow`` for ``IncidentWorkflow``, ``hand`` for ``handwritten.HandStep``,
``hand-incident`` for ``handwritten.HandIncident``; default ``hand``), with a 16-thread
activity executor, ``worker.py``'s workflow runner (``workflows.sandbox``) and the SDK's
default caches and slots, until SIGTERM or SIGINT. It prints ``worker.started`` once polling,
as ``worker.py`` logs it; with ``BENCH_RECORD=FILE`` it writes the activity calls it served
(workflow id -> activity names, in order) to FILE as JSON on exit.

Serving ``sopflow``, it verifies every action's signature as ``worker.py`` does
(``workflows.trust.verification_interceptor``), with the public keys of
``$SOPFLOW_TRUSTED_KEYS`` (``sopflow.client.signing.keyring_from_env``; the benchmarks'
``temporal_env.worker_process`` points it at the key they sign with), and like ``worker.py``
refuses to start without any. A worker serving only hand-written workflows needs no keys and
has no interceptor: they are not sopflow's and have no validators to guard.

What-if settings (``--experiment`` of the benchmarks, see ``experiments.py``):
``BENCH_PASSTHROUGH=1`` passes the workflow packages through the sandbox;
``BENCH_LEAN_CEL=1`` evaluates CEL with only the names each expression uses;
``BENCH_MAX_CACHED=N`` sets ``max_cached_workflows`` (the SDK's default is 1,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Interceptor, Worker

from bench.experiments import lean_cel, passthrough_runner
from bench.handwritten import HandIncident, HandStep
from bench.noop_activities import Recorder
from sopflow.contract.names import TASK_QUEUE
from workflows.incident import IncidentWorkflow
from workflows.sandbox import workflow_runner
from workflows.trust import verification_interceptor


def settings() -> dict[str, Any]:
    """The Worker keyword arguments that the environment asks for; by default ``worker.py``'s
    workflow runner (the ``workflows`` package passed through the sandbox; the hand-written
    workflows' module stays sandboxed, as the SDK's default has it)."""
    kwargs: dict[str, Any] = {"workflow_runner": workflow_runner()}
    if os.environ.get("BENCH_PASSTHROUGH") == "1":
        kwargs["workflow_runner"] = passthrough_runner()
    if os.environ.get("BENCH_MAX_CACHED"):
        kwargs["max_cached_workflows"] = int(os.environ["BENCH_MAX_CACHED"])
    return kwargs


WORKFLOWS: dict[str, type] = {
    "sopflow": IncidentWorkflow,
    "hand": HandStep,
    "hand-incident": HandIncident,
}


class NoTrustedKeys(Exception):
    """Asked to serve sopflow's workflow without a public key to verify actions with."""


def interceptors(names: list[str]) -> list[Interceptor]:
    """Signature verification when serving sopflow's workflow, as ``worker.py`` has it;
    NoTrustedKeys when the environment names no key (a worker that cannot verify who acts
    would refuse every action)."""
    if "sopflow" not in names:
        return []
    # Imported here: it loads the crypto library, which a hand-written-only worker (the
    # memory baseline) has no use for.
    from sopflow.client.signing import TRUSTED_KEYS_ENV, keyring_from_env

    keyring = keyring_from_env()
    if not keyring.keys:
        raise NoTrustedKeys(
            f"no trusted action keys: set {TRUSTED_KEYS_ENV} to public key files or a "
            "directory of *.pub files (bench.temporal_env.worker_process does)"
        )
    return [verification_interceptor(keyring.verify)]


async def main() -> None:
    names = [name.strip() for name in os.environ.get("BENCH_WORKFLOWS", "hand").split(",")]
    verification = interceptors(names)  # before connecting: a worker without keys stops at once
    client = await Client.connect(
        os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
        data_converter=pydantic_data_converter,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    recorder = Recorder()
    with ExitStack() as stack:
        if os.environ.get("BENCH_LEAN_CEL") == "1":
            stack.enter_context(lean_cel())
        executor = stack.enter_context(ThreadPoolExecutor(max_workers=16))
        worker = Worker(
            client,
            task_queue=os.environ.get("SOPFLOW_TASK_QUEUE", TASK_QUEUE),
            workflows=[WORKFLOWS[name] for name in names],
            activities=recorder.activities(),
            activity_executor=executor,
            interceptors=verification,
            **settings(),
        )
        run = asyncio.create_task(worker.run())
        print('{"event": "worker.started"}', flush=True)
        await stop.wait()
        await worker.shutdown()
        await asyncio.gather(run, return_exceptions=True)
    if os.environ.get("BENCH_RECORD"):
        text = json.dumps(dict(recorder.calls))
        Path(os.environ["BENCH_RECORD"]).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except NoTrustedKeys as exc:  # one line, as worker.py says it, and a failing status
        print(json.dumps({"event": "worker.signing_keys", "error": str(exc)}), flush=True)
        sys.exit(1)
