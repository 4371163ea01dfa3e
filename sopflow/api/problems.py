"""Every error the API answers is an RFC 9457 problem (``application/problem+json``) with a
stable ``type`` per cause, so a client can branch on the type rather than on the prose.

``Problem`` is raised by the routes and middleware; the handlers installed by
:func:`install_handlers` turn the incident service's errors, FastAPI's validation errors and
Starlette's HTTP errors into problems too. Anything else is a bug: it is logged with its
traceback and answered with a generic problem that says nothing about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from sopflow.audit.errors import AuditError
from sopflow.client.connection import StateUnavailable
from sopflow.client.errors import ActionRefused, NoAnswer
from sopflow.client.session import TemporalUnavailable

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("sopflow.api")


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """One documented cause: its type URI's last segment, status and title."""

    slug: str
    status: int
    title: str

    @property
    def type(self) -> str:
        """The problem's ``type``: a relative URI, documented in docs/api.md."""
        return f"/problems/{self.slug}"


INVALID = ProblemKind("invalid-request", 422, "The request is not valid")
UNAUTHENTICATED = ProblemKind("unauthenticated", 401, "Authentication required")
FORBIDDEN = ProblemKind("forbidden", 403, "Not allowed")
NOT_FOUND = ProblemKind("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = ProblemKind("method-not-allowed", 405, "Method not allowed")
REFUSED = ProblemKind("refused", 409, "Refused")
TOO_LARGE = ProblemKind("too-large", 413, "Request body too large")
UNSUPPORTED_MEDIA = ProblemKind("unsupported-media-type", 415, "Unsupported media type")
TOO_MANY = ProblemKind("too-many-in-flight", 429, "Too many requests in flight")
UNAVAILABLE = ProblemKind("unavailable", 503, "Service unavailable")
INTERNAL = ProblemKind("internal", 500, "Internal error")
HISTORY_UNREADABLE = ProblemKind("history-unreadable", 500, "The incident's history cannot be read")

KINDS: tuple[ProblemKind, ...] = (
    INVALID,
    UNAUTHENTICATED,
    FORBIDDEN,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    REFUSED,
    TOO_LARGE,
    UNSUPPORTED_MEDIA,
    TOO_MANY,
    UNAVAILABLE,
    INTERNAL,
    HISTORY_UNREADABLE,
)

# ActionRefused.kind (sopflow.client.errors.Refusal) by value, so a kind added to the enum
# later still maps: anything not listed is the workflow saying no (409).
REFUSAL_KINDS: dict[str, ProblemKind] = {
    "not_found": NOT_FOUND,
    "not_an_incident": NOT_FOUND,
    "closed": REFUSED,
    "refused": REFUSED,
    "forbidden": FORBIDDEN,  # the person lacks the role the step needs
    "invalid": INVALID,  # the form data does not fit the step's schema
    "unverified": UNAVAILABLE,  # the workers do not trust this API's key: a deployment fault
    "exists": REFUSED,  # an incident id already taken
}


class ProblemError(BaseModel):
    """One thing wrong with the request: where (a JSON pointer into the body, or the name of
    a query, path or header parameter) and why."""

    pointer: str | None = Field(None, description="JSON pointer into the request body")
    parameter: str | None = Field(None, description="a query, path or header parameter")
    message: str


class ProblemBody(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="A relative URI naming the cause; see docs/api.md")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The path of the request")
    request_id: str | None = Field(None, description="Quote it when reporting a problem")
    errors: list[ProblemError] | None = None


class Problem(Exception):
    """An error answered as a problem document; ``detail`` is for people."""

    def __init__(
        self,
        kind: ProblemKind,
        detail: str | None = None,
        *,
        errors: Sequence[ProblemError] | None = None,
        headers: Mapping[str, str] | None = None,
        actor: str | None = None,
        refused: str | None = None,
    ) -> None:
        super().__init__(detail or kind.title)
        self.kind, self.detail = kind, detail
        self.actor = actor  # who a refusal concerns, for the log (never in the answer)
        # Why access was refused, for the log only: a refusal answered as another status
        # (a need-to-know read is a 404, exactly as for an unknown incident).
        self.refused = refused
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})


def problem_response(
    problem: Problem, *, instance: str | None = None, request_id: str | None = None
) -> Response:
    """The ``application/problem+json`` response for ``problem``."""
    body = ProblemBody(
        type=problem.kind.type,
        title=problem.kind.title,
        status=problem.kind.status,
        detail=problem.detail,
        instance=instance,
        request_id=request_id,
        errors=problem.errors,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=problem.kind.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def request_id_of(scope_state: Mapping[str, Any] | Any) -> str | None:
    """The request id the outermost middleware gave the request (None outside one)."""
    value = getattr(scope_state, "request_id", None)
    return value if isinstance(value, str) else None


def log_refusal(
    *,
    actor: str | None,
    action: str,
    incident: str | None,
    request_id: str | None,
    status: int,
    reason: str,
) -> None:
    """One structured event per refused authentication or authorisation. Never a token: the
    reason is the API's own sentence, and no header is logged."""
    log.warning(
        "api.refused",
        actor=actor,
        action=action,
        incident=incident,
        request_id=request_id,
        outcome=f"refused:{status}",
        reason=reason,
    )


def pointer(parts: Iterable[Any]) -> str:
    """A JSON pointer (RFC 6901) from path segments."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validation_errors(errors: Sequence[Any]) -> list[ProblemError]:
    """FastAPI's validation errors as problem errors: a JSON pointer for the body, the name
    for a parameter."""
    out = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        where, rest = (loc[0], loc[1:]) if loc else ("body", ())
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            why = (error.get("ctx") or {}).get("error", "")
            at = f" at character {rest[0]}" if rest else ""
            out.append(ProblemError(pointer="", message=f"not valid JSON: {why}{at}"))
        elif where == "body":
            out.append(ProblemError(pointer=pointer(rest), message=message))
        else:
            name = ".".join(str(p) for p in rest) or str(where)
            out.append(ProblemError(parameter=name, message=message))
    return out


def respond(request: Request, problem: Problem) -> Response:
    """The problem's response to ``request``; 401 and 403, and the refusals answered as
    another status (``Problem.refused``), are logged as refusals."""
    rid = request_id_of(request.state)
    if problem.kind.status in (401, 403) or problem.refused is not None:
        person = getattr(request.state, "person", None)
        route = request.scope.get("route")
        log_refusal(
            actor=getattr(person, "handle", None) or problem.actor,
            action=f"{request.method} {getattr(route, 'path', request.url.path)}",
            incident=request.path_params.get("incident_id"),
            request_id=rid,
            status=problem.kind.status,
            reason=problem.refused or str(problem),
        )
    return problem_response(problem, instance=request.url.path, request_id=rid)


def _http_kind(status: int) -> ProblemKind:
    for kind in KINDS:
        if kind.status == status and kind is not HISTORY_UNREADABLE:
            return kind
    return INVALID if 400 <= status < 500 else INTERNAL


def refusal_problem(exc: ActionRefused) -> Problem:
    """The problem for one of the incident service's refusals (see REFUSAL_KINDS)."""
    kind = REFUSAL_KINDS.get(str(exc.kind.value), REFUSED)
    if kind is UNAVAILABLE:
        log.error("api.unverified", reason=exc.reason)
        return Problem(
            kind,
            "the workers do not accept this API's signature on actions; the operators must "
            "add its public key to the workers' trusted keys",
        )
    if kind is INVALID:
        return Problem(kind, exc.reason, errors=[ProblemError(pointer="/data", message=exc.reason)])
    return Problem(kind, exc.reason)


def install_handlers(app: FastAPI) -> None:
    """Answer every error the routes can raise as a problem."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return respond(request, exc)

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ActionRefused)
        return respond(request, refusal_problem(exc))

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        detail = str(exc)
        if isinstance(exc, NoAnswer):
            detail += "; retrying with the same Idempotency-Key is safe"
        return respond(request, Problem(UNAVAILABLE, detail))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc.errors())
        return respond(request, Problem(INVALID, "the request is not valid", errors=errors))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = _http_kind(exc.status_code)
        headers = dict(exc.headers or {})
        detail = exc.detail if isinstance(exc.detail, str) else None
        return respond(request, Problem(kind, detail, headers=headers))

    async def on_audit(request: Request, exc: Exception) -> Response:
        log.error("api.history_unreadable", error=str(exc), path=request.url.path)
        return respond(request, Problem(HISTORY_UNREADABLE, str(exc)))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(ActionRefused, on_refused)
    for unavailable in (NoAnswer, TemporalUnavailable, StateUnavailable):
        app.add_exception_handler(unavailable, on_unavailable)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(AuditError, on_audit)
