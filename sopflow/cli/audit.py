"""``sopflow audit``: export, verify, replay and report incident histories.

Auditors prove from the Temporal history alone what happened in an incident, who decided
each step, under which version of which SOP and on what legal basis (docs/audit.md).
Server commands connect from the environment as the other commands do (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, TLS); payloads are decoded with sopflow's data converter, so
encrypted histories work when their keys are configured. Exit codes: 0 success, 1 a failed
check or a request that could not be done (always one line, never a traceback), 2 a usage
error.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sopflow.audit.envelope import dump_envelope
from sopflow.audit.errors import AuditError
from sopflow.audit.export import export_incident
from sopflow.audit.payloads import Decoder
from sopflow.audit.report_model import AuditReport
from sopflow.audit.report_render import render_markdown
from sopflow.audit.report_sources import report_from_files, report_from_server
from sopflow.audit.signatures import keys_for_report, keys_for_verify
from sopflow.audit.verify import verify_export
from sopflow.cli.authoring import fail
from sopflow.cli.incidents import with_incidents
from sopflow.client.incidents import IncidentService
from sopflow.language.library import default_definitions

if TYPE_CHECKING:  # replay loads the interpreter and Temporal's worker: only for `replay`
    from sopflow.audit.replay import ReplayOutcome

T = TypeVar("T")
# Below this many histories a progress bar is noise.
PROGRESS_MIN = 10

audit_app = typer.Typer(
    help="Export, verify, replay and report incident histories.", no_args_is_help=True
)


def _offline(work: Coroutine[Any, Any, T]) -> T:
    """Run work that needs no server; AuditError becomes ``error: ...`` and exit 1."""
    try:
        return asyncio.run(work)
    except AuditError as exc:
        raise fail(str(exc)) from None


def _online(work: Callable[[IncidentService], Coroutine[Any, Any, T]]) -> T:
    """Connect from the environment and run ``work`` with the incident service; same error
    handling."""

    async def guarded(incidents: IncidentService) -> T:
        try:
            result: T = await work(incidents)
        except AuditError as exc:
            raise fail(str(exc)) from None
        return result

    result: T = with_incidents(guarded)
    return result


def _decoder() -> Decoder:
    """sopflow's decoder, or exit 1 when the converter's settings (keys) are unusable."""
    try:
        return Decoder()
    except AuditError as exc:
        raise fail(str(exc)) from None


def _keys(load: Callable[[list[Path] | None], T], paths: list[Path] | None) -> T:
    """The public keys; AuditError (unreadable, or none where needed) is exit 1."""
    try:
        return load(paths)
    except AuditError as exc:
        raise fail(str(exc)) from None


def _keys_option(purpose: str) -> Any:
    """``--keys PATH``, repeatable: public key files or directories of ``*.pub`` files."""
    return typer.Option(
        None,
        "--keys",
        "-k",
        metavar="PATH",
        help="A public key file, or a directory of *.pub files, to check action signatures "
        f"with; repeatable: give every key that ever signed ({purpose}).",
    )


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{output}: cannot write: {exc.strerror}") from None


# --- export and verify


@audit_app.command("export")
def export(
    incident_id: str = typer.Argument(..., metavar="ID"),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the export here (default: standard output)."
    ),
) -> None:
    """Export an incident's history, every run across continue-as-new (and its post-mortem
    review's, when it started one), in Temporal's JSON history format inside an envelope
    with its plan hash and SHA-256 digest."""

    notes: list[str] = []

    async def go(incidents: IncidentService) -> tuple[dict[str, Any], int, int]:
        envelope, runs = await export_incident(incidents, incident_id, _decoder(), notes)
        return envelope, len(runs), sum(len(r.events) for r in runs)

    envelope, runs, events = _online(go)
    _write(dump_envelope(envelope), output)
    where = f" to {output}" if output else ""
    review = envelope.get("review")
    with_review = f", review {review['workflow_id']} " if isinstance(review, dict) else ""
    if isinstance(review, dict):
        with_review += f"({len(review['runs'])} run(s))"
    print(
        f"exported {incident_id}: {runs} run(s), {events} events{with_review}, "
        f"plan {envelope['plan_hash']}, digest {envelope['digest']}{where}",
        file=sys.stderr,
    )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


@audit_app.command("verify")
def verify(
    file: Path = typer.Argument(..., metavar="FILE", help="An export (`sopflow audit export`)."),
    definitions: Path | None = typer.Option(
        None,
        "--definitions",
        "-d",
        help="Library whose sopflow.lock the plan hash is compared with "
        "(default: $SOPFLOW_DEFINITIONS, then ./sop_definitions; skipped when it has no lock).",
    ),
    keys: list[Path] | None = _keys_option(
        "default: $SOPFLOW_TRUSTED_KEYS, then .sopflow/keys; none found is an error"
    ),
    allow_unsigned: bool = typer.Option(
        False,
        "--allow-unsigned",
        help="Accept unsigned actions recorded before the first signed one (histories "
        "recorded before actions were signed); they are still counted.",
    ),
) -> None:
    """Check an export: its digest, its runs, that its plan hash is the hash of the plan
    recorded in the history (and the published one, when the library's lock lists it), and
    that every action is signed by one of the public keys."""
    library = definitions or default_definitions()
    decoder = _decoder()
    ring = _keys(keys_for_verify, keys)
    work = verify_export(file, decoder, library, keys=ring, allow_unsigned=allow_unsigned)
    result = _offline(work)
    for check in result.checks:
        print(check.line())
    failed = sum(not c.ok for c in result.checks)
    if failed:
        print(f"error: {file}: NOT verified ({failed} check(s) failed)", file=sys.stderr)
        raise typer.Exit(1)
    print(f"verified: {file} ({result.workflow_id})", file=sys.stderr)


# --- replay


class _Lines:
    """One line per history on standard output; with many histories and a terminal, a
    progress bar under them (none when the output is piped)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.ok = self.failed = 0
        self.progress: Progress | None = None
        if total >= PROGRESS_MIN and sys.stdout.isatty():
            self.progress = Progress(
                TextColumn("replaying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(markup=False, emoji=False, highlight=False),
                transient=True,
            )
            self.task = self.progress.add_task("replay", total=total)

    def __enter__(self) -> _Lines:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def more(self, runs: int) -> None:
        """A file held ``runs`` histories where one was counted."""
        self.total += runs - 1
        if self.progress is not None:
            self.progress.update(self.task, total=self.total)

    def show(self, outcome: ReplayOutcome) -> None:
        if outcome.ok:
            self.ok += 1
        else:
            self.failed += 1
        if self.progress is None:
            print(outcome.line(), flush=True)
            return
        self.progress.console.print(outcome.line(), soft_wrap=True)
        self.progress.advance(self.task)


async def _replay_all(outcomes: AsyncIterator[ReplayOutcome], lines: _Lines) -> None:
    with lines:
        async for outcome in outcomes:
            lines.show(outcome)


@audit_app.command("replay")
def replay(
    files: list[Path] | None = typer.Argument(
        None,
        metavar="FILE...",
        help="Exports and/or plain Temporal JSON histories (`temporal workflow show "
        "--output json`).",
    ),
    query: str | None = typer.Option(
        None,
        "--query",
        "-q",
        help="Replay every run that this visibility query lists, e.g. "
        "\"ExecutionStatus = 'Running'\" (ANDed with SopId IS NOT NULL).",
    ),
) -> None:
    """Replay histories (incidents' and post-mortem reviews') with this build's interpreter,
    one line per history: `ok`, or the non-determinism found and the event it is at. Exit 1
    if any fails: run it before deploying a new worker."""
    if bool(files) == (query is not None):
        print("error: give history FILEs or --query, not both and not neither", file=sys.stderr)
        raise typer.Exit(2)
    from sopflow.audit.replay import file_items, history_items, replay_items  # late: see top

    if files:
        lines = _Lines(len(files))
        items = file_items(list(files), on_runs=lines.more)
        _offline(_replay_all(replay_items(items, _decoder().converter), lines))
    else:
        visibility = query or ""

        async def go(incidents: IncidentService) -> _Lines:
            lines = _Lines(await incidents.count(visibility))
            histories = history_items(incidents.histories(visibility))
            await _replay_all(replay_items(histories, _decoder().converter), lines)
            return lines

        lines = _online(go)
    print(
        f"replayed {lines.ok + lines.failed} histories: {lines.ok} ok, {lines.failed} failed",
        file=sys.stderr,
    )
    if lines.failed:
        raise typer.Exit(1)


# --- report


def _looks_like_file(target: str) -> bool:
    return target.endswith(".json") or "/" in target or Path(target).exists()


@audit_app.command("report")
def report(
    targets: list[str] = typer.Argument(
        ...,
        metavar="ID|FILE...",
        help="An incident id (read from the server), an export, or the plain history "
        "file(s) of one incident's runs.",
    ),
    fmt: str = typer.Option(
        "markdown", "--format", "-f", help="markdown (for people) or json (for machines)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report here (default: standard output)."
    ),
    keys: list[Path] | None = _keys_option(
        "default: $SOPFLOW_TRUSTED_KEYS, then .sopflow/keys; without keys, signatures are "
        "shown but not checked"
    ),
) -> None:
    """The audit report, built from the history's events: SOP, version, region and plan
    hash; every accepted action with its actor and reason; votes; disclosure decisions with
    their policy and legal basis; SLA breaches and escalations; the timeline; the outcome.
    Each action shows who signed it, checked against the public keys when there are any."""
    if fmt not in ("markdown", "json"):
        print(f"error: --format is markdown or json, not {fmt!r}", file=sys.stderr)
        raise typer.Exit(2)
    decoder = _decoder()
    ring = _keys(keys_for_report, keys)
    if any(_looks_like_file(t) for t in targets):
        result = _offline(report_from_files([Path(t) for t in targets], decoder, ring))
    elif len(targets) > 1:
        print("error: give one incident ID (or history files)", file=sys.stderr)
        raise typer.Exit(2)
    else:
        incident_id = targets[0]

        async def go(incidents: IncidentService) -> AuditReport:
            return await report_from_server(incidents, incident_id, decoder, ring)

        result = _online(go)
    _write(_render(result, "json" if fmt == "json" else "markdown"), output)


def _render(result: AuditReport, fmt: Literal["markdown", "json"]) -> str:
    if fmt == "json":
        return result.model_dump_json(indent=2) + "\n"
    return render_markdown(result)


# --- the disclosure log


@audit_app.command("verify-log")
def verify_log_cmd(
    path: Path | None = typer.Argument(
        None,
        metavar="[PATH]",
        help="The disclosure log (default: $SOPFLOW_DISCLOSURE_LOG, then "
        ".sopflow/disclosure-log.jsonl, as the worker writes it).",
    ),
) -> None:
    """Walk the disclosure log's hash chain; name the first broken record (exit 1)."""
    # Imported here: the activities package loads every channel, which no other command needs.
    from activities.disclosure_log import log_path, verify_log

    result = verify_log(path or log_path())
    if not result.ok:
        raise fail(result.message)
    print(result.message)
