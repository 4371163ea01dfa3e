"""The post-mortem review on an incident's page: once the incident's post-mortem step has
started a review (its output names it, ``postmortem.review`` on the timeline), the review's
owner, due date, status, root cause and action items, read through the review service
(``sopflow.client.reviews``) after the page's need-to-know check, and the forms to act on
it: add an action item, close one, record the root cause, mark the review done.

Who sees which form follows the review's rules (``workflows/review_rules.py``, which the
console may not import: only the client talks to the runtime), on the review's desk: its
owner (the person, or a holder of the owner role) or a lead adds items and records the root
cause; they and an item's owner close that item; the owner marks it done. The review's
validator still decides each action (``followups.py`` sends them), and a refusal (done with
items open, a date that has passed) comes back beside its form with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sopflow.api.models import IncidentDetail
from sopflow.client.connection import StateUnavailable
from sopflow.client.errors import ActionRefused
from sopflow.client.reviews import ReviewService
from sopflow.contract.names import LEAD_ROLE
from sopflow.contract.plan import Plan
from sopflow.contract.reviews import (
    MAX_FACTOR,
    MAX_FACTORS,
    MAX_TEXT,
    MAX_TITLE,
    ActionItem,
    ReviewState,
)
from sopflow.language.roster import RosterError
from sopflow.web.pages.common import for_control, new_key
from sopflow.web.sessions import FormFlash
from sopflow.web.visits import Visit

# The timeline entry the post-mortem step writes when it starts the review.
STARTED = "postmortem.review"
# Each form's control (``review:close:A1`` for item A1): where its refusal comes back.
ADD, CAUSE, DONE = "review:item", "review:cause", "review:done"
LIMITS = {
    "title": MAX_TITLE,
    "owner": MAX_TITLE,
    "note": MAX_TEXT,
    "changes": MAX_TEXT,
    "factor": MAX_FACTOR,
    "factors": MAX_FACTORS,
}


def close_control(item: str) -> str:
    """The control of item ``item``'s close form."""
    return f"review:close:{item}"


@dataclass(frozen=True, slots=True)
class ReviewForm:
    """One of the review's forms: what is in its fields (typed, or the review's own), the
    errors by field, the reason it was refused, its idempotency key."""

    values: Mapping[str, str]
    errors: Mapping[str, list[str]]
    message: str | None
    key: str = field(default_factory=new_key)


@dataclass(frozen=True, slots=True)
class Review:
    """The page's Post-mortem review section, and the forms this person may use on it."""

    state: ReviewState | None
    unavailable: str | None = None
    items: list[tuple[ActionItem, ReviewForm | None]] = field(default_factory=list)
    add: ReviewForm | None = None
    cause: ReviewForm | None = None
    done: ReviewForm | None = None
    owners: list[tuple[str, str]] = field(default_factory=list)  # value, label
    steps: list[tuple[str, str]] = field(default_factory=list)  # id, title
    policies: list[str] = field(default_factory=list)
    limits: Mapping[str, int] = field(default_factory=lambda: LIMITS)

    def controls(self) -> set[str]:
        """The controls of the forms shown (a refusal of another shows at the page's top)."""
        shown = {ADD: self.add, CAUSE: self.cause, DONE: self.done}
        out = {control for control, form in shown.items() if form is not None}
        return out | {close_control(i.id) for i, form in self.items if form is not None}


def started(detail: IncidentDetail) -> bool:
    """Whether the incident's post-mortem step has started a review."""
    outputs = (s.output for s in detail.steps)
    if any(isinstance(o, dict) and "review" in o for o in outputs):
        return True
    return any(e.kind == STARTED for e in detail.timeline)


def _form(failure: FormFlash | None, control: str, values: Mapping[str, str]) -> ReviewForm:
    """A form with what was typed in it if it came back refused, else ``values``."""
    mine = for_control(failure, control)
    if mine is None:
        return ReviewForm(values, {}, None)
    typed = {name: (mine.raw.get(name) or [""])[0] for name in values}
    return ReviewForm(typed, mine.errors, mine.message)


def _cause_values(state: ReviewState) -> dict[str, str]:
    """The root cause form's fields: the recorded cause, to revise, or empty."""
    cause = state.root_cause
    if cause is None:
        return {"factors": "", "step": "", "policy": "", "changes": ""}
    return {
        "factors": ", ".join(cause.factors),
        "step": cause.step or "",
        "policy": cause.policy or "",
        "changes": cause.changes,
    }


async def _owners(visit: Visit, plan: Plan) -> list[tuple[str, str]]:
    """Who an action item may be given to: the SOP's roles, then the Roster's people."""
    roles = [(role, f"Role: {role}") for role in sorted(plan.roles)]
    try:
        people = (await visit.parts.identity.roster.current()).people
    except RosterError:
        return roles  # the API's check says so if a person is chosen anyway
    return roles + [(handle, f"{p.name} ({handle})") for handle, p in sorted(people.items())]


async def section(
    visit: Visit, detail: IncidentDetail, plan: Plan, failure: FormFlash | None
) -> Review | None:
    """The Post-mortem review section (None: no review was started), with the forms the
    review's rules let this person use while it is open."""
    if not started(detail):
        return None
    service = ReviewService.of(visit.parts.temporal.require())
    try:
        state = await service.state(detail.summary.id)
    except (StateUnavailable, ActionRefused) as exc:
        return Review(None, unavailable=str(exc))
    here = visit.roles_on(state.region, plan.global_roles)

    def is_(owner: str) -> bool:
        return owner == visit.person.handle or owner in here

    is_open = state.status == "open"
    manages = is_open and (is_(state.owner) or LEAD_ROLE in here)
    items: list[tuple[ActionItem, ReviewForm | None]] = [
        (i, _form(failure, close_control(i.id), {"note": ""}))
        if is_open and i.status == "open" and (manages or is_(i.owner))
        else (i, None)
        for i in state.items
    ]
    if not manages:
        return Review(state, items=items, done=_done_form(state, is_, failure))
    return Review(
        state,
        items=items,
        add=_form(failure, ADD, {"title": "", "owner": "", "due": ""}),
        cause=_form(failure, CAUSE, _cause_values(state)),
        done=_done_form(state, is_, failure),
        owners=await _owners(visit, plan),
        steps=[(s.id, s.title) for s in plan.steps_by_id().values()],
        policies=sorted(plan.policies),
    )


def _done_form(
    state: ReviewState, is_: Callable[[str], bool], failure: FormFlash | None
) -> ReviewForm | None:
    """Done, for the review's owner while it is open (refused while items are open)."""
    if state.status != "open" or not is_(state.owner):
        return None
    return _form(failure, DONE, {"note": ""})
