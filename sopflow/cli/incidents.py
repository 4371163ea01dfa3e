"""Incident commands: start, list, show (``signal`` and ``cancel`` act on one: in tasks).

Every command connects from the environment (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
TLS: see ``sopflow.client.connection``). Temporal is the only store of incident state: ``show``
reads it with the workflow's ``state`` query (the final state is the workflow's result),
``list`` with visibility queries on the typed search attributes. With ``$SOPFLOW_API_URL``
set, the incident and task commands go through the HTTP API instead (``sopflow.cli.remote``),
printing the same. Exit codes: 0 success, 1 a refused or failed request (always a message,
never a traceback), 2 a usage error.
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
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table

from sopflow.api.models import IncidentDetail
from sopflow.cli import remote
from sopflow.cli.authoring import DefinitionsOpt, fail, resolve
from sopflow.client.codec import CodecError
from sopflow.client.connection import data_task_queue, task_queue_from_env
from sopflow.client.duplicates import attachment, duplicate_refusal, link_back, open_duplicates
from sopflow.client.incidents import (
    ActionRefused,
    IncidentService,
    IncidentSummary,
    NoAnswer,
    Refusal,
)
from sopflow.client.session import TemporalError, TemporalUnavailable, with_service
from sopflow.client.signing import (
    DEV_KEYS_DIR,
    SIGNING_KEY_ENV,
    ActionSigner,
    KeyFileError,
    signer_from_env,
)
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


def with_api(user: str | None, call: Callable[[remote.Api], T]) -> T:
    """API mode's ``with_incidents``: sign in to the HTTP API as ``user`` (else
    ``$SOPFLOW_USER``; the token from ``$SOPFLOW_TOKEN`` or their dev token) and run ``call``
    with the session; a refusal is ``refused: ...``, every other failure a message, and
    exit 1, never a traceback."""
    try:
        return call(remote.session(user))
    except typer.Exit:
        raise
    except remote.ApiRefused as exc:
        raise refused(str(exc)) from None
    except remote.ApiFailed as exc:
        if not exc.lines:
            raise fail(str(exc)) from None
        exit_ = fail(f"{exc} ({plural(len(exc.lines), 'problem')}):")
        print("\n".join(f"  {line}" for line in exc.lines), file=sys.stderr)
        raise exit_ from None
    except Exception as exc:  # no tracebacks: say what broke, in one line
        raise fail(f"{type(exc).__name__}: {exc}") from None


def operator_signer() -> ActionSigner:
    """The key this CLI signs actions with in direct mode, or exit 1 saying how to get one:
    workers refuse unsigned actions, so there is no point sending one."""
    try:
        signer = signer_from_env()
    except KeyFileError as exc:
        raise fail(str(exc)) from None
    if signer is None:
        raise fail(
            f"no signing key: set {SIGNING_KEY_ENV} to the operator key file, or run "
            f"`sopflow dev` in this directory once (it makes dev keys in {DEV_KEYS_DIR}); "
            "or use the HTTP API (SOPFLOW_API_URL)"
        )
    return signer


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
    except RecursionError:
        raise fail(f"{what} is nested too deeply to read") from None
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


class DuplicateChoice(StrEnum):
    refuse = "refuse"
    start = "start"
    attach = "attach"


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
    if_duplicate: DuplicateChoice = typer.Option(
        DuplicateChoice.refuse,
        "--if-duplicate",
        help=(
            "When one of this SOP is open about the same case (its `correlation`): refuse "
            "(exit 1, naming it), start a new one linked both ways, or attach this report to "
            "the open one as a note."
        ),
    ),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Open an incident: check the input against the SOP's input schema and start its
    workflow. The incident id is the last line of the output."""
    data = json_object(input_file if input_file == "-" else f"@{input_file}", "the input")
    choice = if_duplicate.value
    if remote.enabled():  # the API resolves the plan, checks the input and names the opener
        got = with_api(as_, lambda api: remote.start(api, ref, region, data, choice))
        if got.attached:
            _attached(got.id, got.opened_by)
            return
        _opened(f"{got.sop}@{got.version} ({got.region})", got.opened_by, got.title, got.id)
        return
    root = definitions or default_definitions()
    if not root.is_dir():
        raise fail(f"{root} is not a directory of SOP definitions")
    result = lint_library(root)
    plan = resolve(result, ref, region)
    retired = result.lock.start_refusal(plan.sop.id, plan.sop.version)
    if retired is not None:
        raise refused(retired)
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

    async def go(incidents: IncidentService) -> str | None:
        """The open incident the report was attached to, or None when one was started."""
        open_ids = await open_duplicates(incidents, plan, data, None)
        if open_ids and choice == "refuse":
            raise refused(duplicate_refusal(plan, open_ids) + " (--if-duplicate start|attach)")
        if open_ids and choice == "attach":
            actor = Roster.from_library(result.library).actor(opener)
            await incidents.act(open_ids[0], attachment(actor, data))
            return open_ids[0]
        await incidents.start(
            plan,
            data,
            opened_by=opener,
            incident_id=incident_id,
            data_task_queue=data_queue,
            links=open_ids,
        )
        await link_back(incidents, incident_id, open_ids, opener)
        return None

    attached_to = with_incidents(go, operator_signer() if choice == "attach" else None)
    if attached_to is not None:
        _attached(attached_to, opener)
        return
    _opened(name, opener, plan.sop.title, incident_id)


def _attached(incident_id: str, opener: str) -> None:
    print(f"attached the report to {incident_id} as a note by {opener}")
    print(incident_id)


def _opened(name: str, opener: str, title: str, incident_id: str) -> None:
    print(f"opened {name} by {opener}: {title}")
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
    if remote.enabled():
        found = with_api(None, lambda api: remote.incidents(api, query, limit))
    else:
        found = with_incidents(lambda incidents: incidents.list(query, limit=limit))
    rows = [_summary_row(s) for s in found]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    out = table("id", "sop", "region", "severity", "status", "outcome", "started")
    for r in rows:
        sop = f"{r['sop']}@{r['version']}"
        status = f"{r['status']} (stalled)" if r["stalled"] else r["status"]
        cells = (r["id"], sop, r["region"], r["severity"], status, r["outcome"])
        out.add_row(*(str(c or "-") for c in cells), to_second(r["started"]))
    console().print(out)
    print(plural(len(rows), "incident"), file=sys.stderr)


def _summary_row(found: IncidentSummary) -> dict[str, Any]:
    return {
        "id": found.id,
        "sop": found.sop,
        "version": found.version,
        "region": found.region,
        "severity": found.severity,
        "status": found.status,
        "outcome": found.outcome,
        "started": iso(found.started_at),
        "stalled": list(found.stalled),
    }


def incident_json(detail: IncidentDetail) -> dict[str, Any]:
    """What ``show --json`` prints, from the API's shape of an incident (which direct mode
    builds from the incident service's view). Without the state (no worker answered), what
    visibility knows: the attributes, and the steps waiting on people as active."""
    summary, has_state = detail.summary, detail.unavailable is None
    steps = [
        {"id": sid, "status": "active", "role": None, "due_at": None, "output": None}
        for sid in summary.active_steps
    ]
    if has_state:
        steps = [
            s.model_dump(
                mode="json",
                include={"id", "status", "role", "output", "desk", "claimed_by", "stalled"},
            )
            | {"due_at": iso(s.due_at)}
            for s in detail.steps
        ]
    return {
        "id": summary.id,
        "sop": summary.sop,
        "version": summary.version,
        "region": summary.region,
        "plan_hash": detail.plan_hash,
        "status": summary.status,
        "outcome": summary.outcome,
        "severity": summary.severity,
        "steps": steps,
        "timeline": [e.model_dump(mode="json") | {"at": iso(e.at)} for e in detail.timeline],
        "links": list(detail.links),
        "migrations": [m.model_dump(mode="json") for m in detail.migrations],
    }


def show(
    incident_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = JsonOpt,
) -> None:
    """Show an incident: status, steps and timeline."""
    if remote.enabled():
        detail = with_api(None, lambda api: remote.incident(api, incident_id))
    else:

        async def go(incidents: IncidentService) -> IncidentDetail:
            return IncidentDetail.of(await incidents.view(incident_id))

        detail = with_incidents(go)
    if detail.unavailable:
        print(f"note: {incident_id}: {detail.unavailable}", file=sys.stderr)
    view = incident_json(detail)
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
    if view["links"]:
        out.print(f"linked: {', '.join(view['links'])}")
    for moved in view["migrations"]:
        out.print(
            f"migrated from version {moved['from_version']} to {moved['to_version']} "
            f"by {moved['by']} at {to_second(moved['at'])}: {moved['reason']}"
        )
    out.print(steps)
    timeline = table("at", "actor", "kind", "step", "detail")
    for e in view["timeline"]:
        timeline.add_row(to_second(e["at"]), e["actor"], e["kind"], e["step"] or "-", e["detail"])
    out.print(timeline)
