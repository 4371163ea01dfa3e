"""Property: whatever an author's edit does to a valid library, lint answers with
diagnostics, never an exception, and compiles whatever is left clean."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopflow.compile.lint import lint_library
from sopflow.language.diagnostics import CODES
from sopflow.language.yaml_source import parse_text
from tests.conftest import SHIPPED

pytestmark = pytest.mark.unit

FAMILY = "emergency-disclosure"
FILES = sorted(
    [p.relative_to(SHIPPED) for p in (SHIPPED / FAMILY).glob("*.yaml")]
    + [p.relative_to(SHIPPED) for p in (SHIPPED / "policies").glob("*emergency*.yaml")]
    + [Path("regions.yaml"), Path("roster.yaml"), Path("rota.yaml")]
    # emergency-disclosure@3 opens a threat-to-life incident for an unverified emergency
    + [p.relative_to(SHIPPED) for p in (SHIPPED / "threat-to-life").glob("*.yaml")]
    + [p.relative_to(SHIPPED) for p in (SHIPPED / "policies").glob("*threat-referral*.yaml")]
    # threat-to-life@3's stakeholder updates go to a named destination
    + [Path("destinations.yaml")]
)
TEXTS = {name: (SHIPPED / name).read_text(encoding="utf-8") for name in FILES}

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 100),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.text(max_size=12),
    st.sampled_from(
        ["end", "verify", "SEV0", "30m", "PT5M", "input.x &&", "{{", "lead", "steps.x"]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, (*prefix, i))
    return out


def _mutate(data: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}x"] = parent.pop(last)
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, parent[last])
    return data


def _lint(files: dict[Path, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        result = lint_library(root)
        assert all(d.code in CODES and d.line >= 1 and d.col >= 1 for d in result.diagnostics)
        assert all(
            Path(tmp).name in d.path or not Path(d.path).is_absolute() for d in result.diagnostics
        )
        for plan in result.plans.values():
            assert plan.plan_hash == plan.compute_hash()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(FILES),
    data=st.data(),
    action=st.sampled_from(["delete", "replace", "rename", "duplicate"]),
    value=_values,
)
def test_structural_mutations_give_only_diagnostics(
    name: Path, data: st.DataObject, action: str, value: Any
) -> None:
    doc, _ = parse_text(TEXTS[name], str(name))
    assert doc is not None
    path = data.draw(st.sampled_from(_paths(doc.data)))
    mutated = _mutate(doc.data, path, action, value)
    text = yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True)
    _lint({**TEXTS, name: text})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(FILES),
    data=st.data(),
    junk=st.text(alphabet=st.sampled_from(list("-:{}[]&*!|>'\"# \t\n%@`ab1")), max_size=6),
)
def test_text_mutations_give_only_diagnostics(name: Path, data: st.DataObject, junk: str) -> None:
    text = TEXTS[name]
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 8))
    _lint({**TEXTS, name: text[:at] + junk + text[at + cut :]})


def test_fixture_library_is_clean() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SHIPPED / name, Path(tmp) / name)
        # The roster also serves the other families, so only its W302 warnings may appear,
        # and the published versions' W308 (tests/test_shipped_library.py lists them).
        allowed = {"W302", "W308", "W309"}
        assert {d.code for d in lint_library(Path(tmp)).diagnostics} <= allowed
