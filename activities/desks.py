"""The Rota at run time: which desk holds a follow-the-sun step, and when a business-hours
SLA falls due.

The interpreter asks these while an incident runs, so a new holiday or next week's rota
applies without a new SOP version; each answer is recorded in the history (and names the
digest of the Rota it read), so a replay sees the same instants. No user data passes
through them: they run on the main task queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sopflow.contract.desks import BusinessDue, BusinessDueRequest, DeskTurn, DeskTurnRequest
from sopflow.contract.names import ACT_BUSINESS_DUE, ACT_DESK_TURN
from sopflow.language import desk_time
from sopflow.language.models.rota import RotaDoc
from sopflow.language.rota import DeskClock, RotaError

RotaReader = Callable[[], RotaDoc | None]


class DeskActivities:
    """The two Rota activities over ``read_rota`` (the file as it is now, or None)."""

    def __init__(self, read_rota: RotaReader) -> None:
        self._read_rota = read_rota
        # The Rota last read and its digest: the reader returns the same object while the
        # file is unchanged, so the digest is computed once per version of the file.
        self._last: tuple[RotaDoc, str] | None = None

    @activity.defn(name=ACT_DESK_TURN)
    def desk_turn(self, request: DeskTurnRequest) -> DeskTurn:
        """The desk that holds a follow-the-sun step from ``request.at``."""
        rota, digest = self._rota(f"step {request.step} follows the sun")
        try:
            turn = desk_time.desk_turn(
                rota,
                request.roles,
                every=request.every,
                holder=request.holder,
                at=request.at,
            )
        except RotaError as exc:
            raise _unusable(str(exc)) from None
        return DeskTurn(
            desk=turn.desk,
            until=turn.until,
            people=list(turn.people),
            reason=turn.reason,
            rota=digest,
        )

    @activity.defn(name=ACT_BUSINESS_DUE)
    def business_due(self, request: BusinessDueRequest) -> BusinessDue:
        """When ``request.seconds`` of the desk's business time have passed."""
        rota, digest = self._rota(f"step {request.step} counts business time")
        desk = rota.desks.get(request.desk)
        if desk is None:
            known = ", ".join(sorted(rota.desks))
            raise _unusable(f"the Rota has no desk {request.desk!r} (it has {known})")
        try:
            clock = DeskClock.of(request.desk, desk)
            due = desk_time.advance_business(clock, request.start, request.seconds)
        except RotaError as exc:
            raise _unusable(f"desk {request.desk}: {exc}") from None
        return BusinessDue(due=due.due, paused=list(due.paused), rota=digest)

    def activities(self) -> list[Callable[..., object]]:
        """Both activities, for a worker."""
        return [self.desk_turn, self.business_due]

    def _rota(self, why: str) -> tuple[RotaDoc, str]:
        try:
            rota = self._read_rota()
        except ApplicationError as exc:  # a broken rota.yaml: wait for the fix (see below)
            raise _unusable(f"{why}: {exc.message}") from None
        if rota is None:
            raise _unusable(f"{why}, and there is no Rota (rota.yaml) beside the SOPs")
        if self._last is None or self._last[0] is not rota:
            text = rota.model_dump_json(by_alias=True)
            self._last = (rota, hashlib.sha256(text.encode()).hexdigest()[:16])
        return self._last


def _unusable(message: str) -> ApplicationError:
    # Retryable: the workflow retries these without limit (a minute apart at most), so an
    # operator's fix to rota.yaml lets the step go on; failing would end a live incident
    # over a configuration slip. The pending activity shows the reason meanwhile.
    return ApplicationError(message, type="RotaUnusable")
