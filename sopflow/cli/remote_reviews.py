"""API mode for the post-mortem review commands (``sopflow.cli.postmortem``): the review
routes of ``sopflow.api.reviews``, through ``sopflow.cli.remote``'s signed-in session and its
problem handling, so a refusal prints as direct mode's does."""

from __future__ import annotations

from typing import Any, assert_never

from sopflow.api.models import ActionOut
from sopflow.cli.remote import Api, _call, _model, _seg
from sopflow.contract.messages import ActionResult
from sopflow.contract.reviews import ReviewAction, ReviewState


def review(api: Api, incident_id: str) -> ReviewState:
    """The incident's review (404 when it has none, or the caller may not see it)."""
    return _model(ReviewState, _call(api, "GET", f"/incidents/{_seg(incident_id)}/postmortem"))


def act(api: Api, incident_id: str, action: ReviewAction, request_id: str | None) -> ActionResult:
    """Send one review action as the caller, the request id as its Idempotency-Key."""
    path, body = _route(action)
    where = f"/incidents/{_seg(incident_id)}/postmortem/{path}"
    done = _model(ActionOut, _call(api, "POST", where, body=body, key=request_id, retry=request_id))
    return ActionResult(accepted=done.accepted, step=done.step, detail=done.detail)


def _route(action: ReviewAction) -> tuple[str, dict[str, Any]]:
    match action.kind:
        case "add_item":
            due = action.due_at.isoformat() if action.due_at else None
            return "items", {"title": action.title, "owner": action.owner, "due_at": due}
        case "close_item":
            return f"items/{_seg(action.item or '')}/close", {"note": action.note}
        case "root_cause":
            return "root-cause", {
                "factors": action.factors,
                "step": action.cause_step,
                "policy": action.policy,
                "changes": action.changes,
            }
        case "done":
            return "done", {"note": action.note}
        case _:
            assert_never(action.kind)
