"""Repeat causes read from real post-mortem reviews on the time-skipping server: two
incidents of one SOP whose reviews record root causes sharing a factor and a step; one
review is marked done (its facts come from its result, and are cached by run id), the other
is still open (its facts come from the ``state`` query, never cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sopflow.client.metrics.cache import FactsCache
from sopflow.client.metrics.compute import compute
from sopflow.client.metrics.read import facts_of_run
from sopflow.client.metrics.read_reviews import read_reviews
from sopflow.contract.reviews import ReviewAction
from tests.harness import bench, run
from tests.test_postmortem_review import DONE, LEAD, review_until, reviewed_incident

pytestmark = pytest.mark.workflow


def cause(*factors: str) -> ReviewAction:
    return ReviewAction(
        kind="root_cause", actor=LEAD, factors=list(factors), cause_step="respond", changes="c"
    )


def test_metrics_count_the_causes_of_real_reviews(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bench() as b:
            first, reviews = await reviewed_incident(b)
            second, _ = await reviewed_incident(b)
            for incident, factors in ((first, ("late-signal",)), (second, ("Late signal", "x"))):
                await review_until(reviews, incident, lambda s: True)
                await reviews.act(incident, cause(*factors))
            await reviews.act(first, DONE)
            await reviews.handle(first).result()
            cache = FactsCache(tmp_path)
            runs = [await reviews.handle(i).describe() for i in (first, second)]
            read = await read_reviews(b.client, runs, cache)
            assert read.unreadable == 0
            assert [(f.incident_id, f.status) for f in read.facts] == [
                (first, "closed"),
                (second, "open"),
            ]
            described = [await b.incidents.handle(i).describe() for i in (first, second)]
            incidents = [await facts_of_run(b.client, wf, cache) for wf in described]
            m = compute(incidents, ["sop"], reviews=read.facts)
            every = [(c.kind, c.cause, c.count) for c in m.causes if c.scope == "all"]
            assert every == [
                ("factor", "late-signal", 2),
                ("step", "reviewed/respond", 2),
                ("factor", "x", 1),
            ]
            assert {c.key["sop"] for c in m.causes if c.scope == "sop"} == {"reviewed"}
            # The done review was cached; reading again takes it from the cache.
            hits = cache.hits
            again = await read_reviews(b.client, runs, cache)
            assert again.facts == read.facts and cache.hits == hits + 1

    run(scenario)
