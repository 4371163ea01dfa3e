"""pydantic models of every document kind in the SOP language v1."""

from sopflow.language.models.common import API_VERSION
from sopflow.language.models.destinations import DestinationsDoc
from sopflow.language.models.documents import (
    DOCUMENT_MODELS,
    DisclosurePolicyDoc,
    RegionsDoc,
    RosterDoc,
    SopDoc,
    VariantDoc,
)
from sopflow.language.models.rehearsal import RehearsalDoc
from sopflow.language.models.rota import RotaDoc
from sopflow.language.models.steps import STEP_MODELS, Step

__all__ = [
    "API_VERSION",
    "DOCUMENT_MODELS",
    "STEP_MODELS",
    "DestinationsDoc",
    "DisclosurePolicyDoc",
    "RegionsDoc",
    "RehearsalDoc",
    "RosterDoc",
    "RotaDoc",
    "SopDoc",
    "Step",
    "VariantDoc",
]
