"""``sopflow.lock``: the plan hash of every published SOP version in every region.

A published version is immutable: lint fails when its compiled plan no longer matches the
hash recorded here, so authors publish a new version instead of editing an old one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sopflow.contract.plan import POLICY_PART_PREFIX, PROCEDURE_PART, REGION_PART
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.library import LOCK_FILE, display_path

LOCK_FORMAT = 1


@dataclass(slots=True)
class Lock:
    path: Path
    # "sop-id@version" -> region -> plan hash
    published: dict[str, dict[str, str]] = field(default_factory=dict)
    # "sop-id@version" -> region -> part name -> hash (see Plan.part_hashes)
    parts: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    text: str = ""

    def position_of(self, key: str) -> tuple[int, int]:
        """The 1-based line and column where ``key`` appears in the file."""
        needle = json.dumps(key)
        for number, line in enumerate(self.text.splitlines(), start=1):
            if needle in line:
                return number, line.index(needle) + 1
        return 1, 1

    def render(self) -> str:
        body = {
            "format": LOCK_FORMAT,
            "published": {k: dict(sorted(v.items())) for k, v in sorted(self.published.items())},
            "parts": {k: dict(sorted(v.items())) for k, v in sorted(self.parts.items())},
        }
        return json.dumps(body, indent=2, sort_keys=False) + "\n"


def read_lock(root: Path) -> tuple[Lock, list[Diagnostic]]:
    """The lock of library ``root``; an absent file is an empty lock."""
    path = root / LOCK_FILE
    lock = Lock(path=path)
    if not path.exists():
        return lock, []
    name = display_path(path)
    try:
        lock.text = path.read_text(encoding="utf-8")
        data = json.loads(lock.text)
    except (OSError, UnicodeDecodeError) as exc:
        return lock, [Diagnostic(name, 1, 1, "E601", f"cannot read the lock file: {exc}")]
    except json.JSONDecodeError as exc:
        message = f"the lock file is not valid JSON: {exc.msg}"
        return lock, [Diagnostic(name, exc.lineno, exc.colno, "E601", message)]
    published = data.get("published") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("format") != LOCK_FORMAT
        or not isinstance(published, dict)
        or not all(
            isinstance(v, dict) and all(isinstance(h, str) for h in v.values())
            for v in published.values()
        )
    ):
        message = f"the lock file is not a sopflow lock (format {LOCK_FORMAT}); regenerate it"
        return lock, [Diagnostic(name, 1, 1, "E601", message)]
    lock.published = published
    parts = data.get("parts", {})
    lock.parts = parts if isinstance(parts, dict) else {}
    return lock, []


def changed_parts(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """The names of the parts whose hashes differ (none when nothing was recorded)."""
    if not recorded:
        return []
    names = sorted(set(recorded) | set(now))
    return [name for name in names if recorded.get(name) != now.get(name)]


def part_in_words(name: str) -> str:
    """A part's name as a sentence says it."""
    if name == PROCEDURE_PART:
        return "the procedure itself"
    if name == REGION_PART:
        return "the region's settings in the Regions document"
    return f"disclosure policy {name.removeprefix(POLICY_PART_PREFIX)}"


def write_lock(lock: Lock) -> None:
    lock.path.write_text(lock.render(), encoding="utf-8")
