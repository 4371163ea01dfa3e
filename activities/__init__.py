"""sopflow's activities: the side effects the durable workflow asks for.

Each activity is synchronous (blocking I/O runs on the worker's thread pool, never on its
event loop), takes one model from ``sopflow.contract`` and returns one.
"""

from activities.config import ActivitiesConfig, ConfigError, load_config
from activities.disclosure import disclosure_check, evaluate_policy
from activities.disclosure_log import verify_log
from activities.enrichment import Enricher, NoEnrichment
from activities.notify import Notifier
from activities.postmortem import postmortem
from activities.registry import USER_DATA_ACTIVITIES, build_activities, build_activity_map

__all__ = [
    "USER_DATA_ACTIVITIES",
    "ActivitiesConfig",
    "ConfigError",
    "Enricher",
    "NoEnrichment",
    "Notifier",
    "build_activities",
    "build_activity_map",
    "disclosure_check",
    "evaluate_policy",
    "load_config",
    "postmortem",
    "verify_log",
]
