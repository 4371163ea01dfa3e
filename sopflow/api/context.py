"""What every route is given: the app's shared parts, the caller, and the incident service.

The parts live on ``app.state.parts`` (one set per app, so tests can build several apps in
one process); the routes ask for them through FastAPI dependencies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request

from sopflow.api.identity import Identity, Person
from sopflow.api.limits import InFlight
from sopflow.api.problems import UNAUTHENTICATED, Problem
from sopflow.api.settings import ApiSettings
from sopflow.api.temporal import TemporalLink
from sopflow.compile.lint import LintResult, lint_library
from sopflow.language.library import LOCK_FILE, document_files

_Stamp = tuple[tuple[str, int, int], ...]


class Catalog:
    """The linted SOP library, linted again when any of its files changed (the file list and
    each file's mtime and size are compared on each request that reads it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._result: LintResult | None = None
        self._stamp: _Stamp | None = None
        self._lock = asyncio.Lock()

    def _current_stamp(self) -> _Stamp:
        stamps = []
        for path in [*document_files(self.root), self.root / LOCK_FILE]:
            try:
                st = path.stat()
            except OSError:
                continue
            stamps.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(stamps)

    def load(self) -> LintResult:
        """Lint the library now (blocking)."""
        stamp = self._current_stamp()  # before reading: a change meanwhile re-lints next time
        result = lint_library(self.root)
        self._result, self._stamp = result, stamp
        return result

    async def result(self) -> LintResult:
        """The lint result of the library as it is on disk now."""
        if self._result is not None and self._current_stamp() == self._stamp:
            return self._result
        async with self._lock:
            if self._result is not None and self._current_stamp() == self._stamp:
                return self._result
            return await anyio.to_thread.run_sync(self.load)


class Changes:
    """Who, in this process, hears at once that an action was accepted on an incident (the
    console's live hub), rather than at its next visibility poll. Each listener is called
    with the incident id; it must not block (the hub schedules its own work)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def listen(self, listener: Callable[[str], None]) -> None:
        """Add ``listener`` (once: adding it again changes nothing)."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def changed(self, incident_id: str) -> None:
        for listener in self._listeners:
            listener(incident_id)


@dataclass(frozen=True, slots=True)
class Parts:
    """The app's shared parts."""

    settings: ApiSettings
    catalog: Catalog
    identity: Identity
    temporal: TemporalLink
    in_flight: InFlight
    changes: Changes = field(default_factory=Changes)


def parts_of(request: Request) -> Parts:
    """The app's parts (a dependency)."""
    parts: Parts = request.app.state.parts
    return parts


def caller(request: Request) -> Person:
    """The authenticated person the identity middleware found (a dependency)."""
    person = getattr(request.state, "person", None)
    if not isinstance(person, Person):  # only a route outside the middleware's prefix
        raise Problem(UNAUTHENTICATED, "not authenticated")
    return person


# The dependencies are coroutines, though nothing in them awaits: FastAPI runs a plain `def`
# dependency in its thread pool, two thread hand-offs on every request for two attribute reads.


async def _parts_dep(request: Request) -> Parts:
    return parts_of(request)


async def _caller_dep(request: Request) -> Person:
    return caller(request)


async def catalog(parts: Annotated[Parts, Depends(_parts_dep)]) -> LintResult:
    """The library's current lint result (a dependency)."""
    return await parts.catalog.result()


PartsDep = Annotated[Parts, Depends(_parts_dep)]
Caller = Annotated[Person, Depends(_caller_dep)]
Linted = Annotated[LintResult, Depends(catalog)]
