"""The on-disk cache of closed runs' facts: ``<state dir>/metrics-cache/<run id>.json``.

A closed run never changes, so its facts are read from Temporal once. A running one does,
so it is never cached. Files hold :class:`IncidentFacts`, or a post-mortem review's
:class:`ReviewFacts` (codes only), never user data, written owner-only and atomically (a
crash leaves the old file or none, never half of one). Run ids are unique across workflows,
so both live side by side; each reads back only as its own kind.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from sopflow.client.metrics.causes import REVIEW_FACTS_FORMAT, ReviewFacts
from sopflow.client.metrics.facts import FACTS_FORMAT, IncidentFacts

CACHE_DIR = "metrics-cache"
# Temporal run ids are UUIDs; anything else never becomes a file name (no path tricks).
_RUN_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
M = TypeVar("M", bound=BaseModel)


class FactsCache:
    """Facts of closed runs by run id, under ``state_dir``; ``None`` for no cache."""

    def __init__(self, state_dir: Path | None) -> None:
        self.root = None if state_dir is None else state_dir / CACHE_DIR
        self.hits = 0

    def _path(self, run_id: str | None) -> Path | None:
        if self.root is None or run_id is None or not _RUN_ID.fullmatch(run_id):
            return None
        return self.root / f"{run_id}.json"

    def get(self, run_id: str | None) -> IncidentFacts | None:
        """The cached facts of the run, or None (none, unreadable, or another format)."""
        facts = self._load(run_id, IncidentFacts)
        if facts is None or facts.format != FACTS_FORMAT or facts.run_id != run_id:
            return None
        self.hits += 1
        return facts

    def get_review(self, run_id: str | None) -> ReviewFacts | None:
        """The cached facts of a closed review's run, or None (as ``get``)."""
        facts = self._load(run_id, ReviewFacts)
        if facts is None or facts.format != REVIEW_FACTS_FORMAT or facts.run_id != run_id:
            return None
        self.hits += 1
        return facts

    def _load(self, run_id: str | None, model: type[M]) -> M | None:
        path = self._path(run_id)
        if path is None or not path.is_file():
            return None
        try:
            return model.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            return None  # a damaged file is read again from Temporal, and rewritten

    def put(self, facts: IncidentFacts) -> None:
        """Keep a closed run's facts (a running or unreadable one is never kept)."""
        if facts.status != "running" and facts.readable:
            self._store(facts.run_id, facts)

    def put_review(self, facts: ReviewFacts) -> None:
        """Keep a closed review's facts (an open one changes, and is never kept)."""
        if facts.status == "closed":
            self._store(facts.run_id, facts)

    def _store(self, run_id: str | None, facts: BaseModel) -> None:
        path = self._path(run_id)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(facts.model_dump_json())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
