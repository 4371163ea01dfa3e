"""The CLI's client for the HTTP API: with ``$SOPFLOW_API_URL`` set, the incident and task
commands go through ``sopflow serve`` instead of connecting to Temporal.

The API's answers are turned into the values direct mode prints (``IncidentSummary``,
``OpenTask``, ``ActionResult``, the API's own ``IncidentDetail`` for ``show``), so the
commands print the same way in both modes. Its problems (RFC 9457) become two exceptions the
commands turn into the messages direct mode prints: :class:`ApiRefused` (``refused: ...``:
the workflow or the Roster said no) and :class:`ApiFailed` (``error: ...``).

Who is calling: the token in ``$SOPFLOW_TOKEN``; else the dev token ``sopflow dev`` wrote
for the person named with ``--as`` (or ``$SOPFLOW_USER``) under
``$SOPFLOW_STATE_DIR/dev-tokens/``. The API says whose a token is (``GET /me``); a command
that names someone else is refused here, before anything is sent: nobody acts as another.
This module imports no Temporal and prints nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, assert_never
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from sopflow.api.models import (
    ActionOut,
    IncidentDetail,
    IncidentSummaryOut,
    Me,
    StartedIncident,
    TaskOut,
)
from sopflow.api.settings import DEFAULT_STATE_DIR
from sopflow.api.tokens import DEV_TOKENS_DIR, TokenError, dev_token
from sopflow.client.actions import Action
from sopflow.client.views import IncidentSummary, OpenTask
from sopflow.contract.messages import (
    ActionResult,
    Actor,
    Cancel,
    CompleteTask,
    ExternalEvent,
    Migrate,
    Note,
    PostUpdate,
    Vote,
)
from sopflow.contract.search import steps_due_text

API_URL_ENV = "SOPFLOW_API_URL"
TOKEN_ENV = "SOPFLOW_TOKEN"  # noqa: S105 (the variable's name, not a secret)
USER_ENV = "SOPFLOW_USER"
STATE_DIR_ENV = "SOPFLOW_STATE_DIR"
BASE_PATH = "/api/v1"
# Longer than the API waits for a workflow to answer an action (30 s by default).
TIMEOUT = httpx.Timeout(75.0, connect=10.0)
# What a dev token file may be named (sopflow.api.tokens writes only such names).
_HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_M = TypeVar("_M", bound=BaseModel)


class ApiRefused(Exception):
    """The API (the workflow, or the Roster) said no; ``str()`` is its reason."""


class ApiFailed(Exception):
    """Anything else that went wrong; ``lines`` lists each problem of an invalid request."""

    def __init__(self, message: str, lines: tuple[str, ...] = (), status: int | None = None):
        super().__init__(message)
        self.lines, self.status = lines, status


@dataclass(frozen=True, slots=True)
class Api:
    """A signed-in session: where the API is, the token, and whose it is."""

    url: str  # the base, ending in /api/v1
    shown: str  # the URL as $SOPFLOW_API_URL gives it, for messages
    token: str
    source: str  # where the token came from, for messages
    renew: str  # how to get a token that works
    handle: str = ""
    roles: tuple[str, ...] = ()

    @property
    def actor(self) -> Actor:
        """The caller, with the roles the API's Roster gives them now."""
        return Actor(id=self.handle, roles=list(self.roles))


def enabled() -> bool:
    """Whether the commands go through the API (``$SOPFLOW_API_URL`` is set)."""
    return bool(os.environ.get(API_URL_ENV, "").strip())


def api_base() -> tuple[str, str]:
    """``$SOPFLOW_API_URL`` as the API's base URL (with or without ``/api/v1`` given), and
    as given; ApiFailed when it is not an http(s) URL."""
    shown = os.environ.get(API_URL_ENV, "").strip().rstrip("/")
    try:
        url = httpx.URL(shown)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ApiFailed(f"${API_URL_ENV} is not an http(s) URL: {shown!r}")
    root = shown.removesuffix(BASE_PATH).rstrip("/")
    return root + BASE_PATH, shown


def dev_tokens_dir() -> Path:
    """Where ``sopflow dev`` writes a token per person."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR) / DEV_TOKENS_DIR


def _token(claimed: str | None) -> tuple[str, str, str]:
    """The token to send, where it came from, and how to get one that works."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        renew = "ask an operator for a new one (`sopflow token issue USER`)"
        return token, f"the token in ${TOKEN_ENV}", renew
    if claimed is None:
        raise ApiFailed(
            f"no API token: set {TOKEN_ENV} to yours (an operator issues it with "
            "`sopflow token issue USER`), or on the dev stack say who you are with --as USER"
        )
    directory = dev_tokens_dir()
    found = None
    if _HANDLE.fullmatch(claimed):
        try:
            found = dev_token(claimed, directory)
        except TokenError as exc:
            raise ApiFailed(str(exc)) from None
    if found is None:
        raise ApiFailed(
            f"no API token for {claimed}: set {TOKEN_ENV} (`sopflow token issue {claimed}`), "
            f"or run `sopflow dev` here once for the dev tokens in {directory}/"
        )
    renew = f"run `sopflow dev` again to reissue the dev tokens, or set {TOKEN_ENV}"
    return found, f"the dev token {directory / claimed}", renew


def session(user: str | None) -> Api:
    """Sign in: the token for ``user`` (else ``$SOPFLOW_USER``), checked with ``GET /me``.
    ApiFailed when there is no token, the API refuses it, or it is someone else's."""
    url, shown = api_base()
    claimed = user or os.environ.get(USER_ENV) or None
    token, source, renew = _token(claimed)
    api = Api(url, shown, token, source, renew)
    try:
        me = _model(Me, _call(api, "GET", "/me"))
    except ApiFailed as exc:
        if exc.status != 404:
            raise
        raise ApiFailed(f"{shown} does not answer as the sopflow API (GET {url}/me: 404)") from None
    if claimed is not None and me.handle != claimed:
        raise ApiFailed(f"your token is for {me.handle}, not {claimed}")
    return replace(api, handle=me.handle, roles=tuple(me.roles))


# --- one request


def _call(
    api: Api,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    key: str | None = None,
    retry: str | None = None,
) -> Any:
    """The JSON of a successful answer; ApiRefused or ApiFailed otherwise. ``key`` is sent
    as the Idempotency-Key; ``retry`` (the request id) says how to retry a request that may
    have been applied."""
    headers = {"Authorization": f"Bearer {api.token}", "Accept": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    try:
        response = httpx.request(
            method, api.url + path, json=body, params=params, headers=headers, timeout=TIMEOUT
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        why = f"{str(exc) or type(exc).__name__}{_hint(retry)}"
        raise ApiFailed(f"cannot reach the sopflow API at {api.shown}: {why}") from None
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            raise ApiFailed(f"the sopflow API at {api.shown} answered with no JSON") from None
    raise _problem(api, response, retry)


def _hint(retry: str | None) -> str:
    if retry is None:
        return ""
    return f"; to retry, run the same command with --request-id {retry}: it is applied once"


def _problem(api: Api, response: httpx.Response, retry: str | None) -> Exception:
    """The exception for a problem answer (docs/api.md, Problems)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    status, at = response.status_code, f"the sopflow API at {api.shown}"
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    if status == 401:
        return ApiFailed(f"{at} refused {api.source} ({detail}); {api.renew}")
    if status in (403, 409):
        return ApiRefused(detail)
    if status == 422:
        return _invalid(detail, body.get("errors"))
    if status == 429:
        return ApiFailed(f"{detail}; try again in a moment")
    if status == 503:
        return ApiFailed(f"{at} is unavailable: {detail}{_hint(retry)}")
    if status == 404:
        return ApiFailed(detail, status=404)
    rid = body.get("request_id")
    quoted = f" (request id {rid})" if rid else ""
    return ApiFailed(f"{at} answered {status}: {detail}{quoted}", status=status)


def _invalid(detail: str, errors: Any) -> Exception:
    """A 422: the workflow refusing a step's form (its one error points at ``/data``) is a
    refusal, as in direct mode; anything else lists each problem, one per line."""
    found = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    if found and all(e.get("pointer") == "/data" for e in found):
        return ApiRefused(detail)
    lines = tuple(f"{_where(e)}: {e.get('message', 'invalid')}" for e in found)
    return ApiFailed(detail, lines, status=422)


def _where(error: dict[str, Any]) -> str:
    """Where a problem is: a place in the incident's input as direct mode names it
    (``$.a[0]``), else the JSON pointer or the parameter's name."""
    pointer = error.get("pointer")
    if not isinstance(pointer, str):
        return str(error.get("parameter") or "(request)")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if not parts or parts[0] != "input":
        return pointer or "(body)"
    path = "".join(
        f"[{p}]" if p.isdigit() else f".{p}" if p.isidentifier() else f"[{p!r}]" for p in parts[1:]
    )
    return "$" + path


def _model(model: type[_M], value: Any) -> _M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ApiFailed(
            f"the API answered something this sopflow does not understand ({model.__name__}: "
            f"{exc.error_count()} problems); are the CLI and the API the same version?"
        ) from None


def _models(model: type[_M], value: Any) -> list[_M]:
    if not isinstance(value, list):
        raise ApiFailed(f"the API answered something other than a list of {model.__name__}")
    return [_model(model, item) for item in value]


def _seg(value: str) -> str:
    """``value`` as one path segment."""
    return quote(value, safe="")


# --- the commands' requests


def start(
    api: Api, ref: str, region: str, data: dict[str, Any], if_duplicate: str = "refuse"
) -> StartedIncident:
    """Open an incident of ``SOP[@VERSION]`` in ``region``: the API resolves the plan, checks
    the input (a 422 lists each problem) and starts it, opened by the caller."""
    sop, _, version_text = ref.partition("@")
    if version_text and not version_text.isdigit():
        raise ApiFailed(f"{ref!r}: a version is a positive whole number, e.g. {sop}@1")
    version = int(version_text) if version_text else None
    body = {
        "sop": sop,
        "version": version,
        "region": region,
        "input": data,
        "if_duplicate": if_duplicate,
    }
    return _model(StartedIncident, _call(api, "POST", "/incidents", body=body))


def incidents(api: Api, query: str | None, limit: int) -> list[IncidentSummary]:
    """Incidents newest first, filtered by a visibility query."""
    params: dict[str, Any] = {"limit": limit}
    if query:
        params["query"] = query
    found = _models(IncidentSummaryOut, _call(api, "GET", "/incidents", params=params))
    return [
        IncidentSummary(
            **s.model_dump(exclude={"active_steps", "pending_roles", "due", "stalled"}),
            active_steps=tuple(s.active_steps),
            pending_roles=tuple(s.pending_roles),
            steps_due=steps_due_text(s.due.items()),
            stalled=tuple(s.stalled),
        )
        for s in found
    ]


def incident(api: Api, incident_id: str) -> IncidentDetail:
    """One incident: its summary, steps and timeline (or why they are unavailable)."""
    return _model(IncidentDetail, _call(api, "GET", f"/incidents/{_seg(incident_id)}"))


def tasks(api: Api) -> list[OpenTask]:
    """The caller's queue: open tasks and approvals their roles may act on."""
    found = _models(TaskOut, _call(api, "GET", "/me/tasks"))
    return [
        OpenTask(**t.model_dump(exclude={"roles", "overdue"}), roles=tuple(t.roles)) for t in found
    ]


def act(api: Api, incident_id: str, action: Action, request_id: str | None) -> ActionResult:
    """Send one action (its actor is the caller: the API signs it as them) with the request
    id as its Idempotency-Key, so a retry with the same id is applied once."""
    path, body = _route(action)
    where = f"/incidents/{_seg(incident_id)}/{path}"
    answer = _call(api, "POST", where, body=body, key=request_id, retry=request_id)
    done = _model(ActionOut, answer)
    return ActionResult(accepted=done.accepted, step=done.step, detail=done.detail)


def _route(action: Action) -> tuple[str, dict[str, Any]]:
    """The route (under the incident) and body of an action."""
    match action:
        case CompleteTask():
            return f"steps/{_seg(action.step)}/complete", {"data": action.data}
        case Vote():
            return f"steps/{_seg(action.step)}/{action.decision}", {"reason": action.reason}
        case Note():
            extra = {"claim": action.claim, "assignee": action.assignee} if action.claim else {}
            extra |= {"severity": action.severity} if action.severity else {}
            return "notes", {"text": action.text, "step": action.step, **extra}
        case Cancel():
            return "cancel", {"reason": action.reason}
        case PostUpdate():
            return "updates", {"text": action.text}
        case Migrate():  # the API resolves the version from its own library
            to = f"{action.plan.sop.id}@{action.plan.sop.version}"
            return "migrate", {"to": to, "reason": action.reason}
        case ExternalEvent():
            return "events", {"name": action.name, "data": action.data}
        case _:
            assert_never(action)


def wellbeing(api: Api, desk: str | None) -> list[dict[str, Any]]:
    """Exposure this shift: the caller's own, or (for its leads) a desk's people's."""
    if desk is None:
        return [dict(_call(api, "GET", "/me/wellbeing"))]
    return [dict(p) for p in _call(api, "GET", f"/desks/{_seg(desk)}/wellbeing")]


def step_away(api: Api, text: str) -> list[dict[str, str]]:
    """Release the caller's claimed tasks back to their desks' queues."""
    answer = _call(api, "POST", "/me/away", body={"text": text})
    return [dict(r) for r in answer["released"]]
