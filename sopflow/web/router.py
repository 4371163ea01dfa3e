"""The console as one FastAPI router, for ``create_app`` to include:

    app.include_router(console_router())

Every page is under ``/console/``; none is in the OpenAPI document. Every answer carries
the console's security headers (``security.HEADERS``) and, but for the stylesheet,
``Cache-Control: no-store``; every error is a page, never a problem document.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from sopflow.web.pages import (
    actions,
    audit,
    catalog,
    events,
    followups,
    inbox,
    incident,
    programme,
    signin,
    start,
)
from sopflow.web.render import LIVE_JS_VERSION, Refused, console_route, live_script, stylesheet
from sopflow.web.security import PREFIX
from sopflow.web.settings import ConsoleSettings
from sopflow.web.visits import Console

CSS_MAX_AGE_S = 300
# live.js is linked with ?v=<its hash>: that exact version may be kept for a year.
VERSIONED_MAX_AGE_S = 365 * 24 * 3600
# Every page, in the order the router tries them (each module lists its own).
ROUTES = (
    *signin.ROUTES,
    *inbox.ROUTES,
    *incident.ROUTES,
    *actions.ROUTES,
    *followups.ROUTES,
    *start.ROUTES,
    *catalog.ROUTES,
    *audit.ROUTES,
    *programme.ROUTES,
    *events.ROUTES,
)


def console_router(settings: ConsoleSettings | None = None) -> APIRouter:
    """The responders' console (``settings`` default: from the environment)."""
    console = Console(settings or ConsoleSettings.from_env())
    router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=console_route(console))
    css = stylesheet()

    @router.get("/static/console.css")
    async def styles(request: Request) -> Response:
        request.state.cacheable = True
        headers = {"Cache-Control": f"public, max-age={CSS_MAX_AGE_S}"}
        return Response(css, media_type="text/css", headers=headers)

    script = live_script()

    @router.get("/static/live.js")
    async def live_js(request: Request) -> Response:
        versioned = request.query_params.get("v") == LIVE_JS_VERSION
        request.state.cacheable = versioned
        headers = {"Cache-Control": f"public, max-age={VERSIONED_MAX_AGE_S}, immutable"}
        return Response(
            script,
            media_type="text/javascript",
            headers=headers if versioned else {},
        )

    for path, endpoint, methods in ROUTES:
        router.add_api_route(path, endpoint, methods=list(methods))

    @router.api_route("/{rest:path}", methods=["GET", "HEAD", "POST"])
    async def not_found(request: Request, rest: str) -> Response:
        del request, rest
        raise Refused(404, "Not found", "There is no such page.")

    return router
