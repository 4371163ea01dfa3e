"""``GET /console/events``: the live-update stream (server-sent events) of one tab.

Signed in as every page is (401 without a session: an ``EventSource`` does not follow a
sign-in redirect usefully). The stream says ``retry:`` first, then one ``changed`` event
per incident that changed and that this person may see (``live.Subscriber``), a heartbeat
comment every 15 seconds, and ends when the session does (sign-out, expiry; and at the
heartbeat, the person is checked again as every request checks them: a revoked token or a
person taken out of the Roster ends the session and the stream)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from sopflow.api.problems import Problem
from sopflow.web.live import (
    HEARTBEAT_S,
    RETRY_MS,
    Subscriber,
    service_describer,
    service_lister,
    service_marker,
    service_may_see,
)
from sopflow.web.render import Refused, SignInNeeded
from sopflow.web.visits import Console, Visit, console_of

SESSION_CHECK_S = 2.0


async def _still_in(console: Console, visit: Visit, request: Request) -> bool:
    """Whether the person is still signed in and in the Roster, checked as every request is
    (a revoked token or a person taken out of the Roster ends the session, and the stream)."""
    login = visit.session.login
    if login is None or not console.sessions.alive(visit.session_id):
        return False
    try:
        await console.recheck(visit.parts, visit.session_id, login, request)
    except SignInNeeded:
        return False
    except Problem:  # the Roster or the token store unreadable now: not a sign-out
        return True
    return True


async def _stream(console: Console, visit: Visit, request: Request) -> AsyncIterator[str]:
    link = visit.parts.temporal
    subscriber = Subscriber(visit.person, service_may_see(visit.person, link))
    yield f"retry: {RETRY_MS}\n: live updates for {visit.person.handle}\n\n"
    loop = asyncio.get_running_loop()
    # Actions through this process's API (the console's own, a CLI in API mode, any client)
    # reach open pages at once; others, at the hub's next poll.
    visit.parts.changes.listen(console.hub.notify)
    feeds = service_lister(link), service_describer(link), service_marker(link)
    async with console.hub.subscribed(subscriber, *feeds):
        quiet_since = loop.time()
        while console.sessions.alive(visit.session_id):
            try:
                incident = await asyncio.wait_for(subscriber.queue.get(), SESSION_CHECK_S)
            except TimeoutError:
                if await request.is_disconnected():  # the tab went: stop listening now
                    return
                if loop.time() - quiet_since >= HEARTBEAT_S:
                    if not await _still_in(console, visit, request):
                        break
                    quiet_since = loop.time()
                    yield ": heartbeat\n\n"
                continue
            quiet_since = loop.time()
            yield f"event: changed\ndata: {json.dumps({'incident': incident})}\n\n"
        yield "event: signedout\ndata: {}\n\n"


async def events(request: Request) -> Response:
    """The tab's stream of incident changes."""
    console = console_of(request)
    try:
        visit = await console.visit(request)
    except SignInNeeded:
        raise Refused(401, "Signed out", "Sign in to receive live updates.") from None
    headers = {"X-Accel-Buffering": "no"}
    return StreamingResponse(
        _stream(console, visit, request), media_type="text/event-stream", headers=headers
    )


ROUTES = (("/events", events, ("GET",)),)
