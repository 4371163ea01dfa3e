"""The one error type of the audit package: a problem to report in one line, never a
traceback (a missing or garbled file, an unknown incident, an undecodable payload)."""

from __future__ import annotations


class AuditError(Exception):
    """A problem with what was asked for; ``str(exc)`` is the whole message, e.g.
    ``path/to/file.json: not JSON (line 1, column 1: Expecting value)``."""
