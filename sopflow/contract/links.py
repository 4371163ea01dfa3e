"""Linked incidents: the messages between an incident's `open_incident` step and the worker
activity that resolves the other SOP's plan from the library.

Like the other contract modules it imports only pydantic, so the Temporal sandbox can load it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from sopflow.contract.plan import Plan


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkedPlanRequest(_Model):
    """Resolve ``sop`` (at ``version``, or the latest not retired) in ``region`` and check
    ``input`` against its input schema."""

    incident_id: str  # the incident opening it
    step: str
    sop: str
    version: int | None
    region: str
    input: dict[str, Any]


class LinkedPlan(_Model):
    """The compiled, published plan to start, and the data region whose queue serves its
    user-data activities."""

    plan: Plan
    data_region: str


def routed_outcome(status: str, outcome: str | None) -> str:
    """The outcome a waiting `open_incident` step routes by: the linked incident's end
    outcome when it completed, else ``failed`` or ``cancelled``."""
    if status == "completed":
        return outcome or "completed"
    return "cancelled" if status == "cancelled" else "failed"
