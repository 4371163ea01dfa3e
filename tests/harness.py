"""Running incidents on the real time-skipping Temporal test server, with recording fakes
in place of the side-effect activities (registered under the same activity names)."""

from __future__ import annotations

import sys
import tempfile
import textwrap
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sopflow.client.connection import register_search_attributes
from sopflow.compile.lint import lint_library
from sopflow.contract import search
from sopflow.contract.messages import IncidentInput, IncidentState
from sopflow.contract.names import QUERY_STATE
from sopflow.contract.plan import Plan
from sopflow.rehearsal.fakes import RecordingActivities
from workflows.incident import IncidentWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"


def compile_text(sop: str, *extra: str, region: str | None = None) -> Plan:
    """Compile an SOP written inline (plus policies, variants...) through the real linter."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate((sop, *extra)):
            Path(tmp, f"doc{i}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
        result = lint_library(Path(tmp))
        errors = [d.format() for d in result.diagnostics if d.severity == "error"]
        assert not errors, errors
        [(_key, plan)] = [
            (k, p) for k, p in result.plans.items() if region is None or k[2] == region
        ]
        return plan


# The recording fakes `sopflow rehearse` uses, so tests and rehearsals run the same stand-ins.
Fakes = RecordingActivities


@dataclass
class Bench:
    env: WorkflowEnvironment
    client: Client
    task_queue: str
    fakes: Fakes

    async def start(
        self,
        plan: Plan,
        data: dict[str, Any] | None = None,
        *,
        opened_by: str = "opener",
        **kw: Any,
    ) -> WorkflowHandle[Any, Any]:
        incident_id = f"inc-{uuid.uuid4().hex[:8]}"
        inp = IncidentInput(
            incident_id=incident_id, plan=plan, input=data or {}, opened_by=opened_by, **kw
        )
        return await self.client.start_workflow(
            plan.sop.id,
            inp,
            id=incident_id,
            task_queue=self.task_queue,
            result_type=IncidentState,
            search_attributes=search.start_attributes(
                plan.sop.id, plan.sop.version, plan.region.code
            ),
        )

    async def state(self, handle: WorkflowHandle[Any, Any]) -> IncidentState:
        result: IncidentState = await handle.query(QUERY_STATE, result_type=IncidentState)
        return result

    async def until(
        self,
        handle: WorkflowHandle[Any, Any],
        ready: Callable[[IncidentState], bool],
        *,
        deadline: float = 10.0,
    ) -> IncidentState:
        """Poll the query until ``ready`` holds, in real time, with a deadline."""
        import asyncio
        import time

        stop = time.monotonic() + deadline
        while True:
            current = await self.state(handle)
            if ready(current):
                return current
            if time.monotonic() > stop:
                raise AssertionError(f"condition not met before the deadline: {current}")
            await asyncio.sleep(0.02)

    async def history_length(self, handle: WorkflowHandle[Any, Any]) -> int:
        history = await handle.fetch_history()
        return len(history.events)


@asynccontextmanager
async def bench(
    fakes: Fakes | None = None,
    *,
    dev_server: bool = False,
    data_converter: DataConverter = pydantic_data_converter,
) -> AsyncIterator[Bench]:
    """A worker on a fresh task queue, against the time-skipping test server, or against the
    real dev server where a test needs what only it does (rejected updates leave no trace
    there; the test server still records the workflow task that ran the validator)."""
    if dev_server:
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter,
            dev_server_existing_path=str(TEMPORAL_CLI),
            search_attributes=search.ALL_KEYS,
        )
    else:
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=data_converter, test_server_existing_path=str(TEST_SERVER)
        )
    try:
        if not dev_server:
            await register_search_attributes(env.client)
        fakes = fakes or Fakes()
        queue = f"tq-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[IncidentWorkflow],
            activities=fakes.activities(),
            activity_executor=_executor(),
        ):
            yield Bench(env, env.client, queue, fakes)
    finally:
        await env.shutdown()


def _executor() -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=4)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    import asyncio

    asyncio.run(scenario())  # type: ignore[arg-type]


ONE_DAY = timedelta(days=1)
