"""Compile an SOP's stakeholder update cadence (``updates``) into the plan: durations in
seconds, defaults filled in, named destinations resolved. Assumes the SOP passed lint."""

from __future__ import annotations

from collections.abc import Mapping

from sopflow.contract.names import LEAD_ROLE
from sopflow.contract.plan import DestinationPlan, UpdateCadencePlan
from sopflow.contract.updates import DEFAULT_ESCALATE_AFTER_S, DEFAULT_UPDATE_TEMPLATE, SEVERITIES
from sopflow.language.durations import parse_duration
from sopflow.language.models.destinations import Destination
from sopflow.language.models.documents import SopDoc
from sopflow.language.models.updates import UpdateCadence


def compile_updates(
    sop: SopDoc, destinations: Mapping[str, Destination]
) -> dict[str, UpdateCadencePlan] | None:
    """The plan's `updates`, by severity in order (None when the SOP declares none)."""
    if not sop.updates:
        return None
    order = {level: i for i, level in enumerate(SEVERITIES)}
    written = sorted(sop.updates.items(), key=lambda item: order[item[0]])
    return {level: _cadence(cadence, destinations) for level, cadence in written}


def _cadence(cadence: UpdateCadence, destinations: Mapping[str, Destination]) -> UpdateCadencePlan:
    found = None
    if cadence.destination is not None:
        spec = destinations[cadence.destination]  # lint checked the name
        found = DestinationPlan(
            name=cadence.destination, channel=spec.channel, address=spec.address
        )
    grace = cadence.escalate_after
    return UpdateCadencePlan(
        every_s=parse_duration(cadence.every),
        asked=cadence.asked,
        escalate_after_s=parse_duration(grace) if grace else DEFAULT_ESCALATE_AFTER_S,
        escalate=list(cadence.escalate or [LEAD_ROLE]),
        template=cadence.template or DEFAULT_UPDATE_TEMPLATE,
        channel=found.channel if found else cadence.channel or "",
        to_role=None if found else cadence.to,
        destination=found,
        follow_the_sun=cadence.follow_the_sun,
    )
