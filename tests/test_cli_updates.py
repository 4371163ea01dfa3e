"""`sopflow incident update` in direct mode, against the real dev server and a real worker
(tests/test_cli_incidents.py's stack), on the example library examples/stakeholder-updates.

The dev server's clock is the wall clock, and no cadence is shorter than 5 minutes: the first
update is asked 30 minutes after a SEV0 opens. So here the refusals are tested, which need no
update to be due: a responder without the asked role, and a lead when none is due, each exit
1 with the reason on stderr and leave the history as it was. The lead posting a due update
(and the timeline's `update.posted`) is played on the time-skipping server by the example's
rehearsal (tests/test_rehearsal_updates.py), through the same client call the CLI makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sopflow.client.connection import connect
from sopflow.client.incidents import IncidentService
from sopflow.contract.updates import UPDATE_KINDS
from sopflow.rehearsal.settle import settle_linked
from tests.test_cli_incidents import Stack, active, cli, kinds, refused, serving, show, start, until

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "stakeholder-updates"


class ExampleStack(Stack):
    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "SOPFLOW_DEFINITIONS": str(EXAMPLE)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The dev server and a worker with the real activities, on the example library."""
    tmp = tmp_path_factory.mktemp("cli-updates")
    stack = ExampleStack(tmp=tmp, log=tmp / "worker.jsonl", definitions=EXAMPLE)
    with serving(stack, {"SOPFLOW_DEFINITIONS": str(EXAMPLE)}) as running:
        yield running


def history_length(stack: Stack, incident: str) -> int:
    """The incident's history length, once nothing is outstanding in it (no workflow task
    or activity: the rehearsals' test of quiet), so a later read can only differ if
    something was done to it."""

    async def read() -> int:
        client = await connect(stack.address, "default")
        await settle_linked(client, incident)
        return len(await IncidentService(client).history_events(incident))

    return asyncio.run(read())


def test_an_update_is_refused_to_a_responder_and_when_none_is_due(stack: Stack) -> None:
    incident = start(stack, "live-threat@1", "US", {"report_id": "LS-9", "imminent": True}, "slee")
    view = until(stack, incident, active("contain"))
    assert view["severity"] == "SEV0"
    before = history_length(stack, incident)
    update = ("incident", "update", incident, "--text", "Stream ended.")

    # A responder holds no `lead`, the role the SOP's SEV0 cadence asks.
    result = cli(stack, *update, "--as", "amoreno")
    refused(
        result,
        "amoreno does not hold role 'lead', which is asked for this incident's stakeholder updates",
    )
    assert result.stdout == ""
    # The lead may post, but nothing is due yet: the first update is asked at 30m.
    result = cli(stack, *update, "--as", "dokafor")
    refused(result, "no stakeholder update is due on this incident")
    # An empty text never leaves the CLI.
    result = cli(stack, "incident", "update", incident, "--text", "  ", "--as", "dokafor")
    assert result.exit_code == 1 and "--text is empty" in result.stderr

    assert history_length(stack, incident) == before
    after = show(stack, incident)
    assert not set(kinds(after)) & set(UPDATE_KINDS)
    assert after["timeline"] == view["timeline"]
