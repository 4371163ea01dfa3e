"""`sopflow lsp` driven by a real LSP client (pygls's) over stdio, the server a subprocess
started as an editor starts it: diagnostics as you type, hover, go to definition,
completion and the Mermaid preview command, on a small library in a temporary folder."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from sopflow.compile.graph import to_mermaid
from sopflow.compile.lint import lint_library
from sopflow.language.yaml_source import parse_text
from sopflow.lsp.completion import Want, completion_context
from sopflow.lsp.definition import definition
from sopflow.lsp.overlay import Overlay, lint_overlay
from sopflow.lsp.ranges import at
from sopflow.lsp.references import Target
from tests.conftest import REGIONS

pytestmark = pytest.mark.unit

SOPFLOW = Path(sys.executable).parent / "sopflow"
# Generous: a loaded CI machine may take seconds to import the server and lint.
DEADLINE = 60.0

POLICY = """\
apiVersion: sopflow/v1
kind: DisclosurePolicy
id: us-emergency
jurisdiction: US
title: US emergency disclosure
rules:
  - when: request.imminent
    decision: allowed
    legal_basis: 18 U.S.C. 2702(c)(4)
    allow: [basic_subscriber_info]
  - decision: denied
    reason: no emergency
"""

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: welfare
version: 1
title: Welfare check
owner: tests
region: US
roles:
  responder: {description: On-shift responder}
  lead: {description: Incident lead}
steps:
  - id: assess
    type: task
    assignee: responder
    sla: 15m
    escalate: [lead]
    form:
      type: object
      required: [credible, imminent]
      properties: {credible: {type: boolean}, imminent: {type: boolean}}
  - id: route
    type: decision
    branches:
      - when: steps.assess.output.credible
        goto: disclose
      - goto: closed
  - id: disclose
    type: disclosure_check
    policy: us-emergency
    request: {imminent: steps.assess.output.imminent}
    on: {denied: closed}
  - id: done
    type: end
    outcome: resolved
  - id: closed
    type: end
    outcome: closed
"""

STEP_IDS = {"assess", "route", "disclose", "done", "closed"}


class Client(LanguageClient):
    """pygls's client, keeping the last diagnostics of each document and saying when new
    ones arrive, so a test waits on a condition rather than for a while."""

    def __init__(self) -> None:
        super().__init__("sopflow-tests", "1")
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.arrived = asyncio.Event()

        # Plain functions: pygls marks a handler with attributes, which a method cannot take.
        def published(params: types.PublishDiagnosticsParams) -> None:
            self.diagnostics[params.uri] = list(params.diagnostics)
            self.arrived.set()

        def logged(params: types.LogMessageParams) -> None:
            print(f"server: {params.message}", file=sys.stderr)

        self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(published)
        self.feature(types.WINDOW_LOG_MESSAGE)(logged)

    async def diagnostics_for(
        self, uri: str, done: Callable[[list[types.Diagnostic]], bool]
    ) -> list[types.Diagnostic]:
        """The diagnostics of ``uri`` once ``done`` holds for them; fails at the deadline."""
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE
        while True:
            got = self.diagnostics.get(uri)
            if got is not None and done(got):
                return got
            self.arrived.clear()
            remaining = end - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no diagnostics as expected for {uri}; last: {got}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)


@contextlib.asynccontextmanager
async def session(root: Path) -> AsyncIterator[Client]:
    """The server started by `sopflow lsp` over stdio, initialised, and shut down after."""
    client = Client()
    await client.start_io(str(SOPFLOW), "lsp", cwd=str(root.parent))
    try:
        caps = types.ClientCapabilities(
            text_document=types.TextDocumentClientCapabilities(
                hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown])
            )
        )
        params = types.InitializeParams(capabilities=caps, root_uri=root.as_uri())
        await client.initialize_async(params)
        client.initialized(types.InitializedParams())
        yield client
        await client.shutdown_async(None)
        client.exit(None)
    except BaseException:
        # A failed test must not leave the server running: stop() waits for it to exit.
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        raise
    finally:
        await client.stop()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), DEADLINE * 3))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for name, text in {
        "regions.yaml": REGIONS,
        "policies/us-emergency.yaml": POLICY,
        "welfare/v1.yaml": SOP,
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def open_doc(client: Client, file: Path, text: str | None = None) -> str:
    uri = file.as_uri()
    body = file.read_text(encoding="utf-8") if text is None else text
    item = types.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=body)
    client.text_document_did_open(types.DidOpenTextDocumentParams(item))
    return uri


def change_doc(client: Client, uri: str, version: int, text: str) -> None:
    whole = types.TextDocumentContentChangeWholeDocument(text=text)
    doc = types.VersionedTextDocumentIdentifier(uri=uri, version=version)
    client.text_document_did_change(types.DidChangeTextDocumentParams(doc, [whole]))


def where(text: str, needle: str, offset: int = 0) -> types.Position:
    """The 0-based position of ``needle`` (plus ``offset``) in ``text``; it must be unique."""
    assert text.count(needle) == 1, needle
    before = text[: text.index(needle) + offset]
    return types.Position(before.count("\n"), len(before) - (before.rfind("\n") + 1))


def line_of(text: str, needle: str) -> int:
    return where(text, needle).line


def test_diagnostics_follow_the_buffer_and_clear_after_the_fix(library: Path, tmp_path: Path):
    sop = library / "welfare" / "v1.yaml"
    broken = SOP.replace("assignee: responder", "assignee: responders")
    # What `sopflow lint` says of the same text on disk, for the codes and messages.
    on_disk = tmp_path / "on-disk"
    shutil.copytree(library, on_disk)
    (on_disk / "welfare" / "v1.yaml").write_text(broken, encoding="utf-8")
    expected = [(d.code, d.message) for d in lint_library(on_disk).diagnostics]
    assert [code for code, _ in expected] == ["E302"]

    async def scenario() -> None:
        async with session(library) as client:
            # Only the buffer is broken: the file on disk lints clean.
            uri = open_doc(client, sop, broken)
            found = await client.diagnostics_for(uri, lambda d: len(d) > 0)
            assert [(d.code, d.message) for d in found] == expected
            (diag,) = found
            start = where(broken, "assignee: responders", len("assignee: "))
            end = types.Position(start.line, start.character + len("responders"))
            assert diag.range == types.Range(start, end)
            assert diag.severity == types.DiagnosticSeverity.Error
            assert diag.source == "sopflow"

            change_doc(client, uri, 2, SOP)
            assert await client.diagnostics_for(uri, lambda d: d == []) == []

    run(scenario)


def test_an_error_another_file_causes_reaches_the_open_document(library: Path):
    """The policy's buffer loses its default rule: the policy file shows the error."""
    policy = library / "policies" / "us-emergency.yaml"
    text = POLICY.replace("  - decision: denied\n    reason: no emergency\n", "")

    async def scenario() -> None:
        async with session(library) as client:
            uri = open_doc(client, policy, text)
            found = await client.diagnostics_for(uri, lambda d: len(d) > 0)
            assert "E307" in {d.code for d in found}
            assert all(d.severity == types.DiagnosticSeverity.Error for d in found)

    run(scenario)


async def hover_at(client: Client, uri: str, pos: types.Position) -> str:
    doc = types.TextDocumentIdentifier(uri)
    found = await client.text_document_hover_async(types.HoverParams(doc, pos))
    assert found is not None
    assert isinstance(found.contents, types.MarkupContent)
    return found.contents.value


def test_hover_documents_fields_and_step_types(library: Path):
    sop = library / "welfare" / "v1.yaml"

    async def scenario() -> None:
        async with session(library) as client:
            uri = open_doc(client, sop)
            sla = await hover_at(client, uri, where(SOP, "sla: 15m", 1))
            assert sla.startswith("**`sla`**")
            assert "duration" in sla and "SlaClock" in sla
            # The authoring guide's row for human steps: what happens without one.
            assert "`defaults.sla`. With neither, lint fails (E303)." in sla

            step = await hover_at(client, uri, where(SOP, "type: task", len("type: ta")))
            assert step.startswith("**`task`** step: a person does something")
            assert "`assignee`" in step and "`form`" in step
            assert "authoring.md#task-a-person-does-something-and-submits-a-form" in step

            policy = await hover_at(client, uri, where(SOP, "policy: us-emergency", 2))
            assert policy.startswith("**`policy`**") and "required" in policy

    run(scenario)


async def definition_at(client: Client, uri: str, pos: types.Position) -> list[types.Location]:
    doc = types.TextDocumentIdentifier(uri)
    found = await client.text_document_definition_async(types.DefinitionParams(doc, pos))
    assert found is None or isinstance(found, list), found
    return [loc for loc in found or [] if isinstance(loc, types.Location)]


def test_definition_of_steps_roles_and_policies(library: Path):
    sop = library / "welfare" / "v1.yaml"
    policy = library / "policies" / "us-emergency.yaml"

    async def scenario() -> None:
        async with session(library) as client:
            uri = open_doc(client, sop)
            (goto,) = await definition_at(client, uri, where(SOP, "goto: disclose", 7))
            assert goto.uri == uri
            assert goto.range.start == where(SOP, "id: disclose")

            cel = where(SOP, "when: steps.assess", len("when: steps.as"))
            (step,) = await definition_at(client, uri, cel)
            assert step.range.start.line == line_of(SOP, "id: assess")

            (role,) = await definition_at(client, uri, where(SOP, "[lead]", 2))
            assert role.range.start == where(SOP, "lead: {description")
            assert role.range.end.character == role.range.start.character + len("lead")

            (other,) = await definition_at(client, uri, where(SOP, "policy: us-emergency", 9))
            assert Path(other.uri[len("file://") :]).resolve() == policy.resolve()
            assert other.range.start == where(POLICY, "id: us-emergency")

            assert await definition_at(client, uri, where(SOP, "title: Welfare", 8)) == []

    run(scenario)


async def labels_at(client: Client, uri: str, pos: types.Position) -> set[str]:
    doc = types.TextDocumentIdentifier(uri)
    found = await client.text_document_completion_async(types.CompletionParams(doc, pos))
    assert isinstance(found, types.CompletionList), found
    return {item.label for item in found.items}


def test_completion_offers_the_names_that_fit(library: Path):
    sop = library / "welfare" / "v1.yaml"
    with_next = SOP.replace("    escalate: [lead]\n", "    escalate: [lead]\n    next: \n")

    async def scenario() -> None:
        async with session(library) as client:
            uri = open_doc(client, sop, with_next)
            after_next = where(with_next, "next: \n", len("next: "))
            assert await labels_at(client, uri, after_next) == STEP_IDS | {"end"}

            assert await labels_at(client, uri, where(with_next, "policy: us", 8)) == {
                "us-emergency"
            }
            step_types = await labels_at(client, uri, where(with_next, "type: task", 6))
            assert {"task", "approval", "wait", "open_incident"} <= step_types

            # Half typed and no longer valid YAML: the names come from the last good parse.
            typing = with_next.replace("escalate: [lead]", "escalate: [lead, ")
            change_doc(client, uri, 2, typing)
            at = where(typing, "escalate: [lead, ", len("escalate: [lead, "))
            assert await labels_at(client, uri, at) == {"responder", "lead"}

    run(scenario)


def test_the_mermaid_command_returns_the_compiled_graph(library: Path):
    sop = library / "welfare" / "v1.yaml"
    expected = to_mermaid(lint_library(library).plans[("welfare", 1, "US")])

    async def scenario() -> None:
        async with session(library) as client:
            uri = open_doc(client, sop)
            command = types.ExecuteCommandParams("sopflow.mermaid", [uri])
            text = await client.workspace_execute_command_async(command)
            assert isinstance(text, str) and text.startswith("flowchart TD")
            assert text == expected

            # The preview shows the buffer: an edit shows at once, and a broken SOP says why.
            titled = SOP.replace("    type: task\n", "    type: task\n    title: Look closer\n")
            change_doc(client, uri, 2, titled)
            renamed = await client.workspace_execute_command_async(command)
            assert isinstance(renamed, str)
            assert '"Look closer<br/>(responder)' in renamed and "Assess" not in renamed
            change_doc(client, uri, 3, SOP.replace("goto: closed", "goto: closd"))
            with pytest.raises(JsonRpcException, match=r"welfare@1 \(US\) does not compile"):
                await client.workspace_execute_command_async(command)

    run(scenario)


def test_lsp_help_names_every_feature() -> None:
    result = subprocess.run(
        [str(SOPFLOW), "lsp", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "--tcp" in result.stdout and "sopflow.mermaid" in result.stdout


# In-process checks of what the handlers above sit on: cross-file names and the overlay.

WAITING_SOP = SOP.replace(
    "  - id: done\n",
    "  - id: hold\n    type: wait\n    event: police-reply\n    on: {received: done}\n"
    "  - id: done\n",
)
VARIANT = """\
apiVersion: sopflow/v1
kind: Variant
id: welfare
version: 1
region: UK
changes:
  - add_roles:
      privacy: {description: UK data-protection counsel}
  - set: {step: assess, escalate: [lead, privacy]}
"""
REHEARSAL = """\
apiVersion: sopflow/v1
kind: Rehearsal
sop: welfare@1
region: UK
actions:
  - signal: {event: police-reply}
expect:
  path: [assess, route]
"""


def _overlay(root: Path, buffers: dict[Path, str] | None = None) -> Overlay:
    return lint_overlay(root.resolve(), {k.resolve(): v for k, v in (buffers or {}).items()})


def _targets(root: Path, name: str, text: str, needle: str, offset: int) -> list[Target]:
    file = (root / name).resolve()
    source, problems = parse_text(text, str(file))
    assert source is not None, problems
    pos = where(text, needle, offset)
    return definition(source, file, at(pos.line, pos.character), _overlay(root))


def test_names_resolve_across_the_library(library: Path):
    (library / "welfare" / "v1.yaml").write_text(WAITING_SOP, encoding="utf-8")
    (library / "welfare" / "v1-uk.yaml").write_text(VARIANT, encoding="utf-8")
    (library / "welfare" / "rehearsals").mkdir()
    rehearsal = library / "welfare" / "rehearsals" / "uk.yaml"
    rehearsal.write_text(REHEARSAL, encoding="utf-8")
    assert [d.format() for d in lint_library(library).diagnostics] == []
    sop = (library / "welfare" / "v1.yaml").resolve()
    hold = where(WAITING_SOP, "id: hold").line

    # A variant's `step:` is the base's step; a role it adds is its own.
    (base,) = _targets(library, "welfare/v1-uk.yaml", VARIANT, "step: assess", 7)
    assert (base.file, base.region.start.line) == (sop, where(SOP, "id: assess").line)
    (role,) = _targets(library, "welfare/v1-uk.yaml", VARIANT, "lead, privacy", 8)
    assert role.region.start.line == where(VARIANT, "privacy: {").line
    # A rehearsal's event is the wait step that takes it; its path names the SOP's steps.
    rel = "welfare/rehearsals/uk.yaml"
    (wait,) = _targets(library, rel, REHEARSAL, "event: police-reply", 9)
    assert (wait.file, wait.region.start.line) == (sop, hold)
    (step,) = _targets(library, rel, REHEARSAL, "[assess", 2)
    assert step.region.start.line == where(SOP, "id: assess").line


def test_the_overlay_reports_real_paths(library: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(library.parent)
    copy = library / "welfare" / "v2.yaml"
    buffers = {copy: SOP}  # a copy that still says `version: 1`, never saved
    found = _overlay(library, buffers).diagnostics()
    (clash,) = found[copy.resolve()]
    assert clash.path == "lib/welfare/v2.yaml"
    assert clash.code == "E310"
    assert clash.message == "SOP welfare@1 is already defined in lib/welfare/v1.yaml:1"


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("    next: cl", Want.STEP),
        ("    on: {approved: x, rejected: cl", Want.STEP),
        ("    approvers: [lead, le", Want.ROLE),
        ("    check_in: {to: le", Want.ROLE),
        ("    policy: us", Want.POLICY),
        ("    type: ta", Want.STEP_TYPE),
        ("    title: Cl", None),
        ("      type: obj", None),  # under `form:`: JSON Schema's type
    ],
)
def test_completion_reads_what_is_typed(line: str, want: Want | None):
    lines = ["steps:", "  - id: a", "    form:", line]
    if not line.startswith("      "):
        lines = ["steps:", "  - id: a", line]
    ctx = completion_context(lines, len(lines) - 1, len(line), "SOP")
    assert (ctx.want if ctx else None) is want
    if ctx is not None:
        partial = line[len(line.rstrip("abcdefghijklmnopqrstuvwxyz_-")) :]
        assert ctx.region.start.character == len(line) - len(partial)
