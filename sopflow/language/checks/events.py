"""Checks of an SOP's `on_event` handlers: each goes on from a top-level step of its own
SOP (a jump into a parallel branch would leave the branch's siblings behind)."""

from __future__ import annotations

from sopflow.language.checks.steps import Context
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, Where, walk_steps
from sopflow.language.models.documents import SetOnEventChange
from sopflow.language.validation import did_you_mean


def check_event_handlers(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """E301 for a handler whose `goto` names no top-level step."""
    handlers = eff.sop.on_event or {}
    top = [s.id for s in eff.sop.steps]
    every = [s.id for s, _, _ in walk_steps(list(eff.sop.steps))]
    out = []
    for name, handler in sorted(handlers.items()):
        if handler.goto in top:
            continue
        if handler.goto in every:
            message = (
                f"`on_event.{name}.goto`: `{handler.goto}` is inside a parallel step; an "
                "event handler goes on from a top-level step"
            )
        else:
            hint = did_you_mean(handler.goto, top)
            message = f"`on_event.{name}.goto` names no step `{handler.goto}`{hint}"
        written = handler_where(eff, name)
        if written is None:
            out.append(eff.sop_diag(("on_event", name, "goto"), "E301", message))
        else:
            source, path = written
            out.append(source.diag((*path, "goto"), "E301", message))
    return out


def handler_where(eff: Effective, name: str) -> Where | None:
    """Where the variant wrote the handler for ``name`` (its last `set_on_event` entry for
    it: changes apply in order), or None when the handler is the base's."""
    if eff.variant is None:
        return None
    changes = eff.variant.model.changes
    for index in range(len(changes) - 1, -1, -1):
        change = changes[index]
        if isinstance(change, SetOnEventChange) and name in change.set_on_event:
            return eff.variant.source, ("changes", index, "set_on_event", name)
    return None


def handled_events(eff: Effective) -> list[str]:
    """The events the SOP handles whatever step is active."""
    return sorted(eff.sop.on_event or {})
