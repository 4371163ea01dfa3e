"""The workflow's own form check (``workflows/form_check.py``) gives jsonschema's verdict.

The workflow cannot import jsonschema (it runs in the Temporal sandbox), so it checks a task's
form with a small validator of its own over the vocabulary lint allows in a form
(``sopflow.language.form_schema``). Here hypothesis draws schemas in that vocabulary and values
(random ones, ones built from the schema by ``hypothesis-jsonschema``, and near-twins of the
schema's ``enum``/``const`` members) and checks that the workflow accepts exactly what
``Draft202012Validator`` accepts, with the CLI's format checker (``input_check.FORMATS``): a form
and an incident input assert the same formats.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator, ValidationError
from jsonschema._utils import equal
from jsonschema.validators import extend

from sopflow.language.form_schema import FORM_VOCABULARY, form_problem
from sopflow.language.input_check import FORMATS, input_problems
from workflows.form_check import form_errors, json_equal

pytestmark = pytest.mark.unit


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    # jsonschema 4.26 sorts the items and compares neighbours only, which misses a duplicate
    # whose twin sorts apart: it calls [[1], [true], [1]] unique. The same pairwise rule with
    # jsonschema's own equality is the oracle here.
    if unique and isinstance(instance, list):
        for i, one in enumerate(instance):
            if any(equal(one, two) for two in instance[i + 1 :]):
                yield ValidationError(f"{instance!r} has non-unique elements")
                return


Oracle = extend(Draft202012Validator, {"uniqueItems": _unique_items})  # type: ignore[no-untyped-call]


def jsonschema_accepts(schema: Any, value: Any) -> bool:
    return bool(Oracle(schema, format_checker=FORMATS).is_valid(value))


def form_accepts(schema: Any, value: Any) -> bool:
    return form_errors(schema, value) == []


# --- Values ---------------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "id", "Z"])
NUMBERS = st.one_of(
    st.integers(-20, 20),
    st.sampled_from([0.0, -0.0, 1.0, 2.0, 0.5, 1.5, 0.1, 0.3, 2.5, 1e-3, 2**53 + 1, 2.0**60]),
    st.sampled_from([10**20 + 1, -(10**20), 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
)
# Strings near each asserted format, well- and ill-formed, so that `format` is exercised.
FORMAT_TEXT = st.one_of(
    st.from_regex(
        r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
        r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?",
        fullmatch=True,
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(str),
    st.emails(),
    st.from_regex(r"[a-z@. ]{0,8}", fullmatch=True),
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
    st.from_regex(r"[0-9.]{7,15}", fullmatch=True),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: f"{{{u}}}"),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), NUMBERS, st.text(max_size=6), st.sampled_from(["a", "ab", "b"])
)
VALUES = st.recursive(
    st.one_of(SCALARS, FORMAT_TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(NAMES, inner, max_size=4),
    ),
    max_leaves=8,
)
# Small values for `enum` and `const`, where equality matters: near-twins are likely.
SMALL = st.recursive(
    st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, 0.0, 1.0, 2, "a"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=4,
)


def twins(value: Any) -> st.SearchStrategy[Any]:
    """Values that Python's == (or a key order) would confuse with ``value``."""
    if isinstance(value, bool):
        return st.sampled_from([value, int(value), float(value), not value])
    if isinstance(value, int | float):
        options: list[Any] = [value, value + 1]
        if abs(value) < 2.0**1023:
            options.append(float(value))
        if value in (0, 1):
            options.append(bool(value))
        if isinstance(value, float) and value.is_integer():
            options.append(int(value))
        return st.sampled_from(options)
    if isinstance(value, list):
        return st.tuples(*(twins(v) for v in value)).map(list) | st.just(value[::-1])
    if isinstance(value, dict):
        items = [st.tuples(st.just(k), twins(v)) for k, v in value.items()]
        return st.tuples(*items).map(lambda pairs: dict(reversed(pairs)))
    return st.just(value)


# --- Schemas in the form vocabulary ---------------------------------------------------------

PATTERNS = st.sampled_from(["^a", "b$", "^[a-z]*$", "[0-9]", "^.{2}$", "@"])
FORMAT_NAMES = st.sampled_from(
    ["date-time", "date", "email", "ipv4", "ipv6", "uuid", "uri", "time", "hostname", "x-color"]
)
TYPE_NAMES = st.sampled_from(["null", "boolean", "integer", "number", "string", "array", "object"])
SIZES = st.integers(0, 4)
BOUNDS = st.one_of(st.integers(-5, 5), st.sampled_from([0.5, -1.5, 2.0]))
STEPS = st.one_of(st.integers(1, 4), st.sampled_from([0.5, 0.1, 2.5, 1e-3]))


def keyword_strategies(sub: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    """A strategy for each keyword a form may use (and an ``x-`` extension); ``sub`` draws the
    subschemas."""
    return {
        "type": TYPE_NAMES | st.lists(TYPE_NAMES, min_size=1, max_size=3, unique=True),
        "enum": st.lists(SMALL, max_size=3),
        "const": SMALL,
        "not": sub,
        "minLength": SIZES,
        "maxLength": SIZES,
        "pattern": PATTERNS,
        "format": FORMAT_NAMES,
        "minimum": BOUNDS,
        "maximum": BOUNDS,
        "exclusiveMinimum": BOUNDS,
        "exclusiveMaximum": BOUNDS,
        "multipleOf": STEPS,
        "minItems": SIZES,
        "maxItems": SIZES,
        "uniqueItems": st.booleans(),
        "items": sub,
        "properties": st.dictionaries(NAMES, sub, max_size=3),
        "required": st.lists(NAMES, max_size=3, unique=True),
        "additionalProperties": sub,
        "minProperties": SIZES,
        "maxProperties": SIZES,
        # Annotations: no verdict depends on them.
        "title": st.just("A field"),
        "description": st.just("What it is"),
        "default": SMALL,
        "examples": st.lists(SMALL, max_size=2),
        "$comment": st.just("note"),
        "readOnly": st.booleans(),
        "writeOnly": st.booleans(),
        "deprecated": st.booleans(),
        "x-ui-order": st.just(["a", "b"]),
    }


# Keywords where the check is easy to get subtly wrong come up more often.
FOCUS = ["type", "enum", "const", "uniqueItems", "multipleOf", "format", "items", "properties"]


def object_schemas(sub: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    options = keyword_strategies(sub)
    names = st.tuples(
        st.sets(st.sampled_from(FOCUS), max_size=3),
        st.sets(st.sampled_from(sorted(options)), max_size=3),
    ).map(lambda pair: sorted(pair[0] | pair[1]))

    @st.composite
    def schemas(draw: st.DrawFn) -> dict[str, Any]:
        return {k: draw(options[k]) for k in draw(names)}

    return schemas()


SCHEMAS: st.SearchStrategy[Any] = st.recursive(
    st.booleans() | object_schemas(st.just(True)),
    lambda sub: st.booleans() | object_schemas(sub),
    max_leaves=4,
)
FORM_SCHEMAS = object_schemas(SCHEMAS)


ALL_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
SCALAR_TYPES = ALL_TYPES - {"array", "object"}


@st.composite
def derived(draw: st.DrawFn, schema: Any, depth: int = 0) -> Any:
    """A value built to fit ``schema`` (it may still miss: `not`, `uniqueItems` and clashing
    bounds are not steered for). Scalars come from hypothesis-jsonschema's ``from_schema``;
    arrays and objects are built here, item by item, because hypothesis-jsonschema 0.23.1 cannot
    draw an object with this version of hypothesis (it uses a private API that has changed)."""
    if not isinstance(schema, dict):
        return draw(VALUES)
    kind = schema.get("type", sorted(ALL_TYPES))
    kinds = set(kind) if isinstance(kind, list) else {kind}
    options = []
    scalars = sorted(kinds & SCALAR_TYPES)
    if scalars:
        options.append(_scalars_fitting(json.dumps({**schema, "type": scalars}, sort_keys=True)))
    members = [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]
    if members:
        options.append(st.sampled_from(members).flatmap(twins))
    if "array" in kinds and depth < 3:
        low = schema.get("minItems", 0)
        size = st.integers(low, max(low, schema.get("maxItems", low + 3)))
        item = derived(schema.get("items", True), depth + 1)
        items = size.flatmap(lambda n: st.lists(item, min_size=n, max_size=n))
        options.append(items)
        # A twin of an item: a duplicate to JSON Schema, or not, unlike to Python.
        options.append(
            items.filter(bool).flatmap(lambda v: twins(v[0]).map(lambda twin: [*v, twin]))
        )
    if "object" in kinds and depth < 3:
        options.append(_object_fitting(schema, depth))
    options = [o for o in options if not o.is_empty]
    return draw(st.one_of(options) if options else VALUES)


@functools.lru_cache(maxsize=4096)
def _scalars_fitting(schema: str) -> st.SearchStrategy[Any]:
    strategy = from_schema(json.loads(schema))
    try:
        strategy.validate()  # hypothesis-jsonschema may build e.g. text(min_size=1, max_size=0)
    except InvalidArgument:
        return st.nothing()
    return strategy


@st.composite
def _object_fitting(draw: st.DrawFn, schema: dict[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties", {})
    optional = st.sets(st.sampled_from([*sorted(properties), "extra"]), max_size=3)
    names = sorted({*schema.get("required", []), *draw(optional)})
    other = schema.get("additionalProperties", True)
    return {n: draw(derived(properties.get(n, other), depth + 1)) for n in names}


@st.composite
def schema_and_value(draw: st.DrawFn) -> tuple[Any, Any]:
    schema = draw(FORM_SCHEMAS)
    assert form_problem(schema) is None, (schema, form_problem(schema))  # lint would accept it
    return schema, draw(VALUES | derived(schema))


def test_the_generator_covers_the_form_vocabulary() -> None:
    # A keyword added to the form vocabulary needs a strategy here (and a rule in form_check).
    assert set(keyword_strategies(st.just(True))) == {*FORM_VOCABULARY, "x-ui-order"}


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(schema_and_value())
def test_form_check_agrees_with_jsonschema(case: tuple[Any, Any]) -> None:
    schema, value = case
    try:
        expected = jsonschema_accepts(schema, value)
    except OverflowError:
        # jsonschema divides a huge integer by a float `multipleOf` outside its own
        # OverflowError guard and crashes: no verdict to compare with (the form check's
        # answer for such values is pinned by test_multiple_of_as_jsonschema_decides_it).
        assume(False)
    assert form_accepts(schema, value) == expected, form_errors(schema, value)


# --- The defects the differential test is there to catch, by name ---------------------------


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"enum": [False]}, 0, False),  # a boolean is never a number
        ({"enum": [False]}, False, True),
        ({"const": True}, 1, False),
        ({"const": True}, 1.0, False),
        ({"enum": [0]}, False, False),
        ({"enum": [0]}, 0.0, True),  # numbers compare by value
        ({"const": 1.0}, 1, True),
        ({"const": {"a": 1, "b": [True]}}, {"b": [True], "a": 1.0}, True),
        ({"const": {"a": 1, "b": [True]}}, {"b": [1], "a": 1}, False),
        ({"enum": [[0, 1]]}, [False, True], False),
        ({"uniqueItems": True}, [{"a": 1, "b": 2}, {"b": 2, "a": 1}], False),  # any key order
        ({"uniqueItems": True}, [1, 1.0], False),
        ({"uniqueItems": True}, [1, True], True),
        ({"uniqueItems": True}, [0, False, [0], [False]], True),
        ({"uniqueItems": True}, [[1], [True], [1]], False),  # jsonschema 4.26 misses this one
    ],
)
def test_json_equality(schema: dict[str, Any], value: Any, valid: bool) -> None:
    assert form_accepts(schema, value) is valid
    assert jsonschema_accepts(schema, value) is valid


def test_json_equal() -> None:
    assert not json_equal(True, 1)
    assert not json_equal(0, False)
    assert json_equal(1, 1.0)
    assert json_equal(2**60, 2.0**60)
    assert not json_equal(2**53 + 1, 2.0**53)
    assert json_equal({"a": [1, {"b": None}], "c": "x"}, {"c": "x", "a": [1.0, {"b": None}]})
    assert not json_equal([1, 2], [2, 1])
    assert not json_equal({"a": 1}, {"a": 1, "b": 1})
    assert not json_equal("1", 1)
    assert not json_equal(None, False)


@pytest.mark.parametrize(
    ("step", "value", "valid"),
    [
        (2, 2**60 + 1, False),  # was judged by float division: 2**60 + 1 looked even
        (3, 10**400, False),  # was an OverflowError inside the workflow
        (0.5, 10**400, True),  # exactly, where jsonschema itself overflows
        (0.1, 0.3, False),  # jsonschema's float rule: 0.3 / 0.1 == 2.9999999999999996
        (0.5, 1.5, True),
        (3, 7.5, False),
    ],
)
def test_multiple_of_as_jsonschema_decides_it(step: float, value: float, valid: bool) -> None:
    schema = {"type": "number", "multipleOf": step}
    assert form_accepts(schema, value) is valid
    if not (isinstance(step, float) and value == 10**400):
        assert jsonschema_accepts(schema, value) is valid


# --- `format`: a form and an incident input assert the same formats --------------------------

FORMAT_CASES = [
    ("date-time", "2025-03-01T10:00:00Z", True),
    ("date-time", "2025-03-01t10:00:00.123456789z", True),
    ("date-time", "2025-03-01T10:00:00+01:00", True),
    ("date-time", "2025-03-01T10:00:00-00:00", True),
    ("date-time", "2025-03-01T10:00:00", False),  # no time zone
    ("date-time", "2025-03-01 10:00:00Z", False),
    ("date-time", "2025-03-01T10:00Z", False),  # no seconds
    ("date-time", "2025-02-30T10:00:00Z", False),
    ("date-time", "2025-03-01T24:00:00Z", False),
    ("date-time", "2025-03-01T10:00:60Z", False),
    ("date-time", "2025-03-01T10:00:00+01:60", False),
    ("date-time", "20250301T100000Z", False),
    ("date-time", "2025-03-01T10:00:00Z\n", False),
    ("date-time", "yesterday", False),
    ("date", "2025-03-01", True),
    ("date", "2025-3-1", False),
    ("date", "2025-02-29", False),
    ("email", "a@b.org", True),
    ("email", "someone@localhost", True),
    ("email", "not an address", False),
    ("ipv4", "192.0.2.1", True),
    ("ipv4", "192.0.2.256", False),
    ("ipv6", "2001:db8::1", True),
    ("ipv6", "fe80::1%eth0", False),
    ("uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", True),
    ("uuid", "0f8fad5bd9cb469fa16570867728950e", False),
    ("uri", "not a uri", True),  # annotation only
    ("hostname", "-", True),  # annotation only
    ("time", "25:99", True),  # annotation only
]


@pytest.mark.parametrize(("fmt", "text", "valid"), FORMAT_CASES)
def test_a_form_and_an_input_assert_the_same_formats(fmt: str, text: str, valid: bool) -> None:
    schema = {"type": "object", "properties": {"at": {"type": "string", "format": fmt}}}
    assert form_accepts(schema, {"at": text}) is valid
    assert (input_problems(schema, {"at": text}) == []) is valid
    untyped = {"format": fmt}  # a format applies to strings only
    assert form_accepts(untyped, 1)
    assert input_problems(untyped, 1) == []


@settings(max_examples=300, deadline=None)
@given(FORMAT_NAMES, FORMAT_TEXT | st.text(max_size=12))
def test_format_verdicts_agree(fmt: str, text: str) -> None:
    schema = {"type": "string", "format": fmt}
    assert form_accepts(schema, text) == (input_problems(schema, text) == []), json.dumps(text)
