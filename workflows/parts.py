"""What every part of the step runner may use from the runner itself.

``StepRunner`` is assembled from mixins, one concern each (desks, effects, waits, linked
incidents, wellbeing); each declares here, once, the runner's methods it calls, which
``StepRunner`` provides.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sopflow.contract.messages import IncidentState


class RunnerPart:
    """The runner's incident state and bookkeeping, as a mixin sees them."""

    state: IncidentState

    def log(self, actor: str, kind: str, step: str | None = None, detail: str = "") -> None:
        raise NotImplementedError

    def variables(self) -> dict[str, Any]:
        raise NotImplementedError

    def flush_search_attributes(self, *, final: bool = False) -> None:
        raise NotImplementedError
