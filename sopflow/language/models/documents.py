"""Document models: SOP, Variant, DisclosurePolicy, Regions, Roster; and every kind by its
name (``DOCUMENT_MODELS``; the Rehearsal's models are in ``models.rehearsal``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from sopflow.language.models.common import (
    Audience,
    DocBase,
    Duration,
    Expr,
    JsonSchemaDoc,
    RegionCode,
    RoleName,
    RoleSpec,
    SopId,
    StepId,
    Strict,
)
from sopflow.language.models.destinations import DestinationsDoc
from sopflow.language.models.rehearsal import RehearsalDoc
from sopflow.language.models.rota import RotaDoc
from sopflow.language.models.steps import Step
from sopflow.language.models.updates import UpdateCadence


class RetryPolicy(Strict):
    max_attempts: int = Field(default=5, ge=1, le=100)
    initial_interval: Duration = "1s"
    backoff: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval: Duration = "5m"


class Defaults(Strict):
    sla: Duration | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


EventName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]


class EventHandler(Strict):
    """What happens when the event arrives, whatever step is active: the active steps stop
    (recorded on the timeline) and the incident goes on from ``goto``, a top-level step."""

    goto: StepId


class MigratesFrom(Strict):
    """Running incidents of an older version may move to this one (`sopflow migrate`) while
    every step active in them is one named here: each maps to the step of this version that
    takes its place (a step of the same type)."""

    version: int = Field(ge=1, description="The older version whose incidents may move")
    steps: dict[StepId, StepId] = Field(
        min_length=1, description="Its step id -> this version's step id, for each safe point"
    )


class SopDoc(DocBase):
    """A base procedure: one immutable version of one SOP."""

    kind: Literal["SOP"]
    id: SopId
    version: int = Field(ge=1)
    title: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    region: RegionCode
    description: str = ""
    input: JsonSchemaDoc = Field(default_factory=lambda: {"type": "object"})
    roles: dict[RoleName, RoleSpec] = Field(default_factory=dict)
    # Need-to-know: only people holding one of these roles see the SOP's incidents. Absent:
    # everyone who holds a role. An empty list is a lint error (E309), not a schema error, so
    # it gets its own message; the schema's `minItems` tells editors.
    restricted_to: Audience = None
    # Roles whose holders act on this SOP's incidents from any desk (a global child-safety
    # specialist). Every other role acts only on incidents of its holder's own region.
    global_roles: list[RoleName] | None = None
    # Duplicates: a CEL expression over `input` whose value names the case (e.g.
    # `input.account_id`): starting an incident while one of this SOP with the same value is
    # open says so, and the opener chooses to link a new one or attach to the open one.
    correlation: Expr | None = None
    # Events handled whatever step is active: the event's name -> where the incident goes.
    on_event: dict[EventName, EventHandler] | None = None
    migrates_from: MigratesFrom | None = None
    # Stakeholder updates: severity (SEV0..SEV4) -> how often the lead is asked for one and
    # where it goes. The keys are checked by lint (E318), so a typo gets its own message.
    updates: dict[str, UpdateCadence] | None = Field(
        default=None,
        description="Stakeholder updates by severity (SEV0..SEV4): see docs/authoring.md",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[Step] = Field(min_length=1)


# --- Variant changes: each change is a mapping with exactly one key naming what it does.


class SetChange(Strict):
    set: dict[str, Any] = Field(description="`step: <id>` and the fields to set on it")


class ReplaceTarget(Strict):
    step: StepId
    with_: dict[str, Any] = Field(alias="with")


class ReplaceChange(Strict):
    replace: ReplaceTarget


class InsertTarget(Strict):
    after: StepId | None = None
    before: StepId | None = None
    steps: list[dict[str, Any]] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_anchor(self) -> InsertTarget:
        if (self.after is None) == (self.before is None):
            raise ValueError("an insert needs exactly one of `after` or `before`")
        return self


class InsertChange(Strict):
    insert: InsertTarget


class RemoveTarget(Strict):
    step: StepId


class RemoveChange(Strict):
    remove: RemoveTarget


class AddRolesChange(Strict):
    add_roles: dict[RoleName, RoleSpec]


class SetDefaultsChange(Strict):
    set_defaults: dict[str, Any]


class SetRestrictedToChange(Strict):
    """Replaces the SOP's `restricted_to` in this region (the whole list)."""

    set_restricted_to: Audience = Field()


class SetOnEventChange(Strict):
    """Merges into the SOP's `on_event` in this region: each entry replaces the handler for
    its event, or (null) removes it."""

    set_on_event: dict[EventName, EventHandler | None] = Field(
        min_length=1,
        description="event name -> `{goto: <step>}`, or null to remove the base's handler",
    )


class SetCorrelationChange(Strict):
    """Replaces the SOP's `correlation` in this region; null turns duplicate detection off."""

    set_correlation: Expr | None = Field()


CHANGE_KINDS = (
    "set",
    "replace",
    "insert",
    "remove",
    "add_roles",
    "set_defaults",
    "set_restricted_to",
    "set_on_event",
    "set_correlation",
)


def _change_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [k for k in value if k in CHANGE_KINDS]
        return keys[0] if len(keys) == 1 else None
    return getattr(value, "kind_name", None)


Change = Annotated[
    Annotated[SetChange, Tag("set")]
    | Annotated[ReplaceChange, Tag("replace")]
    | Annotated[InsertChange, Tag("insert")]
    | Annotated[RemoveChange, Tag("remove")]
    | Annotated[AddRolesChange, Tag("add_roles")]
    | Annotated[SetDefaultsChange, Tag("set_defaults")]
    | Annotated[SetRestrictedToChange, Tag("set_restricted_to")]
    | Annotated[SetOnEventChange, Tag("set_on_event")]
    | Annotated[SetCorrelationChange, Tag("set_correlation")],
    Discriminator(
        _change_kind,
        custom_error_type="change_kind",
        custom_error_message="a change is one of: " + ", ".join(CHANGE_KINDS),
    ),
]


class VariantDoc(DocBase):
    """Adapts one base SOP version to one region."""

    kind: Literal["Variant"]
    id: SopId
    version: int = Field(ge=1)
    region: RegionCode
    description: str = ""
    changes: list[Change] = Field(default_factory=list)


class PolicyRule(Strict):
    when: Expr | None = None
    decision: Literal["allowed", "needs_approval", "denied"]
    legal_basis: str | None = None
    reason: str | None = None
    allow: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _basis_recorded(self) -> PolicyRule:
        # Every outcome goes into the disclosure log with why; fail closed when it cannot.
        if self.decision == "denied" and not (self.reason or self.legal_basis):
            raise ValueError("a `denied` rule needs a `reason`")
        if self.decision != "denied" and not self.legal_basis:
            raise ValueError(f"an `{self.decision}` rule needs a `legal_basis`")
        if self.decision == "denied" and self.allow:
            raise ValueError("a `denied` rule cannot `allow` data categories")
        return self


class DisclosurePolicyDoc(DocBase):
    kind: Literal["DisclosurePolicy"]
    id: SopId
    jurisdiction: RegionCode
    title: str = ""
    description: str = ""
    rules: list[PolicyRule] = Field(min_length=1)


class RegionSpec(Strict):
    timezone: str
    team: str
    data_region: str | None = None


class RegionsDoc(DocBase):
    kind: Literal["Regions"]
    regions: dict[RegionCode, RegionSpec] = Field(min_length=1)


class Person(Strict):
    name: str
    region: RegionCode
    roles: list[RoleName] = Field(default_factory=list)
    email: str | None = None
    desks: dict[RegionCode, list[RoleName]] = Field(
        default_factory=dict,
        description=(
            "Roles this person also holds on other desks (e.g. a counsel who covers the UK "
            "desk too): they act on those desks' incidents with these roles"
        ),
    )

    def roles_on(self, desk: str) -> list[str]:
        """The roles this person holds on ``desk``: all of theirs on their own desk."""
        return list(self.roles) if desk == self.region else list(self.desks.get(desk, []))


class RosterDoc(DocBase):
    kind: Literal["Roster"]
    people: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9._-]{0,62}$")], Person]


DOCUMENT_MODELS: dict[str, type[DocBase]] = {
    "SOP": SopDoc,
    "Variant": VariantDoc,
    "DisclosurePolicy": DisclosurePolicyDoc,
    "Regions": RegionsDoc,
    "Roster": RosterDoc,
    "Rehearsal": RehearsalDoc,
    "Rota": RotaDoc,
    "Destinations": DestinationsDoc,
}
