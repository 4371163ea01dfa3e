"""Who a notification to a role reaches, and why.

The channel's own ``roles`` table answers first (a team list, a shared mailbox). Otherwise the
people on call for the role now, by the Rota (``rota.yaml`` in ``$SOPFLOW_DEFINITIONS``): at
the desk named like the incident's region, else at every desk where someone is on call for it.
Only when nobody is on call anywhere (or the library has no Rota) does the Roster
(``roster.yaml``) answer with everyone holding the role, those in the incident's region
preferred, so a UK incident pages the UK desk. Addresses come from the Roster. A role that
resolves to nobody is an error, never an empty send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from temporalio.exceptions import ApplicationError

from activities.documents import CachedDocument
from activities.rota_source import RotaSource
from sopflow.language.library import default_definitions
from sopflow.language.models import RosterDoc

log = structlog.get_logger("sopflow.recipients")

ROSTER_FILE = "roster.yaml"

Clock = Callable[[], datetime]
"""The current instant, aware."""


def roster_path() -> Path:
    """``roster.yaml`` in ``$SOPFLOW_DEFINITIONS`` (default ``sop_definitions``)."""
    return default_definitions() / ROSTER_FILE


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Recipients:
    """Who a notification goes to: the addresses, the Roster handles behind them (none for the
    channel's table) and the rule that chose them, e.g. ``on call at UK desk``."""

    addresses: list[str]
    people: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def summary(self) -> str:
        """The rule and the people, without addresses: ``on call at UK desk: tbrennan``."""
        return f"{self.source}: {', '.join(self.people)}" if self.people else self.source


class RoleDirectory:
    """Resolves a role to recipients: the configured table, the Rota, then the Roster."""

    def __init__(
        self,
        table: Mapping[str, list[str]],
        *,
        roster: Path | None = None,
        rota: Path | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._table = dict(table)
        self._roster = CachedDocument(
            RosterDoc, ROSTER_FILE, kind="Roster", error_type="RosterUnavailable", path=roster
        )
        self._rota = RotaSource(rota)
        self._clock = clock

    def addresses(self, role: str, region: str) -> list[str]:
        """The addresses for ``role``; raises a non-retryable ApplicationError when it has none."""
        return self.recipients(role, region).addresses

    def recipients(self, role: str, region: str) -> Recipients:
        """Who ``role`` reaches for an incident in ``region`` now, and why; a non-retryable
        ApplicationError when nobody (or a broken Roster). A broken Rota falls back to the
        Roster, saying so."""
        if role in self._table:
            found = Recipients(list(self._table[role]), source="channel table")
        else:
            found = self._from_library(role, region)
        if not found.addresses:
            raise ApplicationError(
                f"role {role!r} resolves to no address: add it to the channel's roles table or "
                f"give someone holding it an email in the Roster",
                type="NoRecipients",
                non_retryable=True,
            )
        return found

    def _from_library(self, role: str, region: str) -> Recipients:
        roster = self._roster.load()
        emails = {pid: p.email for pid, p in roster.people.items() if p.email}
        why = "no Rota"
        try:
            on_call = self._rota.on_call(role, self._clock())
        except ApplicationError as exc:
            # A broken rota.yaml must not silence a live incident: the Roster's holders are
            # told, and the result says why (the worker's log has the file:line:col).
            log.warning("rota_unusable", reason=exc.message)
            on_call, why = None, "the Rota cannot be used"
        if on_call is not None:
            local = next((d for d in on_call if d.casefold() == region.casefold()), None)
            reachable = {
                desk: [pid for pid in people if pid in emails] for desk, people in on_call.items()
            }
            if local is not None and reachable[local]:
                return _chosen(reachable[local], emails, f"on call at {local} desk")
            others = sorted(desk for desk, people in reachable.items() if people and desk != local)
            if local is not None:
                why = f"nobody on call at {local} has an email"
            else:
                why = f"none on call at {region}"
            if others:
                people = sorted({pid for desk in others for pid in reachable[desk]})
                plural = "s" if len(others) > 1 else ""
                where = f"on call at {', '.join(others)} desk{plural}, {why}"
                return _chosen(people, emails, where)
            why = "nobody on call has an email" if on_call else "nobody on call"
        holders = sorted(pid for pid, person in roster.people.items() if role in person.roles)
        local_holders = [pid for pid in holders if roster.people[pid].region == region]
        which = f"holders in {region}" if local_holders else "all holders"
        chosen = [pid for pid in local_holders or holders if pid in emails]
        return _chosen(chosen, emails, f"roster, {which}, {why}")


def _chosen(people: list[str], emails: Mapping[str, str], source: str) -> Recipients:
    return Recipients(list(dict.fromkeys(emails[pid] for pid in people)), people, source)
