"""Allocation policies: how much of a location's stock each channel may promise.

A policy only proposes a number; the core clamps it to available-to-sell, so a
policy written in a notebook cannot make the core oversell.

A policy may also offer `promisable_grid(ats, locations, channel)`: the same numbers for
every sku at many locations at once, from the available-to-sell grid [sku, location]
(a channel's availability feed reads the whole network on a cadence); None when it
cannot, and the caller asks `promisable` position by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .catalog import Channel, ChannelKind, Location
from .errors import InvalidCommand
from .ledger import Position


@runtime_checkable
class AllocationPolicy(Protocol):
    """Decides the units `channel` may still promise from `position` at `location`."""

    name: str

    def promisable(self, position: Position, location: Location, channel: Channel) -> int: ...


def _lookup(table: Mapping[str, float], channel: Channel, default: float) -> float:
    if channel.code in table:
        return table[channel.code]
    return table.get(channel.kind.value, default)


class Pooled:
    """One shared available-to-sell figure for every channel."""

    name = "pooled"

    def promisable(self, position: Position, location: Location, channel: Channel) -> int:
        return position.ats

    def promisable_grid(
        self, ats: np.ndarray, locations: Sequence[Location], channel: Channel
    ) -> np.ndarray:
        return ats


class Siloed:
    """Fixed channel quotas (the legacy practice): each channel owns a share of the stock.

    `quotas` maps a channel code or channel kind to its share of (on-hand − safety);
    a channel may promise its share less what it already holds reserved there.
    Channels not named get `default_share`.
    """

    name = "siloed"

    def __init__(self, quotas: Mapping[str, float], default_share: float = 0.0) -> None:
        for key, share in quotas.items():
            if not 0.0 <= share <= 1.0:
                raise InvalidCommand(f"quotas.{key}: share must be within 0..1, got {share}")
        if not 0.0 <= default_share <= 1.0:
            raise InvalidCommand(f"default_share: must be within 0..1, got {default_share}")
        self.quotas = dict(quotas)
        self.default_share = default_share

    def promisable_grid(
        self, ats: np.ndarray, locations: Sequence[Location], channel: Channel
    ) -> None:
        """Quotas read each position's reservations by channel: position by position."""
        return None

    def promisable(self, position: Position, location: Location, channel: Channel) -> int:
        share = _lookup(self.quotas, channel, self.default_share)
        base = position.on_hand - position.safety
        if base <= 0 or share <= 0.0:
            return 0
        quota = int(base * share + 1e-9)
        left = quota - position.reserved_by_channel.get(channel.id, 0)
        return left if left > 0 else 0


class Buffered:
    """Pooled, but each channel leaves its own buffer, and online channels leave a store buffer.

    `channel_buffers` maps a channel code or kind to units that channel may not take;
    `store_buffer` protects the last units on a store's shelf from online channels.
    With `quotas` (as `Siloed`'s), a channel also stays within its quota.
    """

    name = "buffered"

    def __init__(
        self,
        channel_buffers: Mapping[str, int] | None = None,
        store_buffer: int = 0,
        quotas: Mapping[str, float] | None = None,
    ) -> None:
        channel_buffers = dict(channel_buffers or {})
        for key, units in channel_buffers.items():
            if units < 0:
                raise InvalidCommand(f"channel_buffers.{key}: must be >= 0, got {units}")
        if store_buffer < 0:
            raise InvalidCommand(f"store_buffer: must be >= 0, got {store_buffer}")
        self.channel_buffers = channel_buffers
        self.store_buffer = store_buffer
        self.quotas = Siloed(quotas) if quotas else None

    def _buffer(self, location: Location, channel: Channel) -> int:
        buffer = int(_lookup(self.channel_buffers, channel, 0))
        if location.is_store and channel.kind is not ChannelKind.STORE:
            buffer += self.store_buffer
        return buffer

    def promisable(self, position: Position, location: Location, channel: Channel) -> int:
        left = position.ats - self._buffer(location, channel)
        if self.quotas is not None:
            quota = self.quotas.promisable(position, location, channel)
            left = quota if quota < left else left
        return left if left > 0 else 0

    def promisable_grid(
        self, ats: np.ndarray, locations: Sequence[Location], channel: Channel
    ) -> np.ndarray | None:
        if self.quotas is not None:
            return None
        buffers = np.array([self._buffer(loc, channel) for loc in locations], dtype=np.int64)
        return np.maximum(ats - buffers[None, :], 0)


ALLOCATION_POLICIES: dict[str, type] = {"pooled": Pooled, "siloed": Siloed, "buffered": Buffered}
