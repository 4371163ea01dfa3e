"""Checks of named destinations: a `notify` step's `destination` is declared and serves the
SOP's desk (E316, E317); a plain `to` that is a quoted URL or email address should be a named
destination (W307); the Destinations document names known regions (E311).

The document itself (names, channel names, addresses) is validated with its model
(``sopflow.language.models.destinations``).
"""

from __future__ import annotations

import re

from sopflow.language.checks.library import check_region
from sopflow.language.checks.steps import Context
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.library import Library
from sopflow.language.models.destinations import Destination, address_kind
from sopflow.language.models.steps import NotifyStep
from sopflow.language.validation import did_you_mean

# A CEL string literal and nothing else: "..." or '...', without escapes (an address needs
# none, and a literal with escapes is not worth guessing about).
_LITERAL = re.compile(r"""^\s*(?P<quote>["'])(?P<text>[^"'\\]*)(?P=quote)\s*$""")


def _notify_steps(eff: Effective) -> list[NotifyStep]:
    return [s for s, _, _ in walk_steps(list(eff.sop.steps)) if isinstance(s, NotifyStep)]


def check_destinations(eff: Effective, ctx: Context) -> list[Diagnostic]:
    """Every destination problem of the notify steps of one effective SOP."""
    out: list[Diagnostic] = []
    for step in _notify_steps(eff):
        if step.destination is not None:
            out.extend(_check_named(eff, ctx, step, step.destination))
        elif step.to is not None:
            out.extend(_check_literal(eff, ctx, step, step.to))
    return out


def _check_named(eff: Effective, ctx: Context, step: NotifyStep, name: str) -> list[Diagnostic]:
    if ctx.destinations_broken:
        return []  # the Destinations document's own errors say what is wrong
    known = ctx.destinations or {}
    spec = known.get(name)
    if spec is None:
        if not known:
            message = (
                f"no destination `{name}`: the library declares none (a `kind: Destinations` "
                "document, destinations.yaml, declares them)"
            )
        else:
            hint = did_you_mean(name, sorted(known))
            message = f"no destination `{name}` in the Destinations document{hint}"
        return [eff.diag(step.id, ("destination",), "E316", message)]
    if spec.regions is not None and eff.region not in spec.regions:
        desks = ", ".join(spec.regions)
        message = (
            f"destination `{name}` serves the {desks} desk{'s' if len(spec.regions) > 1 else ''}"
            f" only; this SOP runs on the {eff.region} desk: name a destination for "
            f"{eff.region}, or add {eff.region} to the destination's `regions`"
        )
        return [eff.diag(step.id, ("destination",), "E317", message)]
    return []


def _check_literal(eff: Effective, ctx: Context, step: NotifyStep, to: str) -> list[Diagnostic]:
    found = _LITERAL.match(to)
    kind = address_kind(found["text"]) if found else None
    if found is None or kind is None:
        return []
    address = found["text"]
    what = "a URL" if kind == "url" else "an email address"
    same = [n for n, d in sorted((ctx.destinations or {}).items()) if d.address == address]
    use = f"`destination: {same[0]}`" if same else "`destination: NAME`"
    message = (
        f"`to` is {what} written into the procedure ({address}): declare it once as a named "
        f"destination in the Destinations document and write {use} instead of `channel` and "
        "`to`, so the address is reviewed in one place"
    )
    return [eff.diag(step.id, ("to",), "W307", message)]


def check_destination_regions(lib: Library) -> list[Diagnostic]:
    """Every region a destination lists is one the Regions document declares (E311)."""
    if lib.destinations is None:
        return []
    source = lib.destinations.source
    out = []
    for name, spec in lib.destinations.model.destinations.items():
        for i, region in enumerate(spec.regions or []):
            out.extend(check_region(lib, source, region, ("destinations", name, "regions", i)))
    return out


def unresolved_destination(eff: Effective, lib: Library) -> bool:
    """True when a notify step or a stakeholder update cadence names a destination the
    library cannot give (its Destinations document does not load): such an SOP cannot be
    compiled."""
    known: dict[str, Destination] = lib.destinations.model.destinations if lib.destinations else {}
    named = [s.destination for s in _notify_steps(eff) if s.destination]
    named += [c.destination for c in (eff.sop.updates or {}).values() if c.destination]
    return any(name not in known for name in named)
