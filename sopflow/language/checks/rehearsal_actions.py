"""The actions of a rehearsal, checked against the steps they act on before anything runs:
form data against the step's form, the person against the roles that may act there, a vote
against four eyes. Each is a warning (W601) at the action's own line: a rehearsal may mean to
show a refusal (then `expect.rejected_actions` counts it), but more often it is a slip that
would otherwise surface as a wrong path at `expect:`.
"""

from __future__ import annotations

from sopflow.language.checks.flow import reachable_from
from sopflow.language.checks.rehearsal_clock import earliest_starts
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.durations import format_duration, parse_duration
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.input_check import input_problems
from sopflow.language.library import Library
from sopflow.language.models import RehearsalDoc
from sopflow.language.models.rehearsal import RehearsalAction
from sopflow.language.models.steps import ApprovalStep, StepBase, TaskStep
from sopflow.language.yaml_source import SourceDoc


def check_actions(
    lib: Library, source: SourceDoc, doc: RehearsalDoc, targets: dict[int, Effective]
) -> list[Diagnostic]:
    """W601 for each action the engine would refuse; ``targets`` maps an action's index to
    the effective SOP it acts on (the rehearsal's, or the one its `incident` step opens)."""
    if doc.expect.rejected_actions:
        return []  # the story means to show refusals, and counts them
    out = []
    voted: set[tuple[str, str]] = set()
    clock, earliest = 0, {id(e): earliest_starts(e) for e in targets.values()}
    for i, action in enumerate(doc.actions):
        clock += parse_duration(action.after) if action.after else 0
        eff = targets.get(i)
        if eff is None:
            continue
        if action.signal is not None and action.signal.event in (eff.sop.on_event or {}):
            # The handler jumps: an approval may run again, and its votes start afresh.
            voted.clear()
        if action.complete is not None:
            # A step done again after a vote (a rejection sent the work back) leads to the
            # approval's next round, whose votes start afresh.
            later = reachable_from(list(eff.sop.steps), action.complete.step)
            voted -= {(step, who) for step, who in voted if step in later}
        steps = {s.id: s for s, _, _ in walk_steps(list(eff.sop.steps))}
        found = _refusals(lib, doc, action, eff, steps, voted)
        if action.incident is None:  # a linked incident has a clock of its own
            found += _too_early(action, earliest[id(eff)], clock)
            found += _update_too_early(action, eff, clock)
        for kind, why in found:
            message = f"the engine will refuse this action: {why}"
            out.append(source.diag(("actions", i, kind), "W601", message))
    return out


def _too_early(
    action: RehearsalAction, earliest: dict[str, int], clock: int
) -> list[tuple[str, str]]:
    """An action sent before its step can be active: every path to it waits longer."""
    for kind in ("complete", "vote"):
        body = getattr(action, kind)
        if body is None or body.step not in earliest:
            continue
        if clock < earliest[body.step]:
            return [
                (
                    kind,
                    f"step `{body.step}` cannot be active {format_duration(clock)} after the "
                    f"start: every way to it waits at least {format_duration(earliest[body.step])}"
                    " (raise this action's `after`)",
                )
            ]
    return []


def _update_too_early(action: RehearsalAction, eff: Effective, clock: int) -> list[tuple[str, str]]:
    """A stakeholder update posted before any can be due: the first is asked `every` after
    the incident opens at a severity with a cadence, and no cadence is shorter."""
    cadences = eff.sop.updates or {}
    if action.post_update is None or not cadences:
        return []
    first = min(parse_duration(c.every) for c in cadences.values())
    if clock >= first:
        return []
    why = (
        f"no stakeholder update can be due {format_duration(clock)} after the start: the "
        f"first is asked {format_duration(first)} after it at the soonest (raise this "
        "action's `after`)"
    )
    return [("post_update", why)]


def _refusals(
    lib: Library,
    doc: RehearsalDoc,
    action: RehearsalAction,
    eff: Effective,
    steps: dict[str, StepBase],
    voted: set[tuple[str, str]],
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if action.complete is not None:
        step = steps.get(action.complete.step)
        if isinstance(step, TaskStep):
            for problem in input_problems(step.form, action.complete.data):
                out.append(
                    ("complete", f"the data does not fit step `{step.id}`'s form: {problem}")
                )
            if not step.follow_the_sun:  # the desk that holds it is known only when it runs
                out += _role(
                    lib, eff, action.complete.as_, [step.assignee], f"`{step.id}`", "complete"
                )
    if action.vote is not None:
        step = steps.get(action.vote.step)
        if isinstance(step, ApprovalStep):
            who = action.vote.as_
            if not step.follow_the_sun:
                out += _role(lib, eff, who, step.approver_roles(), f"`{step.id}`", "vote")
            if step.four_eyes and who == doc.opened_by and action.incident is None:
                out.append(("vote", f"{who} opened the incident: four eyes refuses their vote"))
            if step.distinct and (step.id, who) in voted:
                out.append(("vote", f"{who} has already voted on `{step.id}`"))
            voted.add((step.id, who))
    if action.post_update is not None:
        out += _update_refusals(lib, eff, action.post_update.as_)
    return out


def _update_refusals(lib: Library, eff: Effective, who: str) -> list[tuple[str, str]]:
    """A stakeholder update the engine refuses whatever the clock: the SOP asks for none, or
    the person holds none of the roles its cadences ask on the incident's desk."""
    cadences = eff.sop.updates or {}
    if not cadences:
        return [("post_update", f"{eff.key} declares no stakeholder updates (`updates:`)")]
    if any(c.follow_the_sun for c in cadences.values()):
        return []  # the desk asked is known only when it runs
    asked = sorted({c.asked for c in cadences.values()})
    return _role(lib, eff, who, asked, "stakeholder updates", "post_update")


def _role(
    lib: Library, eff: Effective, who: str, roles: list[str], what: str, kind: str
) -> list[tuple[str, str]]:
    """The refusal of a person who holds none of ``roles`` on the incident's desk."""
    person = lib.roster.model.people.get(who) if lib.roster else None
    if person is None:
        return []  # an unknown person is E604 already
    usable = set(person.roles_on(eff.region)) | (
        set(person.roles) & set(eff.sop.global_roles or [])
    )
    if usable & set(roles):
        return []
    held = ", ".join(sorted(usable)) or "none there"
    return [
        (
            kind,
            f"{who} holds none of {', '.join(roles)} on the {eff.region} desk "
            f"(their roles there: {held}), so they cannot act on {what}",
        )
    ]
