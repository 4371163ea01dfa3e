"""Wellbeing: a step marked graphic counts in the exposure of whoever did it (timeline,
state and the `Exposures` search attribute), asks the person on call for a role to check in
with them, and `sopflow.client.wellbeing` counts a person's exposure since their shift
began from one visibility list."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.client.wellbeing import exposures, shift_starts
from sopflow.contract import search
from sopflow.contract.messages import Actor, CompleteTask, IncidentState, Vote
from sopflow.language.library import load_library
from tests.harness import bench, compile_text, run
from tests.test_follow_the_sun import EXAMPLE
from tests.test_workflow_people import PEOPLE, active

GRAPHIC = PEOPLE.replace(
    "    assignee: responder\n",
    "    assignee: responder\n    graphic: true\n    check_in: {to: lead, channel: email}\n",
    1,
).replace("    quorum: 2\n", "    quorum: 2\n    graphic: true\n", 1)
ALICE = Actor(id="alice", roles=["responder"])
BOB, CARA = Actor(id="bob", roles=["lead"]), Actor(id="cara", roles=["legal"])


def roster_library(root: Path) -> Path:
    people = "".join(
        f"  {h}: {{name: {h}, region: US, roles: [{r}]}}\n"
        for h, r in [("alice", "responder"), ("bob", "lead"), ("cara", "legal"), ("dan", "lead")]
    )
    (root / "roster.yaml").write_text(
        f"apiVersion: sopflow/v1\nkind: Roster\npeople:\n{people}", encoding="utf-8"
    )
    return root


def approve(actor: Actor) -> Vote:
    return Vote(step="approve", actor=actor, decision="approve", reason="seen")


@pytest.mark.e2e
def test_a_graphic_step_counts_and_asks_for_a_check_in(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bench(dev_server=True) as b:
            plan = compile_text(GRAPHIC)
            h = await b.start(plan)
            await b.until(h, active("verify"))
            await b.act(h, CompleteTask(step="verify", actor=ALICE, data={"verified": True}))
            await b.until(h, active("approve"))
            await b.act(h, approve(BOB))
            await b.act(h, approve(CARA))
            final: IncidentState = await h.result()
            assert [(e.person, e.step) for e in final.exposures] == [
                ("alice", "verify"),
                ("bob", "approve"),
                ("cara", "approve"),
            ]
            kinds = [(e.kind, e.step) for e in final.timeline if e.kind.startswith(("exp", "well"))]
            assert kinds == [
                ("exposure", "verify"),
                ("wellbeing.check_in", "verify"),
                ("exposure", "approve"),
                ("exposure", "approve"),
            ]
            [check_in] = [n for n in b.fakes.notifications if n.step == "verify"]
            assert (check_in.channel, check_in.to, check_in.to_is_role) == ("email", "lead", True)
            assert check_in.message.startswith("alice just did graphic-content work")
            assert check_in.idempotency_key.endswith("/check-in")

            described = await b.client.get_workflow_handle(h.id).describe()
            seen = search.exposures(described.typed_search_attributes.get(search.EXPOSURES))
            assert [p for p, _ in seen] == ["alice", "bob", "cara"]

            # Counted per person from visibility (which lags a little behind the workflow).
            since = datetime.now(UTC) - timedelta(hours=1)
            stop = time.monotonic() + 20
            while True:
                found = await exposures(b.client, {"alice": since, "bob": since, "dan": since})
                if found["alice"].count or time.monotonic() > stop:
                    break
                time.sleep(0.1)
            assert (found["alice"].count, found["bob"].count, found["dan"].count) == (1, 1, 0)
            assert found["alice"].seen[0].incident == h.id
            later = await exposures(b.client, {"alice": datetime.now(UTC) + timedelta(hours=1)})
            assert later["alice"].count == 0

            # The CLI, as an operator: each person of the Roster (no Rota: the last 12h).
            env = {
                "TEMPORAL_ADDRESS": b.client.service_client.config.target_host,
                "SOPFLOW_API_URL": "",
            }
            args = ["wellbeing", "--format", "json", "-d", str(roster_library(tmp_path))]
            result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
            assert result.exit_code == 0, result.stderr
            rows = {r["person"]: r for r in json.loads(result.stdout)}
            assert (rows["alice"]["graphic_steps"], rows["dan"]["graphic_steps"]) == (1, 0)
            assert rows["alice"]["seen"][0]["incident"] == h.id

    run(scenario)


@pytest.mark.unit
def test_an_sop_without_graphic_steps_keeps_its_plan_hash() -> None:
    plan = compile_text(PEOPLE).canonical_json()
    assert '"graphic"' not in plan and '"check_in"' not in plan
    assert '"graphic":true' in compile_text(GRAPHIC).canonical_json().replace(" ", "")


@pytest.mark.unit
def test_a_shift_begins_with_the_duty_the_rota_has_the_person_in() -> None:
    rota = load_library(EXAMPLE).rota
    assert rota is not None
    tuesday_noon_ny = datetime(2030, 1, 15, 17, tzinfo=UTC)
    starts = shift_starts(rota.model, ["amoreno", "pshah"], tuesday_noon_ny, timedelta(hours=12))
    assert starts["amoreno"] == datetime(2030, 1, 15, 14, tzinfo=UTC)  # 09:00 New York
    assert starts["pshah"] == tuesday_noon_ny - timedelta(hours=12)  # London has gone home


@pytest.mark.unit
def test_the_exposures_attribute_keeps_the_latest_that_fit() -> None:
    start = datetime(2030, 1, 15, tzinfo=UTC)
    seen = [(f"person{i:03d}", start + timedelta(minutes=i)) for i in range(200)]
    text = search.exposures_text(seen)
    assert len(text.encode()) <= search.EXPOSURES_MAX_BYTES
    kept = search.exposures(text)
    assert kept[-1] == seen[-1] and seen[0] not in kept
    assert kept == seen[-len(kept) :]
