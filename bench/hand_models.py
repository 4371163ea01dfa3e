"""The hand-written workflows' payload models, in their own module so the workflows can
import it passed through the sandbox, as sopflow's interpreter does with ``sopflow.contract``
(a model class defined in a workflow module is rebuilt by pydantic for every workflow run).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from sopflow.contract.plan import Policy


class HandIncidentInput(BaseModel):
    incident_id: str
    input: dict[str, Any]
    policy: Policy
    # (step id, channel, role) of each notification, in order: sops.NOTIFICATIONS.
    notifications: list[tuple[str, str, str]]


class HandIncidentResult(BaseModel):
    incident_id: str
    severity: str
    outcome: str
    disclosure: str


StepKind = Literal["none", "activity", "parallel2", "timer", "update", "signal"]


class HandStepInput(BaseModel):
    incident_id: str
    kind: StepKind
    sla_s: int = 1800
    # Publish what sopflow publishes: ActiveSteps when the step starts waiting, Outcome when
    # the workflow returns (kind "none").
    publish: bool = False
