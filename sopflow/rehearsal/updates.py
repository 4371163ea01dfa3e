"""Stakeholder updates in a rehearsal (``expect.updates``): what became of each update the
incident asked for, read from its state and from the pages it sent, and compared with what
the rehearsal expects.

An update's ``escalated_to`` is the role its miss paged: the escalation recorded on the
update, and the pages actually sent for it (notifications whose idempotency key ends in
``/updates/<n>/missed``). It matches only when that role was paged exactly once, so a story
can show that a missed update pages its escalation role once, not on every retry or tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sopflow.contract.messages import IncidentState, NotifyRequest
from sopflow.language.models.updates import UpdateExpectation


@dataclass(frozen=True, slots=True)
class UpdateSeen:
    """One stakeholder update as the rehearsal saw it."""

    number: int
    severity: str
    status: str  # due, posted (in time or late), missed (never posted)
    by: str | None  # who posted it
    escalated_to: str | None  # the role its miss was escalated to
    pages: tuple[str, ...]  # whom the pages sent about its miss went to, in order

    def as_json(self) -> dict[str, Any]:
        """The update for `sopflow rehearse --format json`."""
        return {
            "number": self.number,
            "severity": self.severity,
            "status": self.status,
            "by": self.by,
            "escalated_to": self.escalated_to,
            "pages": list(self.pages),
        }

    def line(self) -> str:
        """A one-line account: ``missed at SEV0, escalated to commander``."""
        text = f"{self.status} at {self.severity}"
        if self.by is not None:
            text += f" by {self.by}"
        if self.escalated_to is not None:
            text += f", escalated to {self.escalated_to}"
        if self.pages != ((self.escalated_to,) if self.escalated_to else ()):
            text += f" (pages sent: {', '.join(self.pages) or 'none'})"
        return text


def updates_seen(state: IncidentState, sent: list[NotifyRequest]) -> list[UpdateSeen]:
    """Every update the incident asked for, in order, with the pages sent about its miss."""
    records = state.updates.records if state.updates is not None else []
    out = []
    for record in records:
        suffix = f"/updates/{record.number}/missed"
        pages = tuple(n.to for n in sent if n.idempotency_key.endswith(suffix))
        out.append(
            UpdateSeen(
                number=record.number,
                severity=record.severity,
                status=record.status,
                by=record.posted_by,
                escalated_to=record.escalated_to,
                pages=pages,
            )
        )
    return out


def updates_differ(expected: list[UpdateExpectation], seen: list[UpdateSeen]) -> list[str]:
    """A line for each expected update that the incident's does not match (only the fields
    written are compared), and one when it asked for more or fewer; empty when they agree."""
    out = []
    for number, (want, got) in enumerate(zip(expected, seen, strict=False), start=1):
        wrong = _fields_differ(want, got)
        if wrong:
            out.append(f"update {number}: expected {_expected_line(want)}; got {got.line()}")
    if len(expected) != len(seen):
        actual = "; ".join(f"#{u.number} {u.line()}" for u in seen) or "none"
        out.append(f"expected {len(expected)} updates asked, got {len(seen)} (actual: {actual})")
    return out


def _fields_differ(want: UpdateExpectation, got: UpdateSeen) -> list[str]:
    wrong = [
        name
        for name in ("status", "by", "severity")
        if getattr(want, name) is not None and getattr(want, name) != getattr(got, name)
    ]
    if want.escalated_to is not None and (
        got.escalated_to != want.escalated_to or got.pages != (want.escalated_to,)
    ):
        wrong.append("escalated_to")
    return wrong


def _expected_line(want: UpdateExpectation) -> str:
    text = want.status + (f" at {want.severity}" if want.severity else "")
    text += f" by {want.by}" if want.by else ""
    if want.escalated_to:
        text += f", escalated to {want.escalated_to} (paged once)"
    return text


def recorded(seen: list[UpdateSeen]) -> list[dict[str, Any]]:
    """The `expect.updates` entries that ``seen`` meets, as `--record` writes them."""
    out = []
    for update in seen:
        entry: dict[str, Any] = {"status": update.status, "severity": update.severity}
        if update.by is not None:
            entry["by"] = update.by
        if update.escalated_to is not None and update.pages == (update.escalated_to,):
            entry["escalated_to"] = update.escalated_to
        out.append(entry)
    return out
