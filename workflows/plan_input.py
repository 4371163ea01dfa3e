"""Reading an incident's input inside the workflow, its plan's format checked before anything
runs: a plan this worker cannot read fails the incident at once, with the reason."""

from __future__ import annotations

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from sopflow.contract.messages import IncidentInput
    from sopflow.contract.plan import PLAN_FORMAT

# The plan formats (``Plan.format``) this interpreter runs.
KNOWN_PLAN_FORMATS = (PLAN_FORMAT,)


def check_plan_format(plan_format: object, name: str) -> None:
    """Refuse a plan in a format this worker does not know: fail the incident's workflow at
    once, with the reason, rather than run a procedure it may misread or retry for ever."""
    if plan_format not in KNOWN_PLAN_FORMATS:
        known = ", ".join(str(f) for f in KNOWN_PLAN_FORMATS)
        raise ApplicationError(
            f"plan {name} is in plan format {plan_format}; this worker runs plan format "
            f"{known}: start the incident with a plan compiled for this release, or deploy a "
            "worker that knows the format",
            {"format": plan_format, "known": list(KNOWN_PLAN_FORMATS)},
            type="UnknownPlanFormat",
            non_retryable=True,
        )


def decode_input(converter: PayloadConverter, payload: Payload) -> IncidentInput:
    """The incident's input, its plan's format checked first. A plan from a newer compiler
    may carry fields this worker's models do not know: decoding then fails, and the format
    (read from the raw JSON) says why, instead of a workflow task that retries for ever."""
    try:
        inp = converter.from_payload(payload, IncidentInput)
    except ValueError:  # pydantic's ValidationError
        raw = converter.from_payload(payload, dict)
        plan = raw.get("plan") if isinstance(raw, dict) else None
        if isinstance(plan, dict):
            sop = plan.get("sop")
            name = f"{sop.get('id')}@{sop.get('version')}" if isinstance(sop, dict) else "?"
            check_plan_format(plan.get("format"), name)
        raise
    plan_name = f"{inp.plan.sop.id}@{inp.plan.sop.version} ({inp.plan.region.code})"
    check_plan_format(inp.plan.format, plan_name)
    return inp
