"""The inbox: the tasks and approvals the person may act on now, soonest due first."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from starlette.responses import Response

from sopflow.api.models import TaskOut
from sopflow.client.views import OpenTask
from sopflow.web.security import PREFIX
from sopflow.web.visits import console_of

FILTERS = ("sop", "severity", "region")
# Rows a page shows, soonest due first: past a few hundred a queue is worked by filtering,
# and a page of thousands of rows is slow to send, render and read with a screen reader.
MAX_ROWS = 200


def _choices(tasks: list[OpenTask], name: str, chosen: str | None) -> list[str]:
    values = {str(getattr(t, name)) for t in tasks if getattr(t, name) is not None}
    return sorted(values | ({chosen} if chosen else set()))


def _fits(task: OpenTask, chosen: dict[str, str | None]) -> bool:
    return all(value is None or str(getattr(task, name)) == value for name, value in chosen.items())


async def inbox(request: Request) -> Response:
    """``GET /console/``: the person's queue, filtered by SOP, severity and region."""
    console = console_of(request)
    visit = await console.visit(request)
    now = datetime.now(UTC)
    # What the API's /me/tasks reads (the same tasks, the same order), made into rows only
    # for the tasks shown.
    tasks = await visit.parts.temporal.require().open_tasks().tasks_for(visit.person.actor())
    chosen = {name: request.query_params.get(name) or None for name in FILTERS}
    fitting = [t for t in tasks if _fits(t, chosen)]
    return console.page(
        request,
        visit,
        "inbox.html",
        tasks=[TaskOut.of(t, now) for t in fitting[:MAX_ROWS]],
        fitting=len(fitting),
        total=len(tasks),
        now=now,
        chosen=chosen,
        choices={name: _choices(tasks, name, chosen[name]) for name in FILTERS},
        live_url=f"{PREFIX}/" + (f"?{request.url.query}" if request.url.query else ""),
    )


ROUTES = (("/", inbox, ("GET",)),)
