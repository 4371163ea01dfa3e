"""Recording stand-ins for the side-effect activities, registered under the real activity
names so the real interpreter runs unchanged.

Nothing leaves the machine: notifications are recorded, not sent; the disclosure check
evaluates the policy with the production evaluator (``activities.disclosure.evaluate_policy``,
fail-closed included) but writes no disclosure log; post-mortems are recorded, not filed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities.disclosure import evaluate_policy
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


@dataclass
class RecordingActivities:
    """What the incident asked the outside world to do, in order."""

    notifications: list[NotifyRequest] = field(default_factory=list)
    disclosures: list[DisclosureRequest] = field(default_factory=list)
    postmortems: list[PostmortemRequest] = field(default_factory=list)
    enrichment: dict[str, Any] = field(default_factory=dict)
    fail_notify: bool = False

    def activities(self) -> list[Callable[..., Any]]:
        """The four activities, bound to this recorder."""

        @activity.defn(name=ACT_NOTIFY)
        def notify(req: NotifyRequest) -> NotifyResult:
            if self.fail_notify:
                raise RuntimeError("channel down")
            self.notifications.append(req)
            return NotifyResult(channel=req.channel, delivered=True, detail="recorded")

        @activity.defn(name=ACT_ENRICH)
        def enrich(req: EnrichRequest) -> EnrichResult:
            return EnrichResult(data={k: v for k, v in self.enrichment.items() if k in req.names})

        @activity.defn(name=ACT_DISCLOSURE)
        def disclosure(req: DisclosureRequest) -> DisclosureResult:
            self.disclosures.append(req)
            outcome = evaluate_policy(req.policy, req.facts)
            return DisclosureResult(
                decision=outcome.decision,
                allow=outcome.allow,
                legal_basis=outcome.legal_basis,
                reason=outcome.reason,
                policy=req.policy.id,
                rule=outcome.rule,
            )

        @activity.defn(name=ACT_POSTMORTEM)
        def postmortem(req: PostmortemRequest) -> PostmortemResult:
            self.postmortems.append(req)
            return PostmortemResult(
                document=f"{req.incident_id}.md", owner=req.owner, due_at=req.due_at
            )

        return [notify, enrich, disclosure, postmortem]
