"""The Markdown pieces every section of the audit report is written with: times, event
references (``run:event``), table cells and tables, who acted, and who signed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sopflow.audit.report_model import EventRef, SignatureEntry


def when(value: datetime | None) -> str:
    """``2026-12-03 11:32:38Z``, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def ref(event: EventRef | None) -> str:
    """``run:event`` (``1:25``), or ``-``."""
    return "-" if event is None else f"{event.run}:{event.event_id}"


def cell(value: Any) -> str:
    """Table-safe text: no line breaks, pipes escaped; empty shows as ``-``."""
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    else:
        text = str(value)
    return " ".join(text.split()).replace("|", "\\|")


def table(headings: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table and a blank line; ``None recorded.`` without rows."""
    if not rows:
        return ["None recorded.", ""]
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def who(actor: str | None, roles: Sequence[str]) -> str:
    """``bob (lead)``; ``?`` for an action that could not be read."""
    if actor is None:
        return "?"
    return f"{actor} ({', '.join(roles)})" if roles else actor


def signed(s: SignatureEntry | None) -> str:
    """``signed: api 3f2a9c10e4b5d6a7``, ``unsigned``, ``SIGNATURE INVALID: why``..."""
    if s is None:
        return "? (the request could not be decoded)"
    match s.status:
        case "valid":
            return f"signed: {s.label} {s.key_id}"
        case "unsigned":
            return "unsigned"
        case "not_checked":
            return f"signed by key {s.key_id} (not checked)"
        case _:
            return f"SIGNATURE INVALID: {s.detail or s.status}"
