"""The export envelope: every run of an incident's history in Temporal's JSON history format,
with the plan hash and a SHA-256 digest.

The digest is taken over the *canonical JSON* of the envelope without its ``digest`` member:
the file parsed as JSON, the ``digest`` key removed, serialised with keys sorted at every
level, no whitespace, non-ASCII characters written as UTF-8 (not ``\\u`` escapes), then
encoded as UTF-8 and hashed. It is written ``sha256:<64 hex digits>``. The layout of the
file (indentation, key order) is therefore free, and any change to a value is not.

Format 2 adds the incident's post-mortem review (``review``: its workflow id and every run
of it, in the same JSON history format), covered by the same digest. An export of an
incident without a review is still written as format 1, exactly as before.
See docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.client import WorkflowHistory

ENVELOPE_KIND = "sopflow-audit-export"
ENVELOPE_FORMAT = 1
REVIEW_FORMAT = 2  # an envelope that holds a post-mortem review
DIGEST_PREFIX = "sha256:"


class EnvelopeRun(BaseModel):
    """One run: its id and its history exactly as Temporal's JSON history format has it
    (``{"events": [...]}``, what ``WorkflowHistory.from_json`` reads)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1)
    history: dict[str, Any]


class EnvelopeReview(BaseModel):
    """The incident's post-mortem review (``<incident id>/postmortem``): a workflow of its
    own, so its runs are a chain of their own, beside the incident's."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(min_length=1)
    runs: list[EnvelopeRun] = Field(min_length=1)


class Envelope(BaseModel):
    """An exported incident. Every field but ``digest`` is covered by ``digest``; ``sop``,
    ``version``, ``region``, ``plan_hash`` and ``workflow_id`` are also checked by
    ``sopflow audit verify`` against the plan and incident id recorded in the history."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sopflow-audit-export"]
    format: Literal[1, 2]
    workflow_id: str = Field(min_length=1)
    namespace: str | None = None
    exported_at: str
    tool: str = ""
    sop: str
    version: int
    region: str
    plan_hash: str
    runs: list[EnvelopeRun] = Field(min_length=1)
    review: EnvelopeReview | None = None  # format 2 only
    digest: str

    @model_validator(mode="after")
    def _review_iff_format_2(self) -> Envelope:
        if (self.review is not None) != (self.format == REVIEW_FORMAT):
            raise ValueError("format 2 holds a review, format 1 none")
        return self


def canonical_bytes(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes the digest is taken over."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def compute_digest(data: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``data`` without its ``digest`` member."""
    body = {key: value for key, value in data.items() if key != "digest"}
    return DIGEST_PREFIX + hashlib.sha256(canonical_bytes(body)).hexdigest()


def tool_version() -> str:
    """What wrote the file, for the record: sopflow's and the Temporal SDK's versions."""
    try:
        ours = version("sopflow")
    except PackageNotFoundError:  # running from a checkout that is not installed
        ours = "unknown"
    return f"sopflow {ours}; temporalio {version('temporalio')}"


def build_envelope(
    *,
    workflow_id: str,
    namespace: str | None,
    runs: Sequence[WorkflowHistory],
    sop: str,
    sop_version: int,
    region: str,
    plan_hash: str,
    exported_at: datetime | None = None,
    review_runs: Sequence[WorkflowHistory] = (),
) -> dict[str, Any]:
    """The envelope of ``runs`` (first run first), as JSON data with its digest filled in;
    with ``review_runs`` (the post-mortem review's runs, first first), format 2 with them."""
    at = (exported_at or datetime.now(UTC)).astimezone(UTC)
    data: dict[str, Any] = {
        "kind": ENVELOPE_KIND,
        "format": REVIEW_FORMAT if review_runs else ENVELOPE_FORMAT,
        "workflow_id": workflow_id,
        "namespace": namespace,
        "exported_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "tool": tool_version(),
        "sop": sop,
        "version": sop_version,
        "region": region,
        "plan_hash": plan_hash,
        "runs": _runs(runs),
    }
    if review_runs:
        data["review"] = {"workflow_id": review_runs[0].workflow_id, "runs": _runs(review_runs)}
    # Through a JSON round trip, so the digest is of exactly what a reader will parse
    # (protobuf's dict form may hold values json would write differently, e.g. -0.0).
    data = json.loads(json.dumps(data, ensure_ascii=False, allow_nan=False))
    data["digest"] = compute_digest(data)
    return data


def _runs(runs: Sequence[WorkflowHistory]) -> list[dict[str, Any]]:
    return [{"run_id": run.run_id, "history": run.to_json_dict()} for run in runs]


def dump_envelope(data: Mapping[str, Any]) -> str:
    """The file's text: indented for people; the digest does not depend on the layout."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
