"""Refused actions by cause, from the API's log (sopflow.client.metrics.refusals): lines
rendered by the API's own logging calls, one refusal per request, joined to the incidents'
groups, windowed; other lines skipped, never an error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from sopflow.api.problems import log_refusal
from sopflow.cli.app import app
from sopflow.client.metrics.facts import IncidentFacts
from sopflow.client.metrics.refusals import read_refusals, refusal_groups
from tests.test_metrics_charts import calls

__all__ = ["calls"]  # the fixture: Temporal replaced by recorded facts

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def api_log() -> Iterator[list[str]]:
    """What the API writes, as JSON lines (its renderer when stdout is not a terminal)."""
    lines: list[str] = []

    def keep(_logger: object, _name: str, event: MutableMapping[str, Any]) -> str:
        line = json.dumps(event)
        lines.append(line)
        return line

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,  # the API's request id (GuardMiddleware)
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            keep,
        ],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    yield lines
    structlog.reset_defaults()


def action(lines: list[str], incident: str, request_id: str, outcome: str) -> None:
    """The line sopflow.api.actions.act logs for one action: its own request id is the
    update's (a uuid), the HTTP request's comes from the middleware's context."""
    log = structlog.get_logger("sopflow.api").bind(
        actor="ann", action="CompleteTask", incident=incident, request_id=str(uuid.uuid4())
    )
    with structlog.contextvars.bound_contextvars(http_request_id=request_id):
        log.info("api.action", outcome=outcome, reason="because")


def refused(incident: str | None, request_id: str, status: int) -> None:
    with structlog.contextvars.bound_contextvars(http_request_id=request_id):
        log_refusal(
            actor="ann",
            action="POST /api/v1/incidents/{incident_id}/events",
            incident=incident,
            request_id=request_id,
            status=status,
            reason="no",
        )


def facts(incident: str, sop: str, region: str) -> IncidentFacts:
    return IncidentFacts(id=incident, sop=sop, region=region, status="running", opened_at=T0)


def test_each_refused_request_counts_once_by_its_most_precise_cause(api_log: list[str]) -> None:
    action(api_log, "tl-1", "r1", "refused:forbidden")
    refused("tl-1", "r1", 403)  # the same request, answered 403: not counted again
    action(api_log, "tl-1", "r2", "refused:refused")
    action(api_log, "tl-1", "r3", "accepted")
    action(api_log, "cs-1", "r4", "refused:invalid")
    refused("secret-1", "r5", 404)  # need-to-know: the API's own 404
    refused(None, "r6", 401)
    api_log += ["uvicorn started", "", '{"not": "an event"}', "[1, 2]"]

    log = read_refusals(api_log)
    assert log.skipped == 3  # the blank line is not counted
    assert sorted((r.request_id, r.cause, r.precise) for r in log.refusals) == [
        ("r1", "forbidden", True),
        ("r2", "refused", True),
        ("r4", "invalid", True),
        ("r5", "not_found", False),
        ("r6", "unauthenticated", False),
    ]

    known = [facts("tl-1", "threat-to-life", "US"), facts("cs-1", "csea-report", "UK")]
    groups = refusal_groups(log, known, ["sop", "region"])
    counted = {(tuple(g.key.values()), g.action, g.cause): g.count for g in groups}
    events_route = "POST /api/v1/incidents/{incident_id}/events"
    assert counted == {
        (("threat-to-life", "US"), "CompleteTask", "forbidden"): 1,
        (("threat-to-life", "US"), "CompleteTask", "refused"): 1,
        (("csea-report", "UK"), "CompleteTask", "invalid"): 1,
        # An incident outside the window's listing (or one it may not name) is ungrouped.
        (("-", "-"), events_route, "not_found"): 1,
        (("-", "-"), events_route, "unauthenticated"): 1,
    }


def test_only_refusals_made_in_the_window_count(api_log: list[str]) -> None:
    action(api_log, "tl-1", "r1", "refused:closed")
    log = read_refusals(api_log)
    [made] = log.refusals
    known = [facts("tl-1", "threat-to-life", "US")]
    before = refusal_groups(log, known, ["sop"], until=made.at)
    after = refusal_groups(log, known, ["sop"], since=made.at, until=made.at + timedelta(1))
    assert before == []
    assert [(g.key, g.cause, g.count) for g in after] == [({"sop": "threat-to-life"}, "closed", 1)]


def test_a_record_without_a_readable_time_is_not_a_refusal() -> None:
    line = json.dumps({"event": "api.action", "outcome": "refused:invalid", "timestamp": "soon"})
    assert read_refusals([line]).refusals == []


# --- sopflow metrics --api-log FILE


def test_api_log_option_adds_refusals_by_group_action_and_cause(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    def line(at: str, rid: str, incident: str, outcome: str, event: str = "api.action") -> str:
        fields = {"event": event, "timestamp": at, "http_request_id": rid, "outcome": outcome}
        return json.dumps({**fields, "incident": incident, "action": "Vote"})

    log = tmp_path / "api.log"
    log.write_text(
        "\n".join(
            [
                "sopflow API on http://127.0.0.1:8080/api/v1",  # a line that is not an event
                line("2026-03-02T09:10:00Z", "h1", "A", "refused:forbidden"),
                line("2026-03-02T09:10:00Z", "h1", "A", "refused:403", event="api.refused"),
                line("2026-03-02T09:20:00Z", "h2", "A", "refused:refused"),
                line("2026-03-02T09:30:00Z", "h3", "nobody-knows", "refused:not_found"),
                line("2026-03-01T09:00:00Z", "h4", "A", "refused:refused"),  # before the window
            ]
        )
    )
    window = ["--since", "2026-03-02T08:00Z", "--until", "2026-03-03T00:00Z"]
    args = ["metrics", *window, "-f", "json", "--by", "region", "--api-log", str(log)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["refusal_logs_read"] is True
    assert [(r["key"], r["cause"], r["count"]) for r in out["refusals"]] == [
        ({"region": "-"}, "not_found", 1),
        ({"region": "US"}, "forbidden", 1),
        ({"region": "US"}, "refused", 1),
    ]
    assert "1 line(s) of --api-log were not log events" in result.stderr
    table = CliRunner().invoke(app, ["metrics", *window, "--by", "region", "--api-log", str(log)])
    assert table.exit_code == 0, table.output
    assert "refused action" in table.stdout and "forbidden" in table.stdout


def test_an_unreadable_api_log_is_a_clear_error(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["metrics", "--api-log", str(tmp_path / "missing.log")])
    assert result.exit_code == 1
    assert "--api-log: cannot read" in result.stderr and "Traceback" not in result.output
