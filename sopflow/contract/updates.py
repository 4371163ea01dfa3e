"""Stakeholder updates: the names and limits shared by the language (lint, compile), the
interpreter (``workflows/updates.py``) and the interfaces.

An SOP's ``updates`` says, per severity, how often the incident's lead is asked for an update
for stakeholders; the plan holds it as ``Plan.updates`` (``UpdateCadencePlan``). Plain data
only, so the Temporal sandbox can load it.
"""

from __future__ import annotations

SEVERITIES = ("SEV0", "SEV1", "SEV2", "SEV3", "SEV4")

# The name an update's template reads besides the SOP's own (input, steps, incident, now),
# and its fields.
UPDATE_VARIABLE = "update"
UPDATE_FIELDS = ("number", "text", "severity", "by")

DEFAULT_UPDATE_TEMPLATE = (
    "Update {{ update.number }} on incident {{ incident.id }} ({{ incident.severity }}, "
    "{{ incident.sop }}): {{ update.text }}"
)

# Stakeholders are not paged more often than this: a shorter cadence is a lint error.
MIN_EVERY_S = 5 * 60
# How long the lead has to post an asked update before it is missed, unless written.
DEFAULT_ESCALATE_AFTER_S = 10 * 60
# The shortest grace that can be written (less is no time to write an update).
MIN_ESCALATE_AFTER_S = 60
# The longest update text the workflow accepts (it travels in every message).
MAX_UPDATE_CHARS = 4000

# The timeline entry kinds of stakeholder updates.
UPDATE_DUE = "update.due"
UPDATE_POSTED = "update.posted"
UPDATE_MISSED = "update.missed"
UPDATE_KINDS = (UPDATE_DUE, UPDATE_POSTED, UPDATE_MISSED)


def escalation_role(chain: list[str], missed_in_a_row: int) -> str:
    """The role a missed update pages: the n-th missed in a row pages the n-th role of the
    chain, and the last one again after that (as an SLA's spent chain does)."""
    return chain[min(missed_in_a_row, len(chain)) - 1]
