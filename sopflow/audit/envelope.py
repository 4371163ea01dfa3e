"""The export envelope: every run of an incident's history in Temporal's JSON history format,
with the plan hash and a SHA-256 digest.

The digest is taken over the *canonical JSON* of the envelope without its ``digest`` member:
the file parsed as JSON, the ``digest`` key removed, serialised with keys sorted at every
level, no whitespace, non-ASCII characters written as UTF-8 (not ``\\u`` escapes), then
encoded as UTF-8 and hashed. It is written ``sha256:<64 hex digits>``. The layout of the
file (indentation, key order) is therefore free, and any change to a value is not.
See docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowHistory

ENVELOPE_KIND = "sopflow-audit-export"
ENVELOPE_FORMAT = 1
DIGEST_PREFIX = "sha256:"


class EnvelopeRun(BaseModel):
    """One run: its id and its history exactly as Temporal's JSON history format has it
    (``{"events": [...]}``, what ``WorkflowHistory.from_json`` reads)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1)
    history: dict[str, Any]


class Envelope(BaseModel):
    """An exported incident. Every field but ``digest`` is covered by ``digest``; ``sop``,
    ``version``, ``region``, ``plan_hash`` and ``workflow_id`` are also checked by
    ``sopflow audit verify`` against the plan and incident id recorded in the history."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sopflow-audit-export"]
    format: Literal[1]
    workflow_id: str = Field(min_length=1)
    namespace: str | None = None
    exported_at: str
    tool: str = ""
    sop: str
    version: int
    region: str
    plan_hash: str
    runs: list[EnvelopeRun] = Field(min_length=1)
    digest: str


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
) -> dict[str, Any]:
    """The envelope of ``runs`` (first run first), as JSON data with its digest filled in."""
    at = (exported_at or datetime.now(UTC)).astimezone(UTC)
    data: dict[str, Any] = {
        "kind": ENVELOPE_KIND,
        "format": ENVELOPE_FORMAT,
        "workflow_id": workflow_id,
        "namespace": namespace,
        "exported_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "tool": tool_version(),
        "sop": sop,
        "version": sop_version,
        "region": region,
        "plan_hash": plan_hash,
        "runs": [{"run_id": run.run_id, "history": run.to_json_dict()} for run in runs],
    }
    # Through a JSON round trip, so the digest is of exactly what a reader will parse
    # (protobuf's dict form may hold values json would write differently, e.g. -0.0).
    data = json.loads(json.dumps(data, ensure_ascii=False, allow_nan=False))
    data["digest"] = compute_digest(data)
    return data


def dump_envelope(data: Mapping[str, Any]) -> str:
    """The file's text: indented for people; the digest does not depend on the layout."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
