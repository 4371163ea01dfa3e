"""A minimal HTTP/1.1 client with keep-alive, for measuring a server rather than a client.

httpx spends about 1.7 ms of CPU per request in the calling process; a browser (the console's
client) spends next to nothing of Python's. On a small machine the benchmark's client shares
the cores with the server it measures, so a heavy client inflates the server's latency.
This one writes the request and reads the answer by its Content-Length, nothing more: JSON
bodies only, no redirects, no chunked transfer (uvicorn answers JSON with Content-Length).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LeanClient:
    """Keep-alive connections to one ``host:port``, one per request in flight."""

    host: str
    port: int
    _idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        """POST ``body`` as JSON to ``path``; the answer's status and body."""
        payload = json.dumps(body).encode()
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        reader, writer = self._idle.pop() if self._idle else await self._connect()
        writer.write(request)
        answer = await _read_answer(reader)
        self._idle.append((reader, writer))
        return answer

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return Answer(status, await reader.readexactly(length))
