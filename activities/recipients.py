"""Who holds a role: the addresses a notification to a role goes to.

The channel's own ``roles`` table answers first (a team list, a shared mailbox); otherwise the
Roster (``roster.yaml`` in ``$SOPFLOW_DEFINITIONS``) lists the people holding the role, and
those in the incident's region are preferred, so a UK incident pages the UK desk. A role that
resolves to nobody is an error, never an empty send.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from temporalio.exceptions import ApplicationError

from sopflow.language.library import default_definitions
from sopflow.language.models import RosterDoc
from sopflow.language.validation import validate_document
from sopflow.language.yaml_source import load_file

ROSTER_FILE = "roster.yaml"


def roster_path() -> Path:
    """``roster.yaml`` in ``$SOPFLOW_DEFINITIONS`` (default ``sop_definitions``)."""
    return default_definitions() / ROSTER_FILE


class RoleDirectory:
    """Resolves a role to addresses: the configured table first, then the Roster."""

    def __init__(self, table: Mapping[str, list[str]], *, roster: Path | None = None) -> None:
        self._table = dict(table)
        self._roster = roster
        self._lock = threading.Lock()
        # (path, mtime_ns, size) -> roster: re-read only when the file changes.
        self._cached: tuple[tuple[str, int, int], RosterDoc] | None = None

    def addresses(self, role: str, region: str) -> list[str]:
        """The addresses for ``role``; raises a non-retryable ApplicationError when it has none."""
        found = list(self._table[role]) if role in self._table else self._from_roster(role, region)
        if not found:
            raise ApplicationError(
                f"role {role!r} resolves to no address: add it to the channel's roles table or "
                f"give someone holding it an email in the Roster",
                type="NoRecipients",
                non_retryable=True,
            )
        return found

    def _from_roster(self, role: str, region: str) -> list[str]:
        roster = self._load()
        holders = sorted(
            (pid, person) for pid, person in roster.people.items() if role in person.roles
        )
        local = [(pid, p) for pid, p in holders if p.region == region]
        chosen = local or holders
        return [p.email for _, p in chosen if p.email]

    def _load(self) -> RosterDoc:
        path = self._roster or roster_path()
        try:
            stat = path.stat()
        except OSError as exc:
            raise _roster_error(f"{path}: cannot read the Roster: {exc.strerror}") from None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
            source, problems = load_file(path)
            model = None
            if source is not None:
                model, problems = validate_document(source)
            if not isinstance(model, RosterDoc):
                first = problems[0].format() if problems else f"{path}: not a Roster document"
                raise _roster_error(f"the Roster cannot be used: {first}")
            self._cached = (key, model)
            return model


def _roster_error(message: str) -> ApplicationError:
    # Not retryable: a broken or missing Roster needs a person, and the failure should say
    # so at once rather than after hours of backoff.
    return ApplicationError(message, type="RosterUnavailable", non_retryable=True)
