"""A minimal browser for the console tests: keeps the session cookie (httpx will not send a
``Secure`` cookie over plain http, so it is kept here), sends what a browser sends with a form
(``Origin``, ``Sec-Fetch-Site``) and reads a page's forms the way a browser submits them."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from sopflow.web import CONSOLE_PREFIX, ConsoleSettings, console_router
from sopflow.web.security import COOKIE

Pairs = list[tuple[str, str]]
_INPUTS = ("hidden", "text", "password", "email", "url", "date", "datetime-local", "number")


class _FormReader(HTMLParser):
    """Collects the successful controls of the first form whose action starts with
    ``action`` (its values as a browser would submit them, without a submit button)."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action, self.inside, self.found = action, False, False
        self.pairs: Pairs = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.found and a.get("action", "").startswith(self.action):
            self.inside = self.found = True
        if not self.inside:
            return
        if tag == "input" and "name" in a:
            kind = a.get("type", "text")
            if kind in _INPUTS or (kind in ("radio", "checkbox") and "checked" in a):
                self.pairs.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []

    def handle_endtag(self, tag: str) -> None:
        if not self.inside:
            return
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [
                v for v, _ in self._options[:1]
            ]
            self.pairs += [(self._select, v) for v in chosen[:1]]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            # The HTML parser drops one newline right after <textarea>; browsers send CRLF.
            text = text.removeprefix("\n").replace("\n", "\r\n")
            self.pairs.append((self._textarea, text))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)


def with_console(app: FastAPI, settings: ConsoleSettings) -> FastAPI:
    """``app`` with a console of ``settings``: one ``create_app`` may have included (from the
    environment) is replaced, so a test decides, e.g., whether the dev picker is on."""
    app.router.routes = [
        r for r in app.router.routes if not getattr(r, "path", "").startswith(CONSOLE_PREFIX + "/")
    ]
    app.include_router(console_router(settings))
    return app


class InProcess(httpx.BaseTransport):
    """A synchronous transport to an ASGI app in this process (httpx's own ASGI transport
    is asynchronous), on one event loop kept for the client's life. No lifespan: an API
    built without a service never tries to reach Temporal."""

    def __init__(self, app: Any, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.inner = httpx.ASGITransport(app=app, client=client)
        self.runner = asyncio.Runner()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=body
        )

        async def send() -> httpx.Response:
            answer = await self.inner.handle_async_request(forwarded)
            content = await answer.aread()
            return httpx.Response(answer.status_code, headers=answer.headers, content=content)

        return self.runner.run(send())

    def close(self) -> None:
        self.runner.close()


def in_process(
    app: Any, origin: str, client: tuple[str, int] = ("127.0.0.1", 50000)
) -> httpx.Client:
    """A client for ``app`` in this process, as if from ``client``."""
    return httpx.Client(transport=InProcess(app, client), base_url=origin)


def form_values(html: str, action: str) -> Pairs:
    """What submitting the form whose action starts with ``action`` sends (AssertionError
    when the page has no such form)."""
    reader = _FormReader(action)
    reader.feed(html)
    assert reader.found, f"no form posting to {action}"
    return reader.pairs


def has_form(html: str, action: str) -> bool:
    reader = _FormReader(action)
    reader.feed(html)
    return reader.found


def replaced(pairs: Pairs, **values: str | list[str]) -> Pairs:
    """``pairs`` with the named fields set (a list: one pair each; ``[]``: none)."""
    names = {k.replace("__", "/") for k in values}
    out = [(k, v) for k, v in pairs if k not in names]
    for key, value in values.items():
        for item in [value] if isinstance(value, str) else value:
            out.append((key.replace("__", "/"), item))
    return out


@dataclass
class Browser:
    """One browser: its session cookie and its origin."""

    http: httpx.Client
    origin: str
    cookie: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        if self.cookie is not None:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        response = self.http.request(method, path, headers=headers, **kw)
        self._keep(response)
        return response

    def _keep(self, response: httpx.Response) -> None:
        for line in response.headers.get_list("set-cookie"):
            found = re.match(rf"{re.escape(COOKIE)}=([^;]*)", line)
            if found:
                gone = "max-age=0" in line.lower() or not found.group(1).strip('"')
                self.cookie = None if gone else found.group(1)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self._send("GET", path, **kw)

    def post(self, path: str, pairs: Pairs, *, same_site: bool = True, **kw: Any) -> httpx.Response:
        """A form submission as a browser makes it from one of this site's pages."""
        headers = dict(kw.pop("headers", {}))
        if same_site:
            headers |= {"Origin": self.origin, "Sec-Fetch-Site": "same-origin"}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(pairs).encode()
        return self._send("POST", path, content=body, headers=headers, **kw)

    def submit(
        self, page: httpx.Response, action: str, **values: str | list[str]
    ) -> httpx.Response:
        """Fill in the form posting to ``action`` on ``page`` and send it."""
        return self.post(action, replaced(form_values(page.text, action), **values))

    def sign_in(self, token: str) -> httpx.Response:
        page = self.get("/console/signin")
        assert page.status_code == 200, page.text
        return self.submit(page, "/console/signin", **{"token": token})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
