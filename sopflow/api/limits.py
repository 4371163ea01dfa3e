"""Limits that keep one caller from exhausting the API: the size and type of a request body,
and how many requests one person may have in flight at once.

Both are plain ASGI middleware, so they act before FastAPI reads or parses anything: a body
over the limit is refused from its ``Content-Length`` alone (or, sent in chunks, as soon as
it passes the limit), and the in-flight slot is held until the response has been sent.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from sopflow.api.problems import (
    INVALID,
    TOO_LARGE,
    TOO_MANY,
    UNSUPPORTED_MEDIA,
    Problem,
    problem_response,
)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The console's pages (sopflow.web) post HTML forms, which a browser sends form-encoded: the
# one place a body that is not JSON is taken.
FORM_PATHS = ("/console/",)
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_WANTED = "JSON, with Content-Type: application/json"


class BodyTooLarge(HTTPException):
    """A chunked body passed the limit while being read. An HTTPException, because FastAPI
    turns any other error raised while reading a body into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/*+json``, with any parameters."""
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def is_form(content_type: str) -> bool:
    """``application/x-www-form-urlencoded``, with any parameters."""
    message = Message()
    message["content-type"] = content_type
    return message.get_content_type() == FORM_TYPE


def _problem_from(scope: Scope) -> tuple[str, str | None]:
    state = scope.get("state") or {}
    rid = state.get("request_id")
    return scope.get("path", ""), rid if isinstance(rid, str) else None


async def _answer(problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
    path, rid = _problem_from(scope)
    await problem_response(problem, instance=path, request_id=rid)(scope, receive, send)


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``, 415 for a body that is not JSON (under
    ``form_paths``: that is not a form-encoded HTML form)."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, form_paths: tuple[str, ...] = FORM_PATHS
    ) -> None:
        self.app, self.max_bytes, self.form_paths = app, max_bytes, form_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        too_large = Problem(TOO_LARGE, f"the request body is larger than {self.max_bytes} bytes")
        if length is not None:
            if not length.isdigit():
                await _answer(
                    Problem(INVALID, "Content-Length is not a number"), scope, receive, send
                )
                return
            if int(length) > self.max_bytes:
                await _answer(too_large, scope, receive, send)
                return
        has_body = (length is not None and int(length) > 0) or "transfer-encoding" in headers
        form = scope.get("path", "").startswith(self.form_paths)
        accepted = is_form if form else is_json
        if has_body and not accepted(headers.get("content-type", "")):
            want = f"a form, with Content-Type: {FORM_TYPE}" if form else JSON_WANTED
            unsupported = Problem(UNSUPPORTED_MEDIA, f"send {want}")
            await _answer(unsupported, scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> AsgiMessage:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        return counted


class InFlight:
    """How many requests each person has in flight. One event loop serves every request,
    and nothing awaits between the check and the count, so no lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, handle: str) -> bool:
        """Take a slot for ``handle``; False when all of theirs are taken."""
        count = self._counts.get(handle, 0)
        if count >= self.limit:
            return False
        self._counts[handle] = count + 1
        return True

    def release(self, handle: str) -> None:
        """Give back a slot taken by ``acquire``."""
        count = self._counts.get(handle, 0) - 1
        if count > 0:
            self._counts[handle] = count
        else:
            self._counts.pop(handle, None)

    def count(self, handle: str) -> int:
        """How many requests ``handle`` has in flight now."""
        return self._counts.get(handle, 0)


class InFlightMiddleware:
    """429 with Retry-After when the authenticated person already has ``limit`` requests in
    flight. Runs after the identity middleware (it reads ``state["person"]``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        in_flight: InFlight,
        retry_after_s: int,
        handle_of: Callable[[Scope], str | None],
    ) -> None:
        self.app, self.in_flight, self.retry_after_s = app, in_flight, retry_after_s
        self.handle_of = handle_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handle = self.handle_of(scope) if scope["type"] == "http" else None
        if handle is None:
            await self.app(scope, receive, send)
            return
        if not self.in_flight.acquire(handle):
            problem = Problem(
                TOO_MANY,
                f"{handle} already has {self.in_flight.limit} requests in flight",
                headers={"Retry-After": str(self.retry_after_s)},
            )
            await _answer(problem, scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.release(handle)
