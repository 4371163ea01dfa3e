"""Compile an effective SOP into a plan: defaults filled, durations in seconds, jumps resolved,
policies embedded, hashed. Assumes the SOP passed lint; ``compile_sop`` in ``sopflow.compile.lint``
is the entry point that guarantees that."""

from __future__ import annotations

from typing import Any, assert_never

from sopflow.compile.updates import compile_updates
from sopflow.contract.plan import (
    REVIEW_ESCALATE_TO,
    REVIEW_REMIND_S,
    ApprovalPlan,
    CheckInPlan,
    DecisionBranch,
    DecisionPlan,
    Defaults,
    DestinationPlan,
    DisclosureCheckPlan,
    EndPlan,
    MigrationMap,
    NotifyPlan,
    OnTimeout,
    OpenIncidentPlan,
    ParallelBranchPlan,
    ParallelPlan,
    Plan,
    Policy,
    PolicyRule,
    PostmortemPlan,
    RegionInfo,
    Retry,
    ReviewPlan,
    RoleCount,
    SopInfo,
    TaskPlan,
    TriagePlan,
    TriageRule,
    WaitPlan,
)
from sopflow.contract.plan import (
    PlanStep as PlanStepT,
)
from sopflow.language.durations import parse_duration
from sopflow.language.effective import Effective
from sopflow.language.library import Library
from sopflow.language.models import steps as m
from sopflow.language.models.step_parts import END, SlaClock

# An `sla: {until: ...}` without `every`: after the deadline, escalate once an hour.
UNTIL_REPEAT_S = 3600


def _target(name: str | None) -> str | None:
    return None if name in (None, END) else name


def _seconds(text: str | None) -> int | None:
    return None if text is None else parse_duration(text)


def _review(step: m.PostmortemStep, due_s: int) -> ReviewPlan | None:
    """A `review:` block with every default filled; None without one, so the plans of SOPs
    that predate it keep their hashes (the workflow fills the same defaults)."""
    if step.review is None:
        return None
    r = step.review
    return ReviewPlan(
        owner=r.owner or step.owner,
        due_s=_seconds(r.due) or due_s,
        remind_s=_seconds(r.remind) or REVIEW_REMIND_S,
        escalate_to=r.escalate_to or REVIEW_ESCALATE_TO,
    )


class _Compiler:
    def __init__(self, eff: Effective, lib: Library | None = None) -> None:
        self.eff = eff
        self.default_sla = _seconds(eff.sop.defaults.sla)
        self.destinations = lib.destinations.model.destinations if lib and lib.destinations else {}

    def notify(self, step: m.NotifyStep, common: dict[str, Any]) -> NotifyPlan:
        """A notify step's plan: to a role or an expression, or to a named destination."""
        if step.destination is not None:
            # The channel and the address come from the library (lint checked the name).
            spec = self.destinations[step.destination]
            found = DestinationPlan(
                name=step.destination, channel=spec.channel, address=spec.address
            )
            return NotifyPlan(
                **common,
                channel=found.channel,
                to_role=None,
                to_expr=None,
                message=step.message,
                destination=found,
            )
        is_role = step.to in self.eff.sop.roles
        assert step.channel is not None, "a notify step without a destination has a channel"
        return NotifyPlan(
            **common,
            channel=step.channel,
            to_role=step.to if is_role else None,
            to_expr=None if is_role else step.to,
            message=step.message,
        )

    def steps(self, steps: list[Any]) -> list[PlanStepT]:
        out = []
        for index, step in enumerate(steps):
            following = steps[index + 1].id if index + 1 < len(steps) else None
            out.append(self.step(step, following))
        return out

    def common(self, step: m.StepBase, following: str | None) -> dict[str, Any]:
        nxt = _target(step.next_) if step.next_ is not None else following
        return {
            "id": step.id,
            "title": step.title or step.id.replace("-", " ").replace("_", " ").capitalize(),
            "description": step.description,
            "when": step.when,
            "next": nxt,
            "on": {k: _target(v) for k, v in sorted(step.outcome_map().items())},
        }

    def human(self, step: m.HumanStep, following: str | None) -> dict[str, Any]:
        written, clock = step.sla, None
        if not isinstance(written, SlaClock):
            sla = _seconds(written) or self.default_sla
        elif written.business is not None:
            sla, clock = _seconds(written.business), written
        else:
            sla, clock = _seconds(written.every) or UNTIL_REPEAT_S, written
        assert sla is not None, "lint guarantees every human step has an SLA"
        timeout = step.on_timeout
        on_timeout = (
            OnTimeout(action=timeout)
            if isinstance(timeout, str)
            else OnTimeout(action="goto", goto=_target(timeout.goto))
        )
        return {
            **self.common(step, following),
            "sla_s": sla,
            "escalate": list(step.escalate),
            "on_timeout": on_timeout,
            "sla_clock": "business" if clock is not None and clock.business else None,
            "sla_until": clock.until if clock is not None else None,
            "follow_the_sun": True if step.follow_the_sun else None,
            "graphic": True if step.graphic else None,
            "check_in": None
            if step.check_in is None
            else CheckInPlan(to=step.check_in.to, channel=step.check_in.channel),
        }

    def step(self, step: m.Step, following: str | None) -> PlanStepT:
        c = self.common(step, following)
        match step:
            case m.TriageStep():
                rules = [
                    TriageRule(when=r.when, severity=r.severity, labels=r.labels)
                    for r in step.rules
                ]
                return TriagePlan(**c, rules=rules, enrich=list(step.enrich))
            case m.TaskStep():
                human = self.human(step, following)
                return TaskPlan(**human, assignee=step.assignee, form=step.form)
            case m.ApprovalStep():
                requires = step.requires
                return ApprovalPlan(
                    **self.human(step, following),
                    approvers=step.approver_roles(),
                    quorum=step.needed_votes(),
                    distinct=step.distinct,
                    four_eyes=step.four_eyes,
                    requires=None
                    if requires is None
                    else [RoleCount(role=r.role, count=r.count) for r in requires],
                )
            case m.DecisionStep():
                branches = [
                    DecisionBranch(when=b.when, goto=_target(b.goto), not_rehearsed=b.not_rehearsed)
                    for b in step.branches
                ]
                return DecisionPlan(**c, branches=branches)
            case m.DisclosureCheckStep():
                return DisclosureCheckPlan(**c, policy=step.policy, request=dict(step.request))
            case m.NotifyStep():
                return self.notify(step, c)
            case m.WaitStep():
                return WaitPlan(
                    **c,
                    for_s=_seconds(step.for_),
                    until=step.until,
                    event=step.event,
                    timeout_s=_seconds(step.timeout),
                )
            case m.ParallelStep():
                lanes = [
                    ParallelBranchPlan(name=b.name or f"branch-{i + 1}", steps=self.steps(b.steps))
                    for i, b in enumerate(step.branches)
                ]
                return ParallelPlan(**c, join=step.join, branches=lanes)
            case m.PostmortemStep():
                due_s = parse_duration(step.due)
                return PostmortemPlan(
                    **c,
                    owner=step.owner,
                    due_s=due_s,
                    template=step.template,
                    review=_review(step, due_s),
                )
            case m.OpenIncidentStep():
                return OpenIncidentPlan(
                    **c,
                    sop=step.sop,
                    version=step.version,
                    region=step.region,
                    input=dict(step.input),
                    wait=step.wait,
                )
            case m.EndStep():
                # An end step finishes the incident: nothing follows it, whatever comes next
                # in the file.
                return EndPlan(**{**c, "next": None}, outcome=step.outcome)
            case _:
                assert_never(step)


def compile_effective(eff: Effective, lib: Library) -> Plan:
    """The hashed plan for one effective SOP. The SOP must have passed lint."""
    sop = eff.sop
    compiler = _Compiler(eff, lib)
    retry = sop.defaults.retry
    used = sorted({s.policy for s in _all(sop.steps) if isinstance(s, m.DisclosureCheckStep)})
    policies = {}
    for policy_id in used:
        doc = lib.policies[policy_id].model
        rules = [PolicyRule(**r.model_dump()) for r in doc.rules]
        policies[policy_id] = Policy(
            id=doc.id, jurisdiction=doc.jurisdiction, title=doc.title, rules=rules
        )
    region_spec = lib.regions.model.regions.get(eff.region) if lib.regions else None
    plan = Plan(
        sop=SopInfo(
            id=sop.id,
            version=sop.version,
            title=sop.title,
            owner=sop.owner,
            description=sop.description,
            base_region=sop.region,
        ),
        region=RegionInfo(
            code=eff.region,
            timezone=region_spec.timezone if region_spec else None,
            team=region_spec.team if region_spec else None,
            data_region=(region_spec.data_region or eff.region) if region_spec else eff.region,
        ),
        input_schema=sop.input,
        roles={name: spec.description for name, spec in sorted(sop.roles.items())},
        defaults=Defaults(
            sla_s=compiler.default_sla,
            retry=Retry(
                max_attempts=retry.max_attempts,
                initial_interval_s=parse_duration(retry.initial_interval),
                backoff=retry.backoff,
                max_interval_s=parse_duration(retry.max_interval),
            ),
        ),
        steps=compiler.steps(list(sop.steps)),
        policies=policies,
        restricted_to=None if sop.restricted_to is None else sorted(set(sop.restricted_to)),
        global_roles=None if sop.global_roles is None else sorted(set(sop.global_roles)),
        correlation=sop.correlation,
        on_event=None
        if sop.on_event is None
        else {name: h.goto for name, h in sorted(sop.on_event.items())},
        migrates_from=None
        if sop.migrates_from is None
        else MigrationMap(
            version=sop.migrates_from.version, steps=dict(sorted(sop.migrates_from.steps.items()))
        ),
        updates=compile_updates(sop, compiler.destinations),
    )
    return plan.with_hash()


def _all(steps: Any) -> list[Any]:
    out = []
    for step in steps:
        out.append(step)
        if isinstance(step, m.ParallelStep):
            for branch in step.branches:
                out.extend(_all(branch.steps))
    return out
