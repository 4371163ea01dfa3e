"""The library's Rota (``rota.yaml`` in ``$SOPFLOW_DEFINITIONS``) for the activities: who is on
call for a role now, per desk.

A library without a Rota is fine (nobody is on call; notifications go by the Roster). A Rota
that is present but unusable, whether invalid or naming a time zone or holiday calendar this
worker does not know, is a non-retryable ``ApplicationError`` naming the file and the first
problem, as ``sopflow lint`` would report it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from activities.documents import CachedDocument
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import RotaError, on_call_at, public_holidays, zone_of
from sopflow.language.yaml_source import SourceDoc

ROTA_FILE = "rota.yaml"


class RotaSource:
    """``rota.yaml`` in the definitions directory, or ``path``; re-read when the file changes."""

    def __init__(self, path: Path | None = None) -> None:
        self._doc = CachedDocument(
            RotaDoc,
            ROTA_FILE,
            kind="Rota",
            error_type="RotaUnavailable",
            path=path,
            check=_check_clocks,
        )

    @property
    def path(self) -> Path:
        return self._doc.path

    def load(self) -> RotaDoc | None:
        """The Rota, or None when the library has none; ApplicationError when it is unusable."""
        return self._doc.load_if_present()

    def on_call(self, role: str, at: datetime) -> dict[str, list[str]] | None:
        """Per desk (by name), the people on call for ``role`` at the aware instant ``at``,
        sorted; a desk with nobody on call for it is left out. None without a Rota."""
        rota = self.load()
        if rota is None:
            return None
        try:
            desks = on_call_at(rota, at)
        except RotaError as exc:  # _check_clocks has ruled it out; kept for safety
            raise self._doc.error(f"the Rota cannot be used: {self.path}: {exc}") from None
        out: dict[str, list[str]] = {}
        for desk in desks:
            people = {p for duty in desk.duties if duty.role == role for p in duty.people}
            if people:
                out[desk.desk] = sorted(people)
        return out


def _check_clocks(rota: RotaDoc, source: SourceDoc) -> list[Diagnostic]:
    """The time zones and holiday calendars the worker cannot resolve, where lint puts them
    (E700, E701): without them it cannot say who is on call."""
    out = []
    for name, desk in sorted(rota.desks.items()):
        try:
            zone_of(desk.timezone)
        except RotaError as exc:
            out.append(source.diag(("desks", name, "timezone"), "E700", f"desk {name}: {exc}"))
        cal = desk.holidays
        if cal is not None and cal.country is not None:
            try:
                public_holidays(cal.country, cal.subdivision)
            except RotaError as exc:
                at = ("desks", name, "holidays", "country")
                out.append(source.diag(at, "E701", f"desk {name}: {exc}"))
    return out
