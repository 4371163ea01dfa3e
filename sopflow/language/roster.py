"""Who is acting: resolving ``--as USER`` through the library's Roster document.

Responder actions carry an ``Actor`` (the person's handle and the roles the Roster gives
them); the workflow's validators decide with those roles. The Roster is read from the same
library root as the SOPs (``$SOPFLOW_DEFINITIONS``, then ``./sop_definitions``), so the
people who may act on an incident are versioned with the procedures they act under.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sopflow.contract.messages import Actor
from sopflow.language.library import Library, load_library
from sopflow.language.models.documents import Person
from sopflow.language.validation import did_you_mean


class RosterError(Exception):
    """The Roster cannot answer: it is missing or broken, or the person is not in it."""


@dataclass(frozen=True, slots=True)
class Roster:
    """The people of one library, by handle."""

    people: dict[str, Person]
    source: str

    @classmethod
    def from_library(cls, lib: Library) -> Roster:
        """The Roster of an already loaded library; RosterError when it has none (or its
        document does not validate: who may act is never guessed)."""
        if lib.roster is None:
            raise RosterError(
                f"no valid Roster document in {lib.root} "
                f"(`sopflow lint {lib.root}` shows any problem in it)"
            )
        return cls(people=dict(lib.roster.model.people), source=lib.roster.source.path)

    def person(self, handle: str) -> Person:
        """The person with ``handle``, or RosterError naming the closest handles."""
        found = self.people.get(handle)
        if found is None:
            hint = did_you_mean(handle, sorted(self.people))
            raise RosterError(
                f"no person {handle!r} in the roster{hint}; its people are in {self.source}"
            )
        return found

    def actor(self, handle: str) -> Actor:
        """The Actor a responder action carries: the handle and its roles from the Roster."""
        person = self.person(handle)
        desks = {desk: list(roles) for desk, roles in sorted(person.desks.items()) if roles}
        return Actor(id=handle, roles=list(person.roles), region=person.region, desks=desks or None)

    def holders(self, role: str) -> list[str]:
        """The handles of everyone who holds ``role``, sorted."""
        return sorted(h for h, p in self.people.items() if role in p.roles)


def load_roster(root: Path) -> Roster:
    """The Roster of the library under ``root``; RosterError when there is none."""
    return Roster.from_library(load_library(root))
