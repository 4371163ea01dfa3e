"""Diagnostics: every problem sopflow finds in a library, with its place and a stable code.

A diagnostic prints like a compiler's: ``path:line:col: error[E302]: message``. Lines and
columns are 1-based. Codes are stable: tools and people may match on them, so a code keeps
its meaning forever; a new kind of problem gets a new code. The table ``CODES`` is the one
place that lists them, and ``docs/diagnostics.md`` is generated from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Code:
    """A stable diagnostic code and what it means."""

    code: str
    name: str
    summary: str

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.code.startswith("W") else Severity.ERROR


_CODE_LIST = [
    # Reading files
    Code("E100", "file-too-large", "The file is larger than the 1 MiB limit."),
    Code("E101", "yaml-syntax", "The file is not valid YAML."),
    Code("E102", "duplicate-key", "A mapping names the same key twice."),
    Code("E103", "alias-limit", "Anchors and aliases expand past the safety bound."),
    Code("E104", "unsupported-tag", "A YAML tag other than the standard ones (e.g. !!python/...)."),
    Code("E105", "not-a-mapping", "The document is not a mapping of fields."),
    Code("E106", "document-count", "The file holds no document, or more than one."),
    Code("E107", "unreadable", "The file cannot be read as UTF-8 text."),
    # Structure of one document
    Code("E200", "unknown-api-version", "`apiVersion` is missing or not one sopflow knows."),
    Code("E201", "unknown-kind", "`kind` is missing or not one sopflow knows."),
    Code("E202", "unknown-field", "A field that this kind of document or step does not have."),
    Code("E203", "wrong-type", "A value has the wrong type (e.g. a list where text belongs)."),
    Code("E204", "missing-field", "A required field is missing."),
    Code("E205", "invalid-value", "A value is out of range or not one of the allowed values."),
    Code("E206", "invalid-duration", "A duration is not like 30s, 15m, 4h, 3d, 2w or PT15M."),
    Code("E207", "invalid-json-schema", "An `input` or `form` is not a valid JSON Schema."),
    # Meaning of one SOP
    Code("E300", "duplicate-step", "Two steps share an id."),
    Code("E301", "unknown-target", "`next`, `goto`, `on` or `on_timeout` names no step."),
    Code("E302", "undeclared-role", "A step names a role that the SOP does not declare."),
    Code("E303", "missing-sla", "A human step has no SLA, its own or the default."),
    Code(
        "E304",
        "quorum-range",
        "An approval's quorum is below 1 or more than its roles supply; with `requires`, the "
        "roster cannot fill every place with distinct people (the short role is named).",
    ),
    Code("E305", "unknown-policy", "A disclosure check names a policy that does not exist."),
    Code("E306", "unmapped-refusal", "A `denied` or `rejected` outcome is not mapped in `on`."),
    Code("E307", "no-default-rule", "A triage step or a policy has no default rule (no `when`)."),
    Code(
        "E308",
        "undeclared-audience-role",
        "`restricted_to` names a role that the SOP does not declare.",
    ),
    Code(
        "E309",
        "empty-audience",
        "`restricted_to` lists no role, so nobody could see the incidents.",
    ),
    Code("E310", "duplicate-document", "Two documents claim the same identity."),
    Code("E311", "unknown-region", "A region that the Regions document does not list."),
    Code("E312", "no-exit", "Steps form a loop that no path leaves."),
    Code(
        "E313",
        "link-no-variant",
        "An `open_incident` step opens an SOP in a region it has no variant for.",
    ),
    Code(
        "E314",
        "link-input",
        "An `open_incident` step's `input` does not fit the other SOP's input (a field it "
        "does not have, or one it requires left out).",
    ),
    Code(
        "E315",
        "migration-map",
        "`migrates_from` maps a step that does not exist, to a step of another type, or "
        "at a point that is not safe (inside a parallel step, or not a task, approval or wait).",
    ),
    Code(
        "E316",
        "unknown-destination",
        "A `notify` step names a destination that the Destinations document does not declare.",
    ),
    Code(
        "E317",
        "destination-region",
        "A `notify` step's destination lists `regions`, and the SOP's region is not one of them.",
    ),
    Code(
        "E318",
        "unknown-severity",
        "`updates` names a severity other than SEV0, SEV1, SEV2, SEV3 or SEV4.",
    ),
    Code(
        "E319",
        "update-cadence",
        "An update cadence is too short (`every` under 5m), or its `escalate_after` is under "
        "1m or not shorter than `every`.",
    ),
    # Expressions
    Code("E400", "expression-syntax", "A CEL expression does not parse."),
    Code("E401", "unknown-name", "An expression uses a name that does not exist there."),
    Code("E402", "unknown-step-ref", "An expression refers to a step the SOP does not have."),
    Code("E403", "placeholder-syntax", "A `{{ }}` placeholder in a message is not closed."),
    Code("E404", "unknown-member", "An expression reads a field that cannot exist."),
    Code(
        "E405",
        "not-a-timestamp",
        "An expression that must give a timestamp (`until`) is a bare field or literal.",
    ),
    # Regional variants
    Code("E500", "variant-base-missing", "A variant adapts an SOP version that does not exist."),
    Code("E501", "variant-step-missing", "A variant change names a step that does not exist."),
    Code("E502", "variant-conflict", "Two variants adapt the same version for the same region."),
    Code("E503", "variant-dangling", "A variant removes a step that others still refer to."),
    Code("E504", "variant-invalid-result", "Applying a variant gives a step that is not valid."),
    Code(
        "E505",
        "variant-handler-missing",
        "A variant removes an `on_event` handler that the SOP does not have.",
    ),
    # Library, lock file, rehearsals
    Code("E600", "published-changed", "A published version's compiled plan has changed."),
    Code("E601", "lock-invalid", "The lock file cannot be read."),
    Code("E602", "published-missing", "A version recorded in the lock file is gone."),
    Code("E603", "unknown-sop", "A reference to an SOP (or version) that does not exist."),
    Code("E604", "unknown-person", "A rehearsal acts as a person the Roster does not list."),
    Code("E605", "rehearsal-input", "A rehearsal's input does not fit its SOP's input schema."),
    Code("E606", "unknown-event", "A rehearsal signals an event no step of its SOP waits for."),
    # The Rota (docs/rota.md)
    Code("E700", "unknown-timezone", "A desk's `timezone` is not an IANA time zone."),
    Code(
        "E701",
        "unknown-holiday-calendar",
        "The `holidays` package has no calendar for a desk's country or subdivision.",
    ),
    Code("E702", "unknown-shift", "An on-call entry names a shift its desk does not have."),
    Code("E703", "duplicate-shift", "A desk has two shifts with the same name."),
    Code("E704", "rota-unknown-person", "Someone on call is not in the Roster."),
    Code("E705", "role-not-held", "Someone is on call for a role the Roster does not give them."),
    Code(
        "E706",
        "double-booked",
        "One person is on call for one role twice at once: two overlapping shifts of a desk.",
    ),
    Code(
        "E707",
        "cover-gap",
        "Nobody is on call for a role an SOP escalates to (or that a stakeholder update "
        "cadence following the sun asks or pages), at some time of the regular week.",
    ),
    Code(
        "E708",
        "no-desk-clock",
        "A step counts business time or follows the sun, or a stakeholder update cadence "
        "follows the sun, and the Rota has no desk for the SOP's region (or the library has "
        "no Rota).",
    ),
    # Warnings
    Code("W300", "unreachable-step", "No path from the first step reaches this step."),
    Code("W301", "decision-no-default", "A decision has no default branch."),
    Code("W302", "unknown-roster-role", "The Roster gives a person a role no SOP declares."),
    Code("W303", "region-dropped", "A new version has no variant for a region the last one had."),
    Code("W304", "shadowed-rule", "A rule or branch after a default can never match."),
    Code(
        "W600",
        "retired-target",
        "A rehearsal runs, or an `open_incident` step opens, an SOP version the lock has retired.",
    ),
    Code(
        "W601",
        "rehearsal-action-refused",
        "A rehearsal action the engine will refuse: data that does not fit the step's form, "
        "a person without the step's role on the desk, a vote four eyes refuses, an "
        "action sent before every way to its step has waited long enough, or a review "
        "action on an SOP without a `postmortem` step (or on an item the story has not added).",
    ),
    Code(
        "W305",
        "audience-leaves-out",
        "A role that steps name is not in `restricted_to`: its holders cannot see the incidents.",
    ),
    Code(
        "W306",
        "link-outcome",
        "An `open_incident` step's `on` names an outcome the other SOP never finishes with.",
    ),
    Code(
        "W307",
        "literal-address",
        "A `notify` step's `to` is a quoted URL or email address: name a destination instead.",
    ),
    Code(
        "W308",
        "urgent-approval-no-timeout",
        "An approval on an SOP whose triage can make it SEV0 or SEV1 has no `on_timeout`.",
    ),
    Code(
        "W309",
        "dead-policy-outcome",
        "A disclosure check maps an outcome its policy never decides there: no rule decides "
        "it, an earlier rule always matches, or its rules never match with the request facts "
        "known on every way to the step.",
    ),
    Code(
        "W700",
        "holiday-gap",
        "On a desk's holiday, nobody is on call for a role an SOP escalates to.",
    ),
]

CODES: dict[str, Code] = {c.code: c for c in _CODE_LIST}


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem at one place. Orders by file, then line, then column."""

    path: str
    line: int
    col: int
    code: str
    message: str
    # A follow-on problem: the file whose own errors cause it (fix those first). Lint folds
    # follow-ons under the summary instead of listing them; empty for a root cause.
    follows: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown diagnostic code {self.code}")

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    def format(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.severity}[{self.code}]: {self.message}"

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        if not self.follows:
            del data["follows"]
        data["severity"] = str(self.severity)
        data["name"] = CODES[self.code].name
        return data


def sort_unique(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by file and position, each problem once."""
    return sorted(set(diags))


def root_causes_first(diags: Iterable[Diagnostic], rank: dict[str, int]) -> list[Diagnostic]:
    """Each problem once, the files others depend on first (``rank`` by path: the library's
    shared documents, then SOPs, variants, rehearsals), then by file and position."""
    return sorted(set(diags), key=lambda d: (rank.get(d.path, 1), d))


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diags)


def render_text(diags: list[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diags)


def render_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2, ensure_ascii=False)


def codes_markdown() -> str:
    """The code table as Markdown, for docs/diagnostics.md."""
    rows = ["| code | name | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{c.code}` | {c.name} | {c.summary} |" for c in _CODE_LIST]
    return "\n".join(rows) + "\n"
