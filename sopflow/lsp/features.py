"""The LSP features, each a thin handler over the pure functions of this package, and the
server that registers them."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from sopflow.lsp.completion import completion_context, completion_items
from sopflow.lsp.definition import definition, library_symbols
from sopflow.lsp.hover import hover_text
from sopflow.lsp.mermaid import PreviewError, mermaid_preview
from sopflow.lsp.overlay import is_document, library_root
from sopflow.lsp.references import Symbols
from sopflow.lsp.server import DEBOUNCE_SECONDS, SopflowServer, file_of

MERMAID_COMMAND = "sopflow.mermaid"
# LSP's RequestFailed: the request was fine, the answer is "not possible now".
_REQUEST_FAILED = -32803


def did_open(ls: SopflowServer, params: types.DidOpenTextDocumentParams) -> None:
    """Lint at once: the author wants to see the file's problems when it opens."""
    ls.schedule_lint(params.text_document.uri, 0)


def did_change(ls: SopflowServer, params: types.DidChangeTextDocumentParams) -> None:
    """Lint when the typing pauses."""
    ls.schedule_lint(params.text_document.uri, DEBOUNCE_SECONDS)


def did_save(ls: SopflowServer, params: types.DidSaveTextDocumentParams) -> None:
    """Lint at once: other files of the library may read the saved one."""
    ls.schedule_lint(params.text_document.uri, 0)


def did_close(ls: SopflowServer, params: types.DidCloseTextDocumentParams) -> None:
    """Clear the closed file's diagnostics, and lint again with the file on disk."""
    uri = params.text_document.uri
    ls.last_good.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))
    ls.schedule_lint(uri, 0)


def hover(ls: SopflowServer, params: types.HoverParams) -> types.Hover | None:
    """The field's or the step type's documentation."""
    doc = ls.workspace.get_text_document(params.text_document.uri)
    file = file_of(doc.uri)
    source = ls.parse(doc)
    if source is None or file is None:
        return None
    # The last lint, if any, says the type of each step a variant changes; waiting for a
    # lint here would hold the hover up for nothing else.
    overlay = ls.overlays.get(library_root(file))
    steps = library_symbols(source, file, overlay).steps
    step_types = {name: target.detail for name, target in steps.items()}
    text = hover_text(source, doc.position_from_client_units(params.position), step_types)
    if text is None:
        return None
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))


async def goto_definition(
    ls: SopflowServer, params: types.DefinitionParams
) -> list[types.Location] | None:
    """Where the step, role, policy or event under the cursor is declared."""
    doc = ls.workspace.get_text_document(params.text_document.uri)
    file = file_of(doc.uri)
    source = ls.parse(doc)
    if source is None or file is None:
        return None
    overlay = await ls.overlay(library_root(file))
    pos = doc.position_from_client_units(params.position)
    found = definition(source, file, pos, overlay)
    return [ls.location(t.file, t.region) for t in found] or None


async def complete(
    ls: SopflowServer, params: types.CompletionParams
) -> types.CompletionList | None:
    """Step ids, roles, policy ids or step types, by what the cursor follows."""
    doc = ls.workspace.get_text_document(params.text_document.uri)
    file = file_of(doc.uri)
    source = ls.parse(doc) or ls.last_good.get(doc.uri)
    if file is None:
        return None
    lines = [line.rstrip("\r\n") for line in doc.lines]
    pos = doc.position_from_client_units(params.position)
    kind = str(source.data.get("kind", "")) if source is not None else ""
    ctx = completion_context(lines, pos.line, pos.character, kind)
    if ctx is None:
        return None
    overlay = await ls.overlay(library_root(file))
    symbols = library_symbols(source, file, overlay) if source is not None else Symbols()
    policies = {}
    if overlay is not None:
        for name, policy in overlay.result.library.policies.items():
            policies[name] = policy.model.title or f"{policy.model.jurisdiction} policy"
    replace = doc.range_to_client_units(ctx.region)
    items = completion_items(ctx, symbols, policies, lambda label: types.TextEdit(replace, label))
    return types.CompletionList(is_incomplete=False, items=items)


async def mermaid(ls: SopflowServer, *args: Any) -> str:
    """``sopflow.mermaid [uri, region?]``: the Mermaid graph of that SOP's compiled plan."""
    uri = str(args[0]) if args else ""
    file = file_of(uri)
    if file is None or not is_document(file):
        raise JsonRpcInvalidParams(f"{MERMAID_COMMAND} needs the URI of an SOP's YAML file")
    region = str(args[1]) if len(args) > 1 and args[1] else None
    overlay = await ls.lint(library_root(file))  # now: the preview shows the buffer as typed
    if overlay is None:
        raise JsonRpcException(f"{file.parent} is too large to lint", code=_REQUEST_FAILED)
    try:
        return mermaid_preview(overlay, file, region)
    except PreviewError as exc:
        raise JsonRpcException(str(exc), code=_REQUEST_FAILED) from None


def create_server() -> SopflowServer:
    """A server with every feature registered."""
    server = SopflowServer()
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.TEXT_DOCUMENT_DID_SAVE)(did_save)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    server.feature(types.TEXT_DOCUMENT_HOVER)(hover)
    server.feature(types.TEXT_DOCUMENT_DEFINITION)(goto_definition)
    triggers = types.CompletionOptions(trigger_characters=[" ", "[", ","])
    server.feature(types.TEXT_DOCUMENT_COMPLETION, triggers)(complete)
    server.command(MERMAID_COMMAND)(mermaid)
    return server
