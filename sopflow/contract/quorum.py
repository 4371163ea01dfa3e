"""Per-role quorum: how many places of an approval distinct people can fill.

An approval that ``requires`` so many people per role (counsel AND a lead) has one place per
vote needed, each open to one role; a person fills at most one place, one their roles open.
Whether the votes meet it is a bipartite matching, not a count: someone who holds both roles
may fill either place, but not both. Used by the workflow to tally and to refuse a vote that
fills nothing, and by lint to check the roster can meet an approval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol


class Requirement(Protocol):
    """So many people holding a role: the plan's and the SOP language's alike."""

    @property
    def role(self) -> str: ...

    @property
    def count(self) -> int: ...


def places(requires: Iterable[Requirement]) -> list[list[str]]:
    """One place per vote a per-role quorum needs, each open to its one role."""
    return [[r.role] for r in requires for _ in range(r.count)]


def max_matching(places: Sequence[Sequence[str]], people: Sequence[Sequence[str]]) -> int:
    """The most places distinct ``people`` (each a list of roles) can fill, where a place
    (a list of roles) takes a person who holds one of its roles. Deterministic: augmenting
    paths in the given order."""
    holder: list[int | None] = [None] * len(places)

    def assign(person: int, seen: set[int]) -> bool:
        for place, roles in enumerate(places):
            if place in seen or not set(roles) & set(people[person]):
                continue
            seen.add(place)
            current = holder[place]
            if current is None or assign(current, seen):
                holder[place] = person
                return True
        return False

    return sum(assign(person, set()) for person in range(len(people)))
