"""The "Repeat causes" table of ``sopflow metrics``: each contributing factor, step and
policy named in the root causes of the window's incidents' post-mortem reviews, over all of
them, per SOP and per group (docs/metrics.md, Repeat causes)."""

from __future__ import annotations

from rich.table import Table

from sopflow.cli.incidents import table
from sopflow.client.metrics.compute import Metrics

_SCOPES = {"all": "all", "sop": "per SOP", "group": "per group"}
# A cause's incidents beyond this many are counted, not listed.
SHOWN_INCIDENTS = 5


def cause_table(m: Metrics, group: str) -> Table:
    """One row per cause and scope, most frequent first within each; the caption counts
    the reviews read."""
    t = table("scope", "of", "kind", "cause", "reviews", "incidents")
    for c in m.causes:
        shown = ", ".join(c.incidents[:SHOWN_INCIDENTS])
        more = len(c.incidents) - SHOWN_INCIDENTS
        t.add_row(
            _SCOPES[c.scope],
            " ".join(c.key.values()) or "-",
            c.kind,
            c.cause,
            str(c.count),
            shown + (f" (+{more})" if more > 0 else ""),
        )
    if not m.causes:
        t.add_row("-", "-", "-", "(no root cause recorded yet)", "0", "-")
    unread = f", {m.reviews_unreadable} unreadable" if m.reviews_unreadable else ""
    t.caption = (
        f"Repeat causes ({group}): {m.reviews} post-mortem review(s), "
        f"{m.reviews_with_cause} with a root cause{unread}"
    )
    return t
