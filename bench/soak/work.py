"""How the simulated people work one incident through the API: open it, then each move of its
scenario in order, with think times, races and wrong actions on the way.

Wrong actions, each answered with the status the API documents, and none of them may change
the incident: a person without the step's role (403), the right role on another desk (403),
a form missing its required fields (422), completing a step already done (409), a second vote
by the same person (409), an action on an incident that does not exist (404). Races: two
responders of the desk complete the same task at the same moment (one 200, one 409), and the
two approvers of a quorum vote at once (both 200). Some accepted actions are sent again with
the same Idempotency-Key, as a client whose answer was lost would (200, applied once).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.soak.people import Api, Call, new_key, step_of, wait_for
from bench.soak.scenarios import REGIONS, Move, Scenario, opener

STEP_DEADLINE_S = 240.0  # a step must open within this (faults included)
STALE_READ_RETRIES = 3
BREACH_DEADLINE_S = 180.0  # a 15 s SLA must be reported breached within this
PREFIX = {"responder": "resp", "lead": "lead", "legal": "legal"}
WRONG_ROLE = {"responder": "legal", "lead": "responder", "legal": "responder"}
EVENT_STATUS = {200, 202}


@dataclass
class Outcome:
    """What happened to one incident on the people's side."""

    scenario: Scenario
    stuck: str | None = None  # a step that never opened, or the start that never happened
    races: list[tuple[int | None, int | None]] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # steps whose action was sent twice
    # Steps whose action was refused as not active just after the person saw them open, and
    # sent again once a fresh read showed them open (see `_act`).
    stale_reads: list[str] = field(default_factory=list)


def person(region: str, role: str, n: int) -> str:
    return f"{region.lower()}-{PREFIX[role]}{n}"


def other_region(region: str) -> str:
    return REGIONS[(REGIONS.index(region) + 1) % len(REGIONS)]


def _vote_body(move: Move) -> dict[str, Any]:
    return {"reason": f"soak: {move.kind}"}


def _path(sc: Scenario, move: Move) -> str:
    verb = "complete" if move.kind == "complete" else move.kind
    return f"/incidents/{sc.incident_id}/steps/{move.step}/{verb}"


async def open_incident(api: Api, sc: Scenario) -> bool:
    """Open the incident with its start key; True when the API answers with the id the key
    must give (the first attempt's incident, on a retry)."""
    body = {"sop": sc.sop, "region": sc.region, "input": sc.input}
    who, key = opener(sc.region), sc.start_key
    status, answer = await api.send(
        "POST", "/incidents", who, kind="start", expected={201}, body=body, key=key
    )
    return status == 201 and answer is not None and answer.get("id") == sc.incident_id


async def _wrong(api: Api, sc: Scenario, move: Move, rng: random.Random, out: Outcome) -> None:
    """One wrong action on an open step, chosen at random; most moves get none."""
    roll = rng.random()
    body = {"data": move.data} if move.kind == "complete" else _vote_body(move)
    if roll < 0.08:
        who = person(sc.region, WRONG_ROLE[move.role], 1)
        await _act(api, sc, move, who, body, out, kind="wrong:role", expected=frozenset({403}))
    elif roll < 0.14:
        who = person(other_region(sc.region), move.role, 2)
        await _act(api, sc, move, who, body, out, kind="wrong:desk", expected=frozenset({403}))
    elif roll < 0.20 and move.kind == "complete":
        who = person(sc.region, move.role, 1)
        bad = {"data": {"unexpected": "value"}}
        await _act(api, sc, move, who, bad, out, kind="wrong:form", expected=frozenset({422}))
    elif roll < 0.23:
        who = person(sc.region, move.role, 1)
        path = _path(sc, move).replace(sc.incident_id, f"{sc.incident_id}-nope", 1)
        await api.send("POST", path, who, kind="wrong:unknown", expected={404}, body=body)


async def _complete(api: Api, sc: Scenario, move: Move, rng: random.Random, out: Outcome) -> None:
    body = {"data": move.data}
    first, second = person(sc.region, move.role, 1), person(sc.region, move.role, 2)
    if rng.random() < 0.5:
        first, second = second, first
    key = new_key()
    if rng.random() < 0.25:  # two responders take the same task at once
        a, b = await asyncio.gather(
            *(
                api.send(
                    "POST",
                    _path(sc, move),
                    who,
                    kind="race",
                    expected={200, 409},
                    body=body,
                    key=new_key(),
                )
                for who in (first, second)
            )
        )
        out.races.append((a[0], b[0]))
    else:
        key = await _act(api, sc, move, first, body, out, key=key) or key
        if rng.random() < 0.08:  # the answer was lost: the same request again
            await api.send(
                "POST", _path(sc, move), first, kind="retry", expected={200}, body=body, key=key
            )
            out.retried.append(move.step)
    if rng.random() < 0.08:
        await api.send(
            "POST", _path(sc, move), second, kind="wrong:stale", expected={409}, body=body
        )


async def _act(
    api: Api,
    sc: Scenario,
    move: Move,
    who: str,
    body: dict[str, Any],
    out: Outcome,
    *,
    key: str | None = None,
    kind: str = "action",
    expected: frozenset[int] = frozenset({200}),
    path: str | None = None,
) -> str | None:
    """Send one action as a person would, and return the key it was last sent with.

    Refused as not active although the person has just seen the step open, they read the
    incident again and, once the step shows open, send it again (with a new key: the refusal
    is what the old one is answered with); the refused call is relabelled ``stale-read``,
    so it is judged as neither the action nor the wrong action it was meant to be. A state
    read can run ahead of the history when the Temporal server dies: a worker answered the
    read from a workflow task whose completion the restarted server then refused
    (bench/README.md, "Soak")."""
    for attempt in range(STALE_READ_RETRIES + 1):
        made: list[Call] = []
        status, answer = await api.send(
            "POST",
            path or _path(sc, move),
            who,
            kind=kind,
            expected=set(expected),
            body=body,
            key=key,
            made=made,
        )
        detail = str(answer.get("detail", "")) if isinstance(answer, dict) else ""
        stale = status == 409 and 409 not in expected and "not active" in detail
        if not stale or attempt == STALE_READ_RETRIES:
            break
        made[0].kind = "stale-read"
        out.stale_reads.append(move.step)
        seen = await wait_for(api, who, sc.incident_id, _settled(move.step), STEP_DEADLINE_S)
        if seen is None or step_of(seen, move.step).get("status") != "active":
            break  # done after all, or never open again: the oracle judges what happened
        key = new_key() if key is not None else None
    return key


def _settled(step: str) -> Any:
    """The step has left `pending`: open, or finished by someone or something else."""
    return lambda detail: step_of(detail, step).get("status") not in (None, "pending")


async def _votes(
    api: Api, sc: Scenario, moves: list[Move], rng: random.Random, out: Outcome
) -> None:
    """The votes of one approval, cast at once; sometimes a voter votes twice."""
    voters = [person(sc.region, m.role, rng.choice((1, 2))) for m in moves]
    await asyncio.gather(
        *(
            _act(api, sc, m, who, _vote_body(m), out, key=new_key())
            for m, who in zip(moves, voters, strict=True)
        )
    )
    if rng.random() < 0.15:
        again = _vote_body(moves[0])
        await api.send(
            "POST",
            _path(sc, moves[0]),
            voters[0],
            kind="wrong:second-vote",
            expected={409},
            body=again,
        )


def _is_open(step: str, breached: bool) -> Any:
    def ready(detail: dict[str, Any]) -> bool:
        state = step_of(detail, step)
        return state.get("status") == "active" and (not breached or state.get("breaches", 0) >= 1)

    return ready


async def _event(api: Api, sc: Scenario, move: Move) -> None:
    who = person(sc.region, "responder", 1)
    body = {"name": "le-acknowledged", "data": move.data}
    path = f"/incidents/{sc.incident_id}/events"
    await api.send("POST", path, who, kind="action", expected=EVENT_STATUS, body=body)


def _groups(moves: list[Move]) -> list[list[Move]]:
    """Consecutive votes on one step go together (they are cast at once)."""
    groups: list[list[Move]] = []
    for move in moves:
        votes = move.kind in ("approve", "reject")
        last = groups[-1][-1] if groups else None
        same_vote = (
            last is not None and last.kind in ("approve", "reject") and last.step == move.step
        )
        if votes and same_vote:
            groups[-1].append(move)
            continue
        groups.append([move])
    return groups


async def work(
    api: Api,
    sc: Scenario,
    rng: random.Random,
    think_s: float,
    after_open: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Open the incident, run ``after_open`` (while it surely runs), and make every move of
    its scenario."""
    out = Outcome(sc)
    if not await open_incident(api, sc):
        out.stuck = "start"
        return out
    if after_open is not None:
        await after_open()
    watcher = person(sc.region, "lead", 1)
    for group in _groups(sc.moves):
        move = group[0]
        ready = _is_open(move.step, move.after_breach)
        deadline = BREACH_DEADLINE_S if move.after_breach else STEP_DEADLINE_S
        if await wait_for(api, watcher, sc.incident_id, ready, deadline) is None:
            out.stuck = move.step
            return out
        await asyncio.sleep(rng.expovariate(1 / think_s) if think_s > 0 else 0)
        if move.kind == "event":
            await _event(api, sc, move)
            continue
        await _wrong(api, sc, move, rng, out)
        if move.kind == "complete":
            await _complete(api, sc, move, rng, out)
        else:
            await _votes(api, sc, group, rng, out)
    return out
