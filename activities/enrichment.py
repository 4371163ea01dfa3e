"""Enrichment for triage: facts about the case that the incident's input does not carry
(account history, prior reports), looked up by name.

The engine only knows the port ``Enricher``; adapters wrap the team's own services. The default
adapter knows nothing, so a triage rule that needs enrichment sees an empty mapping, not an
invented value.
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog
from temporalio import activity

from sopflow.contract.messages import EnrichRequest, EnrichResult
from sopflow.contract.names import ACT_ENRICH

_log = structlog.get_logger(__name__)


class Enricher(Protocol):
    """Looks up the named enrichments for one incident; returns ``{name: value}``."""

    def enrich(self, request: EnrichRequest) -> dict[str, Any]: ...


class NoEnrichment:
    """The default adapter: no enrichment source is configured."""

    def enrich(self, request: EnrichRequest) -> dict[str, Any]:
        return {}


class EnrichActivities:
    """The enrichment activity, bound to the configured enricher."""

    def __init__(self, enricher: Enricher) -> None:
        self._enricher = enricher

    @activity.defn(name=ACT_ENRICH)
    def enrich(self, request: EnrichRequest) -> EnrichResult:
        """Ask the enricher for ``request.names``; what it returns goes to the triage step."""
        log = _log.bind(incident=request.incident_id, sop=request.sop, region=request.region)
        data = self._enricher.enrich(request)
        # Names only: the values are user data.
        log.info("enrichment", requested=request.names, returned=sorted(data))
        return EnrichResult(data=data)
