"""One library document read by the activities (the Roster, the Rota), re-read only when its
file changes.

The worker runs for weeks while people edit the library, so every use looks at the file's
(path, mtime_ns, size) and parses and validates it again only when one of them changed. A
file that cannot be used is a non-retryable ``ApplicationError`` naming the file and its first
problem (``file:line:col: error[CODE]: message``): it needs a person, and the failure should
say so at once rather than after hours of backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from sopflow.language.diagnostics import Diagnostic, Severity
from sopflow.language.library import default_definitions
from sopflow.language.validation import validate_document
from sopflow.language.yaml_source import SourceDoc, load_file

DocT = TypeVar("DocT", bound=BaseModel)

Check = Callable[[DocT, SourceDoc], list[Diagnostic]]
"""More checks of a valid document (positions from its source); an error among them makes the
file unusable."""


class CachedDocument(Generic[DocT]):
    """The document of kind ``model`` in ``path``, or in ``file_name`` in ``$SOPFLOW_DEFINITIONS``
    (default ``sop_definitions``), looked up on every use so a changed variable is followed."""

    def __init__(
        self,
        model: type[DocT],
        file_name: str,
        *,
        kind: str,
        error_type: str,
        path: Path | None = None,
        check: Check[DocT] | None = None,
    ) -> None:
        self._model = model
        self._file_name = file_name
        self._kind = kind
        self._error_type = error_type
        self._path = path
        self._check = check
        self._lock = threading.Lock()
        # (path, mtime_ns, size) -> document: re-read only when the file changes.
        self._cached: tuple[tuple[str, int, int], DocT] | None = None

    @property
    def path(self) -> Path:
        """The file read: the given path, else ``file_name`` in the definitions directory."""
        return self._path or default_definitions() / self._file_name

    def load(self) -> DocT:
        """The document; a non-retryable ApplicationError when the file is missing or invalid."""
        found = self._load(missing_ok=False)
        assert found is not None
        return found

    def load_if_present(self) -> DocT | None:
        """The document, or None when there is no such file; invalid is still an error."""
        return self._load(missing_ok=True)

    def error(self, message: str) -> ApplicationError:
        """A non-retryable failure of this document, of its error type."""
        return ApplicationError(message, type=self._error_type, non_retryable=True)

    def _load(self, *, missing_ok: bool) -> DocT | None:
        path = self.path
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            if missing_ok:
                return None
            raise self._unreadable(path, exc) from None
        except OSError as exc:
            raise self._unreadable(path, exc) from None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
            source, problems = load_file(path)
            model = None
            if source is not None:
                model, problems = validate_document(source)
                if isinstance(model, self._model) and self._check is not None:
                    found = self._check(model, source)
                    problems = [d for d in found if d.severity is Severity.ERROR]
            if not isinstance(model, self._model) or problems:
                first = min(problems).format() if problems else f"{path}: not a {self._kind}"
                raise self.error(f"the {self._kind} cannot be used: {first}")
            self._cached = (key, model)
            return model

    def _unreadable(self, path: Path, exc: OSError) -> ApplicationError:
        return self.error(f"{path}: cannot read the {self._kind}: {exc.strerror}")
