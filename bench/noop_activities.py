"""Recording no-op activities under sopflow's activity names (``sopflow.contract`` ACT_*).

The same callables serve sopflow's interpreter and the hand-written workflows, so both pay
exactly the same for each activity; each call is recorded as (workflow id, activity name) so a
benchmark can check that both made the same calls in the same order. They are synchronous, like
sopflow's real activities, and run on the worker's thread pool.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from temporalio import activity

from sopflow.contract.messages import (
    DisclosureRequest,
    DisclosureResult,
    EnrichRequest,
    EnrichResult,
    NotifyRequest,
    NotifyResult,
    PostmortemRequest,
    PostmortemResult,
)
from sopflow.contract.names import ACT_DISCLOSURE, ACT_ENRICH, ACT_NOTIFY, ACT_POSTMORTEM


class Recorder:
    """Counts and orders the calls of its activities, per workflow id.

    ``slow_steps`` maps a notify step id to seconds the notification takes (a sleep), so that
    concurrent activities complete in a known order when a benchmark needs that."""

    def __init__(self, slow_steps: dict[str, float] | None = None) -> None:
        self._lock = threading.Lock()
        self.calls: dict[str, list[str]] = defaultdict(list)
        self.slow_steps = dict(slow_steps or {})

    def _record(self, name: str) -> None:
        workflow_id = activity.info().workflow_id or ""
        with self._lock:
            self.calls[workflow_id].append(name)

    def sequence(self, workflow_id: str) -> list[str]:
        with self._lock:
            return list(self.calls.get(workflow_id, []))

    def total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.calls.values())

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=ACT_ENRICH)
        def enrich(req: EnrichRequest) -> EnrichResult:
            self._record(ACT_ENRICH)
            return EnrichResult(data={"account_age_days": 12})

        @activity.defn(name=ACT_NOTIFY)
        def notify(req: NotifyRequest) -> NotifyResult:
            self._record(ACT_NOTIFY)
            if req.step in self.slow_steps:
                time.sleep(self.slow_steps[req.step])
            return NotifyResult(channel=req.channel, delivered=True)

        @activity.defn(name=ACT_DISCLOSURE)
        def disclosure(req: DisclosureRequest) -> DisclosureResult:
            self._record(ACT_DISCLOSURE)
            rule = req.policy.rules[0]
            return DisclosureResult(
                decision=rule.decision,
                allow=rule.allow,
                legal_basis=rule.legal_basis,
                reason=rule.reason,
                policy=req.policy.id,
                rule=0,
            )

        @activity.defn(name=ACT_POSTMORTEM)
        def postmortem(req: PostmortemRequest) -> PostmortemResult:
            self._record(ACT_POSTMORTEM)
            return PostmortemResult(
                document=f"{req.incident_id}.md", owner=req.owner, due_at=req.due_at
            )

        return [enrich, notify, disclosure, postmortem]
