"""The server's state: open documents, the last lint of each library, and the debounced
lint that publishes diagnostics as the author types."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextRange

from sopflow.language.diagnostics import Diagnostic, Severity
from sopflow.language.yaml_source import SourceDoc, parse_text
from sopflow.lsp.overlay import Overlay, TooLargeError, is_document, library_root, lint_overlay
from sopflow.lsp.ranges import token_range

log = logging.getLogger(__name__)

VERSION = "0.1.0"
# Lint after the typing pauses this long: a lint of the shipped library takes a third of a
# second, so linting every keystroke would queue work the next keystroke makes stale.
DEBOUNCE_SECONDS = 0.25

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
}


def file_of(uri: str) -> Path | None:
    """The local file behind ``uri`` (resolved), or None for other schemes."""
    path = to_fs_path(uri)
    return Path(path).resolve() if path and uri.startswith("file:") else None


class SopflowServer(LanguageServer):
    """A pygls server that remembers the last lint of each library it has seen."""

    def __init__(self) -> None:
        super().__init__("sopflow", VERSION)
        self.overlays: dict[Path, Overlay] = {}
        self.pending: dict[Path, asyncio.Future[None]] = {}
        # One lint at a time: lint is CPU-bound, and the last one wins anyway.
        self.linter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sopflow-lint")
        self.last_good: dict[str, SourceDoc] = {}

    def documents(self, root: Path) -> dict[Path, TextDocument]:
        """The open YAML documents of the library at ``root``, by file."""
        out: dict[Path, TextDocument] = {}
        for uri, doc in list(self.workspace.text_documents.items()):
            file = file_of(uri)
            if file is not None and is_document(file) and library_root(file) == root:
                out[file] = doc
        return out

    def parse(self, doc: TextDocument) -> SourceDoc | None:
        """The document's buffer, parsed (remembered: completion reads the last good one
        while the text is half typed)."""
        source, _ = parse_text(doc.source, doc.uri)
        if source is not None:
            self.last_good[doc.uri] = source
        return source

    async def lint(self, root: Path) -> Overlay | None:
        """Lint the library at ``root`` with the open buffers, now (off the event loop)."""
        buffers = {file: doc.source for file, doc in self.documents(root).items()}
        loop = asyncio.get_running_loop()
        try:
            overlay = await loop.run_in_executor(self.linter, lint_overlay, root, buffers)
        except TooLargeError as exc:
            self.window_log_message(
                types.LogMessageParams(types.MessageType.Warning, f"not linted: {exc}")
            )
            return None
        self.overlays[root] = overlay
        return overlay

    async def overlay(self, root: Path) -> Overlay | None:
        """The last lint of ``root``, or a new one if it was never linted."""
        return self.overlays.get(root) or await self.lint(root)

    def schedule_lint(self, uri: str, delay: float) -> None:
        """Lint the library of ``uri`` after ``delay`` seconds, replacing a lint that is
        still waiting; then publish the diagnostics of its open documents."""
        file = file_of(uri)
        if file is None or not is_document(file):
            return
        root = library_root(file)
        waiting = self.pending.pop(root, None)
        if waiting is not None:
            waiting.cancel()
        self.pending[root] = asyncio.ensure_future(self._lint_later(root, delay))

    def _versions(self, root: Path) -> dict[Path, int | None]:
        return {file: doc.version for file, doc in self.documents(root).items()}

    async def _lint_later(self, root: Path, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        linted = self._versions(root)
        try:
            overlay = await self.lint(root)
        except Exception:
            # A bug in a check must not take the editor's server down with it.
            log.exception("lint of %s failed", root)
            return
        # Diagnostics of text that has changed since would point at the wrong places; the
        # change has scheduled a lint of its own.
        if overlay is not None and self._versions(root) == linted:
            self.publish(root, overlay)

    def publish(self, root: Path, overlay: Overlay) -> None:
        """Send the diagnostics of every open document of ``root`` (an empty list clears
        those a fix removed)."""
        found = overlay.diagnostics()
        for file, doc in self.documents(root).items():
            diags = [self.to_lsp(doc, d) for d in found.get(file, [])]
            params = types.PublishDiagnosticsParams(doc.uri, diags, doc.version)
            self.text_document_publish_diagnostics(params)

    def to_lsp(self, doc: TextDocument, diag: Diagnostic) -> types.Diagnostic:
        """A sopflow diagnostic as LSP's: 0-based, from its column to the end of the token."""
        lines = [line.rstrip("\r\n") for line in doc.lines]
        region = token_range(lines, diag.line - 1, diag.col - 1)
        return types.Diagnostic(
            range=doc.range_to_client_units(region),
            message=diag.message,
            severity=_SEVERITY[diag.severity],
            code=diag.code,
            source="sopflow",
        )

    def location(self, file: Path, region: ServerTextRange) -> types.Location:
        """A place in ``file`` in the client's units (its open buffer's, or the file's)."""
        for uri, doc in list(self.workspace.text_documents.items()):
            if file_of(uri) == file:
                return types.Location(uri, doc.range_to_client_units(region))
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        codec = self.workspace.position_codec
        return types.Location(file.as_uri(), codec.range_to_client_units(lines, region))
