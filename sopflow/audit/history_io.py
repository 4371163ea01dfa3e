"""Reading incident histories: files (an export envelope, or a plain Temporal JSON history as
``temporal workflow show --output json`` or ``WorkflowHistory.to_json`` writes it), and every
run of an incident from the server, following continue-as-new.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from google.protobuf import json_format
from pydantic import ValidationError
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.history.v1.message_pb2 import WorkflowExecutionStartedEventAttributes
from temporalio.client import WorkflowHistory

from sopflow.audit.envelope import ENVELOPE_KIND, Envelope
from sopflow.audit.errors import AuditError
from sopflow.client.incidents import ActionRefused, IncidentService

# A chain longer than this is a loop in the data, not an incident.
MAX_RUNS = 100_000


@dataclass(frozen=True)
class LoadedFile:
    """A history file: an export (``envelope`` set, every run, and its post-mortem review's
    runs in ``review_runs`` when it holds one) or a plain history (one run)."""

    path: Path
    kind: Literal["export", "history"]
    runs: list[WorkflowHistory]
    data: dict[str, Any]
    envelope: Envelope | None = None
    review_runs: list[WorkflowHistory] = field(default_factory=list)

    def label(self, index: int) -> str:
        """How messages name run ``index`` (0-based) of this file."""
        if self.kind == "history":
            return str(self.path)
        return f"{self.path} run {index + 1}/{len(self.runs)}"

    def review_label(self, index: int) -> str:
        """How messages name run ``index`` (0-based) of the export's review."""
        return f"{self.path} review run {index + 1}/{len(self.review_runs)}"


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys silently; in a file whose content must be
    # proven, a second value hidden behind the first is tampering, not data.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def read_json(path: Path, *, strict: bool = False) -> Any:
    """The JSON value in ``path``; ``strict`` also refuses duplicate object keys.
    Raises AuditError naming the file and what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuditError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AuditError(f"{path}: is a directory, not a history file") from None
    except UnicodeDecodeError:
        raise AuditError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise AuditError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if strict:
            return json.loads(text, object_pairs_hook=_no_duplicates)
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise AuditError(f"{path}: not JSON ({where}: {exc.msg})") from None
    except _DuplicateKeyError as exc:
        raise AuditError(f"{path}: the key {exc.args[0]!r} appears twice in one object") from None
    except (ValueError, RecursionError) as exc:
        raise AuditError(f"{path}: not JSON ({exc})") from None


def parse_history(workflow_id: str, data: Any, where: str) -> WorkflowHistory:
    """A ``WorkflowHistory`` from Temporal's JSON form, or AuditError naming ``where``."""
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise AuditError(f'{where}: not a Temporal JSON history (no "events" list)')
    try:
        # Protobuf's own JSON form (what exports and `to_json` write) parses as it is;
        # WorkflowHistory.from_json also reads older UI/CLI spellings of enums, at the cost
        # of a deep copy of the whole history, so it is the fallback.
        parsed = json_format.ParseDict(data, History(), ignore_unknown_fields=True)
        history = WorkflowHistory(workflow_id, parsed.events)
    except Exception:  # whatever protobuf raises, the SDK's reader tries and explains
        history = _from_json(workflow_id, data, where)
    if not history.events:
        raise AuditError(f"{where}: the history has no events")
    if not history.events[0].HasField("workflow_execution_started_event_attributes"):
        raise AuditError(f"{where}: the history does not begin with WorkflowExecutionStarted")
    return history


def _from_json(workflow_id: str, data: dict[str, Any], where: str) -> WorkflowHistory:
    try:
        return WorkflowHistory.from_json(workflow_id, data)
    # The SDK's JSON reader raises whatever protobuf's parser or its own fix-ups raise
    # (ParseError, KeyError, TypeError, ...): any of them means the file is not a history.
    except Exception as exc:
        raise AuditError(f"{where}: not a Temporal JSON history ({_one_line(exc)})") from None


def load_file(path: Path, *, strict: bool = False) -> LoadedFile:
    """An export envelope or a plain history from ``path`` (AuditError when it is neither)."""
    data = read_json(path, strict=strict)
    if isinstance(data, dict) and data.get("kind") == ENVELOPE_KIND:
        envelope = parse_envelope(data, path)
        runs = [
            parse_history(envelope.workflow_id, run.history, f"{path} run {i}")
            for i, run in enumerate(envelope.runs, start=1)
        ]
        review_runs = (
            [
                parse_history(envelope.review.workflow_id, run.history, f"{path} review run {i}")
                for i, run in enumerate(envelope.review.runs, start=1)
            ]
            if envelope.review is not None
            else []
        )
        return LoadedFile(path, "export", runs, data, envelope, review_runs)
    if isinstance(data, dict) and "events" in data:
        return LoadedFile(path, "history", [parse_history(path.stem, data, str(path))], data)
    raise AuditError(
        f"{path}: neither a sopflow audit export nor a Temporal JSON history "
        '(expected "kind": "sopflow-audit-export" or an "events" list)'
    )


def parse_envelope(data: dict[str, Any], path: Path) -> Envelope:
    """The envelope's fields, or AuditError with the first thing wrong with them."""
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise AuditError(f"{path}: not a valid audit export: {loc}: {first['msg']}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- runs and their chain


def started(history: WorkflowHistory) -> WorkflowExecutionStartedEventAttributes:
    """The first event's attributes (every parsed history begins with it)."""
    return history.events[0].workflow_execution_started_event_attributes


def continued_to(history: WorkflowHistory) -> str | None:
    """The run id this run continued as, when its last event is a continue-as-new."""
    last: HistoryEvent = history.events[-1]
    if last.HasField("workflow_execution_continued_as_new_event_attributes"):
        return last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return None


def chain_problems(runs: Sequence[WorkflowHistory]) -> list[str]:
    """What keeps ``runs`` from being every run of one incident, first to last."""
    problems: list[str] = []
    if not runs:
        return ["no runs"]
    first = started(runs[0])
    if first.continued_execution_run_id:
        problems.append(
            f"run 1 continued from run {first.continued_execution_run_id}, which is missing"
        )
    chain_start = first.first_execution_run_id or runs[0].run_id
    for i, run in enumerate(runs, start=1):
        attrs = started(run)
        if attrs.first_execution_run_id and attrs.first_execution_run_id != chain_start:
            problems.append(f"run {i} belongs to another chain of runs")
        following = continued_to(run)
        if i < len(runs):
            nxt = runs[i].run_id
            if following != nxt:
                problems.append(f"run {i} does not continue as run {i + 1} ({nxt})")
        elif following:
            problems.append(f"run {i} continued as {following}, which is missing")
    return problems


def order_runs(histories: Sequence[WorkflowHistory], where: str) -> list[WorkflowHistory]:
    """Runs of one incident given in any order, first to last (AuditError if they are not
    one chain of continue-as-new runs)."""
    by_id = {h.run_id: h for h in histories}
    if len(by_id) != len(histories):
        raise AuditError(f"{where}: the same run is given twice")
    starts = [h for h in histories if started(h).continued_execution_run_id not in by_id]
    if len(starts) != 1:
        raise AuditError(f"{where}: the histories are not the runs of one incident")
    ordered = [starts[0]]
    while len(ordered) < len(histories):
        nxt = continued_to(ordered[-1])
        if nxt is None or nxt not in by_id:
            break
        ordered.append(by_id[nxt])
    if len(ordered) != len(histories):
        raise AuditError(f"{where}: the histories are not one chain of continue-as-new runs")
    return ordered


async def fetch_runs(incidents: IncidentService, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of workflow ``workflow_id``, first to last, following continue-as-new from
    the first run of the latest chain. AuditError when there is no such workflow."""
    try:
        latest = await incidents.history(workflow_id)
    except ActionRefused as exc:
        raise AuditError(exc.reason) from None
    if not latest.events:
        raise AuditError(f"{workflow_id}: the server returned an empty history")
    run_id: str | None = started(latest).first_execution_run_id or latest.run_id
    runs: list[WorkflowHistory] = []
    while run_id and len(runs) < MAX_RUNS:
        runs.append(await incidents.history(workflow_id, run_id))
        run_id = continued_to(runs[-1])
    return runs
