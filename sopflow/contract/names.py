"""The names the workflow, its clients and the worker agree on: task queue, updates, signal,
query and activity names, and two roles and channels with a fixed meaning.

Changing a value here breaks every running incident and every checked-in history: these are
part of the contract, like the plan IR's field names.
"""

from __future__ import annotations

TASK_QUEUE = "sopflow"

# Workflow Updates (responder actions, validated before anything reaches the history)
UPDATE_COMPLETE = "complete_task"
UPDATE_VOTE = "vote"
UPDATE_NOTE = "add_note"
UPDATE_CANCEL = "cancel_incident"
UPDATE_MIGRATE = "migrate"
# A lead posts the stakeholder update the incident asked for (Plan.updates).
UPDATE_POST = "post_update"
# Signal (external events for `wait: {event: ...}`) and query (the incident's state)
SIGNAL_EVENT = "event"
# Another incident names this one (a duplicate opened about the same case).
SIGNAL_LINK = "link"
QUERY_STATE = "state"

# Activities
ACT_ENRICH = "sopflow.enrich"
ACT_NOTIFY = "sopflow.notify"
ACT_DISCLOSURE = "sopflow.disclosure_check"
ACT_POSTMORTEM = "sopflow.postmortem"
# The Rota, read at run time (its answers are recorded in the history as activity results).
ACT_DESK_TURN = "sopflow.desk_turn"
ACT_BUSINESS_DUE = "sopflow.business_due"

# SLA escalations go out on this channel; without one configured they go to the log channel
# (never dropped: the breach is also on the incident's timeline).
ESCALATION_CHANNEL = "escalation"

# The role that may cancel an incident, whatever the SOP calls its other roles.
LEAD_ROLE = "lead"

# The ApplicationError type of an action the workflow's validator refuses (wrong role, step not
# active, form, second vote, four eyes): clients tell it from Temporal's own failures by it.
REFUSED_ERROR_TYPE = "ActionRefused"

# A linked incident's plan, resolved from the library by the worker when a step opens one.
ACT_LINKED_PLAN = "sopflow.linked_plan"
# The ApplicationError type of a linked incident that cannot be opened (no such SOP, version
# or region, retired, input that does not fit): the step fails and says why.
LINK_REFUSED_ERROR_TYPE = "LinkRefused"


def data_queue_name(base: str, data_region: str) -> str:
    """The task queue serving user-data activities for one data region."""
    return f"{base}-data-{data_region}"


# Post-mortem reviews (docs/postmortems.md): a workflow of its own per incident, started by
# the post-mortem step, outliving the incident; its actions are one signed Update.
WORKFLOW_REVIEW = "sopflow.postmortem_review"
UPDATE_REVIEW = "review_action"


def review_id(incident_id: str) -> str:
    """The workflow id of an incident's post-mortem review. An incident id holds no '/', so
    it names no incident, and no linked incident (those are ``<id>.<step>``)."""
    return f"{incident_id}/postmortem"
