"""The console without Temporal: sessions, CSRF and the same-origin check, the security
headers, signing in and out (a token, the dev picker, a trusted proxy's header), and the
form generator on every form of the shipped SOPs. Pages that read incidents are in
test_web_e2e.py."""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from starlette.datastructures import Headers

from sopflow.api.app import create_app
from sopflow.api.settings import ApiSettings, SettingsError, parse_proxies
from sopflow.compile.lint import lint_library
from sopflow.contract.plan import TaskPlan
from sopflow.language.roster import load_roster
from sopflow.web import ConsoleSettings
from sopflow.web.form_data import local_time, parse, raw_of, utc_time
from sopflow.web.form_errors import form_check_errors, pointer_errors, summary
from sopflow.web.forms import Field, bind, fields_of, walk
from sopflow.web.pages.inbox import released
from sopflow.web.pages.incident import may_work_on
from sopflow.web.render import Templates
from sopflow.web.report_html import report_html
from sopflow.web.security import COOKIE, CSP, safe_next, same_origin
from sopflow.web.sessions import SessionStore, TokenLogin
from sopflow.web.shift import Exposed, Shift, ShiftCache, desk_people, led_desks
from tests.conftest import SHIPPED
from tests.console_browser import (
    Browser,
    Pairs,
    csrf_of,
    form_values,
    has_form,
    in_process,
    with_console,
)
from tests.test_api_unit import Record
from workflows.form_check import form_errors, json_equal

pytestmark = pytest.mark.unit

ORIGIN = "http://testserver"


@dataclass
class Tokens:
    """A token store: ``sft_<handle>`` is that person's token, unless revoked."""

    revoked: set[str] = field(default_factory=set)

    def authenticate(self, token: str, now: datetime | None = None) -> Record | None:
        if not token.startswith("sft_") or token in self.revoked:
            return None
        return Record("t", token.removeprefix("sft_"))


def app_with(
    tmp_path: Path, *, picker: bool = False, tokens: Tokens | None = None, **api: Any
) -> FastAPI:
    """The API (no Temporal) with the console, as create_app will include it."""
    dev = tmp_path / "dev-tokens"
    dev.mkdir(exist_ok=True)
    for handle in ("amoreno", "dokafor"):
        (dev / handle).write_text(f"sft_{handle}\n", encoding="utf-8")
    app = create_app(ApiSettings(definitions=SHIPPED, **api), tokens=tokens or Tokens())
    return with_console(app, ConsoleSettings(dev_picker=picker, dev_tokens=dev))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return app_with(tmp_path_factory.mktemp("web"))


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    with in_process(app, ORIGIN) as http:
        yield Browser(http, ORIGIN)


# --- sessions, the same-origin check, redirects


def test_sessions_end_when_idle_or_old_and_ids_are_random() -> None:
    now = [0.0]
    store = SessionStore(ConsoleSettings(), clock=lambda: now[0])
    sid, session = store.new(TokenLogin("sft_x"))
    assert len(sid) >= 43 and store.get(sid) is session  # 256 bits, url-safe
    assert "sft_x" not in repr(session)  # the token never shows in a repr (or a log)
    now[0] = 29 * 60
    assert store.get(sid) is session  # the idle time restarts
    now[0] = 29 * 60 + 30 * 60
    assert store.get(sid) is None  # idle for 30 minutes
    sid, session = store.new()
    for minute in range(0, 12 * 60, 20):
        now[0] = 3600 + minute * 60
        assert store.get(sid) is session
    now[0] = 3600 + 12 * 3600
    assert store.get(sid) is None  # 12 hours after it began, however busy
    assert store.get("") is None and store.get("nope") is None
    assert session.csrf_ok(session.csrf) and not session.csrf_ok(session.csrf[:-1] + "x")


def test_a_full_store_drops_anonymous_sessions_first() -> None:
    store = SessionStore(ConsoleSettings(max_sessions=3))
    signed, _ = store.new(TokenLogin("sft_a"))
    anonymous = [store.new()[0] for _ in range(5)]
    assert len(store) == 3
    assert store.get(signed) is not None and store.get(anonymous[0]) is None


def test_same_origin_and_safe_next() -> None:
    host = {"host": "console.example"}
    assert same_origin(Headers(headers=host))  # not a browser: the CSRF token decides
    assert same_origin(Headers(headers=host | {"origin": "https://console.example"}))
    assert same_origin(Headers(headers=host | {"sec-fetch-site": "same-origin"}))
    assert not same_origin(Headers(headers=host | {"origin": "https://evil.example"}))
    assert not same_origin(Headers(headers=host | {"origin": "null"}))
    assert not same_origin(Headers(headers=host | {"sec-fetch-site": "cross-site"}))
    assert not same_origin(Headers(headers=host | {"sec-fetch-site": "same-site"}))
    assert safe_next("/console/incidents/x?page=2") == "/console/incidents/x?page=2"
    for bad in ("https://evil.example/", "//evil.example/console/", "/api/v1/me", None, ""):
        assert safe_next(bad) == "/console/"
    assert safe_next("/console/\\evil") == "/console/"


def test_the_dev_picker_setting() -> None:
    assert ConsoleSettings.from_env({"SOPFLOW_CONSOLE_DEV_PICKER": "1"}).dev_picker
    assert not ConsoleSettings.from_env({}).dev_picker
    assert not ConsoleSettings.from_env({"SOPFLOW_CONSOLE_DEV_PICKER": "0"}).dev_picker
    with pytest.raises(SettingsError, match="SOPFLOW_CONSOLE_DEV_PICKER"):
        ConsoleSettings.from_env({"SOPFLOW_CONSOLE_DEV_PICKER": "maybe"})


# --- signing in and out


def cookie_line(response: Any) -> str:
    lines = [c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE)]
    assert lines, "no session cookie"
    return str(lines[-1])


def test_sign_in_with_a_token_sets_a_strict_cookie_and_a_new_session(browser: Browser) -> None:
    first = browser.get("/console/")
    assert first.status_code == 303
    assert first.headers["location"] == "/console/signin?next=%2Fconsole%2F"
    page = browser.get("/console/signin")
    before = browser.cookie
    assert page.status_code == 200 and 'type="password"' in page.text
    signed = browser.submit(page, "/console/signin", **{"token": "sft_amoreno"})
    assert signed.status_code == 303 and signed.headers["location"] == "/console/"
    attrs = {a.strip().lower() for a in cookie_line(signed).split(";")[1:]}
    assert {"secure", "httponly", "path=/", "samesite=strict"} <= attrs
    assert not any(a.startswith("domain") for a in attrs)  # __Host-: no Domain
    assert browser.cookie != before  # signing in makes a new session id
    assert "sft_amoreno" not in signed.text + cookie_line(signed)
    inbox = browser.get("/console/")  # Temporal is not connected: a 503 page, signed in
    assert inbox.status_code == 503 and "Alice Moreno" in inbox.text
    sops = browser.get("/console/sops")
    assert sops.status_code == 200 and "Signed in as" in sops.text and "Sign out" in sops.text


def test_a_wrong_token_is_refused_and_not_shown_again(browser: Browser) -> None:
    page = browser.get("/console/signin")
    refused = browser.submit(page, "/console/signin", **{"token": "nope-secret"})
    assert refused.status_code == 403 and "unknown, expired or revoked" in refused.text
    assert "nope-secret" not in refused.text
    ghost = browser.submit(
        browser.get("/console/signin"), "/console/signin", **{"token": "sft_ghost"}
    )
    assert ghost.status_code == 403 and "not in the Roster" in ghost.text
    assert browser.get("/console/sops").status_code == 303


def test_sign_out_ends_the_session(browser: Browser) -> None:
    browser.sign_in("sft_dokafor")
    old = browser.cookie
    page = browser.get("/console/sops")
    out = browser.submit(page, "/console/signout")
    assert out.status_code == 303 and out.headers["location"] == "/console/signin?why=signedout"
    assert browser.cookie is None
    browser.cookie = old  # the old cookie is worth nothing now
    assert browser.get("/console/sops").status_code == 303


def test_a_revoked_token_ends_the_session_at_the_next_request(tmp_path: Path) -> None:
    tokens = Tokens()
    with in_process(app_with(tmp_path, tokens=tokens), ORIGIN) as http:
        browser = Browser(http, ORIGIN)
        browser.sign_in("sft_amoreno")
        assert browser.get("/console/sops").status_code == 200
        tokens.revoked.add("sft_amoreno")
        ended = browser.get("/console/sops")
        assert ended.status_code == 303 and "why=ended" in ended.headers["location"]
        page = browser.get(ended.headers["location"])
        assert "no longer valid" in page.text
        tokens.revoked.clear()  # the session is gone for good, not suspended
        assert browser.get("/console/sops").status_code == 303


def test_not_signed_in_a_get_redirects_and_a_post_is_refused(browser: Browser) -> None:
    assert browser.get("/console/incidents/inc-1").status_code == 303
    refused = browser.post("/console/incidents/inc-1/notes", [("text", "hi")])
    assert refused.status_code == 403 and "not signed in" in refused.text


def test_no_token_in_urls_or_headers(browser: Browser) -> None:
    # The console takes a token only from its sign-in form: never from a query or a header.
    assert browser.get("/console/sops?token=sft_amoreno").status_code == 303
    header = {"Authorization": "Bearer sft_amoreno"}
    assert browser.get("/console/sops", headers=header).status_code == 303
    # The API still takes the bearer token, with no cookie.
    me = browser.http.get("/api/v1/me", headers=header)
    assert me.status_code == 200 and me.json()["handle"] == "amoreno"


def test_the_dev_picker_only_when_enabled(tmp_path: Path, browser: Browser) -> None:
    page = browser.get("/console/signin")
    assert "Dev only" not in page.text and not has_form(page.text, "/console/signin/dev")
    csrf = csrf_of(page.text)
    off = browser.post("/console/signin/dev", [("csrf", csrf), ("handle", "amoreno")])
    assert off.status_code == 404
    with in_process(app_with(tmp_path, picker=True), ORIGIN) as http:
        dev = Browser(http, ORIGIN)
        page = dev.get("/console/signin")
        assert "Dev only" in page.text and "SOPFLOW_CONSOLE_DEV_PICKER" in page.text
        # Only the people with a dev token file are offered.
        assert "Sign in as amoreno" in page.text and "Sign in as slee" not in page.text
        signed = dev.submit(page, "/console/signin/dev", handle="amoreno")
        assert signed.status_code == 303
        assert "Alice Moreno" in dev.get("/console/sops").text
        other = dev.get("/console/signin")  # signed in: straight on
        assert other.status_code == 303


def test_a_trusted_proxy_header_signs_in(tmp_path: Path) -> None:
    proxied = app_with(
        tmp_path,
        identity_header="X-Forwarded-User",
        trusted_proxies=parse_proxies("127.0.0.0/8"),
    )
    named = {"X-Forwarded-User": "dokafor"}
    with in_process(proxied, ORIGIN, ("127.0.0.1", 5000)) as http:
        browser = Browser(http, ORIGIN, headers=named)
        page = browser.get("/console/sops")
        assert page.status_code == 200 and "David Okafor" in page.text
        assert browser.cookie is not None  # a session, for the CSRF token of its forms
        browser.headers = {}  # the same cookie without the proxy's header: signed out
        assert browser.get("/console/sops").status_code == 303
    with in_process(proxied, ORIGIN, ("10.9.9.9", 5000)) as http:
        assert Browser(http, ORIGIN, headers=named).get("/console/sops").status_code == 303


# --- CSRF and headers


def test_csrf_missing_wrong_or_cross_site_is_refused(browser: Browser) -> None:
    browser.sign_in("sft_dokafor")
    page = browser.get("/console/sops")
    good = form_values(page.text, "/console/signout")
    attempts: list[tuple[Pairs, dict[str, Any]]] = [
        ([], {}),
        ([("csrf", "0" * 43)], {}),
        (good, {"headers": {"Origin": "https://evil.example"}, "same_site": False}),
        (good, {"headers": {"Sec-Fetch-Site": "cross-site"}, "same_site": False}),
    ]
    for pairs, kw in attempts:
        refused = browser.post("/console/signout", pairs, **kw)
        assert refused.status_code == 403, refused.text
        assert "nothing was done" in refused.text
        assert browser.get("/console/sops").status_code == 200  # still signed in
    # A form whose CSRF token is from another session is refused too.
    other = Browser(browser.http, ORIGIN)
    other.sign_in("sft_amoreno")
    theirs = [("csrf", csrf_of(other.get("/console/sops").text))]
    assert browser.post("/console/signout", theirs).status_code == 403
    assert browser.get("/console/sops").status_code == 200


LIVE_SCRIPT = r'<script src="/console/static/live\.js\?v=[0-9a-f]{16}" defer></script>'


def test_every_console_answer_has_the_security_headers(browser: Browser) -> None:
    answers = [
        browser.get("/console/"),
        browser.get("/console/signin"),
        browser.get("/console/no/such/page"),
        browser.post("/console/signout", []),
    ]
    browser.sign_in("sft_dokafor")
    answers += [
        browser.get("/console/sops"),
        browser.get("/console/sops/threat-to-life?from=1&to=1"),
        browser.get("/console/start?plan=threat-to-life@2:US"),
        browser.get("/console/incidents/inc-nope"),  # 503: Temporal is not connected
        browser.get("/console/static/console.css"),
    ]
    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CSP, answer.url
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        if answer.headers.get("content-type", "").startswith("text/html"):
            assert answer.headers["Cache-Control"] == "no-store"
            assert not re.search(r"<style|\sstyle=", answer.text), answer.url
            # The one script: live.js from this site, deferred; never an inline one.
            scripts = re.findall(r"<script[^>]*>[^<]*</script>", answer.text)
            assert all(re.fullmatch(LIVE_SCRIPT, tag) for tag in scripts), scripts
            assert '<html lang="en">' in answer.text and 'href="#main"' in answer.text
    assert answers[-1].headers["content-type"].startswith("text/css")
    assert ".node.step-active" in answers[-1].text  # graph_svg.STATE_CSS is in the sheet
    assert answers[2].status_code == 404 and answers[-2].status_code == 503
    # The console is not in the API's OpenAPI document.
    spec = browser.http.get("/api/v1/openapi.json").json()
    assert not [p for p in spec["paths"] if p.startswith("/console")]


def test_a_form_body_is_taken_only_under_the_console(browser: Browser) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    api = browser.http.post(
        "/api/v1/incidents",
        content=b"sop=x",
        headers=form | {"Authorization": "Bearer sft_amoreno"},
    )
    assert api.status_code == 415
    as_json = browser.http.post("/console/signout", json={}, headers={"Origin": ORIGIN})
    assert as_json.status_code == 415


def test_catalog_pages(browser: Browser) -> None:
    browser.sign_in("sft_amoreno")
    listed = browser.get("/console/sops")
    assert "threat-to-life" in listed.text and "<th scope=" in listed.text
    version = browser.get("/console/sops/emergency-disclosure?version=2&region=UK&from=1&to=2")
    assert version.status_code == 200
    assert "<svg" in version.text and 'role="img"' in version.text
    assert "has no UK variant" in version.text  # v1 has no UK variant: said, not a crash
    same = browser.get("/console/sops/emergency-disclosure?from=2&to=2")
    assert "compile to the same procedure" in same.text
    diff = browser.get("/console/sops/emergency-disclosure?from=1&to=2")
    assert "From v1 to v2" in diff.text
    assert browser.get("/console/sops/nope-sop").status_code == 404
    assert browser.get("/console/sops/BAD").status_code == 404


def test_the_start_page_lists_runnable_versions_and_checks_the_input(browser: Browser) -> None:
    browser.sign_in("sft_amoreno")
    page = browser.get("/console/start?plan=threat-to-life@2:US")
    assert page.status_code == 200 and 'name="input/referral_id"' in page.text
    sent = browser.submit(page, "/console/start#input", **{"input__content_ids": "c-1"})
    # The API's input check runs before Temporal is needed: every problem, by field, on the
    # form's page the refusal redirects to (tests/test_web_flash.py has more).
    assert sent.status_code == 303, sent.text
    bad = browser.get(sent.headers["location"])
    assert bad.status_code == 422, bad.text
    assert "There are" in bad.text and 'href="#input-1"' in bad.text
    assert "&#39;detected_by&#39; is a required property" in bad.text
    assert "Refused" not in bad.text
    assert 'aria-invalid="true"' in bad.text and ">\nc-1</textarea>" in bad.text
    assert browser.get("/console/start?plan=nope@1:US").status_code == 404


def test_the_audit_report_renders_no_html_or_links_from_data() -> None:
    html = str(report_html("# R\n\n| | |\n|---|---|\n| a | <script>x</script> [l](javascript:1) |"))
    assert "<script>" not in html and "&lt;script&gt;" in html and "<a " not in html
    assert '<th scope="row">a</th>' in html


# --- forms from JSON Schema


@cache
def shipped_schemas() -> list[tuple[str, dict[str, Any]]]:
    """Every distinct task form and input schema of the shipped library."""
    result = lint_library(SHIPPED)
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for (sop, version, region), plan in sorted(result.plans.items()):
        where = f"{sop}@{version}:{region}"
        found.setdefault(json.dumps(plan.input_schema, sort_keys=True), (where, plan.input_schema))
        for step in plan.steps_by_id().values():
            if isinstance(step, TaskPlan) and step.form:
                found.setdefault(
                    json.dumps(step.form, sort_keys=True), (f"{where}/{step.id}", step.form)
                )
    return list(found.values())


TEMPLATES = Templates()
FORM = TEMPLATES.env.from_string(
    '{% import "macros.html" as m with context %}'
    '<form action="/f">{% for c in controls %}{{ m.control(c) }}{% endfor %}</form>'
)


def render(fields: tuple[Field, ...], raw: Any, errors: Any = None) -> str:
    return FORM.render(controls=bind(fields, raw, errors or {}), csrf="")


def submitted(html: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in form_values(html, "/f"):
        out.setdefault(name, []).append(value)
    return out


def test_every_shipped_form_renders_with_labels_and_a_kind_for_each_field() -> None:
    schemas = shipped_schemas()
    assert len(schemas) > 20
    for where, schema in schemas:
        fields = fields_of(schema, "f")
        html = render(fields, {})
        for f in walk(fields):
            assert f.kind != "json", f"{where}: {f.name} falls back to JSON"
            if f.kind in ("yesno", "radios", "checkboxes", "group"):
                assert "<legend>" in html
            else:
                assert f'<label for="{f.id}">' in html, (where, f.name)
            if f.required:
                assert "(required)" in html
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), f"{where}: duplicate ids"
        for described in re.findall(r'aria-describedby="([^"]+)"', html):
            assert all(f'id="{i}"' in html for i in described.split())


def _plain(value: Any) -> Any:
    """``value`` without the characters a browser does not carry unchanged (controls,
    CR): a person cannot type them into a form."""
    if isinstance(value, str):
        return "".join(c for c in value if c == "\n" or unicodedata.category(c)[0] != "C")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def representable(fields: tuple[Field, ...], value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as a person could type it: one item per line means an item can hold no
    newline and cannot be empty."""
    out: dict[str, Any] = _plain(value)
    for f in fields:
        name = f.path[-1]
        if f.kind == "group" and isinstance(out.get(name), dict):
            out[name] = representable(f.children, out[name])
        elif f.kind == "lines" and isinstance(out.get(name), list):
            out[name] = [
                (v.replace("\n", " ") or "x") if isinstance(v, str) else v for v in out[name]
            ]
    return out


def expected(fields: tuple[Field, ...], data: dict[str, Any]) -> dict[str, Any]:
    """What a form can carry of ``data``: an empty optional value is not sent, checkboxes
    come back in the enum's order, times in UTC."""
    out: dict[str, Any] = {}
    for f in fields:
        name = f.path[-1]
        if name not in data:
            continue
        value = data[name]
        if f.kind == "group":
            value = expected(f.children, value)
        elif f.kind == "checkboxes":
            value = [o.value for o in f.options if any(json_equal(o.value, v) for v in value)]
        elif f.kind == "datetime":
            value = datetime.fromisoformat(value.upper()).timestamp()
        if not f.required and value in ("", [], {}):
            continue
        out[name] = value
    return out


def _comparable(fields: tuple[Field, ...], data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for f in fields:
        name = f.path[-1]
        if f.kind == "datetime" and isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name].upper()).timestamp()
        elif f.kind == "group" and isinstance(out.get(name), dict):
            out[name] = _comparable(f.children, out[name])
    return out


@cache
def _scalar(schema_text: str) -> st.SearchStrategy[Any]:
    return from_schema(json.loads(schema_text))


def scalar(schema: Any) -> st.SearchStrategy[Any]:
    """A scalar fitting ``schema``, from hypothesis-jsonschema."""
    return _scalar(json.dumps(schema, sort_keys=True))


@st.composite
def values_for(draw: st.DrawFn, fields: tuple[Field, ...]) -> dict[str, Any]:
    """A value for a form: every required field and some optional ones, each drawn for its
    kind (hypothesis-jsonschema draws the scalars; this version of it cannot draw objects)."""
    out: dict[str, Any] = {}
    for f in fields:
        if not (f.required or draw(st.booleans())):
            continue
        s = f.schema
        if f.kind == "group":
            out[f.path[-1]] = draw(values_for(f.children))
        elif f.kind in ("radios", "select"):
            out[f.path[-1]] = draw(st.sampled_from([o.value for o in f.options]))
        elif f.kind in ("checkboxes", "lines"):
            item = (
                st.sampled_from([o.value for o in f.options])
                if f.kind == "checkboxes"
                else scalar(s["items"])
            )
            low = s.get("minItems", 0)
            high = s.get("maxItems", low + 3)
            unique = bool(s.get("uniqueItems")) or f.kind == "checkboxes"
            out[f.path[-1]] = draw(st.lists(item, min_size=low, max_size=high, unique=unique))
        else:
            out[f.path[-1]] = draw(scalar(s))
    return out


@pytest.mark.parametrize("index", range(len(shipped_schemas())))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_shipped_forms_round_trip_a_valid_value(index: int, data: st.DataObject) -> None:
    where, schema = shipped_schemas()[index]
    fields = fields_of(schema, "f")
    value = representable(fields, data.draw(values_for(fields), label=where))
    assume(not form_errors(schema, value))
    html = render(fields, raw_of(fields, value))
    parsed = parse(fields, submitted(html))
    assert not parsed.problems
    assert json_equal(_comparable(fields, parsed.data), expected(fields, value)), (where, value)
    assert not form_errors(schema, parsed.data)


def test_submitted_strings_become_json_types() -> None:
    schema = {
        "type": "object",
        "required": ["ok", "n", "when", "kinds"],
        "properties": {
            "ok": {"type": "boolean"},
            "maybe": {"type": "boolean"},
            "n": {"type": "integer", "minimum": 1, "maximum": 5},
            "x": {"type": "number"},
            "when": {"type": "string", "format": "date-time"},
            "kinds": {"type": "array", "items": {"enum": ["a", "b", 3]}},
            "ids": {"type": "array", "items": {"type": "integer"}},
            "long": {"type": "string", "maxLength": 500},
            "blob": {"type": ["string", "null"]},
        },
    }
    fields = fields_of(schema, "t")
    kinds = {f.path[-1]: f.kind for f in fields}
    assert kinds == {
        "ok": "yesno",
        "maybe": "yesno",
        "n": "number",
        "x": "number",
        "when": "datetime",
        "kinds": "checkboxes",
        "ids": "lines",
        "long": "textarea",
        "blob": "json",
    }
    raw = {
        "t/ok": ["false"],
        "t/maybe": [""],
        "t/n": ["3"],
        "t/x": ["2.5"],
        "t/when": ["2025-03-01T10:00"],
        "t/kinds": ["2", "0"],
        "t/ids": ["1\r\n\r\n2"],
        "t/long": ["a\r\nb"],
        "t/blob": ["null"],
    }
    assert parse(fields, raw).data == {
        "ok": False,
        "n": 3,
        "x": 2.5,
        "when": "2025-03-01T10:00:00Z",
        "kinds": [3, "a"],
        "ids": [1, 2],
        "long": "a\nb",
        "blob": None,
    }
    # Nothing sent: a required array is empty, the rest missing, so the check says so.
    empty = parse(fields, {}).data
    assert empty == {"kinds": []}
    assert form_check_errors(fields, form_errors(schema, empty)) == {
        "t/ok": ["is required"],
        "t/n": ["is required"],
        "t/when": ["is required"],
    }
    broken = parse(fields, {"t/blob": ["{nope"], "t/n": ["three"]})
    assert broken.problems["t/blob"][0].startswith("not valid JSON")
    assert broken.data["n"] == "three"  # kept as typed: the check says it must be an integer
    assert form_check_errors(fields, form_errors(schema, broken.data))["t/n"] == ["must be integer"]
    n = next(f for f in fields if f.path == ("n",))
    assert n.attrs == {"min": "1", "max": "5", "step": "1"}
    assert utc_time("2025-03-01T10:00:05") == "2025-03-01T10:00:05Z"
    assert local_time("2025-03-01T11:00:00+01:00") == "2025-03-01T10:00:00"


def test_errors_become_field_errors_and_a_summary_with_links() -> None:
    schema = {
        "type": "object",
        "required": ["officer"],
        "additionalProperties": False,
        "properties": {
            "officer": {
                "type": "object",
                "required": ["email"],
                "properties": {"email": {"type": "string", "format": "email"}},
            },
            "tags": {"type": "array", "items": {"type": "string", "minLength": 2}},
        },
    }
    fields = fields_of(schema, "i")
    data = {"officer": {"email": "nope"}, "tags": ["ok", "x"], "extra": 1}
    errors = form_check_errors(fields, form_errors(schema, data))
    assert errors == {
        "i/officer/email": ["must be a valid email"],
        "i/tags": ["item 2: must have at least 2 characters"],
        "": ["extra: is not a field of this form"],
    }
    links = summary(fields, errors)
    assert [(link.label, link.target) for link in links] == [
        ("Email", "i-1"),
        ("Tags", "i-2"),
        ("The form", None),
    ]
    html = render(fields, {"i/officer/email": ["nope"], "i/tags": ["ok\nx"]}, errors)
    assert 'value="nope"' in html and 'aria-invalid="true"' in html
    assert 'aria-describedby="i-1-error"' in html
    pointers = pointer_errors(fields, [("/officer/email", "bad"), ("/officer", "x"), ("", "y")])
    assert pointers == {"i/officer/email": ["bad"], "i/officer": ["x"], "": ["y"]}


# --- who has what, and this shift (the pages that use them: tests/test_web_claims.py)


def test_leads_see_their_desks_people_and_assign_to_those_holding_the_steps_roles() -> None:
    roster = load_roster(SHIPPED)
    assert led_desks(roster, "dokafor") == ["US"] and led_desks(roster, "okhan") == ["UK"]
    assert led_desks(roster, "amoreno") == [] and led_desks(roster, "nobody") == []
    assert desk_people(roster, "US") == ["amoreno", "dokafor", "kowusu", "rhalvorsen", "slee"]
    plan = lint_library(SHIPPED).plans[("csea-report", 1, "US")]
    people = [handle for handle, _ in may_work_on("US", ["specialist"], roster, plan)]
    assert people == ["amoreno", "slee"]  # the US desk's specialists, no other desk's
    assert ("slee", "Samuel Lee (slee)") in may_work_on("US", ["specialist"], roster, plan)
    global_lead = plan.model_copy(update={"global_roles": ["lead"]})
    leads = [handle for handle, _ in may_work_on("US", ["lead"], roster, global_lead)]
    assert {"dokafor", "slee", "tbrennan", "okhan"} <= set(leads)  # lead acts from any desk


def test_a_shift_is_kept_a_few_seconds_per_person() -> None:
    now = [0.0]
    cache = ShiftCache(ttl_s=5, size=2, clock=lambda: now[0])
    reads: list[str] = []

    def reader(who: str, count: int) -> Callable[[], Awaitable[Shift]]:
        async def read() -> Shift:
            reads.append(who)
            return Shift(Exposed(who, who, count, datetime(2025, 3, 1, tzinfo=UTC), None))

        return read

    def get(who: str, count: int = 0) -> int:
        shift = asyncio.run(cache.get(who, reader(who, count)))
        assert shift.mine is not None
        return shift.mine.count

    assert get("amoreno", 1) == 1 and get("amoreno", 2) == 1  # kept
    now[0] = 5.0
    assert get("amoreno", 2) == 2  # read again after 5 s
    get("slee")
    get("dokafor")  # past the size: the oldest (amoreno) goes
    assert get("amoreno", 3) == 3 and reads == ["amoreno", "amoreno", "slee", "dokafor", "amoreno"]
    cache.forget("amoreno")
    assert get("amoreno", 4) == 4


def test_stepping_away_says_how_many_went_back() -> None:
    assert released(0) == "You had taken nothing: nothing went back to a queue."
    assert released(1) == "1 task went back to its desk's queue."
    assert released(3) == "3 tasks went back to their desks' queues."
