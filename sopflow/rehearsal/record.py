"""``sopflow rehearse --record FILE``: the `expect` block a run would pass, written into a copy
of the rehearsal for its author to review (what happened is not always what should).

Only what the run shows is written: how it opened when that was not a plain start, then the
path, the outcome, the breached steps, the refused actions, the hand-offs, the stakeholder
updates, the post-mortem review and what linked incidents did. The rest of the file is kept
as written, comments included.
"""

from __future__ import annotations

from typing import Any

import yaml

from sopflow.rehearsal.observed import Observed
from sopflow.rehearsal.reviews import recorded as recorded_review
from sopflow.rehearsal.updates import recorded


def observed_expect(observed: Observed) -> dict[str, Any]:
    """The expectations that ``observed`` meets, in the order a rehearsal writes them."""
    out: dict[str, Any] = {}
    if observed.start != "started":
        out["start"] = observed.start
    if observed.opening is not None and observed.opening.duplicates:
        out["duplicates"] = len(observed.opening.duplicates)
    if observed.start == "refused":
        return out
    out["path"] = observed.path
    out["outcome"] = observed.outcome
    if observed.breached:
        out["breached"] = observed.breached
    if observed.refused:
        out["rejected_actions"] = len(observed.refused)
    if observed.handoffs:
        out["handoffs"] = observed.handoffs
    if observed.updates:
        out["updates"] = recorded(observed.updates)
    if observed.review is not None:
        out["review"] = recorded_review(observed.review)
    if observed.linked:
        out["linked"] = {
            step: {"path": list(state.path), "outcome": state.outcome or state.status}
            for step, state in observed.linked.items()
        }
    return out


def with_expect(text: str, expect: dict[str, Any]) -> str:
    """``text`` (a rehearsal) with its top-level `expect` block replaced by ``expect``."""
    body = yaml.safe_dump(expect, default_flow_style=None, sort_keys=False, width=96)
    block = "expect:\n" + "".join(f"  {line}\n" for line in body.splitlines())
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("expect:")), None)
    if start is None:
        return text + ("" if text.endswith("\n") else "\n") + block
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i][:1] not in (" ", "\t", "\n", "#") and lines[i].strip()
        ),
        len(lines),
    )
    return "".join(lines[:start]) + block + "".join(lines[end:])
