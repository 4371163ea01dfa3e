"""Vocabulary and fixed documents of the synthetic library, and a YAML writer in the house style.

The writer makes files look hand-written: small leaf mappings and lists in flow style
(``{type: string}``), long prose as folded block scalars, keys in the order given. Every file
starts with the ``yaml-language-server`` modeline that points at the published schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

API = "sopflow/v1"
SCHEMA_FILE = "schema/sop.schema.json"
REGIONS = {
    "US": {"timezone": "America/New_York", "team": "risk-response-us"},
    "UK": {"timezone": "Europe/London", "team": "risk-response-uk"},
    "AU": {"timezone": "Australia/Sydney", "team": "risk-response-au"},
}
VARIANT_REGIONS = ("UK", "AU")

ROLES = {
    "responder": "On-shift risk-and-response specialist",
    "lead": "Shift lead of the risk-and-response desk",
    "legal": "Law-enforcement counsel",
    "commander": "Incident commander for threat-to-life incidents",
    "specialist": "Trained child-safety specialist",
}
CORE_ROLES = ("responder", "lead", "legal")
PRIVACY = ("privacy", "Regional data-protection counsel")

DATA_CATEGORIES = ["basic_subscriber_info", "ip_logs", "location", "contents"]
CATEGORIES = ["violence", "self_harm", "csea", "fraud", "harassment", "terrorism"]
CHANNELS = ("email", "slack", "pager")

# (slug, title) of the kinds of escalation the synthetic SOPs handle.
THEMES = (
    ("emergency", "Emergency disclosure request"),
    ("legal-process", "Legal process from law enforcement"),
    ("csea-report", "Child-safety report"),
    ("threat-referral", "Credible threat referral"),
    ("account-takeover", "Compromised official account"),
    ("doxxing", "Doxxing of an at-risk user"),
    ("extortion", "Sextortion report"),
    ("regulator", "Regulator information request"),
)
POLICY_KINDS = ("emergency", "legal-process", "csea-report")
# The facts each kind of disclosure policy reads, with CEL that builds them from an incident.
POLICY_FACTS: dict[str, list[tuple[str, str]]] = {
    "emergency": [
        ("emergency", "input.imminent_threat"),
        ("requester_verified", 'input.requester.email.endsWith(".gov")'),
        ("contents_requested", '"contents" in input.data_requested'),
    ],
    "legal-process": [
        ("process_valid", 'input.legal_process.kind != ""'),
        ("contents_requested", '"contents" in input.data_requested'),
        ("requester_verified", "has(input.requester.agency)"),
    ],
    "csea-report": [
        ("apparent_csam", 'input.category == "csea"'),
        ("minor_at_risk", "input.imminent_threat || size(input.target_accounts) > 0"),
    ],
}
_POLICY_RULES: dict[str, list[dict[str, Any]]] = {
    "emergency": [
        {
            "when": "!request.requester_verified",
            "decision": "denied",
            "reason": "The requester was not verified on an independently sourced number.",
        },
        {
            "when": "request.emergency && request.contents_requested",
            "decision": "needs_approval",
            "allow": DATA_CATEGORIES,
        },
        {"when": "request.emergency", "decision": "needs_approval", "allow": DATA_CATEGORIES[:3]},
        {"decision": "denied", "reason": "No emergency basis and no legal process."},
    ],
    "legal-process": [
        {
            "when": "!request.process_valid",
            "decision": "denied",
            "reason": "The legal process is not valid in this jurisdiction.",
        },
        {
            "when": "request.contents_requested && request.requester_verified",
            "decision": "needs_approval",
            "allow": DATA_CATEGORIES,
        },
        {"when": "request.requester_verified", "decision": "allowed", "allow": DATA_CATEGORIES[:2]},
        {"decision": "denied", "reason": "The requester could not be verified."},
    ],
    "csea-report": [
        {"when": "request.apparent_csam", "decision": "allowed", "allow": DATA_CATEGORIES},
        {
            "when": "request.minor_at_risk",
            "decision": "needs_approval",
            "allow": DATA_CATEGORIES[:3],
        },
        {"decision": "denied", "reason": "Nothing reportable under the statute."},
    ],
}
_LEGAL_BASIS = {
    "US": "18 U.S.C. 2702(b)(8) and (c)(4)",
    "UK": "UK GDPR / Data Protection Act 2018 - vital interests",
    "AU": "Telecommunications (Interception and Access) Act 1979, s. 313",
}

# Fields task forms are drawn from; CONDITION_FIELDS are the ones conditions read.
FORM_FIELDS: dict[str, dict[str, Any]] = {
    "confirmed": {"type": "boolean"},
    "verified": {"type": "boolean"},
    "escalate_now": {"type": "boolean"},
    "user_notified": {"type": "boolean", "description": "The account holder was told"},
    "result": {"enum": ["confirmed", "denied", "unreachable"]},
    "outcome": {"enum": ["proceed", "hold", "refer"]},
    "risk_score": {"type": "integer", "minimum": 0, "maximum": 10},
    "categories": {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"enum": DATA_CATEGORIES},
    },
    "accounts": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    "notes": {"type": "string"},
    "rationale": {"type": "string", "minLength": 1},
    "reference": {"type": "string", "pattern": "^[A-Z]{2,5}-[0-9]+$"},
    "completed_at": {"type": "string", "format": "date-time"},
    "delivered_via": {"enum": ["portal", "secure_email", "phone_then_written"]},
    "spoke_with": {"type": "string"},
    "window": {
        "type": "object",
        "required": ["start", "end"],
        "properties": {
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
        },
    },
}
CONDITION_FIELDS = (
    "confirmed",
    "verified",
    "escalate_now",
    "result",
    "outcome",
    "risk_score",
    "categories",
    "accounts",
)
TASK_VERBS = (
    "verify",
    "callback",
    "assess",
    "scope",
    "preserve",
    "review",
    "contact",
    "document",
    "investigate",
    "classify",
    "secure",
    "record",
    "confirm",
    "locate",
)
PROSE = (
    "Do not open links or attachments outside the sandboxed viewer.",
    "Write down why: the rationale goes into the disclosure log with the outcome.",
    "Use only contact details you sourced yourself, never those in the request.",
    "Narrow everything to the least data that addresses the danger.",
    "If anything is unclear, page the shift lead before going on.",
    "Record references exactly as the agency gives them.",
)
INPUT_EXTRAS: dict[str, dict[str, Any]] = {
    "person_at_risk": {"type": "string"},
    "person_at_risk_minor": {"type": "boolean"},
    "emergency_description": {"type": "string"},
    "reporter_email": {"type": "string", "format": "email"},
    "legal_process": {
        "type": "object",
        "properties": {"kind": {"type": "string"}, "issued_by": {"type": "string"}},
    },
    "received_at": {"type": "string", "format": "date-time"},
}
SLAS = ("10m", "15m", "30m", "1h", "4h", "PT45M")

_FIRST = (
    "Alice",
    "David",
    "Rachel",
    "Priya",
    "Tom",
    "Eleanor",
    "Jessica",
    "Matthew",
    "Chloe",
    "Omar",
    "Ines",
    "Kenji",
)
_LAST = (
    "Moreno",
    "Okafor",
    "Halvorsen",
    "Shah",
    "Brennan",
    "Whitfield",
    "Nguyen",
    "Harris",
    "Dubois",
    "Haddad",
    "Lopes",
    "Sato",
)
# Each role is held by at least three people, so quorum-2 four-eyes approvals can be met.
_ROSTER_ROLES = (
    ["responder", "specialist"],
    ["lead", "commander"],
    ["legal"],
    ["responder", "privacy"],
    ["lead", "commander", "responder"],
    ["legal", "privacy"],
    ["responder", "lead"],
    ["legal", "privacy", "specialist"],
    ["responder", "specialist", "commander"],
    ["lead", "legal"],
    ["responder"],
    ["lead"],
)


def policy_id(region: str, kind: str) -> str:
    """The id of the ``kind`` disclosure policy of ``region`` (``uk-emergency``)."""
    return f"{region.lower()}-{kind}"


def regions_doc() -> dict[str, Any]:
    """The Regions document: the three desks of the follow-the-sun rota."""
    return {"apiVersion": API, "kind": "Regions", "regions": REGIONS}


def roster_doc() -> dict[str, Any]:
    """A roster in which every role any generated SOP or variant declares is held by at
    least three people on every desk (a person acts on their own region's desk)."""
    people: dict[str, Any] = {}
    for region in REGIONS:
        for i, roles in enumerate(_ROSTER_ROLES):
            first, last = _FIRST[i], _LAST[i]
            people[f"{first[0]}{last}-{region}".lower()] = {
                "name": f"{first} {last} ({region})",
                "region": region,
                "roles": roles,
                "email": f"{first}.{last}.{region}@sopflow.example".lower(),
            }
    return {"apiVersion": API, "kind": "Roster", "people": people}


def policy_doc(region: str, kind: str) -> dict[str, Any]:
    """One disclosure policy: the ``kind`` rules under ``region``'s law."""
    rules = []
    for rule in _POLICY_RULES[kind]:
        rule = dict(rule)
        if rule["decision"] != "denied":
            rule["legal_basis"] = _LEGAL_BASIS[region]
        rules.append(rule)
    return {
        "apiVersion": API,
        "kind": "DisclosurePolicy",
        "id": policy_id(region, kind),
        "jurisdiction": region,
        "title": f"{region} {kind.replace('-', ' ')} disclosure",
        "description": Folded(
            f"When data may be disclosed for a {kind.replace('-', ' ')} request under "
            f"{region} law. Facts: {', '.join(f for f, _ in POLICY_FACTS[kind])}. "
            "Not legal advice."
        ),
        "rules": rules,
    }


class Folded(str):
    """Prose written as a folded block scalar (``>``)."""


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The C emitter with representers that choose styles the way authors write."""

    def ignore_aliases(self, data: Any) -> bool:
        """Authors write every value out; no ``&id001`` anchors for shared objects."""
        return True


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flow(data: dict[str, Any] | list[Any]) -> bool:
    """Short collections of scalars (or of short scalar lists) read best on one line."""
    items = list(data.items()) if isinstance(data, dict) else [(None, v) for v in data]
    size = 0
    for key, value in items:
        if isinstance(value, Folded | dict):
            return False
        if isinstance(value, list) and not all(_scalar(v) for v in value):
            return False
        size += len(str(key or "")) + len(str(value)) + 4
    return size <= 72


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=_flow(data))


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=_flow(data))


def _represent_folded(dumper: yaml.SafeDumper, data: Folded) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style=">")


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(Folded, _represent_folded)


def write_doc(root: Path, relative: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``root/relative`` with the modeline pointing at the schema."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    depth = relative.count("/")
    modeline = f"# yaml-language-server: $schema={'../' * depth}{SCHEMA_FILE}\n"
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=88, allow_unicode=True)
    path.write_text(modeline + body, encoding="utf-8")
