"""The interpreter refuses a plan whose format it does not know: the workflow fails at once,
with the reason, instead of running a procedure it may misread."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from sopflow.contract.messages import IncidentInput
from sopflow.contract.plan import PLAN_FORMAT
from tests.harness import bench, compile_text, run
from workflows.plan_input import KNOWN_PLAN_FORMATS, decode_input

CONVERTER = pydantic_data_converter.payload_converter

pytestmark = pytest.mark.workflow

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: formats
version: 1
title: Formats
owner: tests
region: US
roles:
  lead: {description: Lead}
steps:
  - id: done
    type: end
    outcome: resolved
"""


def _payload(inp: IncidentInput | dict[str, Any]) -> Payload:
    return CONVERTER.to_payloads([inp])[0]


def test_the_worker_knows_the_format_the_compiler_writes() -> None:
    plan = compile_text(SOP)
    assert plan.format == PLAN_FORMAT and PLAN_FORMAT in KNOWN_PLAN_FORMATS
    inp = IncidentInput(incident_id="i", plan=plan, input={}, opened_by="a")
    assert decode_input(CONVERTER, _payload(inp)) == inp


def test_an_unknown_format_is_refused_naming_both_formats() -> None:
    plan = compile_text(SOP).model_copy(update={"format": 99})
    inp = IncidentInput(incident_id="i", plan=plan, input={}, opened_by="a")
    with pytest.raises(ApplicationError) as caught:
        decode_input(CONVERTER, _payload(inp))
    error = caught.value
    assert error.type == "UnknownPlanFormat" and error.non_retryable
    assert "plan format 99" in error.message and f"plan format {PLAN_FORMAT}:" in error.message
    assert error.details == ({"format": 99, "known": list(KNOWN_PLAN_FORMATS)},)
    assert "formats@1 (US)" in error.message


def test_a_plan_from_a_newer_compiler_is_refused_by_its_format_not_its_fields() -> None:
    """A newer plan may carry fields this worker's models do not know: the decode fails, and
    the reason given is the format, not a validation error that would retry for ever."""
    newer = IncidentInput(
        incident_id="i", plan=compile_text(SOP), input={}, opened_by="a"
    ).model_dump(mode="json")
    newer["plan"] |= {"format": PLAN_FORMAT + 1, "lanes": [{"id": "x"}]}
    with pytest.raises(ApplicationError) as caught:
        decode_input(CONVERTER, _payload(newer))
    assert caught.value.type == "UnknownPlanFormat"
    assert f"plan format {PLAN_FORMAT + 1};" in caught.value.message
    assert "formats@1" in caught.value.message


def test_a_broken_input_in_a_known_format_is_still_a_validation_error() -> None:
    broken = IncidentInput(
        incident_id="i", plan=compile_text(SOP), input={}, opened_by="a"
    ).model_dump(mode="json")
    broken["plan"]["lanes"] = []
    with pytest.raises(ValueError, match="lanes"):
        decode_input(CONVERTER, _payload(broken))


def test_the_workflow_fails_on_an_unknown_format_without_running_a_step() -> None:
    plan = compile_text(SOP).model_copy(update={"format": 99})

    async def scenario() -> None:
        async with bench() as b:
            handle = await b.start(plan)
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
            cause = caught.value.cause
            assert isinstance(cause, ApplicationError)
            assert cause.type == "UnknownPlanFormat" and cause.non_retryable
            assert "plan format 99" in cause.message
            described = await handle.describe()
            assert described.status == WorkflowExecutionStatus.FAILED
            history = await handle.fetch_history()
            kinds = [e.WhichOneof("attributes") for e in history.events]
            # One workflow task, no retries, nothing scheduled: the run fails at its start.
            assert "workflow_task_failed_event_attributes" not in kinds
            assert "activity_task_scheduled_event_attributes" not in kinds
            assert kinds[-1] == "workflow_execution_failed_event_attributes"

    run(scenario)
