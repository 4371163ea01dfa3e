"""The stakeholder update cadence of an SOP (``updates``): per severity, how often the
incident's lead is asked for an update, where the update goes, and who is paged when one is
missed. docs/authoring.md describes it; ``sopflow.language.checks.updates`` checks it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sopflow.contract.names import LEAD_ROLE
from sopflow.language.models.common import Duration, RoleName, Strict
from sopflow.language.models.destinations import CHANNEL_PATTERN, DestinationName


class UpdateCadence(Strict):
    """Updates at one severity. The update goes to a named ``destination``, or to the
    people on call for the role ``to`` over ``channel``: exactly one of the two forms."""

    every: Duration = Field(description="How often an update is asked for (at least 5m)")
    destination: DestinationName | None = Field(
        default=None, description="A named destination (Destinations) the update goes to"
    )
    to: RoleName | None = Field(default=None, description="A declared role (with `channel`)")
    channel: str | None = Field(
        default=None, pattern=CHANNEL_PATTERN, description="The channel to `to` (with `to`)"
    )
    template: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The message, with {{ }} placeholders: the SOP's names (input, steps, incident, "
            "now) and `update` (number, text, severity, by); default: a line with the "
            "incident, its severity and the text"
        ),
    )
    asked: RoleName = Field(
        default=LEAD_ROLE, description="The role asked for each update (default: lead)"
    )
    escalate_after: Duration | None = Field(
        default=None,
        description="How long the asked role has before the update is missed (default: 10m)",
    )
    escalate: list[RoleName] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Who a missed update pages: the first missed in a row the first role, the next "
            "the next, the last again after that (default: [lead])"
        ),
    )
    follow_the_sun: bool = Field(
        default=False,
        description=(
            "Ask the desk on shift for the `asked` role (the Rota says which) rather than the "
            "incident's own desk; that desk posts the update, and a missed one pages "
            "`escalate` there"
        ),
    )

    @model_validator(mode="after")
    def _one_form(self) -> UpdateCadence:
        written = [f"`{n}`" for n in ("to", "channel") if getattr(self, n) is not None]
        if self.destination is not None and written:
            raise ValueError(
                f"an update cadence with a `destination` takes no {' or '.join(written)}: "
                "the destination names the channel and the address"
            )
        if self.destination is None and len(written) < 2:
            raise ValueError("an update cadence needs `to` and `channel`, or a `destination`")
        return self


# --- Rehearsals: posting an update, and what became of each one asked


class PostUpdateAction(Strict):
    """A rehearsal action: the stakeholder update the incident asked for, posted by the
    roster person ``as`` (``sopflow incident update``)."""

    as_: str = Field(alias="as", description="The roster person who posts it")
    text: str = Field(description="The update's text (the engine refuses an empty one)")


class UpdateExpectation(Strict):
    """What became of one stakeholder update the incident asked for, in the order asked.
    Only the fields written are compared."""

    status: Literal["due", "posted", "missed"] = Field(
        description="posted (in time or late), missed (never posted), or due (still open)"
    )
    by: str | None = Field(default=None, description="Who posted it (a roster handle)")
    severity: Literal["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"] | None = Field(
        default=None, description="The severity it was asked at"
    )
    escalated_to: RoleName | None = Field(
        default=None,
        description="The role its miss paged, exactly once (a late post keeps it)",
    )
