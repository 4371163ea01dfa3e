"""Signing in (a pasted API token; in dev, the Roster picker) and signing out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from sopflow.api.context import Parts, parts_of
from sopflow.api.problems import Problem
from sopflow.api.tokens import DEV_TOKENS_DIR, TokenError, dev_token
from sopflow.language.roster import RosterError
from sopflow.web.render import Refused, SignInNeeded
from sopflow.web.security import PREFIX, clear_session_cookie, safe_next
from sopflow.web.sessions import Session, TokenLogin
from sopflow.web.visits import Console, Form, console_of, first

WHY = {
    "ended": "Your session has ended: your token is no longer valid (revoked or expired).",
    "removed": "Your session has ended: you are not in the Roster any more.",
    "expired": "Your session has expired. Sign in again.",
    "signedout": "You have signed out.",
}
MAX_TOKEN = 200
NO_TOKEN = "-"  # noqa: S105 (sent for a missing token: the store refuses it like any other)


def _dev_dir(console: Console, parts: Parts) -> Path:
    return console.settings.dev_tokens or parts.settings.state_dir / DEV_TOKENS_DIR


async def _picker(console: Console, parts: Parts) -> list[dict[str, Any]]:
    """The demo Roster's people who have a dev token, for the dev-only picker."""
    if not console.settings.dev_picker:
        return []
    try:
        roster = await parts.identity.roster.current()
    except RosterError:
        return []
    folder = _dev_dir(console, parts)
    return [
        {"handle": handle, "name": person.name, "roles": person.roles}
        for handle, person in sorted(roster.people.items())
        if (folder / handle).is_file()
    ]


async def _show(
    request: Request,
    session: Session,
    target: str | None,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    console = console_of(request)
    context = console.base_context(None, session) | {
        "next": safe_next(target),
        "why": WHY.get(request.query_params.get("why", "")),
        "error": error,
        "people": await _picker(console, parts_of(request)),
        "dev_picker": console.settings.dev_picker,
    }
    return console.templates.page("signin.html", context, status)


async def _submitted(request: Request) -> tuple[str, Session, Form]:
    """The sign-in session (made by the sign-in page) and its checked form."""
    console = console_of(request)
    found = console.current(request)
    if found is None:
        raise Refused(403, "Refused", "The sign-in form has expired; reload it and try again.")
    return found[0], found[1], await console.form(request, found[1])


async def _sign_in(request: Request, pre: tuple[str, Session, Form], token: str) -> Response:
    """Sign in with ``token`` as the API would take it; the sign-in page again if not."""
    console = console_of(request)
    session_id, session, form = pre
    target = first(form, "next")
    login = TokenLogin(token if token and len(token) <= MAX_TOKEN else NO_TOKEN)
    try:
        person = await console.person_for(parts_of(request), login, request)
    except Problem as problem:
        if problem.kind.status not in (401, 403):
            raise
        bad = problem.kind.status == 401
        error = "That token is unknown, expired or revoked." if bad else str(problem)
        return await _show(request, session, target, status=403, error=error)
    console.sessions.end(session_id)  # a new session id once signed in: no fixation
    _sid, fresh = console.start_session(request, login)
    fresh.flash = f"Signed in as {person.handle}."
    return RedirectResponse(safe_next(target), status_code=303)


async def signin_page(request: Request) -> Response:
    """``GET /console/signin``: the form (and a session for its CSRF token); signed in
    already (or by a trusted proxy), straight on."""
    console = console_of(request)
    target = request.query_params.get("next")
    try:
        await console.visit(request)
    except SignInNeeded:
        found = console.current(request)
        session = found[1] if found else console.start_session(request, None)[1]
        return await _show(request, session, target)
    return RedirectResponse(safe_next(target), status_code=303)


async def signin_token(request: Request) -> Response:
    """``POST /console/signin``: sign in with a pasted token."""
    pre = await _submitted(request)
    return await _sign_in(request, pre, first(pre[2], "token").strip())


async def signin_dev(request: Request) -> Response:
    """``POST /console/signin/dev``: sign in as a demo person with their dev token (only with
    the dev picker on)."""
    console = console_of(request)
    if not console.settings.dev_picker:
        raise Refused(404, "Not found", "There is no such page.")
    pre = await _submitted(request)
    parts = parts_of(request)
    handle = first(pre[2], "handle")
    if handle not in {p["handle"] for p in await _picker(console, parts)}:
        raise Refused(403, "Refused", "There is no dev token for that person.")
    try:
        token = dev_token(handle, _dev_dir(console, parts))
    except TokenError as exc:
        raise Refused(503, "Unavailable", str(exc)) from None
    return await _sign_in(request, pre, token or NO_TOKEN)


async def signout(request: Request) -> Response:
    """``POST /console/signout``: end the session."""
    console = console_of(request)
    if console.current(request) is not None:  # else there is nothing to end
        session_id, _session, _form = await _submitted(request)
        console.sessions.end(session_id)
    response = RedirectResponse(f"{PREFIX}/signin?why=signedout", status_code=303)
    clear_session_cookie(response)
    return response


ROUTES = (
    ("/signin", signin_page, ("GET",)),
    ("/signin", signin_token, ("POST",)),
    ("/signin/dev", signin_dev, ("POST",)),
    ("/signout", signout, ("POST",)),
)
