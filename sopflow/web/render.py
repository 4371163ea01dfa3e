"""Pages: the Jinja2 templates (autoescaped), the stylesheet, and the route class that turns
every error a console route raises into a page with the console's headers.

No value from a request, an incident or the library is ever marked safe; the only ``Markup``
in the console is the graph SVG (see ``pages/incident.py``), the programme page's charts
(``pages/programme.py``) and the audit report's HTML, all built by code that escapes every
text it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Protocol
from urllib.parse import urlencode

import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sopflow.api.problems import (
    HISTORY_UNREADABLE,
    INTERNAL,
    NOT_FOUND,
    UNAVAILABLE,
    Problem,
    refusal_problem,
    request_id_of,
)
from sopflow.api.temporal import temporal_problem
from sopflow.audit.errors import AuditError
from sopflow.client.connection import StateUnavailable
from sopflow.client.errors import ActionRefused, NoAnswer
from sopflow.client.session import TemporalUnavailable
from sopflow.compile.graph_svg import STATE_CSS
from sopflow.web.security import PREFIX, secure

log = structlog.get_logger("sopflow.web")
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class SignInNeeded(Exception):
    """The request has no signed-in person; ``why`` is a code the sign-in page explains."""

    def __init__(self, why: str | None = None) -> None:
        super().__init__(why or "not signed in")
        self.why = why


class Refused(Exception):
    """A page the console itself refuses (a form from another site, a CSRF token that does
    not match): ``status`` and a sentence for people."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def when(value: datetime | None) -> str:
    """``2025-03-01 10:00 UTC``."""
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    """The machine-readable time of a ``<time>`` element."""
    return "" if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def span(seconds: float) -> str:
    """``2 h 5 min``, ``40 min``, ``under a minute``."""
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(p for p in parts if p)


def due(value: datetime | None, now: datetime) -> str:
    """How long until (or since) a due time, in words."""
    if value is None:
        return "no due time"
    left = (value - now).total_seconds()
    return f"overdue by {span(left)}" if left < 0 else f"due in {span(left)}"


def stylesheet() -> str:
    """The console's stylesheet, with the graph's step states (``graph_svg.STATE_CSS``)."""
    text = files("sopflow.web").joinpath("static", "console.css").read_text(encoding="utf-8")
    return (
        f"{text}\n/* The graph's step states: sopflow.compile.graph_svg.STATE_CSS */\n{STATE_CSS}"
    )


def live_script() -> str:
    """The console's one script (``static/live.js``): live updates and SLA countdowns."""
    return files("sopflow.web").joinpath("static", "live.js").read_text(encoding="utf-8")


# Linked as live.js?v=<this>: a new script is a new address, so browsers may cache it long.
LIVE_JS_VERSION = hashlib.sha256(live_script().encode()).hexdigest()[:16]


class Templates:
    """The console's Jinja2 environment: autoescaped, strict about undefined names."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("sopflow.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters |= {"when": when, "iso": iso}
        self.env.globals |= {
            "PREFIX": PREFIX,
            "LIVE_JS": LIVE_JS_VERSION,
            "due": due,
            "urlencode": urlencode,
        }

    def page(self, name: str, context: Mapping[str, Any], status: int = 200) -> HTMLResponse:
        """The template ``name`` rendered, as an HTML response with ``status``."""
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status)


def _problem_of(exc: Exception) -> Problem | None:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ActionRefused):
        return refusal_problem(exc)
    if isinstance(exc, NoAnswer | TemporalUnavailable | StateUnavailable):
        return Problem(UNAVAILABLE, str(exc))
    if isinstance(exc, AuditError):
        log.error("web.history_unreadable", error=str(exc))
        return Problem(HISTORY_UNREADABLE, str(exc))
    if isinstance(exc, RequestValidationError):
        return Problem(NOT_FOUND, "there is no such page")
    return temporal_problem(exc)


def error_page(templates: Templates, request: Request, exc: Exception) -> Response:
    """The page for an error a console route raised."""
    if isinstance(exc, SignInNeeded):
        if request.method in ("GET", "HEAD"):
            query = {"next": request.url.path} | ({"why": exc.why} if exc.why else {})
            return RedirectResponse(f"{PREFIX}/signin?{urlencode(query)}", status_code=303)
        exc = Refused(403, "Signed out", "You are not signed in: sign in, then try again.")
    rid = request_id_of(request.state)
    if isinstance(exc, Refused):
        status, title, detail = exc.status, exc.title, exc.detail
    else:
        problem = _problem_of(exc)
        if problem is None:
            log.exception("web.unhandled", request_id=rid, path=request.url.path)
            problem = Problem(INTERNAL, f"an unexpected error; quote request id {rid}")
        status, title, detail = problem.kind.status, problem.kind.title, str(problem)
    context = getattr(request.state, "console_page", None) or {"me": None, "csrf": ""}
    context = {"flash": None, **context}
    body = {**context, "title": title, "detail": detail, "status": status, "request_id": rid}
    return templates.page("error.html", body, status)


class Owner(Protocol):
    """What the route class needs of the console (``visits.Console``)."""

    templates: Templates

    def release(self, request: Request) -> None:
        """Give back the request's in-flight slot."""
        ...


def console_route(console: Owner) -> type[APIRoute]:
    """A route class whose handler puts ``console`` in the request's state, answers every
    error with a page, adds the console's headers (and a new session cookie, when one was
    made) to every answer, and gives back the person's in-flight slot."""

    class ConsoleRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            inner = super().get_route_handler()

            async def handler(request: Request) -> Response:
                request.state.console = console
                try:
                    response = await inner(request)
                except Exception as exc:
                    response = error_page(console.templates, request, exc)
                finally:
                    console.release(request)
                cookie = getattr(request.state, "console_cookie", None)
                if cookie is not None:
                    cookie(response)
                return secure(response, cacheable=getattr(request.state, "cacheable", False))

            return handler

    return ConsoleRoute
