"""`Group`: agents of one kind held in a fixed order, indexed like a list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

A = TypeVar("A")


class Group(Sequence[A]):
    """A fixed, ordered set of agents of one kind (stores by location, sites after them),
    for the work done across all of them at once."""

    def __init__(self, agents: list[A]) -> None:
        self.agents = agents

    @overload
    def __getitem__(self, i: int) -> A: ...
    @overload
    def __getitem__(self, i: slice) -> list[A]: ...
    def __getitem__(self, i: int | slice) -> A | list[A]:
        return self.agents[i]

    def __len__(self) -> int:
        return len(self.agents)

    def __iter__(self) -> Iterator[A]:
        return iter(self.agents)
