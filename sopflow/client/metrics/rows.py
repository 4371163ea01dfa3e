"""The metrics as flat rows: one long ("tidy") table for CSV, whatever the grouping, so a
spreadsheet or a dataframe can pivot it. Pure; the CLI only writes them out."""

from __future__ import annotations

from collections.abc import Iterator

from sopflow.client.metrics.compute import DIMENSIONS, Metrics, Spread

# section: incidents | steps | approvals | disclosures | refusals | causes. `item` names what
# a row counts within its section (an outcome; `policy/decision/basis` for a disclosure;
# `action/cause` for a refusal; `kind:cause` for a repeat cause, whose metric says its scope:
# `reviews` over all, `reviews_per_sop`, `reviews_per_group`); durations in seconds.
COLUMNS = ("section", *DIMENSIONS, "step", "desk", "item", "metric", "value")
Row = dict[str, str]


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0") if isinstance(value, float) else str(value)


def _spread(name: str, s: Spread) -> Iterator[tuple[str, str]]:
    yield f"{name}_n", str(s.n)
    for part in ("p50", "p90", "max"):
        yield f"{name}_{part}_s", _number(getattr(s, part))


def tidy_rows(metrics: Metrics) -> Iterator[Row]:
    """Every figure of ``metrics`` as one row of COLUMNS (dimensions not grouped by are
    empty)."""
    for g in metrics.groups:
        base = {"section": "incidents", **g.key}
        yield _row(base, "", "incidents", str(g.incidents))
        for outcome, count in g.outcomes.items():
            yield _row(base, outcome, "count", str(count))
        figures = [
            ("unreadable", str(g.unreadable)),
            ("no_action", str(g.no_action)),
            *_spread("first_action", g.first_action),
            *_spread("close", g.close),
            ("escalations", str(g.escalations)),
            ("repages", str(g.repages)),
        ]
        yield from (_row(base, "", m, v) for m, v in figures)
    for s in metrics.steps:
        base = {"section": "steps", **s.key, "step": s.step, "desk": s.desk}
        for metric in (
            "met",
            "breached",
            "open",
            "attainment",
            "breaches",
            "escalations",
            "repages",
            "chains_spent",
        ):
            yield _row(base, "", metric, _number(getattr(s, metric)))
    for a in metrics.approvals:
        base = {"section": "approvals", **a.key, "step": a.step}
        for metric in ("decided", "approved", "rejected", "reject_votes"):
            yield _row(base, "", metric, str(getattr(a, metric)))
        yield from (_row(base, "", m, v) for m, v in _spread("time_to_quorum", a.time_to_quorum))
    for d in metrics.disclosures:
        base = {"section": "disclosures", **d.key}
        yield _row(base, f"{d.policy}/{d.decision}/{d.basis}", "count", str(d.count))
    for r in metrics.refusals:
        yield _row({"section": "refusals", **r.key}, f"{r.action}/{r.cause}", "count", str(r.count))
    yield from _cause_rows(metrics)


_CAUSE_METRIC = {"all": "reviews", "sop": "reviews_per_sop", "group": "reviews_per_group"}


def _cause_rows(metrics: Metrics) -> Iterator[Row]:
    """The repeat causes: the reviews read, then each cause's count in each scope."""
    if not metrics.reviews and not metrics.reviews_unreadable:
        return
    base = {"section": "causes"}
    yield _row(base, "", "reviews_read", str(metrics.reviews))
    yield _row(base, "", "reviews_with_cause", str(metrics.reviews_with_cause))
    yield _row(base, "", "reviews_unreadable", str(metrics.reviews_unreadable))
    for c in metrics.causes:
        row = {**base, **c.key}
        yield _row(row, f"{c.kind}:{c.cause}", _CAUSE_METRIC[c.scope], str(c.count))


def _row(base: Row, item: str, metric: str, value: str) -> Row:
    row = dict.fromkeys(COLUMNS, "")
    row.update(base)
    row.update(item=item, metric=metric, value=value)
    return row
