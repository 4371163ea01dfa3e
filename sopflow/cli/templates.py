"""The files ``sopflow init`` and ``sopflow new`` write, as ``str.format`` templates, and
the example values that fill a rehearsal's input and form data.

Each YAML template starts with the editor modeline; ``{schema}`` is the schema's path
relative to the file's folder. Literal braces (YAML flow mappings) are doubled. Filled in,
every template lints clean in a library made by ``sopflow init`` (tests/test_scaffold.py).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

REGIONS = """\
# yaml-language-server: $schema={schema}
# The desks: one entry per region an SOP runs in. A region's code is what SOPs, variants,
# policies and people name (`region: {region}`); its timezone and team go into every plan
# for it, so do not change them once a version is published. Add a desk with a line such as
#   UK: {{timezone: Europe/London, team: risk-response-uk}}
apiVersion: sopflow/v1
kind: Regions
regions:
  {region}: {{timezone: {timezone}, team: {team}}}
"""

ROSTER = """\
# yaml-language-server: $schema={schema}
# Who holds which role, on which desk (`region`). These people are examples: replace them
# with your desk's. Rehearsals act as these people (`as: amoreno`), and an approval that
# needs two votes needs two people holding its roles on the desk.
apiVersion: sopflow/v1
kind: Roster
people:
  amoreno: {{name: Alice Moreno, region: {region}, roles: [responder]}}
  slee: {{name: Samuel Lee, region: {region}, roles: [responder, lead]}}
  dokafor: {{name: David Okafor, region: {region}, roles: [lead]}}
"""

README = """\
# {name}

A library of escalation procedures (SOPs) for [sopflow](https://github.com/sopflow/sopflow).
Every `*.yaml` file here is one document; sopflow reads what a document is from its `kind:`.

- `regions.yaml`: the desks, each region's code, timezone and team.
- `roster.yaml`: who holds which role on which desk. Its people are examples: replace them.
- `schema/sop.schema.json`: the JSON Schema of every document, for your editor. Generated:
  do not edit it; `sopflow schema --write -d {root}` rewrites it.
- `<sop-id>/v1.yaml`: an SOP, version 1 (`sopflow new sop <sop-id> -d {root}`).
- `<sop-id>/v1-uk.yaml`: its variant for another desk
  (`sopflow new variant <sop-id>@1 --region UK -d {root}`).
- `<sop-id>/rehearsals/`: scripted incidents that test it
  (`sopflow new rehearsal <sop-id>@1 <name> -d {root}`).
- `policies/`: disclosure policies, one per file
  (`sopflow new policy <id> --jurisdiction US -d {root}`).
- `sopflow.lock`: the plan hash of every published version (written by `sopflow publish`;
  do not edit it).

Next:

```sh
sopflow new sop my-first-sop -d {root}     # write a first SOP from the template
sopflow lint -d {root}                     # check every document, after every edit
sopflow graph my-first-sop -d {root}       # the procedure as a Mermaid flowchart
```

The tutorial (`docs/tutorial.md` in the sopflow repository) walks through a whole SOP in
30 minutes; the authoring guide (`docs/authoring.md`) explains every field.
"""

SOP = """\
# yaml-language-server: $schema={schema}
# A new SOP, from `sopflow new sop`. Edit it, and run `sopflow lint -d {root}` after each
# change: it points at every problem with its line. Every field is explained in the
# authoring guide (docs/authoring.md). Once published, a version never changes: the next
# one is a copy, v2.yaml, with `version: 2`.
apiVersion: sopflow/v1
kind: SOP
id: {id}
version: 1
title: {title}
owner: risk-response       # the team that owns this text
region: {region}                 # the desk this base is written for; variants adapt it for others
description: >
  What this procedure is for, and when a responder opens it.

# What opening an incident needs, as a JSON Schema: `required` fields must be given.
input:
  type: object
  required: [report_id, account_id]
  properties:
    report_id: {{type: string}}
    account_id: {{type: string}}
    urgent: {{type: boolean}}

# Every role a step names. People get roles in roster.yaml.
roles:
  responder: {{description: On-shift responder}}
  lead: {{description: Shift lead}}

defaults:
  sla: 30m                 # how long a task may wait before it escalates, unless it says

steps:
  # Triage sets the severity: the first rule whose `when` holds wins; the last has none.
  - id: triage
    type: triage
    title: Set severity
    rules:
      - when: has(input.urgent) && input.urgent
        severity: SEV1
      - severity: SEV3

  # A task: someone holding the `assignee` role does it and fills in the form.
  - id: review
    type: task
    title: Review the report
    assignee: responder
    sla: 15m               # then the next role in `escalate` is paged
    escalate: [lead]
    form:                  # what they record, as a JSON Schema
      type: object
      required: [action_taken]
      properties:
        action_taken: {{enum: [removed, restricted, no_action]}}
        notes: {{type: string}}

  # The end: the incident closes with this outcome. Steps run in order unless a step
  # says where to go (`next`, a decision's `goto`, an approval's `on`).
  - id: done
    type: end
    outcome: resolved
"""

VARIANT = """\
# yaml-language-server: $schema={schema}
# The {region} desk's version of {id}@{version}, from `sopflow new variant`. The base stays
# as written; each change below adapts one thing for {region}, in order: set, replace,
# insert, remove, add_roles, set_defaults (docs/authoring.md, section 7). See the result with
# `sopflow compile {id}@{version} --region {region} -d {root}`.
apiVersion: sopflow/v1
kind: Variant
id: {id}
version: {version}
region: {region}
description: >
  What the {region} desk does differently, and why: its law, its partners, its hours.
changes:
  # An example: give step `{step}` the {region} desk's own instructions. Replace it with
  # the changes your desk needs.
  - set:
      step: {step}
      description: >
        How the {region} desk does this step.
"""

POLICY = """\
# yaml-language-server: $schema={schema}
# A disclosure policy, from `sopflow new policy`: ordered rules that decide whether user
# data may be disclosed in {jurisdiction}. The first rule whose `when` holds decides; the
# last has no `when` and is the default. A `disclosure_check` step names it
# (`policy: {id}`) and builds the `request` facts the rules read (docs/authoring.md,
# section 8). Counsel decides every rule and signs off every legal basis: a template is not
# legal advice.
apiVersion: sopflow/v1
kind: DisclosurePolicy
id: {id}
jurisdiction: {jurisdiction}
title: Disclosure policy ({jurisdiction})
rules:
  # Add the rules counsel agreed above the default, the most specific first, e.g.:
  # - when: request.danger_to_life
  #   decision: needs_approval
  #   legal_basis: <the law counsel cites>
  #   allow: [basic_subscriber_info]
  - decision: denied
    reason: No rule above allows disclosure
"""

REHEARSAL = """\
# yaml-language-server: $schema={schema}
# A rehearsal, from `sopflow new rehearsal`: a scripted incident that `sopflow rehearse`
# plays on a test server, where hours pass in seconds. The input has the SOP's required
# fields.{first_action} Change the values to tell your story, add actions
# (complete, vote, signal, note, cancel; `after` lets time pass first), then run
#   sopflow rehearse {path} -d {root} -v
# and write into `expect` what must happen: `path` (the steps done, in order), `outcome`,
# `breached` (steps whose SLA ran out). See docs/authoring.md, section 10.
apiVersion: sopflow/v1
kind: Rehearsal
sop: {id}@{version}
region: {region}
description: {description}
input: {input}
{actions}
{expect}
"""

REHEARSAL_EXPECT = """\
expect:
  # The outcome of the SOP's first `end` step: adjust it to the story you tell.
  outcome: {outcome}"""

REHEARSAL_ACTION = """\
actions:
  - after: 5m
    complete: {{step: {step}, as: {person}, data: {data}}}"""


def example_value(schema_doc: Any, name: str = "") -> Any:
    """A small value that fits a JSON Schema: every required property, the first of an
    enum, the minimum of a number, ``false`` for a boolean, a word for a string."""
    if not isinstance(schema_doc, dict):
        return name or "example"
    for key in ("const", "default"):
        if key in schema_doc:
            return schema_doc[key]
    for key in ("enum", "examples", "anyOf", "oneOf", "allOf"):
        options = schema_doc.get(key)
        if isinstance(options, list) and options:
            return options[0] if key in ("enum", "examples") else example_value(options[0], name)
    kind = schema_doc.get("type", "object" if "properties" in schema_doc else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema_doc.get("properties", {})
        return {key: example_value(props.get(key), key) for key in schema_doc.get("required", [])}
    if kind == "array":
        count = int(schema_doc.get("minItems", 0))
        return [example_value(schema_doc.get("items"), name) for _ in range(count)]
    if kind in ("boolean", "null"):
        return False if kind == "boolean" else None
    if kind in ("integer", "number"):
        low: Any = schema_doc.get("minimum", schema_doc.get("exclusiveMinimum", 0))
        return int(low) + ("exclusiveMinimum" in schema_doc) if kind == "integer" else low
    return _example_string(schema_doc, name)


def _example_string(schema_doc: dict[str, Any], name: str) -> str:
    formats = {
        "date-time": "2030-01-15T09:00:00Z",
        "date": "2030-01-15",
        "email": "someone@example.com",
        "uri": "https://example.com/",
    }
    text = formats.get(str(schema_doc.get("format")), f"{name.replace('_', '-') or 'example'}-1")
    text = text.ljust(int(schema_doc.get("minLength", 0)), "x")
    text = text[: int(schema_doc["maxLength"])] if "maxLength" in schema_doc else text
    pattern = schema_doc.get("pattern")
    if not isinstance(pattern, str):
        return text
    # The text, else a string built from the pattern; when neither fits, lint (E605) points
    # at the value to fix.
    for guess in (text, _from_pattern(pattern)):
        try:
            if guess is not None and re.search(pattern, guess):
                return guess
        except re.error:
            break
    return text


def _from_pattern(pattern: str) -> str | None:
    """The shortest string the regular expression's parse tree spells out (its first
    alternative, the first character of each class), or None for what it cannot spell."""
    try:
        parser: Any = importlib.import_module("re._parser")
        return _spell(parser.parse(pattern).data)
    except Exception:  # a private module, or a construct not spelled: no guess
        return None


def _spell(items: Any) -> str:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_spell_class(str(arg[0][0]), arg[0][1]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            out.append(_spell(arg[2]) * max(arg[0], 1 if arg[1] else 0))
        elif name == "SUBPATTERN":
            out.append(_spell(arg[3]))
        elif name == "BRANCH":
            out.append(_spell(arg[1][0]))
        elif name != "AT":
            raise ValueError(name)
    return "".join(out)


def _spell_class(kind: str, first: Any) -> str:
    """The first character a character class (``[a-z]``, ``\\d``) allows."""
    if kind == "LITERAL":
        return chr(first)
    if kind == "RANGE":
        return chr(first[0])
    return {"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}[str(first)]
