"""The API's one connection to Temporal, and what Temporal's own errors mean to a caller.

The API starts whether or not Temporal answers: it connects in the background and keeps
trying, and until it is connected every request that needs Temporal gets a 503 and
``/healthz`` says so. Once connected, the SDK's client reconnects by itself.

The API imports nothing from ``temporalio`` (import-linter holds it to the client layer):
``sopflow.client.session.temporal_failure`` says what an error Temporal answered with means.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from sopflow.api.problems import INTERNAL, INVALID, UNAVAILABLE, Problem
from sopflow.api.settings import ApiSettings
from sopflow.client.connection import address_from_env, connect
from sopflow.client.incidents import IncidentService
from sopflow.client.session import TemporalRefusedArgument, TemporalUnavailable, temporal_failure
from sopflow.client.signing import ActionSigner

log = structlog.get_logger("sopflow.api")

HEALTH_TIMEOUT_S = 3.0
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0

Connector = Callable[[], Awaitable[IncidentService]]
"""Connects to Temporal and returns the incident service the API uses."""


def service_connector(settings: ApiSettings, signer: ActionSigner | None) -> Connector:
    """Connect from the environment (``TEMPORAL_ADDRESS``, TLS, codec keys) and make the
    incident service on the settings' task queue, signing every action with ``signer``."""

    async def connected() -> IncidentService:
        return IncidentService(
            await connect(),
            task_queue=settings.task_queue,
            action_timeout_s=settings.action_timeout_s,
            signer=signer,
        )

    return connected


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class TemporalLink:
    """The incident service once connected; ``require()`` answers 503 until then."""

    connector: Connector
    service: IncidentService | None = None
    last_error: str | None = field(default=None, repr=False)

    def require(self) -> IncidentService:
        """The incident service, or a 503 problem saying Temporal is not reachable yet."""
        if self.service is None:
            why = f": {self.last_error}" if self.last_error else ""
            raise Problem(UNAVAILABLE, f"not connected to Temporal at {address_from_env()}{why}")
        return self.service

    async def keep_connecting(self) -> None:
        """Connect, retrying with a growing pause until it works (cancel to stop)."""
        pause = RETRY_FIRST_S
        while self.service is None:
            try:
                service = await self.connector()
            except Exception as exc:  # the SDK raises RuntimeError for every connect failure
                self.last_error = _first_line(exc)
                log.warning("api.temporal_unreachable", error=self.last_error, retry_in=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            self.service, self.last_error = service, None
            log.info("api.temporal_connected", namespace=service.namespace)

    async def healthy(self) -> tuple[bool, str | None]:
        """Whether Temporal's frontend answers a health check now, and why not."""
        if self.service is None:
            return False, self.last_error or "not connected yet"
        try:
            check = self.service.client.service_client.check_health()
            ok = await asyncio.wait_for(check, HEALTH_TIMEOUT_S)
        except Exception as exc:  # any failure means "does not answer": say which
            return False, _first_line(exc)
        return bool(ok), None if ok else "the frontend reported itself unhealthy"


def temporal_problem(exc: BaseException) -> Problem | None:
    """The problem for an error Temporal answered with; None for any other error."""
    failure = temporal_failure(exc)
    if failure is None:
        return None
    if isinstance(failure, TemporalUnavailable):
        return Problem(UNAVAILABLE, str(failure))
    if isinstance(failure, TemporalRefusedArgument):  # e.g. a visibility query it cannot parse
        return Problem(INVALID, str(failure))
    log.error("api.temporal_error", error=str(failure))
    return Problem(INTERNAL, "Temporal refused the request")
