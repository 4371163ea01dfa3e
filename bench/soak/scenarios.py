"""The soak's incidents and its oracle.

Each incident gets a scenario drawn from a seeded random generator: a family, a region and
the decisions its simulated people will make (the form values they submit, how they vote,
whether an agency acknowledges). From those decisions alone, a hand-written model of each
soak SOP (``bench/soak_library``, read by a person, not by the engine) says which moves the
people make, in which order and by which role, and what the incident must end with: its
outcome, the steps it must have done, the side effects that must arrive (by idempotency key)
and whether a post-mortem is drafted. Nothing here asks sopflow how an SOP runs; the run
checks afterwards that every step the model names is a step of the compiled plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from sopflow.api.idempotency import incident_id_for

FAMILIES = (
    "soak-emergency-disclosure",
    "soak-threat-to-life",
    "soak-csea-report",
    "soak-legal-process",
)
REGIONS = ("US", "UK", "AU")
MoveKind = Literal["complete", "approve", "reject", "event"]
# Where an effect arrives: the webhook sink (webhook, pager and escalation channels), the
# SMTP sink, the disclosure log.
Sink = Literal["http", "email", "disclosure"]
SINK_OF_CHANNEL: dict[str, Sink] = {"webhook": "http", "pager": "http", "email": "email"}


@dataclass(frozen=True)
class Move:
    """One thing a person does: complete a task, vote, or an agency's event arriving."""

    kind: MoveKind
    step: str
    role: str = ""  # who acts: a role held on the incident's desk
    data: dict[str, Any] = field(default_factory=dict)
    # Let the step's SLA run out first: wait until the incident reports a breach.
    after_breach: bool = False


@dataclass
class Expect:
    """What the incident must end with, by the model."""

    outcome: str
    steps: set[str]
    effects: dict[Sink, set[str]] = field(default_factory=dict)
    postmortem: bool = False


@dataclass
class Scenario:
    incident_id: str
    sop: str
    region: str
    input: dict[str, Any]
    moves: list[Move]
    expect: Expect
    name: str
    start_key: str = ""  # the Idempotency-Key of its start, from which the API derives its id


def _effects(incident: str, **steps: list[str]) -> dict[Sink, set[str]]:
    """Expected keys by sink: a disclosure check's record ``<id>/<step>/1``, a notify step's
    message ``<id>/<step>/1/<channel>/0`` (the keys sopflow gives a step's first run)."""
    out: dict[Sink, set[str]] = {}
    for kind, names in steps.items():
        if kind == "disclosure":
            out.setdefault("disclosure", set()).update(f"{incident}/{s}/1" for s in names)
        else:
            keys = {f"{incident}/{s}/1/{kind}/0" for s in names}
            out.setdefault(SINK_OF_CHANNEL[kind], set()).update(keys)
    return out


def emergency(rng: random.Random, incident: str) -> Scenario:
    verified = rng.random() < 0.8
    slow = rng.random() < 0.08
    votes = rng.choice(["approve", "approve", "approve", "reject_legal", "reject_lead"])
    moves = [Move("complete", "verify", "responder", {"verified": verified})]
    steps = {"triage", "verify", "check"}
    if slow:
        moves.append(Move("complete", "second_look", "responder", {"ok": True}, True))
        steps.add("second_look")
    if not verified:
        outcome = "declined"
        effects = _effects(incident, disclosure=["check"], email=["declined_notice"])
        steps |= {"declined_notice", "declined"}
    elif votes == "approve":
        moves += [Move("approve", "approve", "legal"), Move("approve", "approve", "lead")]
        moves.append(Move("complete", "produce", "responder", {"package": f"PKG-{incident}"}))
        outcome = "disclosed"
        effects = _effects(incident, disclosure=["check"], webhook=["tell_agency"])
        steps |= {"approve", "produce", "tell_agency", "disclosed"}
    else:
        moves.append(Move("reject", "approve", votes.removeprefix("reject_")))
        outcome = "declined"
        effects = _effects(incident, disclosure=["check"], email=["declined_notice"])
        steps |= {"approve", "declined_notice", "declined"}
    name = "unverified" if not verified else votes
    return Scenario(
        incident,
        FAMILIES[0],
        "",
        {"request_id": incident, "imminent": rng.random() < 0.5, "second_look": slow},
        moves,
        Expect(outcome, steps, effects),
        name + ("+sla-breach" if slow else ""),
    )


def threat(rng: random.Random, incident: str) -> Scenario:
    credible = rng.random() < 0.85
    imminent = rng.random() < 0.5
    moves = [Move("complete", "assess", "responder", {"credible": credible})]
    if not credible:
        expect = Expect("no_action", {"triage", "assess", "route", "no_action"})
    else:
        moves += [
            Move("complete", "refer", "responder", {"agency": "Soak PD"}),
            Move("event", "ack", data={"reference": f"REF-{incident}"}),
        ]
        steps = {"triage", "assess", "route", "refer", "page", "ack", "referred"}
        if imminent:
            steps.add("review")
        expect = Expect("referred", steps, _effects(incident, pager=["page"]), imminent)
    return Scenario(
        incident,
        FAMILIES[1],
        "",
        {"report_id": incident, "imminent": imminent},
        moves,
        expect,
        ("credible" if credible else "not-credible") + ("+sev0" if imminent else ""),
    )


def csea(rng: random.Random, incident: str) -> Scenario:
    apparent = rng.random() < 0.85
    here = rng.random() < 0.8
    review = {"apparent": apparent, "in_jurisdiction": here}
    moves = [Move("complete", "review", "responder", review)]
    if not apparent:
        expect = Expect("not_reportable", {"triage", "review", "route", "not_reportable"})
        return Scenario(
            incident, FAMILIES[2], "", {"report_id": incident}, moves, expect, "not-apparent"
        )
    moves += [
        Move("complete", "hash_content", "responder", {"hash": f"H-{incident}"}),
        Move("complete", "preserve", "responder", {"preservation_id": f"P-{incident}"}),
    ]
    steps = {"triage", "review", "route", "act", "preserve", "hash_content", "report_check"}
    if here:
        moves.append(Move("complete", "file_report", "responder", {"report_ref": f"R-{incident}"}))
        steps |= {"file_report", "tell_lead", "reported"}
        effects = _effects(incident, disclosure=["report_check"], email=["tell_lead"])
        expect = Expect("reported", steps, effects)
    else:
        moves.append(Move("complete", "refer_elsewhere", "responder", {"referred_to": "Soak AU"}))
        steps |= {"refer_elsewhere", "referred_elsewhere"}
        expect = Expect(
            "referred_elsewhere", steps, _effects(incident, disclosure=["report_check"])
        )
    name = "reported" if here else "elsewhere"
    return Scenario(incident, FAMILIES[2], "", {"report_id": incident}, moves, expect, name)


def legal(rng: random.Random, incident: str) -> Scenario:
    valid = rng.random() < 0.85
    found = rng.random() < 0.85
    scope = rng.random() < 0.85
    sign_off = rng.random() < 0.85
    intake = {"valid": valid, "records_found": found, "within_scope": scope}
    moves = [Move("complete", "intake", "responder", intake)]
    steps = {"triage", "intake", "route"}
    rejected = Expect("rejected", steps | {"reject_notice", "rejected"})
    rejected.effects = _effects(incident, email=["reject_notice"])
    if not valid:
        expect, name = rejected, "invalid"
    elif not found:
        expect, name = Expect("no_records", steps | {"no_records"}), "no-records"
    else:
        rejected.steps.add("check")
        rejected.effects["disclosure"] = {f"{incident}/check/1"}
        if not scope:
            expect, name = rejected, "out-of-scope"
        elif not sign_off:
            moves.append(Move("reject", "approve", "legal"))
            rejected.steps.add("approve")
            expect, name = rejected, "counsel-rejects"
        else:
            moves.append(Move("approve", "approve", "legal"))
            moves.append(Move("complete", "produce", "responder", {"package": f"PKG-{incident}"}))
            done = steps | {"check", "approve", "produce", "tell_requester", "produced"}
            effects = _effects(incident, disclosure=["check"], webhook=["tell_requester"])
            expect, name = Expect("produced", done, effects), "produced"
    return Scenario(incident, FAMILIES[3], "", {"process_id": incident}, moves, expect, name)


MODELS = {
    FAMILIES[0]: emergency,
    FAMILIES[1]: threat,
    FAMILIES[2]: csea,
    FAMILIES[3]: legal,
}


def scenarios(count: int, seed: int, run: str) -> list[Scenario]:
    """``count`` incidents spread evenly over the four families and three regions (the run
    id keeps their start keys apart from another run's on the same deployment)."""
    rng = random.Random(seed)
    out: list[Scenario] = []
    for n in range(count):
        family = FAMILIES[n % len(FAMILIES)]
        region = REGIONS[(n // len(FAMILIES)) % len(REGIONS)]
        # Started with an Idempotency-Key, as a client that may have to send it again does:
        # the API answers a retry with the incident the first attempt opened.
        key = f"soak-{run}-{n:05d}"
        scenario = MODELS[family](rng, incident_id_for(opener(region), key))
        scenario.region, scenario.start_key = region, key
        out.append(scenario)
    return out


def opener(region: str) -> str:
    """Who opens the region's incidents: its first responder."""
    return f"{region.lower()}-resp1"


def escalation_keys(incident: str, step: str, breaches: int) -> set[str]:
    """The escalation pages a step's breaches must send: the first breach pages the one role
    of its chain; the second finds the chain spent (no page); each later one pages again."""
    return {f"{incident}/{step}/1/escalation/{k}" for k in range(1, breaches + 1) if k != 2}
