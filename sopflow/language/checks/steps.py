"""Semantic checks of one effective SOP: one small function per rule.

Each check takes the effective SOP and the library context and returns diagnostics; none
stops at the first problem, so an author sees every mistake in one run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sopflow.contract.quorum import max_matching, places
from sopflow.language.checks.flow import check_flow, jumps
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.models.destinations import Destination
from sopflow.language.models.documents import RosterDoc
from sopflow.language.models.step_parts import END
from sopflow.language.models.steps import (
    ApprovalStep,
    DecisionStep,
    DisclosureCheckStep,
    HumanStep,
    NotifyStep,
    Step,
    TriageStep,
)
from sopflow.language.validation import did_you_mean


@dataclass(frozen=True, slots=True)
class Context:
    """What the checks may look up outside the SOP itself."""

    policies: frozenset[str]
    broken_policies: frozenset[str]
    roster: RosterDoc | None
    # policy id -> the request facts its rules read
    policy_facts: dict[str, list[str]]
    # The desks of the library's Rota; None without a Rota, or with one that does not load
    # (``rota_broken``: its own errors say why).
    rota_desks: frozenset[str] | None = None
    rota_broken: bool = False
    # The library's named destinations; None without a Destinations document, or with one
    # that does not load (``destinations_broken``: its own errors say why).
    destinations: Mapping[str, Destination] | None = None
    destinations_broken: bool = False
    # policy id -> its rules as (`when` or None, decision), in order: which outcomes it decides
    policy_rules: Mapping[str, Sequence[tuple[str | None, str]]] | None = None


Check = Callable[[Effective, Context], list[Diagnostic]]


def _steps(eff: Effective) -> list[Step]:
    return [s for s, _, _ in walk_steps(list(eff.sop.steps))]


def check_duplicate_steps(eff: Effective, ctx: Context) -> list[Diagnostic]:
    out = []
    for step_id, (source, path) in eff.repeats:
        first_source, first_path = eff.step_where[step_id]
        line = first_source.pos((*first_path, "id")).line
        message = f"step id `{step_id}` is already used by the step at line {line}"
        out.append(source.diag((*path, "id"), "E300", message))
    return out


def _container_of(eff: Effective) -> dict[str, list[str]]:
    """For each step id, the ids of the steps in the same list (a branch or the top level)."""
    out: dict[str, list[str]] = {}
    for _, holder, _ in walk_steps(list(eff.sop.steps)):
        ids = [s.id for s in holder]
        for step_id in ids:
            out.setdefault(step_id, ids)
    return out


def check_targets(eff: Effective, ctx: Context) -> list[Diagnostic]:
    containers = _container_of(eff)
    out = []
    for step in _steps(eff):
        siblings = containers[step.id]
        for path, target in jumps(step):
            if target == END:
                continue
            if target not in containers:
                hint = did_you_mean(target, [*containers, END])
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
                message = f"step `{step.id}`: `{where.lstrip('.')}` names no step `{target}`{hint}"
                out.append(eff.diag(step.id, path, "E301", message))
            elif target not in siblings:
                message = (
                    f"`{target}` is in another parallel branch or outside this one; "
                    "a jump stays within its own list of steps"
                )
                out.append(eff.diag(step.id, path, "E301", message))
    return out


def check_roles(eff: Effective, ctx: Context) -> list[Diagnostic]:
    declared = list(eff.sop.roles)
    out = []
    for step in _steps(eff):
        for field, roles in step.role_fields():
            for i, role in enumerate(roles):
                if role not in declared:
                    path: tuple[str | int, ...] = (field, i) if field in _LIST_ROLES else (field,)
                    if field == "requires":
                        path = (field, i, "role")
                    if field == "check_in":
                        path = (field, "to")
                    if field.startswith("review."):  # the post-mortem's `review:` block
                        path = ("review", field.removeprefix("review."))
                    hint = did_you_mean(role, declared)
                    message = f"role `{role}` is not declared in `roles`{hint}"
                    out.append(eff.diag(step.id, path, "E302", message))
    for i, role in enumerate(eff.sop.global_roles or []):
        if role not in declared:
            hint = did_you_mean(role, declared)
            message = f"role `{role}` in `global_roles` is not declared in `roles`{hint}"
            out.append(eff.sop_diag(("global_roles", i), "E302", message))
    return out


_LIST_ROLES = ("approvers", "escalate")


def check_audience(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """`restricted_to` names declared roles, at least one; and, as a warning, every role the
    steps hand work or messages to, whose holders could not otherwise see the incident."""
    audience = eff.sop.restricted_to
    if audience is None:
        return []
    if not audience:
        message = (
            "`restricted_to` lists no role, so nobody could see these incidents; name the "
            "roles that may, or leave it out to let everyone with a role see them"
        )
        return [eff.sop_diag(("restricted_to",), "E309", message)]
    declared = list(eff.sop.roles)
    out = []
    for i, role in enumerate(audience):
        if role not in declared:
            hint = did_you_mean(role, declared)
            message = f"role `{role}` in `restricted_to` is not declared in `roles`{hint}"
            out.append(eff.sop_diag(("restricted_to", i), "E308", message))
    if out:
        return out  # with a misspelt role, the warning below would only echo it
    named: list[str] = []
    for step in _steps(eff):
        for _field, roles in step.role_fields():
            named += roles
        if isinstance(step, NotifyStep) and step.to in declared:
            named.append(step.to)
    left_out = [r for r in dict.fromkeys(named) if r in declared and r not in audience]
    if left_out:
        names = ", ".join(f"`{r}`" for r in left_out)
        those, them = ("that role", "it") if len(left_out) == 1 else ("those roles", "them")
        message = (
            f"`restricted_to` leaves out {names}, which steps of this SOP hand work, "
            f"escalations or messages to: people who hold only {those} cannot see these "
            f"incidents, nor their tasks in them; add {them}, or give that work to a listed role"
        )
        out.append(eff.sop_diag(("restricted_to",), "W305", message))
    return out


def check_sla(eff: Effective, ctx: Context) -> list[Diagnostic]:
    if eff.sop.defaults.sla is not None:
        return []
    return [
        eff.diag(
            step.id,
            ("id",),
            "E303",
            f"human step `{step.id}` has no `sla` and there is "
            "no `defaults.sla`; an unowned wait on a live case must escalate",
        )
        for step in _steps(eff)
        if isinstance(step, HumanStep) and step.sla is None
    ]


def check_quorum(eff: Effective, ctx: Context) -> list[Diagnostic]:
    out = []
    for step in _steps(eff):
        if not isinstance(step, ApprovalStep):
            continue
        if step.requires is None and step.needed_votes() < 1:
            message = f"quorum is {step.quorum}; an approval needs at least 1 vote"
            out.append(eff.diag(step.id, ("quorum",), "E304", message))
            continue
        if ctx.roster is None or not step.distinct:
            continue
        for desk in _desks_that_vote(eff, ctx.roster, step):
            holders = desk_holders(ctx.roster, desk, eff.sop.global_roles or [])
            short = quorum_shortfall(step, holders)
            if short is not None:
                field = "requires" if step.requires is not None else "quorum"
                where = f"on the {desk} desk, " if desk is not None else ""
                out.append(eff.diag(step.id, (field,), "E304", where + short))
                break
    return out


def _desks_that_vote(eff: Effective, roster: RosterDoc, step: ApprovalStep) -> Sequence[str | None]:
    """The desks whose people the approval may need: the incident's own, and for a step that
    follows the sun every desk with someone holding one of its roles. None: a roster that
    places nobody on a desk (everyone votes everywhere)."""
    regions = {p.region for p in roster.people.values() if p.region is not None}
    if not regions:
        return [None]
    if not step.follow_the_sun:
        return [eff.region]
    roles = set(step.approver_roles())
    voting = {p.region for p in roster.people.values() if roles & set(p.roles)}
    voting |= {d for p in roster.people.values() for d, rs in p.desks.items() if roles & set(rs)}
    return [*sorted(voting | {eff.region})]


def desk_holders(
    roster: RosterDoc, desk: str | None, global_roles: list[str]
) -> dict[str, list[str]]:
    """Who may vote on ``desk``'s incidents, with the roles they may use there: its own
    people with every role, others with the roles the Roster gives them on it (`desks`) and
    the SOP's ``global_roles``."""
    holders: dict[str, list[str]] = {}
    for handle, person in roster.people.items():
        if desk is None:
            roles = list(person.roles)
        else:
            roles = person.roles_on(desk)
            roles += [r for r in person.roles if r in global_roles and r not in roles]
        if roles:
            holders[handle] = roles
    return holders


def quorum_shortfall(step: ApprovalStep, holders: dict[str, list[str]]) -> str | None:
    """Why the roster (handle -> roles) cannot meet the approval, or None when it can.

    With four eyes the person who opened the incident or submitted its work cannot vote, so
    the approval must still be met with any one person left out."""
    slots = _slots(step)
    if step.requires is None:
        people = [h for h, roles in holders.items() if set(roles) & set(slots[0])]
        supply = len(people) - (1 if step.four_eyes else 0)
        if len(slots) <= supply:
            return None
        return (
            f"quorum {len(slots)} needs {len(slots)} distinct people, but the roster has "
            f"{len(people)} holding {', '.join(slots[0])}"
            + (" (one may be excluded by four-eyes)" if step.four_eyes else "")
        )
    excluded: list[str | None] = [None, *holders] if step.four_eyes else [None]
    for left_out in excluded:
        voters = [roles for h, roles in holders.items() if h != left_out]
        if max_matching(slots, voters) < len(slots):
            return _requires_message(step, holders, left_out)
    return None


def _slots(step: ApprovalStep) -> list[list[str]]:
    """One entry per vote needed: the roles that may fill it."""
    if step.requires is None:
        return [step.approver_roles()] * step.needed_votes()
    return places(step.requires)


def _requires_message(
    step: ApprovalStep, holders: dict[str, list[str]], left_out: str | None
) -> str:
    need = " + ".join(f"{r.count} {r.role}" for r in step.requires or [])
    for r in step.requires or []:
        have = [h for h, roles in holders.items() if r.role in roles and h != left_out]
        if len(have) < r.count:
            return (
                f"`requires` needs {need} (distinct people), but the roster has "
                f"{len(have)} holding {r.role}"
                + (f" once {left_out} is excluded by four-eyes" if left_out else "")
            )
    return (
        f"`requires` needs {need}, all distinct people, but the roster's people hold these "
        "roles together too often to fill every place"
        + (f" once {left_out} is excluded by four-eyes" if left_out else "")
    )


def check_policies(eff: Effective, ctx: Context) -> list[Diagnostic]:
    out = []
    for step in _steps(eff):
        if isinstance(step, DisclosureCheckStep) and step.policy not in ctx.policies:
            if step.policy in ctx.broken_policies:
                continue  # that policy's own file already has an error
            hint = did_you_mean(step.policy, sorted(ctx.policies))
            message = f"no disclosure policy `{step.policy}` in this library{hint}"
            out.append(eff.diag(step.id, ("policy",), "E305", message))
    return out


def check_policy_facts(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """A disclosure check builds every fact its policy reads: a misspelt fact would make the
    policy fall through to its default on a live request."""
    out = []
    for step in _steps(eff):
        if not isinstance(step, DisclosureCheckStep) or step.policy not in ctx.policy_facts:
            continue
        built = sorted(step.request)
        for fact in ctx.policy_facts[step.policy]:
            if fact not in step.request:
                hint = did_you_mean(fact, built)
                message = (
                    f"policy `{step.policy}` reads request.{fact}, which this step's `request` "
                    f"does not build (it builds: {', '.join(built) or 'nothing'}){hint}"
                )
                out.append(eff.diag(step.id, ("request",), "E404", message))
    return out


def check_refusals_mapped(eff: Effective, ctx: Context) -> list[Diagnostic]:
    out = []
    for step in _steps(eff):
        mapped = step.outcome_map()
        for outcome in step.MUST_MAP:
            if outcome not in mapped:
                message = (
                    f"`{outcome}` is not mapped in `on`; {_article(step.type_name())} "
                    f"{step.type_name()} must say where a `{outcome}` outcome goes "
                    "(safety steps fail closed)"
                )
                out.append(eff.diag(step.id, ("id",), "E306", message))
    return out


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def check_triage_default(eff: Effective, ctx: Context) -> list[Diagnostic]:
    out = []
    for step in _steps(eff):
        if isinstance(step, TriageStep) and all(rule.when is not None for rule in step.rules):
            message = (
                "triage has no default rule (a rule without `when`); an incident that "
                "matches no rule would have no severity"
            )
            out.append(eff.diag(step.id, ("rules",), "E307", message))
    return out


def check_decision_default(eff: Effective, ctx: Context) -> list[Diagnostic]:
    out = []
    for step in _steps(eff):
        if isinstance(step, DecisionStep) and all(b.when is not None for b in step.branches):
            message = "decision has no default branch; the incident fails if no branch matches"
            out.append(eff.diag(step.id, ("branches",), "W301", message))
    return out


URGENT = ("SEV0", "SEV1")


def check_urgent_approvals(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """W308: on an SOP whose triage can make the incident SEV0 or SEV1, an approval that does
    not say what happens when nobody decides (no `on_timeout`) would wait for ever, paging."""
    steps = _steps(eff)
    urgent = sorted(
        {r.severity for s in steps if isinstance(s, TriageStep) for r in s.rules} & set(URGENT)
    )
    if not urgent:
        return []
    out = []
    for step in steps:
        if isinstance(step, ApprovalStep) and "on_timeout" not in step.model_fields_set:
            message = (
                f"approval `{step.id}` can run on a {'/'.join(urgent)} incident and has no "
                "`on_timeout`: when its escalation chain is spent it keeps paging and waiting; "
                "say what happens then (`on_timeout: {goto: <step>}`, or `escalate` to keep "
                "paging on purpose)"
            )
            out.append(eff.diag(step.id, ("id",), "W308", message))
    return out


CHECKS: tuple[Check, ...] = (
    check_duplicate_steps,
    check_targets,
    check_roles,
    check_audience,
    check_sla,
    check_quorum,
    check_policies,
    check_policy_facts,
    check_refusals_mapped,
    check_triage_default,
    check_decision_default,
    check_urgent_approvals,
)


def run_checks(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """Every structural check on one effective SOP (expressions are checked separately)."""
    out: list[Diagnostic] = []
    for check in CHECKS:
        out.extend(check(eff, ctx))
    # Flow checks assume every jump lands somewhere: with a wrong target, its real target
    # would look unreachable, an echo of the one mistake.
    if not any(d.code == "E301" for d in out):
        out.extend(check_flow(eff))
    return out
