"""Running incidents on the real time-skipping Temporal test server, with recording fakes
in place of the side-effect activities (registered under the same activity names)."""

from __future__ import annotations

import asyncio
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from sopflow.client.incidents import Action, IncidentService
from sopflow.client.testing import TEST_SIGNER, incident_worker, time_skipping_server
from sopflow.client.testing import dev_server as start_dev_server
from sopflow.compile.lint import lint_library
from sopflow.contract.messages import ActionResult, IncidentState
from sopflow.contract.plan import Plan
from sopflow.rehearsal.fakes import RecordingActivities
from workflows.incident import IncidentWorkflow


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
    incidents: IncidentService

    async def start(
        self,
        plan: Plan,
        data: dict[str, Any] | None = None,
        *,
        opened_by: str = "opener",
        continue_as_new_after: int | None = None,
        data_task_queue: str | None = None,
    ) -> WorkflowHandle[Any, IncidentState]:
        """Start an incident through the incident service, as every interface does."""
        return await self.incidents.start(
            plan,
            data or {},
            opened_by=opened_by,
            incident_id=f"inc-{uuid.uuid4().hex[:8]}",
            continue_as_new_after=continue_as_new_after,
            data_task_queue=data_task_queue,
        )

    async def act(self, handle: WorkflowHandle[Any, Any], action: Action) -> ActionResult:
        """Act on the incident through the incident service (refusals raise ActionRefused)."""
        return await self.incidents.act(handle.id, action)

    async def state(self, handle: WorkflowHandle[Any, Any]) -> IncidentState:
        return await handle.query(IncidentWorkflow.get_state)

    async def until(
        self,
        handle: WorkflowHandle[Any, Any],
        ready: Callable[[IncidentState], bool],
        *,
        deadline: float = 10.0,
    ) -> IncidentState:
        """Poll the query until ``ready`` holds, in real time, with a deadline."""
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
    activities: Sequence[Callable[..., Any]] = (),
) -> AsyncIterator[Bench]:
    """A worker on a fresh task queue, against the time-skipping test server, or against the
    real dev server where a test needs what only it does (rejected updates leave no trace
    there; the test server still records the workflow task that ran the validator).
    ``activities``: real ones beside the fakes (e.g. the linked-plan resolver)."""
    server = start_dev_server if dev_server else time_skipping_server
    fakes = fakes or Fakes()
    async with (
        server(data_converter=data_converter) as env,
        incident_worker(env, [*fakes.activities(), *activities]) as queue,
    ):
        service = IncidentService(
            env.client, task_queue=queue, signer=TEST_SIGNER, clock=env.get_current_time
        )
        yield Bench(env, env.client, queue, fakes, service)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


ONE_DAY = timedelta(days=1)
