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


@dataclass(frozen=True, slots=True)
class Retired:
    """A published version that may no longer be started: why, and which to use instead."""

    use: int
    reason: str
    at: str  # the date it was retired, ISO

    def as_json(self) -> dict[str, object]:
        return {"use": self.use, "reason": self.reason, "at": self.at}


@dataclass(slots=True)
class Lock:
    path: Path
    # "sop-id@version" -> region -> plan hash
    published: dict[str, dict[str, str]] = field(default_factory=dict)
    # "sop-id@version" -> region -> part name -> hash (see Plan.part_hashes)
    parts: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # "sop-id@version" -> its retirement (`sopflow retire`)
    retired: dict[str, Retired] = field(default_factory=dict)
    text: str = ""

    def retirement(self, sop_id: str, version: int) -> Retired | None:
        """Why ``sop_id@version`` may no longer be started, or None when it may."""
        return self.retired.get(f"{sop_id}@{version}")

    def start_refusal(self, sop_id: str, version: int) -> str | None:
        """The reason a start of ``sop_id@version`` is refused (it is retired), naming the
        version to use; None when it may be started."""
        found = self.retirement(sop_id, version)
        if found is None:
            return None
        return (
            f"{sop_id}@{version} is retired ({found.reason}); start {sop_id}@{found.use} "
            "instead (running incidents keep their version)"
        )

    def default_version(self, sop_id: str, versions: list[int]) -> int:
        """The version a start without one means: the latest that is not retired."""
        live = [v for v in versions if self.retirement(sop_id, v) is None]
        return (live or versions)[-1]

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
        if self.retired:  # left out until something is retired: older locks stay as they were
            body["retired"] = {k: r.as_json() for k, r in sorted(self.retired.items())}
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
    return lock, _read_retired(lock, data.get("retired", {}), name)


def _read_retired(lock: Lock, found: object, name: str) -> list[Diagnostic]:
    """The lock's ``retired`` table; E601 for an entry that is not one, or that names a
    version never published."""
    if not isinstance(found, dict):
        return [Diagnostic(name, 1, 1, "E601", "`retired` is not a table of versions")]
    out = []
    for key, entry in found.items():
        line, col = lock.position_of(key)
        try:
            use, reason, at = int(entry["use"]), str(entry["reason"]), str(entry["at"])
        except (KeyError, TypeError, ValueError):
            message = f'retired {key}: write {{"use": N, "reason": "...", "at": "YYYY-MM-DD"}}'
            out.append(Diagnostic(name, line, col, "E601", message))
            continue
        if key not in lock.published:
            known = ", ".join(sorted(lock.published))
            message = f"retired {key} was never published (published: {known})"
            out.append(Diagnostic(name, line, col, "E601", message))
            continue
        lock.retired[key] = Retired(use=use, reason=reason, at=at)
    return out


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
