"""Incident commands: start, list, show (``signal`` and ``cancel`` act on one: in tasks).

Every command connects from the environment (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
TLS: see ``sopflow.client.connection``). Temporal is the only store of incident state: ``show``
reads it with the workflow's ``state`` query (the final state is the workflow's result),
``list`` with visibility queries on the typed search attributes. Exit codes: 0 success,
1 a refused or failed request (always a message, never a traceback), 2 a usage error.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import secrets
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table

from sopflow.cli.authoring import DefinitionsOpt, fail, resolve
from sopflow.client.codec import CodecError
from sopflow.client.connection import data_task_queue, task_queue_from_env
from sopflow.client.incidents import (
    ActionRefused,
    IncidentService,
    IncidentView,
    NoAnswer,
    Refusal,
)
from sopflow.client.session import TemporalError, TemporalUnavailable, with_service
from sopflow.client.signing import ActionSigner
from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.plan import Plan
from sopflow.language.diagnostics import render_text
from sopflow.language.input_check import input_problems
from sopflow.language.library import default_definitions
from sopflow.language.roster import Roster, RosterError

T = TypeVar("T")
JsonOpt = typer.Option(False, "--json", help="Print JSON for machines instead of tables.")


# --- plumbing shared with the task and audit commands


def with_incidents(
    action: Callable[[IncidentService], Coroutine[Any, Any, T]],
    signer: ActionSigner | None = None,
) -> T:
    """Connect from the environment and run ``action`` with the incident service (signing
    actions with ``signer``); every failure becomes a message and exit 1, never a
    traceback."""
    try:
        return asyncio.run(with_service(action, signer))
    except typer.Exit:
        raise
    except ActionRefused as exc:
        if exc.kind in (Refusal.NOT_FOUND, Refusal.NOT_AN_INCIDENT):
            raise fail(exc.reason) from None
        raise refused(exc.reason) from None
    except (CodecError, NoAnswer, TemporalUnavailable, TemporalError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # no tracebacks: say what broke, in one line
        raise fail(f"{type(exc).__name__}: {exc}") from None


def refused(reason: str) -> typer.Exit:
    """``refused: <reason>`` on stderr, and exit 1."""
    print(f"refused: {reason}", file=sys.stderr)
    return typer.Exit(1)


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_second(stamp: str | None) -> str:
    """An ``iso()`` time for people: to the second."""
    return f"{stamp[:19]}Z" if stamp else "-"


def json_object(text: str, what: str) -> dict[str, Any]:
    """A JSON object from ``text``, ``@FILE`` or ``-`` (stdin), or exit 1 saying what is wrong."""
    try:
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            text = Path(text[1:]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{what}: cannot read {text[1:]}: {exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise fail(f"{what} must be a JSON object ({{...}}), not {type(value).__name__}")
    return value


def console() -> Console:
    """Rich output for people: no markup or emoji codes (cells hold responders' text), and
    piped output is never cut to a terminal's width."""
    width = None if sys.stdout.isatty() else 1000
    return Console(markup=False, emoji=False, highlight=False, width=width)


def table(first: str, *rest: str) -> Table:
    """A table whose first column (an id people copy) is never wrapped or cut."""
    return Table(Column(first, no_wrap=True, min_width=len(first)), *rest)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- start


def new_incident_id() -> str:
    """``inc-YYYYMMDD-xxxxxx``: the UTC date and six random hex digits."""
    return f"inc-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _refuse_broken(result: LintResult, plan: Plan) -> None:
    errors = result.errors_in((plan.sop.id, plan.sop.version, plan.region.code))
    if errors:
        print(render_text(errors), file=sys.stderr)
        raise fail(f"{plan.sop.id}@{plan.sop.version} ({plan.region.code}) has errors")


def start(
    ref: str = typer.Argument(..., metavar="SOP[@VERSION]"),
    region: str = typer.Option(..., "--region", "-r", help="The desk running the incident."),
    input_file: str = typer.Option(
        ..., "--input", "-i", help="The incident's input: a JSON file, or - for stdin."
    ),
    as_: str | None = typer.Option(
        None,
        "--as",
        envvar="SOPFLOW_USER",
        help="Who opens it, from the Roster (default: $SOPFLOW_USER, then your OS user).",
    ),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Open an incident: check the input against the SOP's input schema and start its
    workflow. The incident id is the last line of the output."""
    data = json_object(input_file if input_file == "-" else f"@{input_file}", "the input")
    root = definitions or default_definitions()
    if not root.is_dir():
        raise fail(f"{root} is not a directory of SOP definitions")
    result = lint_library(root)
    plan = resolve(result, ref, region)
    _refuse_broken(result, plan)
    name = f"{plan.sop.id}@{plan.sop.version} ({plan.region.code})"
    problems = input_problems(plan.input_schema, data)
    if problems:
        count = plural(len(problems), "problem")
        print(f"error: the input does not fit {name}'s input schema ({count}):", file=sys.stderr)
        print("\n".join(f"  {line}" for line in problems), file=sys.stderr)
        raise typer.Exit(1)
    try:
        opener = Roster.from_library(result.library).actor(as_ or getpass.getuser()).id
    except (RosterError, OSError, KeyError) as exc:  # getpass: no user name to be found
        hint = "" if as_ else " (say who opens the incident with --as USER)"
        raise fail(f"{exc}{hint}") from None
    data_queue = None
    if _data_routing():
        data_region = plan.region.data_region or plan.region.code
        data_queue = data_task_queue(data_region, task_queue_from_env())
    incident_id = new_incident_id()

    async def go(incidents: IncidentService) -> None:
        await incidents.start(
            plan, data, opened_by=opener, incident_id=incident_id, data_task_queue=data_queue
        )

    with_incidents(go)
    print(f"opened {name} by {opener}: {plan.sop.title}")
    print(incident_id)


def _data_routing() -> bool:
    mode = os.environ.get("SOPFLOW_DATA_ROUTING", "")
    if mode not in ("", "none", "region"):
        raise fail(f"$SOPFLOW_DATA_ROUTING is {mode!r}; use 'region' or leave it unset")
    return mode == "region"


# --- list, show


def list_incidents(
    query: str | None = typer.Option(
        None, "--query", "-q", help="A visibility query, e.g. \"Severity = 'SEV1'\"."
    ),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    as_json: bool = JsonOpt,
) -> None:
    """List incidents (workflows whose type is an SOP id), newest first."""

    async def go(incidents: IncidentService) -> list[dict[str, Any]]:
        return [
            {
                "id": found.id,
                "sop": found.sop,
                "version": found.version,
                "region": found.region,
                "severity": found.severity,
                "status": found.status,
                "outcome": found.outcome,
                "started": iso(found.started_at),
            }
            for found in await incidents.list(query, limit=limit)
        ]

    rows = with_incidents(go)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    out = table("id", "sop", "region", "severity", "status", "outcome", "started")
    for r in rows:
        sop = f"{r['sop']}@{r['version']}"
        cells = (r["id"], sop, r["region"], r["severity"], r["status"], r["outcome"])
        out.add_row(*(str(c or "-") for c in cells), to_second(r["started"]))
    console().print(out)
    print(plural(len(rows), "incident"), file=sys.stderr)


def incident_json(view: IncidentView) -> dict[str, Any]:
    """What ``show --json`` prints. Without the state (no worker answered), what visibility
    knows: the attributes, and the steps waiting on people as active."""
    summary, state = view.summary, view.state
    steps = [
        {"id": sid, "status": "active", "role": None, "due_at": None, "output": None}
        for sid in summary.active_steps
    ]
    if state is not None:
        steps = [
            s.model_dump(mode="json", include={"id", "status", "role", "output"})
            | {"due_at": iso(s.due_at)}
            for s in state.steps.values()
        ]
    return {
        "id": summary.id,
        "sop": summary.sop,
        "version": summary.version,
        "region": summary.region,
        "plan_hash": state.plan_hash if state else None,
        "status": summary.status,
        "outcome": summary.outcome,
        "severity": summary.severity,
        "steps": steps,
        "timeline": [
            e.model_dump(mode="json") | {"at": iso(e.at)} for e in (state.timeline if state else [])
        ],
    }


def show(
    incident_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = JsonOpt,
) -> None:
    """Show an incident: status, steps and timeline."""

    async def go(incidents: IncidentService) -> dict[str, Any]:
        found = await incidents.view(incident_id)
        if found.unavailable:
            print(f"note: {incident_id}: {found.unavailable}", file=sys.stderr)
        return incident_json(found)

    view = with_incidents(go)
    if as_json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
        return
    out = console()
    out.print(
        f"{view['id']}  {view['sop']}@{view['version']} ({view['region']})  "
        f"status {view['status']}  severity {view['severity'] or '-'}  "
        f"outcome {view['outcome'] or '-'}",
        style="bold",
    )
    steps = table("step", "status", "role", "due", "output")
    for s in view["steps"]:
        output = "-" if s["output"] is None else json.dumps(s["output"], ensure_ascii=False)
        steps.add_row(s["id"], s["status"], s["role"] or "-", to_second(s["due_at"]), output[:60])
    out.print(steps)
    timeline = table("at", "actor", "kind", "step", "detail")
    for e in view["timeline"]:
        timeline.add_row(to_second(e["at"]), e["actor"], e["kind"], e["step"] or "-", e["detail"])
    out.print(timeline)
