"""(Re)record the incident histories that tests/test_replay.py replays.

    .venv/bin/python tests/record_histories.py            # every scenario
    .venv/bin/python tests/record_histories.py csea-report  # the scenarios whose file starts so

Each scenario compiles a shipped SOP with the real linter, opens an incident on the
time-skipping test server with the recording fakes (tests/harness.py), and drives it to its
outcome the way responders would: every active task is completed with a form generated from its
JSON Schema (plus the scenario's few overrides that pick a path), approvals get votes from
roster people that four eyes allows, event waits get their signal, and time jumps forward past
timed waits and, where the scenario asks for it, past SLAs. An SOP with stakeholder updates
(`updates`) has each update that comes due posted by someone holding the asked role on the
desk it was asked of (the incident's desk, or the desk on shift when the cadence follows the
sun), except those the scenario lets go missed (and escalated). The worker runs the
real Rota activities (steps that follow the sun, business-hours SLAs) and the linked-plan
resolver over the shipped library, so an `open_incident` step opens its linked incident beside
this one (only this incident's history is written). The histories are written to
tests/histories/<sop>-v<version>-<region>[-<scenario>].json; a run that continued as new is
written one file per run (``-run1``, ``-run2``, ...).

Record again after a deliberate change to what the interpreter does (a new step type, a
patched code path) so new histories cover it; never re-record to make a replay failure go
away: that failure is a running incident the new code would break (docs/versioning.md).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.desks import DeskActivities
from activities.linked import LinkedPlans
from sopflow.client.incidents import Action
from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.messages import (
    Actor,
    Cancel,
    CompleteTask,
    ExternalEvent,
    IncidentState,
    Note,
    PostUpdate,
    StakeholderUpdate,
    Vote,
)
from sopflow.contract.names import LEAD_ROLE
from sopflow.contract.plan import ApprovalPlan, ParallelPlan, Plan, PlanStep, TaskPlan, WaitPlan
from tests.harness import Bench, Fakes, bench
from workflows import conductor
from workflows.form_check import form_errors
from workflows.incident import IncidentWorkflow

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "sop_definitions"
HISTORIES = Path(__file__).resolve().parent / "histories"
# Incidents arrive through the law-enforcement / trust-and-safety intake queue, which is
# nobody on the roster: four eyes then only excludes the people who did the work.
OPENER = "intake-queue"
MAX_BYTES = 300_000


class After(NamedTuple):
    """A date-time form value this long after the incident's current (skipped) time."""

    delta: timedelta


@dataclass(frozen=True)
class Scenario:
    """One recorded incident: the SOP, the path its overrides pick, what time does."""

    sop: str
    version: int
    region: str
    summary: str
    expect: str  # the incident's outcome
    name: str = ""  # file suffix; empty for the family's main path in that region
    input: Mapping[str, Any] = field(default_factory=dict)  # over the schema-made input
    forms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # step -> fields
    reject: frozenset[str] = frozenset()  # approvals whose first vote (first run) rejects
    events: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> data
    breaches: Mapping[str, int] = field(default_factory=dict)  # step -> SLAs to let lapse
    note_on: str | None = None  # the assignee adds a note when this step is active
    cancel_on: str | None = None  # a lead cancels when this step is active
    continue_as_new_after: int | None = None
    enrichment: Mapping[str, Any] = field(default_factory=dict)
    miss_updates: frozenset[int] = frozenset()  # stakeholder updates nobody posts (by number)
    max_bytes: int = MAX_BYTES  # the largest history file this scenario may write

    @property
    def stem(self) -> str:
        base = f"{self.sop}-v{self.version}-{self.region}"
        return f"{base}-{self.name}" if self.name else base


IN_FLIGHT = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
)

# emergency-disclosure@3: what counsel scopes, and the package and delivery that match it
# (the production check compares them; a difference is a wrong disclosure).
ED3_SCOPE: Mapping[str, Any] = {
    "categories": ["basic_subscriber_info", "location", "contents"],
    "accounts": ["acct-88121"],
}
ED3_AU_SCOPE: Mapping[str, Any] = {
    "categories": ["basic_subscriber_info", "location"],
    "accounts": ["acct-au-50127"],
}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "emergency-disclosure",
        1,
        "US",
        "complete and genuine; counsel finds an emergency; one approval; produced",
        expect="resolved",
        forms={"verify": {"notes": "letterhead checked"}},
        note_on="assess",
    ),
    Scenario(
        "emergency-disclosure",
        2,
        "US",
        "verified by call-back; scoped incl. contents; counsel and lead approve (quorum 2); "
        "notice delayed 90 days, then sent",
        expect="resolved",
        forms={"scope": {"categories": ["location", "contents"]}},
    ),
    Scenario(
        "emergency-disclosure",
        2,
        "US",
        "verify breached once (escalated to lead) then done; call-back never made: "
        "escalated to lead, then legal, then on_timeout goto unable_to_verify",
        expect="declined",
        name="sla-breach",
        breaches={"verify": 1, "callback": 3},
    ),
    Scenario(
        "emergency-disclosure",
        2,
        "UK",
        "the force denies sending the request: suspected fraud (parallel page and report)",
        expect="rejected",
        forms={"callback": {"result": "agency_denies_request"}},
    ),
    Scenario(
        "csea-report",
        1,
        "US",
        "SEV0 child in danger: preserved, reported; report, enforce and threat-to-life in "
        "parallel; post-mortem; legal process served during the one-year hold",
        expect="reported",
        input={"minor_in_imminent_danger": True, "source": "user_report"},
        events={"legal-process-served": {"incident": "inc-legal-process-v1-US"}},
    ),
    Scenario(
        "csea-report",
        1,
        "UK",
        "ongoing contact, not reportable to NCMEC but UK-linked: NCA check, preserve, NCA "
        "report, enforce",
        expect="resolved",
        input={"linked_countries": ["GB"], "minor_in_imminent_danger": False},
        forms={"specialist_review": {"reportable": False, "category": "sextortion"}},
    ),
    Scenario(
        "csea-report",
        1,
        "AU",
        "AU-linked known material (SEV3, no post-mortem): NCMEC report, counsel approves the "
        "ACCCE referral; the one-year hold times out into the retention review",
        expect="reported",
        input={
            "linked_countries": ["AU"],
            "source": "hash_match",
            "minor_in_imminent_danger": False,
            "ongoing_contact": False,
        },
        forms={"specialist_review": {"child_in_imminent_danger": False}},
    ),
    Scenario(
        "legal-process",
        1,
        "US",
        "a subpoena under a non-disclosure order; produced; the order is lifted by signal, "
        "then the account holder is told",
        expect="resolved",
        input={"process_type": "subpoena"},
        forms={"intake": {"process_type": "subpoena"}},
        events={"nondisclosure-order-lifted": {"lifted_by": "court"}},
    ),
    Scenario(
        "legal-process",
        1,
        "US",
        "a 2703(f) preservation over ~200 days: day-80 reminder, extension requested and "
        "granted, released; continues as new past 30 events",
        expect="resolved",
        name="continue-as-new",
        input={"process_type": "preservation_request"},
        forms={
            "intake": {"process_type": "preservation_request"},
            "extend": {"expires_at": After(timedelta(days=90))},
        },
        events={"preservation-extension-requested": {"requested_by": "agency"}},
        continue_as_new_after=30,
    ),
    Scenario(
        "legal-process",
        1,
        "UK",
        "an order under the US-UK Data Access Agreement: DAA check, approval, production",
        expect="resolved",
        input={"process_type": "daa_order"},
        forms={
            "intake": {"process_type": "daa_order", "nondisclosure_order": False},
            "daa_check": {"targets_us_person": False},
            "legal_review": {"categories": ["basic_subscriber_info", "ip_logs"]},
        },
    ),
    Scenario(
        "threat-to-life",
        1,
        "US",
        "immediate self-harm threat: commander paged, referral allowed, no acknowledgement "
        "within the hour (chase), content actioned, follow-up after a day, post-mortem",
        expect="referred",
        input={"imminence": "immediate", "threat_type": "suicide_self_harm"},
        forms={"assess": {"imminence": "immediate"}},
        enrichment={"account_history": {"prior_reports": 2}},
    ),
    Scenario(
        "threat-to-life",
        1,
        "AU",
        "credible but not immediate: referral approved, the agency acknowledges, content "
        "actioned and the abhorrent-violent-material referral made",
        expect="referred",
        input={
            "imminence": "within_days",
            "threat_type": "violence_against_others",
            "location_country": "AU",
            "records_violent_conduct": True,
        },
        forms={"assess": {"imminence": "within_days"}},
        events={"le-acknowledged": {"agency": "AFP"}},
    ),
    Scenario(
        "threat-to-life",
        1,
        "UK",
        "a duplicate report: the lead cancels it during the assessment",
        expect="cancelled",
        name="cancelled",
        cancel_on="assess",
    ),
    Scenario(
        "emergency-disclosure",
        3,
        "US",
        "verified by call-back while counsel assesses and scopes (contents relating to the "
        "emergency); counsel and a lead approve (requires legal + lead); the package checked "
        "by a second person; produced as scoped; notice held 90 days, then sent",
        expect="resolved",
        input={
            "target_accounts": ["acct-88121"],
            "data_requested": ["basic_subscriber_info", "location", "contents"],
            "imminent_threat": True,
        },
        forms={
            "scope": ED3_SCOPE,
            "prepare": ED3_SCOPE,
            "produce": {
                "categories_disclosed": ED3_SCOPE["categories"],
                "accounts_disclosed": ED3_SCOPE["accounts"],
            },
            "user_notice": {
                "delay": True,
                "exception": "notice_could_endanger_someone",
                "reason": "the account holder is the suspect",
            },
        },
    ),
    Scenario(
        "emergency-disclosure",
        3,
        "UK",
        "the force's control room cannot be reached: the lead opens a threat-to-life referral "
        "(a linked threat-to-life@2 incident) instead of disclosing",
        expect="referred",
        name="threat-referral",
        input={"imminent_threat": True},
        forms={
            "callback": {"result": "could_not_reach"},
            "unverified": {"route": "threat_referral", "notes": "duty officer unreachable"},
            "referral_details": {"threat_type": "kidnap_or_hostage", "location_country": "GB"},
        },
    ),
    Scenario(
        "emergency-disclosure",
        3,
        "AU",
        "a missing child (SEV1), records held by the AU entity: the second person sends the "
        "package back once; nobody approves within the SLA (escalated to the lead), then "
        "counsel and a lead do; produced; the notice sent at once; SLA post-mortem",
        expect="resolved",
        name="sla-breach",
        input={
            "target_accounts": ED3_AU_SCOPE["accounts"],
            "data_requested": ED3_AU_SCOPE["categories"],
            "imminent_threat": False,
            "person_at_risk_minor": True,
        },
        forms={
            "scope": {**ED3_AU_SCOPE, "data_held_by": "au_entity"},
            "prepare": ED3_AU_SCOPE,
            "produce": {
                "categories_disclosed": ED3_AU_SCOPE["categories"],
                "accounts_disclosed": ED3_AU_SCOPE["accounts"],
            },
            "user_notice": {"delay": False},
        },
        reject=frozenset({"production_qa"}),
        breaches={"approve": 1},
    ),
    Scenario(
        "threat-to-life",
        2,
        "US",
        "immediate self-harm threat: referral allowed; takedown, preservation and support in "
        "parallel; no acknowledgement (chase), the agency unreachable, so the referral is "
        "escalated and acknowledged elsewhere; follow-up after a day; post-mortem",
        expect="referred_elsewhere",
        input={"imminence": "immediate", "threat_type": "suicide_self_harm"},
        forms={"assess": {"imminence": "immediate"}, "le_chase": {"reached": False}},
    ),
    Scenario(
        "threat-to-life",
        2,
        "UK",
        "credible, within days: the referral needs privacy counsel and a commander (per-role "
        "quorum) while the content is taken down and preserved in parallel; the force "
        "acknowledges; follow-up after a day",
        expect="referred",
        input={
            "imminence": "within_days",
            "threat_type": "violence_against_others",
            "location_country": "GB",
        },
        forms={"assess": {"imminence": "within_days"}},
        events={"le-acknowledged": {"agency": "Greater Manchester Police"}},
    ),
    Scenario(
        "threat-to-life",
        3,
        "US",
        "immediate mass-violence threat (SEV0): the crisis protocol paged; stakeholder updates "
        "every 30 minutes, asked of the desk on shift (they follow the sun) and posted by its "
        "commander except update 2 (missed, that desk's lead paged); "
        "no acknowledgement (chase), the referral escalated and acknowledged elsewhere; "
        "follow-up after a day; post-mortem",
        expect="referred_elsewhere",
        input={"imminence": "immediate", "threat_type": "mass_violence", "reach": "mass_casualty"},
        forms={"assess": {"imminence": "immediate"}, "le_chase": {"reached": False}},
        miss_updates=frozenset({2}),
        # A day and more at SEV0 (the hour the agency has to acknowledge, the day before
        # the follow-up) asks ~50 updates, ~30 events each, all in the run that holds the
        # 24-hour wait (continue-as-new cannot split a step). It continues as new after
        # the wait, with the update just asked still due: the next run's clock picks it
        # up from the carried state. (Not before the wait: a run that only waits on time
        # upserts no `StepsDue`, which test_replay.py asks of every history.)
        continue_as_new_after=250,
        max_bytes=1_200_000,
    ),
    Scenario(
        "threat-to-life",
        3,
        "UK",
        "credible, within days, a vulnerable person (SEV1): stakeholder updates every 2 hours, "
        "each asked of and posted by the commander of the desk on shift (they follow the sun); "
        "counsel and a commander approve the referral while "
        "the content is taken down and preserved; the force acknowledges; follow-up after a day",
        expect="referred",
        input={
            "imminence": "within_days",
            "threat_type": "violence_against_others",
            "location_country": "GB",
        },
        forms={"assess": {"imminence": "within_days"}},
        events={"le-acknowledged": {"agency": "Greater Manchester Police"}},
        max_bytes=800_000,  # a day at SEV1: a dozen updates in the run that holds the wait
    ),
    Scenario(
        "csea-report",
        2,
        "US",
        "the specialist finds a meeting arranged (SEV0): a linked threat-to-life incident "
        "opens; preserved; the urgent CyberTipline report and the removal in parallel; "
        "post-mortem; legal process served during the one-year hold",
        expect="reported",
        input={"source": "user_report", "minor_in_imminent_danger": False},
        forms={
            "specialist_review": {
                "category": "enticement_or_grooming",
                "offender_accounts": ["acct-70311"],
            },
            "ncmec_report": {"incident_type": "online_enticement"},
        },
        events={"legal-process-served": {"process_type": "search_warrant"}},
    ),
    Scenario(
        "csea-report",
        2,
        "UK",
        "UK-linked drawn images: not reportable to NCMEC but the NCA check allows the report; "
        "preserved; NCA report and removal in parallel; the one-year hold times out into "
        "the retention review",
        expect="reported",
        input={
            "source": "trusted_flagger",
            "linked_countries": ["GB"],
            "minor_in_imminent_danger": False,
            "ongoing_contact": False,
        },
        forms={
            "specialist_review": {
                "category": "other_child_safety",
                "reportable": False,
                "child_in_imminent_danger": False,
            },
            "retention_review": {"hold_required": False},
        },
    ),
    Scenario(
        "legal-process",
        2,
        "US",
        "a 2703(f) preservation; a 2703(d) order is served for the preserved records before "
        "the day-80 reminder; the new incident is linked",
        expect="referred",
        name="process-served",
        input={"process_type": "preservation_request"},
        forms={"intake": {"process_type": "preservation_request", "nondisclosure_order": False}},
        events={"legal-process-served": {"process": "court_order_2703d"}},
    ),
    Scenario(
        "legal-process",
        2,
        "US",
        "a subpoena for subscriber information: allowed without approval; the notice decided "
        "before production; the package checked by a second person; produced; user told",
        expect="resolved",
        input={"process_type": "subpoena"},
        forms={"intake": {"process_type": "subpoena", "nondisclosure_order": False}},
    ),
    Scenario(
        "legal-process",
        2,
        "UK",
        "an overseas production order through the designated authority: instrument check, "
        "counsel and a lead approve (per-role quorum), notice decided, package checked, "
        "produced, user told",
        expect="resolved",
        input={"process_type": "overseas_production_order"},
        forms={
            "intake": {"process_type": "overseas_production_order", "nondisclosure_order": False},
            "legal_review": {"categories": ["basic_subscriber_info", "contents"]},
            "daa_check": {
                "instrument": "overseas_production_order",
                "targets_us_person": False,
                "target_located_in_us": False,
            },
            "collect": {"categories_produced": ["basic_subscriber_info", "contents"]},
        },
    ),
)


# --- Values from JSON Schemas


def sample(schema: Any, name: str, now: datetime) -> Any:
    """A small valid value for ``schema`` (the subset SOP inputs and forms use)."""
    if not isinstance(schema, dict):
        return True
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "array":
        item = schema.get("items", {})
        count = max(schema.get("minItems", 1), 1)
        if isinstance(item, dict) and "enum" in item:
            return list(item["enum"][:count])
        plain = isinstance(item, dict) and not ({"pattern", "format"} & item.keys())
        values = [sample(item, name, now) for _ in range(count)]
        return [f"{v}-{i + 1}" if plain and isinstance(v, str) else v for i, v in enumerate(values)]
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            key: sample(properties.get(key, {}), key, now) for key in schema.get("required", [])
        }
    return _string(schema, name, now)


def _string(schema: dict[str, Any], name: str, now: datetime) -> str:
    fmt, pattern = schema.get("format"), schema.get("pattern")
    if fmt == "date-time":
        return _iso(now)
    if fmt == "date":
        return now.date().isoformat()
    if fmt == "email":
        return f"{name.replace('_', '.')}@agency.example"
    if pattern is not None:
        if pattern not in _PATTERN_SAMPLES:
            raise ValueError(f"{name}: add a sample for pattern {pattern!r}")
        return _PATTERN_SAMPLES[pattern]
    return name.replace("_", " ").ljust(schema.get("minLength", 1), ".")


_PATTERN_SAMPLES = {
    "^[0-9a-f]{64}$": "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
    "^[A-Z]{2}$": "US",
    "^([A-Z]{2})?$": "US",
}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolve(value: Any, now: datetime) -> Any:
    return _iso(now + value.delta) if isinstance(value, After) else value


def incident_input(plan: Plan, scenario: Scenario, now: datetime) -> dict[str, Any]:
    data = sample(plan.input_schema, "input", now)
    data.update(scenario.input)
    validator = jsonschema.Draft202012Validator(
        plan.input_schema, format_checker=jsonschema.FormatChecker()
    )
    problems = [e.message for e in validator.iter_errors(data)]
    assert not problems, f"{scenario.stem}: input does not fit the SOP: {problems}"
    return dict(data)


def form(step: TaskPlan, scenario: Scenario, now: datetime) -> dict[str, Any]:
    data = sample(step.form, "form", now)
    for key, value in scenario.forms.get(step.id, {}).items():
        data[key] = _resolve(value, now)
    problems = form_errors(step.form, data)
    assert not problems, f"{scenario.stem}: form for {step.id} is not valid: {problems}"
    return dict(data)


# --- People


@dataclass(frozen=True)
class Person:
    id: str
    region: str
    roles: tuple[str, ...]

    def actor(self) -> Actor:
        return Actor(id=self.id, roles=list(self.roles))


def load_roster() -> list[Person]:
    doc = yaml.safe_load((LIBRARY / "roster.yaml").read_text(encoding="utf-8"))
    return [
        Person(handle, body["region"], tuple(body["roles"]))
        for handle, body in sorted(doc["people"].items())
    ]


def _by_region(people: list[Person], region: str) -> list[Person]:
    return sorted(people, key=lambda p: (p.region != region, p.id))


def assignee(roster: list[Person], region: str, role: str) -> Person:
    for person in _by_region(roster, region):
        if role in person.roles:
            return person
    raise AssertionError(f"nobody on the roster holds {role!r}")


def on_desk(roster: list[Person], region: str, role: str) -> Person:
    """Someone who holds ``role`` on ``region``'s desk (their own region)."""
    for person in roster:
        if person.region == region and role in person.roles:
            return person
    raise AssertionError(f"nobody on the {region} desk holds {role!r}")


def voter(
    roster: list[Person], region: str, step: ApprovalPlan, state: IncidentState, decision: str
) -> Person:
    """Someone holding an approver role whom four eyes, `distinct` and `requires` allow to
    cast ``decision`` now (the interpreter's own check says who), and who has not voted."""
    voted = {v.actor for v in state.steps[step.id].votes}
    for person in _by_region(roster, region):
        if person.id in voted:
            continue
        try:
            conductor.check_vote(state, step, person.actor(), decision)
        except conductor.ActionRefused:
            continue
        return person
    raise AssertionError(f"{step.id}: nobody left on the roster may vote")


# --- Driving an incident


def _index(steps: list[PlanStep], out: dict[str, PlanStep]) -> dict[str, PlanStep]:
    for step in steps:
        out[step.id] = step
        if isinstance(step, ParallelPlan):
            for branch in step.branches:
                _index(list(branch.steps), out)
    return out


def _fingerprint(state: IncidentState) -> tuple[Any, ...]:
    steps = tuple(
        (sid, s.status, s.breaches, len(s.votes), s.submitted_by) for sid, s in state.steps.items()
    )
    return (state.status, steps, len(state.timeline), len(state.pending_events))


@dataclass
class Driver:
    bench: Bench
    scenario: Scenario
    plan: Plan
    roster: list[Person]
    handle: WorkflowHandle[Any, Any]
    steps: dict[str, PlanStep] = field(init=False)
    signalled: set[str] = field(default_factory=set)
    woken: set[tuple[str, int]] = field(default_factory=set)  # (wait, its run) signalled
    noted: bool = False

    def __post_init__(self) -> None:
        self.steps = _index(list(self.plan.steps), {})

    async def state(self) -> IncidentState:
        """The incident's state, asked when no workflow task is in flight: a query arriving
        during the task that continues the run as new rides on that task, and the
        time-skipping server loses the run's last event and every later answer."""
        await self.no_task_in_flight()
        return await self.bench.state(self.handle)

    async def no_task_in_flight(self, deadline: float = 10.0) -> None:
        stop = time.monotonic() + deadline
        while True:
            history = await self.handle.fetch_history()
            if history.events[-1].event_type not in IN_FLIGHT:
                return
            if time.monotonic() > stop:
                raise AssertionError(f"{self.scenario.stem}: a workflow task never finished")
            await asyncio.sleep(0.02)

    async def settle(self, before: tuple[Any, ...], *, deadline: float = 10.0) -> IncidentState:
        """The state once it differs from ``before`` (the workflow took its turn)."""
        stop = time.monotonic() + deadline
        while True:
            state = await self.state()
            if _fingerprint(state) != before:
                return state
            if time.monotonic() > stop:
                raise AssertionError(f"{self.scenario.stem}: stuck at {state}")
            await asyncio.sleep(0.02)

    async def run(self) -> IncidentState:
        state = await self.state()
        while state.status == "running":
            before = _fingerprint(state)
            if await self.act(state):
                state = await self.settle(before)
                continue
            due = self.next_due(state)
            if due is not None:
                now = await self.bench.env.get_current_time()
                await self.bench.env.sleep(max(due - now, timedelta(0)) + timedelta(seconds=1))
            state = await self.settle(before)
        return state

    async def act(self, state: IncidentState) -> bool:
        """Take one responder action the state allows; False when there is none."""
        now = await self.bench.env.get_current_time()
        update = self.update_to_post(state)
        if update is not None:
            # The desk it was asked of: the one on shift when its cadence follows the sun.
            person = on_desk(self.roster, update.desk or state.region, update.asked)
            actor = Actor(id=person.id, roles=list(person.roles), region=person.region)
            text = f"Update {update.number}: the desk is working the case; more on the clock."
            await self.send(PostUpdate(actor=actor, text=text))
            return True
        for sid, s in state.steps.items():
            if s.status != "active" or self.handed_in(sid, state):
                continue
            if s.breaches < self.scenario.breaches.get(sid, 0):
                continue
            step = self.steps[sid]
            if self.scenario.cancel_on == sid:
                lead = assignee(self.roster, self.plan.region.code, LEAD_ROLE)
                reason = "duplicate of an open incident"
                await self.send(Cancel(actor=lead.actor(), reason=reason))
                return True
            if isinstance(step, TaskPlan) and s.submitted_by is None:
                person = assignee(self.roster, self.plan.region.code, step.assignee)
                if self.scenario.note_on == sid and not self.noted:
                    self.noted = True
                    note = Note(actor=person.actor(), text="picked up", step=sid)
                    await self.send(note)
                    return True
                data = form(step, self.scenario, now)
                await self.send(CompleteTask(step=sid, actor=person.actor(), data=data))
                return True
            if isinstance(step, ApprovalPlan):
                first_run = s.starts <= 1  # sent back and asked again: approve
                decision = "reject" if sid in self.scenario.reject and first_run else "approve"
                person = voter(self.roster, self.plan.region.code, step, state, decision)
                vote = Vote(step=sid, actor=person.actor(), decision=decision, reason="reviewed")
                await self.send(vote)
                return True
            event = step.event if isinstance(step, WaitPlan) else None
            if event in self.scenario.events and event not in self.signalled:
                assert event is not None
                self.signalled.add(event)
                self.woken.add((sid, s.starts))
                data = dict(self.scenario.events[event])
                await self.send(ExternalEvent(name=event, data=data))
                return True
        return False

    def handed_in(self, sid: str, state: IncidentState) -> bool:
        """The people's part of an active step is done (its form submitted, its votes
        decided, its event signalled) and the workflow has yet to take its turn: its due
        time no longer counts, and skipping to it would breach the step that follows."""
        step, s = self.steps[sid], state.steps[sid]
        if isinstance(step, TaskPlan):
            return s.submitted_by is not None
        if isinstance(step, ApprovalPlan):
            return conductor.tally(step, state) is not None
        return (sid, s.starts) in self.woken

    def next_due(self, state: IncidentState) -> datetime | None:
        dues = [
            s.due_at
            for sid, s in state.steps.items()
            if s.status == "active" and s.due_at and not self.handed_in(sid, state)
        ]
        # The update clock counts only beside a step that waits on time: with none, the
        # workflow is between steps (an activity running) and skipping ahead would breach
        # the step it opens next.
        update = self.next_update_due(state) if dues else None
        if update is not None:
            dues.append(update)
        return min(dues) if dues else None

    def update_to_post(self, state: IncidentState) -> StakeholderUpdate | None:
        """The stakeholder update that is due and that the scenario posts, if any."""
        records = state.updates.records if state.updates is not None else []
        last = records[-1] if records else None
        if last is None or last.status != "due" or last.number in self.scenario.miss_updates:
            return None
        return last

    def next_update_due(self, state: IncidentState) -> datetime | None:
        """When the update clock next acts: the next update is asked, or the one the
        scenario lets go is missed. None for an SOP without `updates` (or no cadence now)."""
        book, cadences = state.updates, self.plan.updates or {}
        if book is None or not cadences:
            return None
        last = book.records[-1] if book.records else None
        if last is not None and last.status == "due":
            grace = cadences.get(last.severity) or cadences.get(state.severity or "")
            if grace is None:
                return None
            return last.asked_at + timedelta(seconds=grace.escalate_after_s)
        cadence = cadences.get(state.severity or "")
        if cadence is None or book.clock_from is None:
            return None
        return book.clock_from + timedelta(seconds=cadence.every_s)

    async def send(self, action: Action) -> None:
        """Act through the incident service, as every interface does."""
        await self.bench.act(self.handle, action)


def library_activities(library: LintResult) -> list[Callable[..., Any]]:
    """The real activities that read the library: the Rota (steps that follow the sun,
    business-hours SLAs) and the linked-plan resolver (`open_incident`)."""
    rota = library.library.rota.model if library.library.rota is not None else None
    return [*DeskActivities(lambda: rota).activities(), LinkedPlans(lambda: library).linked_plan]


async def record(
    scenario: Scenario, plan: Plan, roster: list[Person], activities: list[Callable[..., Any]]
) -> list[WorkflowHistory]:
    fakes = Fakes(enrichment=dict(scenario.enrichment))
    async with bench(fakes, activities=activities) as b:
        now = await b.env.get_current_time()
        incident_id = f"inc-{scenario.stem}"
        first = await b.incidents.start(
            plan,
            incident_input(plan, scenario, now),
            opened_by=OPENER,
            incident_id=incident_id,
            continue_as_new_after=scenario.continue_as_new_after,
        )
        latest = b.incidents.handle(incident_id)  # follows continue-as-new
        driver = Driver(b, scenario, plan, roster, latest)
        final = await driver.run()
        await latest.result()
        assert final.outcome == scenario.expect, f"{scenario.stem}: {final.outcome}"
        return await all_runs(b, incident_id, first.result_run_id or "")


async def all_runs(b: Bench, workflow_id: str, run_id: str) -> list[WorkflowHistory]:
    """The history of every run of the incident, following continue-as-new."""
    runs = []
    while run_id:
        history = await b.incidents.history(workflow_id, run_id=run_id)
        runs.append(history)
        last = history.events[-1]
        continued = last.HasField("workflow_execution_continued_as_new_event_attributes")
        attrs = last.workflow_execution_continued_as_new_event_attributes
        run_id = attrs.new_execution_run_id if continued else ""
    return runs


def write(scenario: Scenario, runs: list[WorkflowHistory]) -> list[Path]:
    for old in HISTORIES.glob(f"{scenario.stem}.json"):
        old.unlink()
    for old in HISTORIES.glob(f"{scenario.stem}-run*.json"):
        old.unlink()
    paths = []
    for i, history in enumerate(runs, start=1):
        suffix = f"-run{i}" if len(runs) > 1 else ""
        path = HISTORIES / f"{scenario.stem}{suffix}.json"
        text = history.to_json()
        assert len(text) < scenario.max_bytes, f"{path.name} is {len(text)} bytes"
        path.write_text(text + "\n", encoding="utf-8")
        paths.append(path)
    return paths


async def check_replay(paths: list[Path]) -> None:
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=pydantic_data_converter)
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        await replayer.replay_workflow(history)


async def main(prefixes: list[str]) -> None:
    library = lint_library(LIBRARY)
    plans, activities = library.plans, library_activities(library)
    roster = load_roster()
    HISTORIES.mkdir(exist_ok=True)
    chosen = [s for s in SCENARIOS if not prefixes or s.stem.startswith(tuple(prefixes))]
    for scenario in chosen:
        plan = plans[(scenario.sop, scenario.version, scenario.region)]
        runs = await record(scenario, plan, roster, activities)
        paths = write(scenario, runs)
        await check_replay(paths)
        print(f"{scenario.stem}: {scenario.summary}")
        for path, history in zip(paths, runs, strict=True):
            size = path.stat().st_size
            print(f"  {path.name:53} {len(history.events):4} events {size / 1024:6.1f} KB")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
