"""Post-mortem review commands: ``sopflow postmortem show|item add|item close|root-cause|done``.

Direct mode reads and acts through the review service (signed with the operator key, as the
task commands are); with ``$SOPFLOW_API_URL`` set they go through the HTTP API, as the
caller, and need-to-know applies. Exit codes as the incident commands: 0, 1 refused or
failed (``refused: <reason>``), 2 usage.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from sopflow.cli import remote, remote_reviews
from sopflow.cli.authoring import DefinitionsOpt
from sopflow.cli.incidents import JsonOpt, console, operator_signer, table, to_second, with_api
from sopflow.cli.incidents import with_incidents as _with_incidents
from sopflow.cli.tasks import AsOpt, RequestIdOpt, actor_for, request_id
from sopflow.client.incidents import IncidentService
from sopflow.client.metrics.causes import repeat_causes
from sopflow.client.reviews import ReviewService
from sopflow.contract.messages import ActionResult, Actor
from sopflow.contract.reviews import ReviewAction, ReviewState
from sopflow.language.durations import DurationError, parse_duration

postmortem_app = typer.Typer(
    help="Post-mortem reviews: show, item add, item close, root-cause, done, causes.",
    no_args_is_help=True,
)
item_app = typer.Typer(help="A review's action items: add, close.", no_args_is_help=True)
postmortem_app.add_typer(item_app, name="item")

IdArg = typer.Argument(..., metavar="ID", help="The incident id.")


def due_at(text: str, now: datetime | None = None) -> datetime:
    """``--due``: a duration from now (``5d``, ``36h``) or an ISO date or instant (UTC when
    it names no zone)."""
    now = now or datetime.now(UTC)
    try:
        return now + timedelta(seconds=parse_duration(text))
    except DurationError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (5d) nor a date (2031-03-01)", param_hint="--due"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read(incident_id: str) -> ReviewState:
    if remote.enabled():
        return with_api(None, lambda api: remote_reviews.review(api, incident_id))

    async def go(incidents: IncidentService) -> ReviewState:
        return await ReviewService.of(incidents).state(incident_id)

    return _with_incidents(go)


def _act(
    incident_id: str,
    user: str | None,
    definitions: Path | None,
    rid: str,
    make: Callable[[Actor], ReviewAction],
) -> None:
    """Send the action ``make`` builds for the acting person and print what it did."""
    if remote.enabled():
        result = with_api(
            user, lambda api: remote_reviews.act(api, incident_id, make(api.actor), rid)
        )
    else:
        action = make(actor_for(user, definitions))

        async def go(incidents: IncidentService) -> ActionResult:
            return await ReviewService.of(incidents).act(incident_id, action, request_id=rid)

        result = _with_incidents(go, operator_signer())
    print(f"{incident_id} post-mortem: {result.detail}")


def show(incident_id: str = IdArg, as_json: bool = JsonOpt) -> None:
    """Show an incident's post-mortem review: owner, due date, items, root cause, timeline."""
    review = _read(incident_id)
    body: dict[str, Any] = review.model_dump(mode="json", exclude={"recent_requests"})
    if as_json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return
    out = console()
    out.print(
        f"{review.review_id}  {review.sop}@{review.version} ({review.region})  "
        f"status {review.status}  owner {review.owner}  due {to_second(body['due_at'])}",
        style="bold",
    )
    out.print(f"draft: {review.document}")
    items = table("item", "status", "owner", "due", "title", "note")
    for i in body["items"]:
        items.add_row(
            i["id"], i["status"], i["owner"], to_second(i["due_at"]), i["title"], i["note"] or "-"
        )
    out.print(items)
    cause = review.root_cause
    if cause is not None:
        where = ", ".join(x for x in (cause.step and f"step {cause.step}", cause.policy) if x)
        out.print(f"root cause: {', '.join(cause.factors)}" + (f" ({where})" if where else ""))
        out.print(f"changes: {cause.changes}")
    timeline = table("at", "actor", "kind", "detail")
    for e in body["timeline"]:
        timeline.add_row(to_second(e["at"]), e["actor"], e["kind"], e["detail"])
    out.print(timeline)


@item_app.command("add")
def add_item(
    incident_id: str = IdArg,
    title: str = typer.Option(..., "--title", help="What is to be done."),
    owner: str = typer.Option(..., "--owner", help="Who: a Roster handle or a role."),
    due: str = typer.Option(..., "--due", help="A duration from now (5d) or a date."),
    as_: str | None = AsOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Add an action item to the review (its owner or a lead)."""
    when = due_at(due)

    def make(actor: Actor) -> ReviewAction:
        return ReviewAction(kind="add_item", actor=actor, title=title, owner=owner, due_at=when)

    _act(incident_id, as_, definitions, request_id(request), make)


@item_app.command("close")
def close_item(
    incident_id: str = IdArg,
    item: str = typer.Argument(..., metavar="ITEM", help="The item's id (A1, A2, ...)."),
    note: str = typer.Option(..., "--note", help="What was done."),
    as_: str | None = AsOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Close an action item with a note (its owner, the review's owner or a lead)."""

    def make(actor: Actor) -> ReviewAction:
        return ReviewAction(kind="close_item", actor=actor, item=item, note=note)

    _act(incident_id, as_, definitions, request_id(request), make)


@postmortem_app.command("root-cause")
def root_cause(
    incident_id: str = IdArg,
    factor: list[str] = typer.Option(..., "--factor", help="A contributing factor (repeat)."),
    changes: str = typer.Option(..., "--changes", help="What changes as a result."),
    step: str | None = typer.Option(None, "--step", help="The SOP step involved."),
    policy: str | None = typer.Option(None, "--policy", help="The disclosure policy involved."),
    as_: str | None = AsOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Record (or revise) the root cause as fields metrics count (its owner or a lead)."""

    def make(actor: Actor) -> ReviewAction:
        return ReviewAction(
            kind="root_cause",
            actor=actor,
            factors=list(factor),
            cause_step=step,
            policy=policy,
            changes=changes,
        )

    _act(incident_id, as_, definitions, request_id(request), make)


@postmortem_app.command("done")
def done(
    incident_id: str = IdArg,
    note: str | None = typer.Option(None, "--note", help="A closing note."),
    as_: str | None = AsOpt,
    request: str | None = RequestIdOpt,
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """Mark the review done (its owner only); refused while any action item is open."""

    def make(actor: Actor) -> ReviewAction:
        return ReviewAction(kind="done", actor=actor, note=note)

    _act(incident_id, as_, definitions, request_id(request), make)


postmortem_app.command("show")(show)


@postmortem_app.command("causes")
def causes(
    query: str = typer.Option("", "--query", help="A visibility query narrowing the reviews."),
    as_json: bool = JsonOpt,
) -> None:
    """Repeat causes across post-mortem reviews: each contributing factor, SOP step and
    policy named in root causes, most frequent first (direct mode: an operator's view)."""

    async def go(incidents: IncidentService) -> list[ReviewState]:
        return await ReviewService.of(incidents).all(query)

    counted = repeat_causes(_with_incidents(go))
    if as_json:
        print(json.dumps(dataclasses.asdict(counted), indent=2, ensure_ascii=False))
        return
    out = console()
    out.print(f"{counted.reviews} reviews, {counted.with_cause} with a root cause", style="bold")
    rows = table("kind", "cause", "reviews", "incidents")
    for c in counted.counts:
        rows.add_row(c.kind, c.cause, str(c.count), ", ".join(c.incidents))
    out.print(rows)
