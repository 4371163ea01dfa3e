"""Types shared by every document model: strict base model, durations, names."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from sopflow.language.durations import DURATION_PATTERN, DurationError, parse_duration

API_VERSION = "sopflow/v1"


class Strict(BaseModel):
    """Base of every authored model: unknown fields are errors, types are not coerced."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        populate_by_name=True,
        serialize_by_alias=True,
    )


def _check_duration(text: str) -> str:
    try:
        parse_duration(text)
    except DurationError as exc:
        raise PydanticCustomError("duration", str(exc)) from None
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(
        json_schema_extra={
            "pattern": DURATION_PATTERN,
            "examples": ["30s", "15m", "4h", "3d", "2w", "PT15M"],
        }
    ),
]
"""A duration kept as written; the compiler turns it into seconds."""

StepId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
SopId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")]
RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]{1,15}$")]
Expr = Annotated[str, Field(min_length=1, description="A CEL expression")]
JsonSchemaDoc = Annotated[dict[str, Any], Field(description="A JSON Schema (2020-12)")]


class RoleSpec(Strict):
    description: str = ""
