"""Comparing what a rehearsal expected with what the incident did.

Each expectation is optional; only the ones written are checked. ``path`` compares in order
(a step that runs twice must appear twice); ``breached`` compares as a set (breaches of
parallel branches have no meaningful order); ``outcome`` is the end step's outcome, a
failure (``step_failed:<step>``, ``sla_spent:<step>``, ``expression_error``), ``cancelled``,
or ``running`` when the incident had not closed. ``handoffs`` compares in order of time (at
one instant, alphabetical); ``breached_at`` compares each step's first breach with the
instant written (up to ``BREACH_LATE_S`` late); ``updates`` compares each stakeholder update
asked, in order, on the fields written (``sopflow.rehearsal.updates``); ``review`` compares
the incident's post-mortem review on the fields written (``sopflow.rehearsal.reviews``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime

from sopflow.language.models.rehearsal import Expectation, LinkedExpectation
from sopflow.language.yaml_source import SourceDoc
from sopflow.rehearsal.observed import Observed
from sopflow.rehearsal.reviews import review_differs
from sopflow.rehearsal.updates import updates_differ


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expectation that did not hold, with where it is written."""

    field: str
    line: int
    col: int
    summary: str
    detail: list[str] = dataclass_field(default_factory=list)


def compare(expect: Expectation, observed: Observed, source: SourceDoc) -> list[Mismatch]:
    """Every written expectation that the observed incident does not meet."""
    out: list[Mismatch] = []

    def mismatch(name: str, summary: str, detail: list[str] | None = None) -> None:
        where = source.pos(("expect", name))
        out.append(Mismatch(name, where.line, where.col, summary, detail or []))

    if expect.start is not None and expect.start != observed.start:
        why = observed.opening.detail if observed.opening and observed.opening.detail else ""
        mismatch(
            "start",
            f"start: expected {expect.start}, got {observed.start}" + (f" ({why})" if why else ""),
        )
    found = len(observed.opening.duplicates) if observed.opening else 0
    if expect.duplicates is not None and expect.duplicates != found:
        mismatch("duplicates", f"duplicates: expected {expect.duplicates}, found {found}")
    if expect.path is not None and expect.path != observed.path:
        mismatch(
            "path", "path differs (- expected, + actual)", path_diff(expect.path, observed.path)
        )
    if expect.outcome is not None and expect.outcome != observed.outcome:
        got = observed.outcome
        if got == "running" and observed.waiting:
            got += f" (waiting on {', '.join(observed.waiting)})"
        elif observed.failure:
            got += f" ({observed.failure})"
        mismatch("outcome", f"outcome: expected {expect.outcome}, got {got}")
    if expect.breached is not None and set(expect.breached) != set(observed.breached):
        missing = [s for s in expect.breached if s not in observed.breached]
        extra = [s for s in observed.breached if s not in expect.breached]
        parts = [f"not breached: {', '.join(missing)}"] if missing else []
        parts += [f"also breached: {', '.join(extra)}"] if extra else []
        actual = ", ".join(observed.breached) or "none"
        mismatch("breached", f"breached steps differ ({'; '.join(parts)}; actual: {actual})")
    if expect.handoffs is not None and expect.handoffs != observed.handoffs:
        mismatch(
            "handoffs",
            "hand-offs differ (- expected, + actual)",
            path_diff(expect.handoffs, observed.handoffs),
        )
    if expect.breached_at is not None:
        lines = _breach_times(expect.breached_at, observed.breached_at)
        if lines:
            mismatch("breached_at", "SLAs ran out at other instants", lines)
    if expect.updates is not None:
        lines = updates_differ(expect.updates, observed.updates)
        if lines:
            mismatch("updates", "stakeholder updates differ", lines)
    if expect.review is not None:
        lines = review_differs(expect.review, observed.review)
        if lines:
            mismatch("review", "the post-mortem review differs", lines)
    for step, want in (expect.linked or {}).items():
        for line in _linked_differs(step, want, observed):
            mismatch("linked", line)
    return out + _refusals(expect, observed, source)


def _refusals(expect: Expectation, observed: Observed, source: SourceDoc) -> list[Mismatch]:
    """The refused actions, against `rejected_actions`; without it, each refusal at the
    action's own line."""
    refused = observed.refused
    if expect.rejected_actions is not None and expect.rejected_actions != len(refused):
        where = source.pos(("expect", "rejected_actions"))
        lines = [f"#{a.index + 1} {a.label}: {a.refused}" for a in refused]
        summary = f"rejected actions: expected {expect.rejected_actions}, got {len(refused)}"
        return [Mismatch("rejected_actions", where.line, where.col, summary, lines)]
    if expect.rejected_actions is not None:
        return []
    # Nobody said an action would be refused: each refusal is a mistake in the story (or the
    # SOP), shown at the action's own line, not at what went wrong after it.
    out = []
    for action in refused:
        where = source.pos(("actions", action.index))
        summary = f"action #{action.index + 1} ({action.label}) was refused: {action.refused}"
        out.append(Mismatch("actions", where.line, where.col, summary))
    return out


def _linked_differs(step: str, want: LinkedExpectation, observed: Observed) -> list[str]:
    """What the incident ``step`` opened did otherwise than ``want`` says."""
    state = observed.linked.get(step)
    if state is None:
        return [f"{step}: expected it to open an incident; it opened none"]
    out = []
    got = "running" if state.status == "running" else (state.outcome or state.status)
    if want.outcome is not None and want.outcome != got:
        out.append(f"{step}: the linked incident's outcome: expected {want.outcome}, got {got}")
    if want.path is not None and want.path != list(state.path):
        diff = ", ".join(path_diff(want.path, list(state.path)))
        out.append(f"{step}: the linked incident's path differs (- expected, + actual): {diff}")
    return out


BREACH_LATE_S = 5


def _breach_times(expected: dict[str, str], actual: dict[str, datetime]) -> list[str]:
    """A line for each step whose first breach is not at the expected instant: not before
    it, and at most ``BREACH_LATE_S`` after (instants are written to the second, and the test
    server's clock runs on in real time while an activity runs, so a step can open, and its
    SLA run out, a moment later on a busy machine)."""
    out = []
    for step, text in expected.items():
        want = datetime.fromisoformat(text)
        got = actual.get(step)
        if got is None:
            out.append(f"{step}: expected {want.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z, no breach")
        elif not -1 < (got - want).total_seconds() <= BREACH_LATE_S:
            out.append(
                f"{step}: expected {want.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z, "
                f"got {got.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"
            )
    return out


def path_diff(expected: list[str], actual: list[str]) -> list[str]:
    """A line diff of two paths: ``  same``, ``- only expected``, ``+ only actual``."""
    return [line for line in difflib.ndiff(expected, actual) if not line.startswith("?")]
