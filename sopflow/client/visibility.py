"""Visibility queries for incidents: which workflows are sopflow incidents, and which of
them a person may see (need-to-know, from the ``Audience`` search attribute)."""

from __future__ import annotations

from collections.abc import Iterable

from sopflow.contract import search


def incidents_only(query: str, roles: Iterable[str] | None = None) -> str:
    """``query`` narrowed to sopflow incidents (workflows carrying an SOP id), and with
    ``roles`` to those a person holding them may see."""
    scoped = f"SopId IS NOT NULL AND ({query})" if query.strip() else "SopId IS NOT NULL"
    return scoped if roles is None else f"{scoped} AND {visible_query(roles)}"


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def visible_query(roles: Iterable[str]) -> str:
    """The visibility clause (parenthesised) for the incidents a person holding ``roles``
    may see: unrestricted ones (``Audience`` is everyone, or unset: started before need-to-know
    existed) and those restricted to one of ``roles``."""
    held = sorted(set(roles))
    clauses = [f"Audience = {quote(search.EVERYONE)}"]
    if held:
        clauses.append(f"Audience IN ({', '.join(quote(r) for r in held)})")
    clauses.append("Audience IS NULL")
    return "(" + " OR ".join(clauses) + ")"


def admits(restricted_to: Iterable[str] | None, roles: Iterable[str]) -> bool:
    """Whether a person holding ``roles`` may see an incident whose plan is restricted to
    ``restricted_to`` (None: everyone who holds a role)."""
    return restricted_to is None or not set(restricted_to).isdisjoint(roles)
