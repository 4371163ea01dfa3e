"""A browser's share of the console, as cheap in client CPU as ``bench/lean_http.py``.

``Browser`` keeps one HTTP/1.1 keep-alive connection and the session cookie: it signs in as
a person does (the sign-in page's CSRF token, then the pasted token in a form; the answer's
``Set-Cookie`` is the session) and GETs pages. The cookie is ``__Host-`` and ``Secure``: a
browser would send it only over HTTPS, but that is the browser's rule, not the server's, so
over http on loopback it is simply sent back. ``EventStream`` holds ``GET /console/events``
open and hands over each server-sent event with the moment it arrived.

Answers are read by their Content-Length (uvicorn sends one for every page); the event
stream is chunked, and nothing else is supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sopflow.web.security import COOKIE, PREFIX

CSRF = re.compile(r'name="csrf" value="([^"]*)"')
# uvicorn closes a keep-alive connection idle for 5 s: after 4 s, a new one.
IDLE_S = 4.0


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


async def read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]]]:
    """The status and the headers (names lower-cased) of an answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    return int(status_line.split(" ", 2)[1]), headers


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    status, headers = await read_head(reader)
    length = int(next((v for k, v in headers if k == "content-length"), "0"))
    return Reply(status, headers, await reader.readexactly(length))


def _request(host: str, port: int, method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Browser:
    """One tab's connection to the console on ``host:port``, signed in once ``sign_in`` ran."""

    host: str
    port: int
    cookie: str | None = None
    _stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    _used: float = 0.0

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        sent = dict(headers or {})
        if self.cookie is not None:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        if body or method == "POST":
            sent["Content-Length"] = str(len(body))
        if self._stream is not None and time.monotonic() - self._used > IDLE_S:
            await self.close()  # the server may have closed it: a browser opens a new one
        if self._stream is None:
            self._stream = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._stream
        writer.write(_request(self.host, self.port, method, path, sent) + body)
        reply = await read_reply(reader)
        self._used = time.monotonic()
        if (reply.header("connection") or "").lower() == "close":
            await self.close()
        return reply

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", path, headers=headers)

    async def sign_in(self, token: str) -> None:
        """Sign in with ``token`` through the sign-in form; RuntimeError if refused."""
        page = await self.get(f"{PREFIX}/signin")
        found = CSRF.search(page.text)
        if page.status != 200 or found is None:
            raise RuntimeError(f"no sign-in form: {page.status} {page.text[:300]}")
        self.cookie = _session_cookie(page)
        form = urlencode({"csrf": found.group(1), "next": f"{PREFIX}/", "token": token})
        answer = await self.request(
            "POST",
            f"{PREFIX}/signin",
            form.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if answer.status != 303:
            raise RuntimeError(f"sign-in refused: {answer.status} {answer.text[:500]}")
        self.cookie = _session_cookie(answer)

    async def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None


def _session_cookie(reply: Reply) -> str:
    for name, value in reply.headers:
        if name == "set-cookie" and value.startswith(f"{COOKIE}="):
            return value.split(";", 1)[0].split("=", 1)[1]
    raise RuntimeError(f"no session cookie in the answer ({reply.status})")


@dataclass(frozen=True)
class Event:
    """One server-sent event, and ``time.perf_counter()`` when its last byte arrived."""

    name: str
    data: str
    at: float

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventStream:
    """``GET /console/events`` held open; a task reads it into ``events`` as it comes."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    # How many ``changed`` events named each incident, over the stream's life.
    counts: Counter[str] = field(default_factory=Counter)
    _task: asyncio.Task[None] | None = None
    _text: str = ""

    @classmethod
    async def open(cls, host: str, port: int, cookie: str) -> EventStream:
        reader, writer = await asyncio.open_connection(host, port)
        headers = {"Accept": "text/event-stream", "Cookie": f"{COOKIE}={cookie}"}
        writer.write(_request(host, port, "GET", f"{PREFIX}/events", headers))
        status, got = await read_head(reader)
        kind = next((v for k, v in got if k == "content-type"), "")
        chunked = any(k == "transfer-encoding" and v == "chunked" for k, v in got)
        if status != 200 or not kind.startswith("text/event-stream") or not chunked:
            writer.close()
            raise RuntimeError(f"no event stream: {status} {kind}")
        stream = cls(reader, writer)
        stream._task = asyncio.create_task(stream._read(), name="bench-console-events")
        return stream

    async def _read(self) -> None:
        while True:
            size_line = await self.reader.readline()
            if not size_line:
                return  # the server closed the stream
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return  # the last chunk
            chunk = await self.reader.readexactly(size + 2)
            self._text += chunk[:-2].decode("utf-8")
            now = time.perf_counter()
            while "\n\n" in self._text:
                block, self._text = self._text.split("\n\n", 1)
                event = _parse(block, now)
                if event is not None:
                    if event.name == "changed":
                        self.counts[str(event.json().get("incident"))] += 1
                    self.events.put_nowait(event)

    def drain(self) -> int:
        """Drop the events received so far; how many there were."""
        dropped = 0
        while not self.events.empty():
            self.events.get_nowait()
            dropped += 1
        return dropped

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.writer.close()


def _parse(block: str, at: float) -> Event | None:
    """An event from one block of lines (None for comments and the ``retry:`` line)."""
    name, data = "message", []
    for line in block.split("\n"):
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
    return Event(name, "\n".join(data), at) if data else None
