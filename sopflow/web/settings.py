"""The console's settings, read once from the environment when the API starts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sopflow.api.settings import SettingsError

DEV_PICKER_ENV = "SOPFLOW_CONSOLE_DEV_PICKER"
IDLE_TIMEOUT_S = 30 * 60
ABSOLUTE_TIMEOUT_S = 12 * 60 * 60
MAX_SESSIONS = 10_000
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """``dev_picker``: sign in as anyone in the Roster with their dev token (``sopflow dev``
    turns it on; never in production). ``dev_tokens``: where those are (default: the API's
    state directory's ``dev-tokens/``)."""

    dev_picker: bool = False
    dev_tokens: Path | None = None
    idle_timeout_s: float = IDLE_TIMEOUT_S
    absolute_timeout_s: float = ABSOLUTE_TIMEOUT_S
    max_sessions: int = MAX_SESSIONS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        """The settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        text = env.get(DEV_PICKER_ENV, "").strip().lower()
        if text not in _YES + _NO:
            raise SettingsError(f"{DEV_PICKER_ENV} is {text!r}; use 1 or leave it unset")
        return cls(dev_picker=text in _YES)
