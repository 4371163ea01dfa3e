"""Programme metrics from incidents run on the time-skipping server: known timings (time
skipped with ``env.sleep``), then the facts read from Temporal (a closed run's result, a
running one's ``state`` query), cached by run id, and computed.

The time-skipping server has no visibility listing, so the runs are the started incidents'
descriptions; `list_runs` is exercised against the dev server in test_metrics_cli.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from sopflow.client.metrics.cache import CACHE_DIR, FactsCache
from sopflow.client.metrics.compute import compute
from sopflow.client.metrics.read import read_facts
from sopflow.contract.messages import Actor, CompleteTask, IncidentState, Vote
from tests.harness import Bench, bench, compile_text, run
from tests.test_workflow_people import PEOPLE

pytestmark = pytest.mark.workflow

ALICE = Actor(id="alice", roles=["responder"])
BOB = Actor(id="bob", roles=["lead"])
CARA = Actor(id="cara", roles=["legal"])
MINUTE = timedelta(minutes=1)
# Real time passes between skips (polls, updates): milliseconds, never seconds.
SLACK = 5.0


def active(step: str) -> Any:
    return lambda s: s.steps[step].status == "active"


async def vote(b: Bench, h: WorkflowHandle[Any, Any], actor: Actor, decision: Any) -> None:
    await b.act(h, Vote(step="approve", actor=actor, decision=decision, reason="checked"))


async def resolved_in_20m(b: Bench) -> WorkflowHandle[Any, IncidentState]:
    """Verify done at 10m (the first action), approved by quorum 10m into the approval."""
    h = await b.start(compile_text(PEOPLE))
    await b.until(h, active("verify"))
    await b.env.sleep(10 * MINUTE)
    await b.act(h, CompleteTask(step="verify", actor=ALICE, data={"verified": True}))
    await b.until(h, active("approve"))
    await b.env.sleep(5 * MINUTE)
    await vote(b, h, BOB, "approve")
    await b.env.sleep(5 * MINUTE)
    await vote(b, h, CARA, "approve")
    assert (await h.result()).outcome == "resolved"
    return h


async def rejected_after_a_breach(b: Bench) -> WorkflowHandle[Any, IncidentState]:
    """Verify misses its 30m SLA (escalated to lead), done at 31m; rejected 2m later."""
    h = await b.start(compile_text(PEOPLE))
    await b.until(h, active("verify"))
    await b.env.sleep(31 * MINUTE)
    await b.until(h, lambda s: s.steps["verify"].breaches == 1)
    await b.act(h, CompleteTask(step="verify", actor=ALICE, data={"verified": True}))
    await b.until(h, active("approve"))
    await b.env.sleep(2 * MINUTE)
    await vote(b, h, BOB, "reject")
    assert (await h.result()).outcome == "rejected"
    return h


def test_metrics_of_incidents_read_from_temporal(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bench() as b:
            first = await resolved_in_20m(b)
            second = await rejected_after_a_breach(b)
            third = await b.start(compile_text(PEOPLE))  # left running, verify open
            await b.until(third, active("verify"))
            runs = [await h.describe() for h in (first, second, third)]

            cache = FactsCache(tmp_path)
            facts = await read_facts(b.client, runs, cache, concurrency=2)
            m = compute(facts)
            [group] = m.groups
            assert group.key == {"sop": "people", "version": "1", "region": "US", "severity": "-"}
            assert group.outcomes == {"rejected": 1, "resolved": 1, "running": 1}
            assert (group.first_action.n, group.no_action) == (2, 1)
            assert group.first_action.p50 == pytest.approx(600, abs=SLACK)
            assert group.first_action.max == pytest.approx(1860, abs=SLACK)
            assert group.close.n == 2
            assert group.close.p50 == pytest.approx(1200, abs=SLACK)
            assert group.close.p90 == pytest.approx(1980, abs=SLACK)
            assert (group.escalations, group.repages) == (1, 0)

            steps = {s.step: s for s in m.steps}
            verify = steps["verify"]
            assert (verify.met, verify.breached, verify.open, verify.breaches) == (1, 1, 1, 1)
            assert (verify.attainment, verify.escalations) == (0.5, 1)
            assert (steps["approve"].met, steps["approve"].breached) == (2, 0)

            [approve] = m.approvals
            assert (approve.decided, approve.approved, approve.rejected) == (2, 1, 1)
            assert approve.reject_votes == 1
            assert approve.time_to_quorum.n == 1
            assert approve.time_to_quorum.max == pytest.approx(600, abs=SLACK)
            # The escalation page went out on the escalation channel, once.
            pages = [n for n in b.fakes.notifications if n.channel == "escalation"]
            assert [(n.step, n.to) for n in pages] == [("verify", "lead")]

            # Closed runs are cached by run id; the running one is read again each time.
            cached = sorted(p.stem for p in (tmp_path / CACHE_DIR).glob("*.json"))
            assert cached == sorted(r.run_id for r in runs[:2] if r.run_id)
            again = FactsCache(tmp_path)
            assert await read_facts(b.client, runs, again) == facts
            assert again.hits == 2
            await b.incidents.terminate(third.id, "test over")

    run(scenario)
