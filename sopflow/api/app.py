"""The HTTP API as one FastAPI app: ``create_app(settings, ...)``.

A request passes, outermost first: the guard (a request id; any unhandled error is logged
and answered with a generic problem), identity (401/403 before anything else is read),
the person's in-flight limit (429), the body's size and type (413/415), then FastAPI
(422 for a body or parameter that does not fit) and the route. The OpenAPI document is at
``/api/v1/openapi.json``. There is no browsable docs page: FastAPI's loads Swagger UI from a
CDN, and nothing here loads anything from another origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sopflow.api import actions, audit, catalog, incidents, migration, reviews, wellbeing
from sopflow.api.context import Catalog, Parts, parts_of
from sopflow.api.identity import Identity, IdentityMiddleware, RosterCache, TokenAuthenticator
from sopflow.api.limits import BodyLimitMiddleware, InFlight, InFlightMiddleware
from sopflow.api.problems import (
    INTERNAL,
    UNAVAILABLE,
    Problem,
    ProblemBody,
    install_handlers,
    problem_response,
)
from sopflow.api.settings import ApiSettings
from sopflow.api.temporal import Connector, TemporalLink, service_connector, temporal_problem
from sopflow.api.tokens import TokenStore
from sopflow.client.incidents import IncidentService
from sopflow.client.signing import ActionSigner

PREFIX = "/api/v1"
OPENAPI_URL = f"{PREFIX}/openapi.json"
HEALTH_URL = f"{PREFIX}/healthz"
PUBLIC = frozenset({OPENAPI_URL, HEALTH_URL})

log = structlog.get_logger("sopflow.api")

# Declares the bearer scheme in the OpenAPI document; the identity middleware does the work.
bearer = HTTPBearer(auto_error=False, description="A token from `sopflow token issue`")


class GuardMiddleware:
    """Gives each request an id (``X-Request-Id``), and answers any error nothing else
    handled: one Temporal answered with by what it means (503, 422), anything else with a
    generic 500 problem, logged with its traceback. Never a traceback to the caller."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            # Every line logged for this request names it, whatever else it logs as its
            # request id (an action logs the id its update carries into the history).
            with structlog.contextvars.bound_contextvars(http_request_id=rid):
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            problem = temporal_problem(exc)  # an error Temporal answered with has a meaning
            if problem is None:
                log.exception("api.unhandled", request_id=rid, path=scope.get("path"))
                problem = Problem(INTERNAL, f"an unexpected error; quote request id {rid}")
            if started:
                return  # the response has begun: nothing more can be said
            response = problem_response(problem, instance=scope.get("path"), request_id=rid)
            await response(scope, receive, send_with_id)


class Health(BaseModel):
    """The API answers, and so does Temporal."""

    status: str = "ok"
    temporal: bool = True


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Health", responses={503: {"model": ProblemBody}})
    async def healthz(request: Request) -> Health:
        """200 when Temporal's frontend answers a health check, 503 otherwise. No
        authentication."""
        ok, why = await parts_of(request).temporal.healthy()
        if not ok:
            raise Problem(UNAVAILABLE, f"Temporal does not answer: {why}")
        return Health()

    return router


GET_ERRORS = (401, 403, 404, 422, 429, 500, 503)
POST_ERRORS = (*GET_ERRORS, 409, 413, 415)


def _routers() -> list[tuple[APIRouter, tuple[int, ...]]]:
    return [
        (catalog.router, (*GET_ERRORS, 409)),
        (incidents.router, POST_ERRORS),
        (actions.router, POST_ERRORS),
        (migration.router, POST_ERRORS),
        (audit.router, GET_ERRORS),
        (wellbeing.router, GET_ERRORS),
        (reviews.router, POST_ERRORS),
    ]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, every error response as ``application/problem+json``."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem_ref = {"$ref": "#/components/schemas/ProblemBody"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {"application/problem+json": {"schema": problem_ref}}
                    response.setdefault("description", "A problem (docs/api.md)")
    schemas = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = schema
    return schema


def create_app(
    settings: ApiSettings,
    *,
    signer: ActionSigner | None = None,
    tokens: TokenAuthenticator | None = None,
    service: IncidentService | None = None,
    connector: Connector | None = None,
) -> FastAPI:
    """The API. ``service`` (tests) skips connecting; otherwise the API connects with
    ``connector`` (default: from the environment) in the background, answers 503 until it
    has, and signs every action with ``signer``. Reads the library and its Roster now:
    RosterError when there is no Roster (the API would refuse everyone)."""
    roster = RosterCache(settings.definitions)
    roster.load()
    library = Catalog(settings.definitions)
    library.load()
    identity = Identity(
        tokens=tokens or TokenStore.from_env(state_dir=settings.state_dir),
        roster=roster,
        identity_header=settings.identity_header,
    )
    link = TemporalLink(connector or service_connector(settings, signer), service)
    in_flight = InFlight(settings.max_in_flight)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = None if link.service is not None else asyncio.create_task(link.keep_connecting())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="sopflow",
        version="1",
        description="Escalation-response incidents run as durable Temporal workflows.",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.parts = Parts(settings, library, identity, link, in_flight)
    install_handlers(app)

    app.include_router(_health_router(), prefix=PREFIX)
    for router, errors in _routers():
        responses: dict[int | str, dict[str, Any]] = {s: {"model": ProblemBody} for s in errors}
        app.include_router(
            router, prefix=PREFIX, dependencies=[Depends(bearer)], responses=responses
        )
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    _add_middleware(app, settings, identity, in_flight)
    return app


def _handle_of(scope: Scope) -> str | None:
    person = (scope.get("state") or {}).get("person")
    return getattr(person, "handle", None)


def _add_middleware(
    app: FastAPI, settings: ApiSettings, identity: Identity, in_flight: InFlight
) -> None:
    # Added innermost first: the last one added runs first.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        InFlightMiddleware,
        in_flight=in_flight,
        retry_after_s=settings.retry_after_s,
        handle_of=_handle_of,
    )
    app.add_middleware(
        IdentityMiddleware, identity=identity, prefix=PREFIX, public=PUBLIC, trusts=settings.trusts
    )
    app.add_middleware(GuardMiddleware)
