"""An incident's life on the real dev server through the CLI, with the lifecycle example:
two incidents of welfare-review@1, one at a safe point and one not; `sopflow migrate
--dry-run` says which would move, `sopflow migrate` moves the one and leaves the other with
the reason; the moved one opens a linked danger-to-life incident on version 2, waits for its
outcome and finishes; the audit report and replay read both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli_incidents import (
    Stack,
    active,
    cli,
    closed,
    complete,
    ok,
    serving,
    show,
    start,
    until,
)

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "incident-lifecycle"


class ExampleStack(Stack):
    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "SOPFLOW_DEFINITIONS": str(EXAMPLE)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The dev server and a worker with the real activities, reading the example library
    (the worker opens linked incidents from it)."""
    tmp = tmp_path_factory.mktemp("cli-lifecycle")
    stack = ExampleStack(tmp=tmp, log=tmp / "worker.jsonl")
    with serving(stack, {"SOPFLOW_DEFINITIONS": str(EXAMPLE)}) as running:
        yield running


def version_is(number: int) -> Any:
    return lambda view: view["version"] == number


def test_migrate_a_safe_incident_and_leave_the_other_then_open_a_linked_one(
    stack: Stack,
) -> None:
    safe = start(stack, "welfare-review@1", "US", {"report_id": "W-10"}, "amoreno")
    busy = start(stack, "welfare-review@1", "US", {"report_id": "W-11"}, "amoreno")
    until(stack, safe, active("review"))
    until(stack, busy, active("review"))
    complete(stack, busy, "review", "amoreno", {"someone_in_danger": False})
    until(stack, busy, active("act"))

    migrate = ("migrate", safe, busy, "--to", "welfare-review@2")
    dry = cli(stack, *migrate, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert f"{safe}" in dry.stdout and "would move" in dry.stdout
    assert "stays: step act is active and welfare-review@2 does not map it" in dry.stdout
    assert "1 incident would move, 1 stay" in dry.stderr
    assert show(stack, safe)["version"] == 1  # a dry run moves nothing

    responder = cli(stack, *migrate, "--reason", "v1 never opens danger-to-life", "--as", "slee")
    assert responder.exit_code == 1
    assert "only the 'lead' role moves an incident to another version" in responder.stdout

    moved = cli(stack, *migrate, "--reason", "v1 never opens danger-to-life", "--as", "dokafor")
    assert moved.exit_code == 1, moved.stderr  # one stays
    assert "moved" in moved.stdout and "1 incident moved, 1 stay" in moved.stderr
    view = until(stack, safe, lambda v: version_is(2)(v) and active("review")(v))
    [record] = view["migrations"]
    assert (record["from_version"], record["to_version"], record["by"]) == (1, 2, "dokafor")
    assert show(stack, busy)["version"] == 1

    # On version 2 the review finds someone in danger: a linked incident opens, and the
    # review waits for its outcome.
    complete(stack, safe, "review", "amoreno", {"someone_in_danger": True})
    view = until(stack, safe, lambda v: active("open_danger_to_life")(v) and bool(v["links"]))
    [child] = view["links"]
    assert until(stack, child, active("locate"))["links"] == [safe]
    complete(stack, child, "locate", "slee", {"located": True})
    until(stack, child, closed)
    until(stack, safe, active("act"))
    complete(stack, safe, "act", "amoreno", {})
    final = until(stack, safe, closed)
    assert (final["version"], final["outcome"]) == (2, "resolved")
    complete(stack, busy, "act", "amoreno", {})
    assert until(stack, busy, closed)["version"] == 1

    report = json.loads(ok(stack, "audit", "report", safe, "--format", "json"))
    hashes = [run["plan_hash"] for run in report["runs"]]
    assert len(hashes) == 2 and hashes[0] != hashes[1]
    assert all(run["plan_hash_ok"] for run in report["runs"])
    kinds = [item["kind"] for item in report["timeline"]]
    assert "incident.migrated" in kinds and "incident.linked" in kinds
    markdown = ok(stack, "audit", "report", safe)
    assert f"| Migrated to | {hashes[1]} (version 2, from run 2; matches its plan) |" in markdown
    child_report = json.loads(ok(stack, "audit", "report", child, "--format", "json"))
    linked = [i for i in child_report["timeline"] if i["kind"] == "incident.linked"]
    assert linked and safe in linked[0]["detail"]
    export = stack.tmp / "moved.json"
    ok(stack, "audit", "export", safe, "--output", str(export))
    verified = cli(stack, "audit", "verify", str(export), "--keys", str(stack.tmp / "keys"))
    assert verified.exit_code == 0, (verified.stdout, verified.stderr)
    assert "moved to welfare-review@2 by a migration, matching its plan" in verified.stdout
    ids = ", ".join(f"'{i}'" for i in (safe, busy, child))
    replayed = cli(stack, "audit", "replay", "--query", f"WorkflowId IN ({ids})")
    assert replayed.exit_code == 0, (replayed.stdout, replayed.stderr)
    assert "replayed 4 histories: 4 ok, 0 failed" in replayed.stderr  # two runs of `safe`
