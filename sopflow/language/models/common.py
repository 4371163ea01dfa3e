"""Types shared by every document model: strict base model, durations, names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
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


class DocBase(Strict):
    api_version: Literal["sopflow/v1"] = Field(alias="apiVersion")


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
ROLE_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
RoleName = Annotated[str, Field(pattern=ROLE_PATTERN)]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]{1,15}$")]
Expr = Annotated[str, Field(min_length=1, description="A CEL expression")]
JsonSchemaDoc = Annotated[dict[str, Any], Field(description="A JSON Schema (2020-12)")]


def _nothing_is_no_role(value: Any) -> Any:
    # `restricted_to:` with nothing after it (or only commented-out roles) is a list of no
    # roles, which lint refuses (E309), never "absent", which would let everyone see.
    return [] if value is None else value


_AUDIENCE_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "pattern": ROLE_PATTERN},
    "minItems": 1,
    "description": (
        "Need-to-know: only people holding one of these roles (declared in `roles`) see the "
        "SOP's incidents; without it, everyone who holds a role does"
    ),
}
# The validator wraps the whole type, so an explicit null never reads as "absent".
Audience = Annotated[
    list[RoleName] | None,
    BeforeValidator(_nothing_is_no_role),
    WithJsonSchema(_AUDIENCE_SCHEMA),
]
"""The roles whose holders may see an SOP's incidents (`restricted_to`)."""


class RoleSpec(Strict):
    description: str = ""
