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
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from sopflow.cli.authoring import DefinitionsOpt, fail, resolve
from sopflow.client.codec import CodecError
from sopflow.client.connection import (
    StateUnavailable,
    address_from_env,
    connect,
    data_task_queue,
    incident_state,
    incident_status,
    task_queue_from_env,
)
from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract import search
from sopflow.contract.messages import IncidentInput, IncidentState
from sopflow.contract.plan import Plan
from sopflow.language.diagnostics import render_text
from sopflow.language.input_check import input_problems
from sopflow.language.library import default_definitions
from sopflow.language.roster import Roster, RosterError

T = TypeVar("T")
JsonOpt = typer.Option(False, "--json", help="Print JSON for machines instead of tables.")


# --- plumbing shared with the task commands


def run(action: Callable[[Client], Coroutine[Any, Any, T]]) -> T:
    """Connect from the environment and run ``action``; every Temporal failure becomes a
    message and exit 1, never a traceback."""
    address = address_from_env()

    async def go() -> T:
        try:
            client = await connect()
        except CodecError as exc:  # the payload keys are misconfigured, not the server
            raise fail(str(exc)) from None
        except Exception as exc:  # the SDK raises RuntimeError for every connect failure
            raise fail(f"cannot reach Temporal at {address}: {exc}") from None
        return await action(client)

    try:
        return asyncio.run(go())
    except typer.Exit:
        raise
    except RPCError as exc:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise fail(f"cannot reach Temporal at {address}: {exc.message}") from None
        raise fail(f"Temporal refused the request: {exc.message}") from None
    except Exception as exc:  # no tracebacks: say what broke, in one line
        raise fail(f"{type(exc).__name__}: {exc}") from None


async def incident_handle(
    client: Client, incident_id: str
) -> tuple[WorkflowHandle[Any, IncidentState], WorkflowExecutionDescription]:
    """The handle and description of a sopflow incident, or exit 1 saying why not."""
    handle = client.get_workflow_handle(incident_id, result_type=IncidentState)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise fail(f"no incident {incident_id!r}") from None
        raise
    if desc.typed_search_attributes.get(search.SOP_ID) is None:
        raise fail(f"workflow {incident_id!r} is not a sopflow incident")
    return handle, desc


async def read_state(
    handle: WorkflowHandle[Any, IncidentState], wf: WorkflowExecution
) -> IncidentState | None:
    """The incident's state, or None (with a note) when no worker answers its query."""
    try:
        return await incident_state(handle, wf.status)
    except StateUnavailable as exc:
        print(f"note: {handle.id}: {exc}", file=sys.stderr)
        return None


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
    inp = IncidentInput(
        incident_id=incident_id,
        plan=plan,
        input=data,
        opened_by=opener,
        data_task_queue=data_queue,
    )

    async def go(client: Client) -> None:
        await client.start_workflow(
            plan.sop.id,
            inp,
            id=incident_id,
            task_queue=task_queue_from_env(),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search.start_attributes(
                plan.sop.id, plan.sop.version, plan.region.code
            ),
            memo={
                "title": plan.sop.title,
                "sop": f"{plan.sop.id}@{plan.sop.version}",
                "region": plan.region.code,
            },
        )

    run(go)
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
    visibility = "SopId IS NOT NULL" + (f" AND ({query})" if query else "")

    async def go(client: Client) -> list[dict[str, Any]]:
        rows = []
        async for wf in client.list_workflows(visibility, limit=limit):
            attrs = wf.typed_search_attributes
            outcome = attrs.get(search.OUTCOME)
            rows.append(
                {
                    "id": wf.id,
                    "sop": attrs.get(search.SOP_ID),
                    "version": attrs.get(search.SOP_VERSION),
                    "region": attrs.get(search.REGION),
                    "severity": attrs.get(search.SEVERITY),
                    "status": incident_status(wf.status, None, outcome),
                    "outcome": outcome,
                    "started": iso(wf.start_time),
                }
            )
        return rows

    rows = run(go)
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


def incident_json(
    incident_id: str, desc: WorkflowExecutionDescription, state: IncidentState | None
) -> dict[str, Any]:
    """What ``show --json`` prints. Without the state (no worker answered), what visibility
    knows: the attributes, and the steps waiting on people as active."""
    attrs = desc.typed_search_attributes
    outcome = state.outcome if state else attrs.get(search.OUTCOME)
    steps = [
        {"id": sid, "status": "active", "role": None, "due_at": None, "output": None}
        for sid in attrs.get(search.ACTIVE_STEPS) or []
    ]
    if state is not None:
        steps = [
            s.model_dump(mode="json", include={"id", "status", "role", "output"})
            | {"due_at": iso(s.due_at)}
            for s in state.steps.values()
        ]
    return {
        "id": incident_id,
        "sop": state.sop if state else attrs.get(search.SOP_ID),
        "version": state.version if state else attrs.get(search.SOP_VERSION),
        "region": state.region if state else attrs.get(search.REGION),
        "plan_hash": state.plan_hash if state else None,
        "status": incident_status(desc.status, state, outcome),
        "outcome": outcome,
        "severity": state.severity if state else attrs.get(search.SEVERITY),
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

    async def go(client: Client) -> dict[str, Any]:
        handle, desc = await incident_handle(client, incident_id)
        return incident_json(incident_id, desc, await read_state(handle, desc))

    view = run(go)
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
