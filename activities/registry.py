"""The activities a worker registers, built from the configuration.

Every sopflow activity touches user data (case facts, addresses, message texts, timelines),
so all of them are listed in ``USER_DATA_ACTIVITIES``: a worker can serve them on a task
queue per data region, and a UK worker never receives US user data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.config import ActivitiesConfig
from activities.desks import DeskActivities
from activities.disclosure import disclosure_check
from activities.enrichment import EnrichActivities, Enricher, NoEnrichment
from activities.linked import LibraryOnDisk, LinkedPlans
from activities.notify import Notifier
from activities.postmortem import postmortem
from activities.rota_source import RotaSource
from sopflow.contract.names import (
    ACT_BUSINESS_DUE,
    ACT_DESK_TURN,
    ACT_DISCLOSURE,
    ACT_ENRICH,
    ACT_LINKED_PLAN,
    ACT_NOTIFY,
    ACT_POSTMORTEM,
)

USER_DATA_ACTIVITIES: tuple[str, ...] = (
    ACT_ENRICH,
    ACT_DISCLOSURE,
    ACT_POSTMORTEM,
    ACT_NOTIFY,
    ACT_LINKED_PLAN,
)


def build_activity_map(
    config: ActivitiesConfig, *, enricher: Enricher | None = None
) -> dict[str, Callable[..., Any]]:
    """Activity name -> callable. Raises ConfigError (e.g. a secret that is not set), so a
    worker with a bad configuration does not start."""
    desks = DeskActivities(RotaSource().load)
    return {
        ACT_DESK_TURN: desks.desk_turn,
        ACT_BUSINESS_DUE: desks.business_due,
        ACT_ENRICH: EnrichActivities(enricher or NoEnrichment()).enrich,
        ACT_NOTIFY: Notifier.from_config(config).notify,
        ACT_DISCLOSURE: disclosure_check,
        ACT_POSTMORTEM: postmortem,
        ACT_LINKED_PLAN: LinkedPlans(LibraryOnDisk()).linked_plan,
    }


def build_activities(
    config: ActivitiesConfig, *, enricher: Enricher | None = None
) -> list[Callable[..., Any]]:
    """The activity callables for ``Worker(activities=...)``. They are synchronous: give the
    worker an ``activity_executor`` (a thread pool)."""
    return list(build_activity_map(config, enricher=enricher).values())
