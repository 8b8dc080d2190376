"""Master data: skus, locations and channels, with integer ids for the hot path.

Commands accept either the integer id or the code; codes are resolved here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import InvalidCommand, UnknownReference


class LocationKind(StrEnum):
    DC = "dc"
    STORE = "store"
    DARK_STORE = "dark_store"
    THREE_PL = "3pl"
    RETURNS_CENTRE = "returns_centre"


class ChannelKind(StrEnum):
    STORE = "store"  # walk-in point of sale
    WEB = "web"
    MARKETPLACE = "marketplace"


_STORE = LocationKind.STORE  # a module constant: enum class lookups are slow in hot loops


@dataclass(slots=True, frozen=True)
class Sku:
    id: int
    code: str
    std_cost_cents: int
    price_cents: int = 0
    sku_class: str = "general"


@dataclass(slots=True, frozen=True)
class Location:
    id: int
    code: str
    kind: LocationKind
    region: str = ""
    lat: float = 0.0
    lon: float = 0.0

    @property
    def is_store(self) -> bool:
        return self.kind is _STORE


@dataclass(slots=True, frozen=True)
class Channel:
    id: int
    code: str
    kind: ChannelKind


Ref = int | str


class Catalog:
    """Registry of skus, locations and channels; ids are dense from 0 in insertion order."""

    def __init__(self) -> None:
        self.skus: list[Sku] = []
        self.locations: list[Location] = []
        self.channels: list[Channel] = []
        self._sku_ids: dict[str, int] = {}
        self._loc_ids: dict[str, int] = {}
        self._chan_ids: dict[str, int] = {}

    def add_sku(
        self, code: str, std_cost_cents: int, price_cents: int = 0, sku_class: str = "general"
    ) -> Sku:
        if code in self._sku_ids:
            raise InvalidCommand(f"sku {code!r}: already in the catalog")
        if not isinstance(std_cost_cents, int) or std_cost_cents < 0:
            raise InvalidCommand(
                f"sku {code!r}: std_cost_cents must be a whole number >= 0, got {std_cost_cents!r}"
            )
        sku = Sku(len(self.skus), code, std_cost_cents, price_cents, sku_class)
        self.skus.append(sku)
        self._sku_ids[code] = sku.id
        return sku

    def add_location(
        self,
        code: str,
        kind: LocationKind | str,
        region: str = "",
        lat: float = 0.0,
        lon: float = 0.0,
    ) -> Location:
        if code in self._loc_ids:
            raise InvalidCommand(f"location {code!r}: already in the catalog")
        try:
            kind = LocationKind(kind)
        except ValueError:
            allowed = ", ".join(k.value for k in LocationKind)
            raise InvalidCommand(f"location {code!r}: kind must be one of {allowed}") from None
        loc = Location(len(self.locations), code, kind, region, lat, lon)
        self.locations.append(loc)
        self._loc_ids[code] = loc.id
        return loc

    def add_channel(self, code: str, kind: ChannelKind | str) -> Channel:
        if code in self._chan_ids:
            raise InvalidCommand(f"channel {code!r}: already in the catalog")
        try:
            kind = ChannelKind(kind)
        except ValueError:
            allowed = ", ".join(k.value for k in ChannelKind)
            raise InvalidCommand(f"channel {code!r}: kind must be one of {allowed}") from None
        ch = Channel(len(self.channels), code, kind)
        self.channels.append(ch)
        self._chan_ids[code] = ch.id
        return ch

    @staticmethod
    def _resolve(ref: Ref, ids: dict[str, int], n: int, what: str) -> int:
        if isinstance(ref, int) and not isinstance(ref, bool):
            if 0 <= ref < n:
                return ref
            raise UnknownReference(f"{what}: no {what} with id {ref}")
        try:
            return ids[ref]
        except (KeyError, TypeError):
            raise UnknownReference(f"{what}: unknown {what} {ref!r}") from None

    def sku(self, ref: Ref) -> int:
        return self._resolve(ref, self._sku_ids, len(self.skus), "sku")

    def location(self, ref: Ref) -> int:
        return self._resolve(ref, self._loc_ids, len(self.locations), "location")

    def channel(self, ref: Ref) -> int:
        return self._resolve(ref, self._chan_ids, len(self.channels), "channel")

    def std_cost(self, sku: int) -> int:
        return self.skus[sku].std_cost_cents
