"""Who is calling: a bearer token, or (only from a trusted proxy) an identity header; and what
the Roster says about them at the time of the request.

The person's roles always come from the library's Roster as it is on disk now: the Roster
is re-read whenever its file changes (one ``stat`` per request), so removing someone from
the Roster, or revoking their token, takes effect on their next request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import anyio.to_thread
import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from sopflow.api.problems import (
    FORBIDDEN,
    NOT_FOUND,
    UNAUTHENTICATED,
    UNAVAILABLE,
    Problem,
    log_refusal,
    problem_response,
)
from sopflow.api.tokens import TokenError
from sopflow.client.incidents import IncidentService, admits
from sopflow.client.views import IncidentSummary
from sopflow.contract.messages import Actor
from sopflow.language.library import load_library
from sopflow.language.roster import Roster, RosterError

log = structlog.get_logger("sopflow.api")

WWW_AUTHENTICATE = 'Bearer realm="sopflow"'
MAX_HANDLE = 128
# After a failed Roster load, try again at most this often (each try reads the library).
ROSTER_RETRY_S = 1.0


class TokenRecordLike(Protocol):
    """What the API reads of a token record (``sopflow.api.tokens.TokenRecord``)."""

    @property
    def id(self) -> str: ...

    @property
    def user(self) -> str: ...


class TokenAuthenticator(Protocol):
    """A token store (``sopflow.api.tokens.TokenStore``): the record of an active token,
    None for any other; TokenError when the store cannot be read."""

    def authenticate(self, token: str, now: datetime | None = None) -> TokenRecordLike | None:
        """The record of ``token`` if it lets its user in now."""
        ...


@dataclass(frozen=True, slots=True)
class Person:
    """An authenticated person in the Roster, with the roles it gives them now."""

    handle: str
    roles: tuple[str, ...]  # every role they hold, on their own desk or another (`desks`)
    via: Literal["token", "header"]
    token_id: str | None = None
    region: str | None = None  # the desk the Roster puts them on
    # The Roster's actor: roles on their own desk, and those on other desks apart.
    roster_actor: Actor | None = None

    def actor(self) -> Actor:
        """The actor an action carries: the handle, the Roster roles (per desk) and region;
        the workflow decides which apply to the incident's desk."""
        if self.roster_actor is not None:
            return self.roster_actor
        return Actor(id=self.handle, roles=list(self.roles), region=self.region)


_Stamp = tuple[int, int, int]


def _stamp(path: Path | None) -> _Stamp | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class RosterCache:
    """The library's Roster, re-read only when its file changed (or vanished)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._roster: Roster | None = None
        self._path: Path | None = None
        self._stamp: _Stamp | None = None
        self._failed_at: float | None = None
        self._error = ""
        self._lock = asyncio.Lock()

    def load(self) -> Roster:
        """Read the library's Roster now (blocking); RosterError when it has none."""
        lib = load_library(self.root)
        if lib.roster is None:
            raise RosterError(f"no valid Roster document in {self.root}")
        # Display paths are relative to the working directory, which the API never changes.
        path = Path(lib.roster.source.path).resolve()
        stamp = _stamp(path)
        roster = Roster.from_library(lib)
        self._roster, self._path, self._stamp, self._failed_at = roster, path, stamp, None
        return roster

    async def current(self) -> Roster:
        """The Roster as it is on disk now; RosterError when it cannot be read."""
        if self._roster is not None and _stamp(self._path) == self._stamp:
            return self._roster
        async with self._lock:  # one reload for a burst of requests after a change
            if self._roster is not None and _stamp(self._path) == self._stamp:
                return self._roster
            if self._failed_at is not None and time.monotonic() - self._failed_at < ROSTER_RETRY_S:
                raise RosterError(self._error)
            try:
                return await anyio.to_thread.run_sync(self.load)
            except (RosterError, OSError) as exc:
                # Fail closed: with no readable Roster, nobody's roles are known.
                self._roster, self._failed_at, self._error = None, time.monotonic(), str(exc)
                log.error("api.roster_unreadable", error=str(exc))
                raise RosterError(str(exc)) from None


def _valid_handle(value: str) -> bool:
    return 0 < len(value) <= MAX_HANDLE and value.isprintable() and value == value.strip()


class Identity:
    """Decides who a request comes from (see the module docstring)."""

    def __init__(
        self,
        *,
        tokens: TokenAuthenticator,
        roster: RosterCache,
        identity_header: str | None = None,
    ) -> None:
        self.tokens, self.roster, self.identity_header = tokens, roster, identity_header

    def _claimed(
        self, headers: Headers, peer: str | None, peer_trusted: bool
    ) -> tuple[str, Literal["token", "header"], str | None]:
        """The handle the request claims, how, and the token id; 401/503 problems."""
        if self.identity_header is not None:
            named = headers.get(self.identity_header)
            if named is not None and peer_trusted:
                if not _valid_handle(named):
                    raise Problem(UNAUTHENTICATED, "the identity header does not name a handle")
                return named, "header", None
            if named is not None:
                # Anyone can send the header; only the listed proxies may be believed.
                log.warning("api.identity_header_ignored", peer=peer)
        return self._bearer(headers)

    def _bearer(self, headers: Headers) -> tuple[str, Literal["token"], str]:
        challenge = {"WWW-Authenticate": WWW_AUTHENTICATE}
        value = headers.get("authorization")
        if not value:
            raise Problem(UNAUTHENTICATED, "send Authorization: Bearer <token>", headers=challenge)
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                UNAUTHENTICATED,
                "the Authorization header is not 'Bearer <token>'",
                headers=challenge,
            )
        try:
            record = self.tokens.authenticate(token.strip())
        except TokenError as exc:
            log.error("api.token_store_unreadable", error=str(exc))
            raise Problem(UNAVAILABLE, "the token store cannot be read") from None
        if record is None:
            invalid = {"WWW-Authenticate": f'{WWW_AUTHENTICATE}, error="invalid_token"'}
            raise Problem(
                UNAUTHENTICATED, "the token is unknown, expired or revoked", headers=invalid
            )
        return record.user, "token", record.id

    async def person(self, headers: Headers, peer: str | None, peer_trusted: bool) -> Person:
        """The person behind a request, with their Roster roles now; a 401, 403 or 503
        problem otherwise."""
        handle, via, token_id = self._claimed(headers, peer, peer_trusted)
        try:
            roster = await self.roster.current()
        except RosterError:
            raise Problem(UNAVAILABLE, "the Roster cannot be read") from None
        try:
            actor = roster.actor(handle)
        except RosterError:
            # Not the Roster's own message: it would suggest other people's handles.
            raise Problem(FORBIDDEN, f"{handle!r} is not in the Roster", actor=handle) from None
        return Person(handle, tuple(actor.every_role()), via, token_id, actor.region, actor)


def may_read(person: Person, incident: IncidentSummary) -> bool:
    """Whether ``person`` may see ``incident`` as visibility lists it (its ``Audience``).
    Lists are already narrowed by the query (``IncidentService.visible_query``); this
    checks each item again, so a listed incident never escapes the rule."""
    return admits(incident.restricted_to, person.roles)


async def authorise_read(person: Person, incident_id: str, service: IncidentService) -> None:
    """The one check before any route reads or acts on one incident (need-to-know).

    An incident restricted to roles ``person`` does not hold answers exactly what an unknown
    id answers (404, ``no incident 'ID'``), so the answer never says that it exists; the
    refusal is logged. An unknown id raises the service's ActionRefused (also that 404)."""
    restricted = await service.restricted_to(incident_id)
    if not admits(restricted, person.roles):
        raise Problem(
            NOT_FOUND,
            f"no incident {incident_id!r}",
            actor=person.handle,
            refused=f"need-to-know: restricted to {', '.join(restricted or ())}",
        )


class IdentityMiddleware:
    """Authenticates every request under ``prefix`` except the public paths, and puts the
    Person in the request's state (``request.state.person``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        identity: Identity,
        prefix: str,
        public: frozenset[str],
        trusts: Callable[[str | None], bool],
    ) -> None:
        self.app, self.identity, self.prefix, self.public = app, identity, prefix, public
        self.trusts = trusts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.public or not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = client[0] if client else None
        trusted = self.trusts(peer)
        state = scope.setdefault("state", {})
        try:
            state["person"] = await self.identity.person(Headers(scope=scope), peer, trusted)
        except Problem as problem:
            rid = state.get("request_id")
            if problem.kind.status in (401, 403):
                log_refusal(
                    actor=problem.actor,
                    action=f"{scope.get('method')} {path}",
                    incident=incident_in(path, self.prefix),
                    request_id=rid,
                    status=problem.kind.status,
                    reason=str(problem),
                )
            response = problem_response(problem, instance=path, request_id=rid)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def incident_in(path: str, prefix: str) -> str | None:
    """The incident id in a path like ``/api/v1/incidents/ID/...``, for the logs."""
    parts = path.removeprefix(prefix).strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "incidents" else None
