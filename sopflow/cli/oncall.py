"""``sopflow oncall``: who is on shift and on call, now or at a given time, per desk and role.

Reads the library's Rota (docs/rota.md); the answer comes from
``sopflow.language.rota.on_call_at``. Exit 0 with the answer, 1 with one line on stderr for
a bad time, an unknown desk or role, or a library without a (valid) Rota.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import console, table
from sopflow.language.library import default_definitions, load_library
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import DeskNow, RotaError, on_call_at
from sopflow.language.validation import did_you_mean


class OncallFormat(StrEnum):
    table = "table"
    json = "json"


AT_HELP = (
    "The time to ask about, ISO 8601: 2026-12-25T14:00Z, 2026-12-25T09:00-05:00 or "
    "2026-12-25 14:00 (no offset: UTC). Default: now."
)


def parse_at(text: str | None) -> datetime:
    """``--at`` as an aware instant (naive is UTC; none is now), or exit 1."""
    if text is None:
        return datetime.now(UTC)
    try:
        found = datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(
            f"--at {text!r} is not an ISO 8601 time; write e.g. 2026-12-25T14:00Z or "
            "2026-12-25T09:00-05:00 (no offset: UTC)"
        ) from None
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found


def _pick(kind: str, given: str, known: list[str]) -> str:
    """``given`` as one of ``known`` (case aside), or exit 1 naming the closest."""
    same = [k for k in known if k.lower() == given.lower()]
    if same:
        return same[0]
    hint = did_you_mean(given, known)
    raise fail(f"no {kind} {given!r} in the Rota{hint}; its {kind}s: {', '.join(known)}")


def _load_rota(definitions: Path | None) -> RotaDoc:
    root = definitions or default_definitions()
    if not root.is_dir():
        raise fail(f"{root} is not a directory of SOP definitions")
    lib = load_library(root)
    if lib.rota is None:
        raise fail(
            f"no valid Rota document in {root} (docs/rota.md describes one; "
            f"`sopflow lint {root}` shows any problem in it)"
        )
    return lib.rota.model


def oncall(
    at: str | None = typer.Option(None, "--at", help=AT_HELP, show_default=False),
    role: str | None = typer.Option(None, "--role", "-r", help="Only this role."),
    desk: str | None = typer.Option(None, "--desk", help="Only this desk (e.g. US)."),
    output: OncallFormat = typer.Option(OncallFormat.table, "--format", "-f"),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Who is on shift and on call, per desk and role, now or at --at (from the Rota)."""
    instant = parse_at(at)
    rota = _load_rota(definitions)
    if desk is not None:
        desk = _pick("desk", desk, sorted(rota.desks))
    if role is not None:
        roles = sorted({e.role for d in rota.desks.values() for e in d.oncall})
        role = _pick("role", role, roles)
    try:
        desks = on_call_at(rota, instant)
    except RotaError as exc:
        raise fail(f"{exc} (`sopflow lint` shows where)") from None
    desks = [d for d in desks if desk is None or d.desk == desk]
    if output is OncallFormat.json:
        print(json.dumps([desk_json(d, role) for d in desks], indent=2, ensure_ascii=False))
        return
    print(f"On call at {instant.astimezone(UTC):%a %Y-%m-%d %H:%M} UTC")
    console().print(_table(desks, role))


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def desk_json(now: DeskNow, role: str | None) -> dict[str, Any]:
    """One desk at one instant as stable JSON (keys always present, lists sorted)."""
    return {
        "desk": now.desk,
        "timezone": now.timezone,
        "local_time": now.local.isoformat(timespec="minutes"),
        "status": now.status,
        "holiday": now.holiday,
        "shifts": list(now.shifts),
        "on_call": [
            {
                "role": duty.role,
                "people": list(duty.people),
                "shift": duty.shift,
                "from": _utc(duty.start),
                "until": _utc(duty.end),
            }
            for duty in now.duties
            if role is None or duty.role == role
        ],
    }


def _status(now: DeskNow) -> str:
    if now.status == "closed":
        return f"closed: {now.holiday}"
    word = "open" if now.status == "open" else "off shift"
    return word + (f" ({now.holiday})" if now.holiday else "")


def _table(desks: list[DeskNow], role: str | None) -> Table:
    out = table("desk", "local time", "status", "role", "on call", "shift", "until (UTC)")
    for now in desks:
        head = (now.desk, f"{now.local:%a %d %b %H:%M %Z}", _status(now))
        duties = [d for d in now.duties if role is None or d.role == role]
        if not duties:
            out.add_row(*head, "-", "-", "-", "-")
        for duty in duties:
            until = f"{duty.end.astimezone(UTC):%a %d %b %H:%M}"
            out.add_row(*head, duty.role, ", ".join(duty.people), duty.shift, until)
    return out
