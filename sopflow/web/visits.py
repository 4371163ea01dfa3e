"""Who is using the console, checked on every request exactly as the API checks a caller.

A session signed in with a token sends that token through the API's own ``Identity`` on
every request: a token revoked or expired, or a person no longer in the Roster, ends the
session there and then. Behind a trusted single sign-on proxy the proxy's identity header
(only from the proxies the API trusts) names the person on every request instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from sopflow.api.context import Parts, parts_of
from sopflow.api.identity import Person
from sopflow.api.problems import TOO_MANY, Problem
from sopflow.language.roster import RosterError
from sopflow.web.live import Hub
from sopflow.web.render import Refused, SignInNeeded, Templates
from sopflow.web.security import COOKIE, same_origin, set_session_cookie
from sopflow.web.sessions import HeaderLogin, Login, Session, SessionStore
from sopflow.web.settings import ConsoleSettings
from sopflow.web.shift import ShiftCache

MAX_FIELDS = 2000
LIVE_HEADER = "x-sopflow-live"
Form = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Visit:
    """A request from a signed-in person: their session, who they are now, the API's parts."""

    session_id: str
    session: Session
    person: Person
    name: str
    parts: Parts

    def holds(self, *roles: str) -> bool:
        """Whether the person holds any of ``roles`` now."""
        return bool(set(roles) & set(self.person.roles))

    def roles_on(self, desk: str, global_roles: list[str] | None = None) -> set[str]:
        """The roles the person acts with on ``desk``'s incidents, by the workflow's desk
        rule: all of theirs on their own desk (and one naming no desk keeps every role);
        elsewhere those the Roster gives them on that desk and the SOP's global ones."""
        actor = self.person.actor()
        if actor.region is None or actor.region == desk:
            return {*actor.roles, *(actor.desks or {}).get(desk, [])}
        here = set((actor.desks or {}).get(desk, []))
        return here | {r for r in actor.roles if r in (global_roles or [])}


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


class Console:
    """The console's shared state: its settings, its sessions, its templates, its live hub
    and each person's shift (the inbox's wellbeing line, kept a few seconds)."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.sessions = SessionStore(settings)
        self.templates = Templates()
        self.hub = Hub()
        self.shifts = ShiftCache()

    # --- signing in

    async def person_for(self, parts: Parts, login: Login, request: Request) -> Person:
        """The person a login names now, as the API would find them; 401/403/503 problems."""
        if isinstance(login, HeaderLogin):
            header = parts.settings.identity_header or ""
            headers = Headers(headers={header: login.handle})
            return await parts.identity.person(headers, _peer(request), True)
        bearer = Headers(headers={"authorization": f"Bearer {login.token}"})
        return await parts.identity.person(bearer, _peer(request), False)

    def start_session(self, request: Request, login: Login | None) -> tuple[str, Session]:
        """A new session (a new id), its cookie set on the response."""
        session_id, session = self.sessions.new(login)
        max_age = int(self.settings.absolute_timeout_s)
        request.state.console_cookie = lambda r: set_session_cookie(r, session_id, max_age)
        return session_id, session

    def current(self, request: Request) -> tuple[str, Session] | None:
        """The request's live session, signed in or not."""
        session_id = request.cookies.get(COOKIE)
        session = self.sessions.get(session_id)
        return (session_id, session) if session_id and session else None

    def proxy_named(self, request: Request) -> str | None:
        """The handle a trusted proxy's identity header names, if any."""
        settings = parts_of(request).settings
        if settings.identity_header is None or not settings.trusts(_peer(request)):
            return None
        return request.headers.get(settings.identity_header)

    # --- every request

    async def visit(self, request: Request) -> Visit:
        """The signed-in person making ``request``, re-checked now; SignInNeeded otherwise."""
        parts = parts_of(request)
        named = self.proxy_named(request)
        found = self.current(request)
        if named is not None:
            login: Login = HeaderLogin(named)
            if found is None or found[1].login != login:
                found = self.start_session(request, login)
        elif found is None or found[1].login is None:
            raise SignInNeeded("expired" if request.cookies.get(COOKIE) and not found else None)
        session_id, session = found
        assert session.login is not None
        person = await self.recheck(parts, session_id, session.login, request)
        if not parts.in_flight.acquire(person.handle):
            raise Problem(TOO_MANY, f"{person.handle} has too many requests in flight")
        request.state.console_slot = person.handle
        visit = Visit(session_id, session, person, await self._name(parts, person), parts)
        request.state.console_page = self.base_context(visit)
        return visit

    async def recheck(self, parts: Parts, sid: str, login: Login, request: Request) -> Person:
        """The person a session's login names now; SignInNeeded (the session ended) when the
        token no longer holds or the person left the Roster."""
        if isinstance(login, HeaderLogin) and self.proxy_named(request) != login.handle:
            self.sessions.end(sid)  # a proxy's session, reached without the proxy
            raise SignInNeeded()
        try:
            return await self.person_for(parts, login, request)
        except Problem as problem:
            if problem.kind.status not in (401, 403):
                raise
            self.sessions.end(sid)
            raise SignInNeeded("ended" if problem.kind.status == 401 else "removed") from None

    @staticmethod
    async def _name(parts: Parts, person: Person) -> str:
        try:
            found = (await parts.identity.roster.current()).people.get(person.handle)
        except RosterError:
            found = None
        return found.name if found is not None else person.handle

    def release(self, request: Request) -> None:
        """Give back the person's in-flight slot, if the request took one."""
        handle = getattr(request.state, "console_slot", None)
        if handle is not None:
            parts_of(request).in_flight.release(handle)
            request.state.console_slot = None

    def base_context(self, visit: Visit | None, session: Session | None = None) -> dict[str, Any]:
        """What every page's layout needs: who is signed in, the CSRF token."""
        held = visit.session if visit else session
        return {"me": visit, "csrf": held.csrf if held else "", "flash": None}

    # --- every form

    async def form(self, request: Request, session: Session) -> Form:
        """The submitted form, after the same-origin and CSRF checks (403 otherwise)."""
        if not same_origin(request.headers):
            raise Refused(403, "Refused", "This form was sent from another site; nothing was done.")
        form = await read_form(request)
        if not session.csrf_ok(first(form, "csrf")):
            raise Refused(
                403,
                "Refused",
                "This form has expired or did not come from this console; nothing was done. "
                "Reload the page and try again.",
            )
        return form

    def page(
        self, request: Request, visit: Visit, name: str, status: int = 200, **context: Any
    ) -> Response:
        """A page for a signed-in person, with the message left for it (once)."""
        # A live update's fetch (live.js) leaves the message for the page it was meant for.
        flash = None if is_live(request) else visit.session.take_flash()
        body = {**request.state.console_page, "flash": flash, **context}
        return self.templates.page(name, body, status)


def is_live(request: Request) -> bool:
    """Whether the request is live.js fetching a page again (not a person loading it)."""
    return request.headers.get(LIVE_HEADER) == "1"


def console_of(request: Request) -> Console:
    """The console serving ``request`` (its route class put it there)."""
    console: Console = request.state.console
    return console


async def read_form(request: Request) -> Form:
    """An ``application/x-www-form-urlencoded`` body, every value of every name."""
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "Bad request", "The form could not be read.") from None
    form: Form = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def first(form: Form, name: str, default: str = "") -> str:
    """The first value of ``name`` in the form."""
    values = form.get(name)
    return values[0] if values else default


def text(form: Form, name: str) -> str:
    """A textarea's text, with the CRLF line ends browsers send as plain newlines."""
    return first(form, name).replace("\r\n", "\n")
