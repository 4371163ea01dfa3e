"""Simulated responders: every request the soak makes through the HTTP API, and its record.

A request is one logical action. Its transport may fail while a part of the stack is down:
a refused connection, a reset, a 502/503/504; or the person may have too many requests in
flight (429, waited out for its Retry-After). Then it is sent again with the same
``Idempotency-Key`` (so an action that did land is not applied twice), a quarter to half a
second apart, until it gets an answer or its deadline passes. What it is recorded with is its
final answer, the time from first send to that answer, and every 5xx met on the way.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE = {502, 503, 504}
REQUEST_DEADLINE_S = 180.0


@dataclass
class Call:
    """One logical request and what became of it."""

    kind: str  # "start", "action", "race", "read", or "wrong:<what>"
    expected: frozenset[int]
    status: int | None = None  # None: no answer before the deadline
    started: float = 0.0  # time.monotonic() at the first send
    latency_s: float = 0.0
    five_xx: list[int] = field(default_factory=list)
    problem_json: bool = True  # every 4xx/5xx came as application/problem+json
    transport_errors: int = 0  # sends that got no HTTP answer (refused, reset) and were retried
    throttled: int = 0  # 429s waited out (the per-person in-flight limit)

    @property
    def as_expected(self) -> bool:
        return self.status in self.expected


@dataclass
class Api:
    """The API at ``url``, with a bearer token per person."""

    url: str
    tokens: dict[str, str]
    client: httpx.AsyncClient
    calls: list[Call] = field(default_factory=list)

    async def send(
        self,
        method: str,
        path: str,
        who: str,
        *,
        kind: str,
        expected: set[int],
        body: dict[str, Any] | None = None,
        key: str | None = None,
        record: bool = True,
        made: list[Call] | None = None,
    ) -> tuple[int | None, Any]:
        """Send one request as ``who``, again on transport failures and 502/503/504 (same
        key), until answered or REQUEST_DEADLINE_S passes. Returns (status, JSON body);
        the call's record is also appended to ``made`` (a caller may relabel it)."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        call = Call(kind, frozenset(expected), started=time.monotonic())
        status: int | None = None
        answer: Any = None
        while time.monotonic() - call.started < REQUEST_DEADLINE_S:
            try:
                response = await self.client.request(
                    method, self.url + path, json=body, headers=headers, timeout=45.0
                )
            except httpx.TransportError:
                call.transport_errors += 1
                await asyncio.sleep(random.uniform(0.25, 0.5))
                continue
            if response.status_code >= 400 and not response.headers.get(
                "content-type", ""
            ).startswith("application/problem+json"):
                call.problem_json = False
            if response.status_code == 429:  # too many in flight for this person: wait, again
                call.throttled += 1
                await asyncio.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            if response.status_code in RETRYABLE:
                call.five_xx.append(response.status_code)
                await asyncio.sleep(random.uniform(0.25, 0.5))
                continue
            status = response.status_code
            answer = response.json() if response.content else None
            if status >= 500:
                call.five_xx.append(status)
            break
        call.status = status
        call.latency_s = time.monotonic() - call.started
        if record:
            self.calls.append(call)
        if made is not None:
            made.append(call)
        return status, answer

    async def incident(self, who: str, incident_id: str) -> dict[str, Any] | None:
        status, body = await self.send(
            "GET", f"/incidents/{incident_id}", who, kind="read", expected={200}, record=False
        )
        return body if status == 200 else None


def new_key() -> str:
    return str(uuid.uuid4())


def step_of(detail: dict[str, Any], step: str) -> dict[str, Any]:
    for state in detail.get("steps", []):
        if state.get("id") == step:
            return dict(state)
    return {}


async def wait_for(
    api: Api, who: str, incident_id: str, ready: Any, deadline_s: float
) -> dict[str, Any] | None:
    """Poll the incident until ``ready(detail)`` holds (None after the deadline). The pause
    grows from 0.2 s to 2 s: thousands of incidents are polled at once."""
    stop = time.monotonic() + deadline_s
    pause = 0.2
    while time.monotonic() < stop:
        detail = await api.incident(who, incident_id)
        if detail is not None and ready(detail):
            return detail
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 2.0)
    return None
