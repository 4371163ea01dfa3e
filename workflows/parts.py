"""What every part of the step runner may use from the runner itself.

``StepRunner`` is assembled from mixins, one concern each (desks, effects, waits, linked
incidents, wellbeing); each declares here, once, the runner's methods it calls, which
``StepRunner`` provides.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sopflow.contract.messages import IncidentState


# Activities that read an operator's file (the Rota, the library) retry without limit, at most
# a minute apart: a fix to the file lets the step go on, and a live incident never fails over
# a configuration slip meanwhile (the pending activity says why it waits).
UNTIL_FIXED = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)


class RunnerPart:
    """The runner's incident state and bookkeeping, as a mixin sees them."""

    state: IncidentState

    def log(self, actor: str, kind: str, step: str | None = None, detail: str = "") -> None:
        raise NotImplementedError

    def variables(self) -> dict[str, Any]:
        raise NotImplementedError

    def flush_search_attributes(self, *, final: bool = False) -> None:
        raise NotImplementedError
