"""Named destinations (issue 13): the Destinations document, `notify` with `destination:`,
what lint says (E316, E317, W307), the compiled plan, the notify activity delivering to the
destination's address (a real HTTP server and the SMTP stand-in), `sopflow channels`, and a
run on the time-skipping server."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from sopflow.cli.app import app
from sopflow.compile.lint import LintResult, lint_library
from sopflow.contract.messages import NotifyRequest
from sopflow.contract.plan import DestinationPlan, NotifyPlan, Plan
from tests import test_activities_notify as notify_tests
from tests.conftest import WriteLib
from tests.harness import bench, compile_text, run
from tests.test_activities_notify import WebhookServer, notifier_from, request

# The notify tests' stand-ins: an HTTP server and an SMTP server on 127.0.0.1.
webhook = notify_tests.webhook
smtp = notify_tests.smtp

pytestmark = pytest.mark.unit

REGIONS = """\
apiVersion: sopflow/v1
kind: Regions
regions:
  US: {timezone: America/New_York, team: us-desk}
  UK: {timezone: Europe/London, team: uk-desk}
"""

DESTINATIONS = """\
apiVersion: sopflow/v1
kind: Destinations
destinations:
  le-gateway:
    channel: webhook
    address: https://le-gateway.example/requests
    description: Law-enforcement request gateway
    regions: [US]
  uk-gateway: {channel: webhook, address: https://uk-gateway.example/in, regions: [UK]}
  partner-safety-email: {channel: email, address: safety@partner.example}
"""

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: tell-police
version: 1
title: Tell the police
owner: tests
region: US
roles:
  lead: {description: Lead}
steps:
  - id: page
    type: notify
    channel: pager
    to: lead
    message: 'Incident {{ incident.id }} opened'
  - id: tell_police
    type: notify
    destination: le-gateway
    message: 'Request for {{ incident.id }}'
"""

# An SOP without a destination, and its plan hash as compiled before destinations existed
# (at 57205ce): plans that do not use the feature keep their hashes.
PLAIN_SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: tell-partner
version: 1
title: Tell the partner
owner: tests
region: US
roles:
  lead: {description: Lead}
steps:
  - id: page
    type: notify
    channel: pager
    to: lead
    message: 'Incident {{ incident.id }} opened'
  - id: mail
    type: notify
    channel: email
    to: input.requester
    message: 'We received your request'
"""
PLAIN_HASH = "d5a303a658b172116f6f0559f6d581906c7fa9464765281956863d3df3208fdd"


def lint(write_lib: WriteLib, files: dict[str, str]) -> LintResult:
    return lint_library(write_lib(files))


def found(result: LintResult) -> list[tuple[str, int, int, str]]:
    return [(Path(d.path).name, d.line, d.col, d.code) for d in result.diagnostics]


# --- Lint


def test_a_destination_lints_clean_and_compiles_into_the_plan(write_lib: WriteLib) -> None:
    files = {"regions.yaml": REGIONS, "destinations.yaml": DESTINATIONS, "v1.yaml": SOP}
    result = lint(write_lib, files)
    assert result.diagnostics == []
    plan = result.plans[("tell-police", 1, "US")]
    step = plan.steps_by_id()["tell_police"]
    assert isinstance(step, NotifyPlan)
    assert step.destination == DestinationPlan(
        name="le-gateway", channel="webhook", address="https://le-gateway.example/requests"
    )
    assert (step.channel, step.to_role, step.to_expr) == ("webhook", None, None)
    page = plan.steps_by_id()["page"]
    assert isinstance(page, NotifyPlan) and page.destination is None
    assert "destination" not in plan.model_dump(mode="json")["steps"][0]


def test_a_plan_without_a_destination_keeps_its_hash(write_lib: WriteLib) -> None:
    alone = lint(write_lib, {"v1.yaml": PLAIN_SOP})
    beside = lint(write_lib, {"v1.yaml": PLAIN_SOP, "destinations.yaml": DESTINATIONS})
    assert alone.diagnostics == [] and beside.diagnostics == []
    assert alone.plans[("tell-partner", 1, "US")].plan_hash == PLAIN_HASH
    assert beside.plans[("tell-partner", 1, "US")].plan_hash == PLAIN_HASH


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            True,
            "no destination `le-gatway` in the Destinations document (did you mean `le-gateway`?)",
        ),
        (False, "no destination `le-gatway`: the library declares none"),
    ],
)
def test_an_unknown_destination(write_lib: WriteLib, declared: bool, message: str) -> None:
    sop = SOP.replace("destination: le-gateway", "destination: le-gatway")
    files = {"v1.yaml": sop} | ({"destinations.yaml": DESTINATIONS} if declared else {})
    result = lint(write_lib, files)
    assert found(result) == [("v1.yaml", 18, 18, "E316")]
    assert message in result.diagnostics[0].message
    assert result.plans == {}


def test_a_broken_destinations_document_is_reported_once(write_lib: WriteLib) -> None:
    broken = DESTINATIONS.replace("https://le-gateway.example/requests", "le-gateway.example")
    result = lint(write_lib, {"destinations.yaml": broken, "v1.yaml": SOP})
    # No echo at the step, and no plan compiled without its destination.
    assert found(result) == [("destinations.yaml", 6, 14, "E205")]
    assert "is not an address" in result.diagnostics[0].message
    assert result.plans == {}


def test_a_destination_for_another_desk(write_lib: WriteLib) -> None:
    sop = SOP.replace("region: US", "region: UK")
    result = lint(
        write_lib, {"regions.yaml": REGIONS, "destinations.yaml": DESTINATIONS, "v1.yaml": sop}
    )
    assert found(result) == [("v1.yaml", 18, 18, "E317")]
    assert "serves the US desk only; this SOP runs on the UK desk" in result.diagnostics[0].message


def test_a_variant_for_another_desk_names_its_own_destination(write_lib: WriteLib) -> None:
    variant = """\
    apiVersion: sopflow/v1
    kind: Variant
    id: tell-police
    version: 1
    region: UK
    changes: []
    """
    files = {
        "regions.yaml": REGIONS,
        "destinations.yaml": DESTINATIONS,
        "v1.yaml": SOP,
        "v1-uk.yaml": variant,
    }
    result = lint(write_lib, files)
    # The base's destination serves the US only: the UK variant is told, at the base's step.
    assert found(result) == [("v1.yaml", 18, 18, "E317")]
    assert "after applying the UK variant" in result.diagnostics[0].message
    fixed = variant.replace(
        "changes: []",
        "changes:\n      - set: {step: tell_police, destination: uk-gateway}",
    )
    result = lint(write_lib, {**files, "v1-uk.yaml": fixed})
    assert result.diagnostics == []
    step = result.plans[("tell-police", 1, "UK")].steps_by_id()["tell_police"]
    assert isinstance(step, NotifyPlan) and step.destination is not None
    assert step.destination.address == "https://uk-gateway.example/in"


def test_a_literal_address_in_to_is_a_warning(write_lib: WriteLib) -> None:
    sop = SOP.replace(
        "    destination: le-gateway\n",
        "    channel: email\n    to: \"'safety@partner.example'\"\n",
    )
    sop += (
        "  - id: webhook\n    type: notify\n    channel: webhook\n"
        "    to: '\"https://police.example/api\"'\n    message: hi\n"
        "  - id: computed\n    type: notify\n    channel: email\n"
        "    to: input.requester\n    message: hi\n"
    )
    result = lint(write_lib, {"destinations.yaml": DESTINATIONS, "v1.yaml": sop})
    assert found(result) == [("v1.yaml", 19, 9, "W307"), ("v1.yaml", 24, 9, "W307")]
    first, second = (d.message for d in result.diagnostics)
    assert "`to` is an email address" in first and "`destination: partner-safety-email`" in first
    assert "`to` is a URL" in second and "`destination: NAME`" in second
    assert result.ok  # a warning: the plan still compiles
    assert ("tell-police", 1, "US") in result.plans


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "    destination: le-gateway\n    channel: webhook\n",
            "a notify step with a `destination` takes no `channel`",
        ),
        ("    channel: webhook\n", "a notify step needs `channel` and `to`, or a `destination`"),
        ("    destination: Le_Gateway\n", "'Le_Gateway' is not a destination name"),
    ],
)
def test_a_notify_step_has_one_form(write_lib: WriteLib, step: str, message: str) -> None:
    sop = SOP.replace("    destination: le-gateway\n", step)
    result = lint(write_lib, {"destinations.yaml": DESTINATIONS, "v1.yaml": sop})
    [diag] = result.diagnostics
    assert diag.code == "E205" and message in diag.message


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("ftp://files.example/in", "is not an address"),
        ("https://user:pw@le-gateway.example/", "would put a secret in the library"),
        ("https:///requests", "names no host"),
        ("safety@partner", "is not an address"),
    ],
)
def test_a_bad_address_is_a_validation_error(
    write_lib: WriteLib, address: str, message: str
) -> None:
    doc = DESTINATIONS.replace("https://le-gateway.example/requests", address)
    result = lint(write_lib, {"destinations.yaml": doc})
    assert found(result) == [("destinations.yaml", 6, 14, "E205")]
    assert message in result.diagnostics[0].message


def test_destination_regions_and_duplicates(write_lib: WriteLib) -> None:
    doc = DESTINATIONS.replace("regions: [US]", "regions: [US, FR]")
    result = lint(write_lib, {"regions.yaml": REGIONS, "destinations.yaml": doc, "d2.yaml": doc})
    # One Destinations document per library (the first file read is the one kept).
    assert sorted(found(result)) == [
        ("d2.yaml", 8, 19, "E311"),
        ("destinations.yaml", 1, 1, "E310"),
    ]
    messages = {d.code: d.message for d in result.diagnostics}
    assert "region 'FR' is not in the Regions document" in messages["E311"]
    assert "the Destinations document is already defined in" in messages["E310"]


# --- The notify activity


def with_destination(address: str, channel: str = "webhook") -> NotifyRequest:
    """A notification of the step's named destination, as the workflow sends it."""
    target = DestinationPlan(name="le-gateway", channel=channel, address=address)
    return request(channel=channel, to=address, to_is_role=False, destination=target)


def test_a_webhook_posts_to_the_destinations_address(
    webhook: WebhookServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The channel's own URL goes nowhere: only the destination's address can receive it.
    monkeypatch.setenv("HOOK_TOKEN", "s3cret-token")
    toml = '[channels.webhook]\nkind = "webhook"\nurl = "http://127.0.0.1:9/unused"\n'
    notifier = notifier_from(tmp_path, monkeypatch, toml + 'token_env = "HOOK_TOKEN"\n')
    req = with_destination(webhook.url)

    result = ActivityEnvironment().run(notifier.notify, req)

    [sent] = webhook.requests
    assert result.delivered and result.detail == f"webhook {webhook.url.split('/')[2]} answered 200"
    assert sent.headers["Authorization"] == "Bearer s3cret-token"
    assert sent.headers["Idempotency-Key"] == "inc-42/page/1"
    assert sent.body["destination"] == "le-gateway"
    assert sent.body["to"] == webhook.url and sent.body["to_is_role"] is False


def test_a_webhook_refuses_an_address_that_is_not_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = '[channels.webhook]\nkind = "webhook"\nurl = "http://127.0.0.1:9/unused"\n'
    notifier = notifier_from(tmp_path, monkeypatch, toml)
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(notifier.notify, with_destination("file:///etc/passwd"))
    assert failure.value.non_retryable and failure.value.type == "BadAddress"


def test_a_destination_on_an_unconfigured_channel_fails_finally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = notifier_from(tmp_path, monkeypatch, '[channels.pager]\nkind = "log"\n')
    req = with_destination("https://le-gateway.example/requests")
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(notifier.notify, req)
    assert failure.value.non_retryable and failure.value.type == "UnknownChannel"
    assert "destination 'le-gateway'" in str(failure.value)


def test_an_email_destination_goes_to_its_address(
    smtp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = (
        f'[channels.email]\nkind = "email"\nhost = "127.0.0.1"\nport = {smtp[1]}\n'
        'from = "sopflow@desk.example"\n'
    )
    notifier = notifier_from(tmp_path, monkeypatch, toml)
    req = with_destination("safety@partner.example", channel="email")

    result = ActivityEnvironment().run(notifier.notify, req)

    [got] = smtp[0].messages
    assert got.rcpt_tos == ["safety@partner.example"]
    assert got.message["Idempotency-Key"] == "inc-42/page/1"
    assert result.detail.endswith("to 1 of 1 recipients (destination le-gateway)")


# --- sopflow channels

runner = CliRunner()


def test_channels_lists_the_destinations(
    write_lib: WriteLib, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPFLOW_CONFIG", raising=False)
    root = write_lib({"destinations.yaml": DESTINATIONS})
    done = runner.invoke(app, ["channels", "-d", str(root)])
    assert (done.exit_code, done.stderr) == (0, "")
    rows = [line for line in done.stdout.splitlines() if line.startswith("│ ")]
    assert [row.split("│")[1].strip() for row in rows] == [
        "le-gateway",
        "partner-safety-email",
        "uk-gateway",
    ]
    assert "Law-enforcement request gateway" in rows[0] and "https://le-gateway" in rows[0]
    assert "$SOPFLOW_CONFIG is not set" in done.stdout


def test_channels_checks_the_workers_configuration(
    write_lib: WriteLib, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_lib({"destinations.yaml": DESTINATIONS})
    config = tmp_path / "worker.toml"
    config.write_text(
        '[channels.webhook]\nkind = "webhook"\nurl = "https://hooks.example/x"\n'
        'token_env = "NOT_READ_HERE"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SOPFLOW_CONFIG", str(config))
    done = runner.invoke(app, ["channels", "-d", str(root), "--format", "json"])
    assert done.exit_code == 1  # the email channel is missing
    assert "partner-safety-email (channel `email` is not configured)" in done.stderr
    listing = json.loads(done.stdout)
    by_name = {d["name"]: d for d in listing["destinations"]}
    assert by_name["le-gateway"] == {
        "name": "le-gateway",
        "channel": "webhook",
        "address": "https://le-gateway.example/requests",
        "regions": ["US"],
        "description": "Law-enforcement request gateway",
        "configured": True,
        "problem": None,
        "note": "channel `webhook` sends its token to le-gateway.example too",
    }
    assert by_name["partner-safety-email"]["configured"] is False
    assert [c["name"] for c in listing["channels"]] == ["escalation", "log", "webhook"]
    assert listing["channels"][2] == {
        "name": "webhook",
        "kind": "webhook",
        "target": "hooks.example",
    }


def test_channels_refuses_a_broken_document(write_lib: WriteLib) -> None:
    root = write_lib({"destinations.yaml": DESTINATIONS.replace("channel: email", "channel: E")})
    done = runner.invoke(app, ["channels", "-d", str(root)])
    assert done.exit_code == 1 and done.stdout == ""
    assert done.stderr.startswith("error: the Destinations document in ")


# --- A run on the time-skipping server


@pytest.mark.workflow
def test_an_incident_notifies_a_destination() -> None:
    async def scenario() -> None:
        async with bench() as b:
            plan: Plan = compile_text(SOP, textwrap.dedent(DESTINATIONS))
            final = await (await b.start(plan)).result()
            assert final.status == "completed"
            page, police = b.fakes.notifications
            assert page.destination is None and page.to == "lead"
            assert police.destination == DestinationPlan(
                name="le-gateway", channel="webhook", address="https://le-gateway.example/requests"
            )
            assert (police.channel, police.to, police.to_is_role) == (
                "webhook",
                "https://le-gateway.example/requests",
                False,
            )
            assert police.message == f"Request for {final.incident_id}"
            assert police.idempotency_key == f"{final.incident_id}/tell_police/1/webhook/0"
            notified = [e.detail for e in final.timeline if e.kind == "notified"]
            assert notified == ["pager to lead", "webhook to le-gateway"]

    run(scenario)
