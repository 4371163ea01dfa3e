"""The JSON Schema of every document kind, generated from the pydantic models.

Published at ``sop_definitions/schema/sop.schema.json`` for editors (the yaml-language-server
modeline) and for other tools; a test fails when the published copy is stale.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from sopflow.language.models import (
    DestinationsDoc,
    DisclosurePolicyDoc,
    RegionsDoc,
    RehearsalDoc,
    RosterDoc,
    RotaDoc,
    SopDoc,
    VariantDoc,
)

SCHEMA_PATH = "schema/sop.schema.json"
SCHEMA_ID = "https://sopflow.dev/schema/v1/sop.schema.json"

_Document = Annotated[
    SopDoc
    | VariantDoc
    | DisclosurePolicyDoc
    | RegionsDoc
    | RosterDoc
    | RehearsalDoc
    | RotaDoc
    | DestinationsDoc,
    Field(discriminator="kind"),
]


def document_schema() -> dict[str, Any]:
    """The schema of any sopflow v1 document."""
    schema = TypeAdapter(_Document).json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sopflow document (apiVersion sopflow/v1)",
        **schema,
    }


def schema_text() -> str:
    """The schema as published: stable key order, two-space indent, trailing newline."""
    return json.dumps(document_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
