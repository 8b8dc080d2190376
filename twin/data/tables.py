"""The data package's tables: their columns, keys and rules, in one place.

The JSON Schema (`package.schema.json`, `omnitwin data schema`) and the README's table
are generated from `TABLES`; `twin.data.package` checks a folder against them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

ColumnType = Literal["code", "text", "int", "number", "date", "enum"]

#: location kinds, as a package writes them (`dark store` and `dark-store` read as `dark_store`)
LOCATION_KINDS = ("store", "dc", "dark_store", "3pl", "returns_centre")
LEAD_TIME_DISTS = ("gamma", "lognormal", "exponential", "uniform", "fixed")
FULFILMENT = ("ship", "collect")


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its type, whether it must be present and filled, and its bounds."""

    name: str
    type: ColumnType
    description: str
    required: bool = True  # the column must be in the file
    nullable: bool = False  # a cell may be empty
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the package: `<name>.csv` or `<name>.parquet` in the folder."""

    name: str
    description: str
    required: bool
    key: tuple[str, ...]  # columns whose values may appear together only once
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _opt(name: str, type_: ColumnType, description: str, **bounds: Any) -> Column:
    return Column(name, type_, description, required=False, nullable=True, **bounds)


TABLES: tuple[Table, ...] = (
    Table(
        "locations",
        "Stores, distribution centres, dark stores, 3PL sites and returns centres.",
        True,
        ("code",),
        (
            Column("code", "code", "Unique location code."),
            Column("kind", "enum", "What the location is.", choices=LOCATION_KINDS),
            Column(
                "region",
                "code",
                "The region it belongs to (a store is restocked by its region's first dc).",
            ),
            _opt(
                "latitude",
                "number",
                "Degrees north; with longitude, derives lanes.",
                minimum=-90,
                maximum=90,
            ),
            _opt("longitude", "number", "Degrees east.", minimum=-180, maximum=180),
            _opt(
                "opening_hour",
                "number",
                "A store's opening hour (default the scenario's).",
                minimum=0,
                exclusive_maximum=24,
            ),
            _opt(
                "closing_hour",
                "number",
                "A store's closing hour, after opening_hour.",
                exclusive_minimum=0,
                maximum=24,
            ),
            _opt(
                "pickers", "int", "Staff picking online orders (default the scenario's).", minimum=1
            ),
        ),
    ),
    Table(
        "skus",
        "The catalogue.",
        True,
        ("code",),
        (
            Column("code", "code", "Unique sku code."),
            Column(
                "unit_cost", "number", "Standard cost, in currency units (cents kept).", minimum=0
            ),
            Column("price", "number", "Selling price, in currency units.", minimum=0),
            Column("class", "code", "Sku class (fit shapes and the fit report are per class)."),
            Column("supplier", "code", "The supplier that restocks it (a code of suppliers)."),
            _opt("case_pack", "int", "Units per case: the least a derived order adds.", minimum=1),
        ),
    ),
    Table(
        "suppliers",
        "Suppliers with their lead times and reliability.",
        True,
        ("code",),
        (
            Column("code", "code", "Unique supplier code."),
            Column("lead_time_days", "number", "Mean lead time in days.", exclusive_minimum=0),
            _opt(
                "lead_time_cv",
                "number",
                "Spread as a coefficient of variation (default 0.3).",
                minimum=0,
            ),
            _opt(
                "lead_time_sd_days",
                "number",
                "Spread as a standard deviation in days (instead of lead_time_cv).",
                minimum=0,
            ),
            _opt(
                "lead_time_dist",
                "enum",
                "Distribution of the lead time (default gamma; fixed when the spread is 0).",
                choices=LEAD_TIME_DISTS,
            ),
            _opt(
                "on_time_in_full",
                "number",
                "Share of orders on time in full (default 0.85).",
                minimum=0,
                maximum=1,
            ),
            _opt(
                "alternates",
                "text",
                "Supplier codes an escalation may re-source to, separated by `;`.",
            ),
        ),
    ),
    Table(
        "lanes",
        "Optional transit times from a site to a store (otherwise derived from coordinates).",
        False,
        ("origin", "destination"),
        (
            Column("origin", "code", "The site a truck leaves (a location code)."),
            Column("destination", "code", "The store it goes to (a location code)."),
            Column("transit_hours", "number", "Mean transit time in hours.", exclusive_minimum=0),
        ),
    ),
    Table(
        "sales",
        "Daily sales: walk-in sales at stores and online orders by channel, in date order.",
        True,
        (),
        (
            Column("date", "date", "The day (YYYY-MM-DD); rows in date order."),
            Column(
                "location",
                "code",
                "Where it sold: a store for walk-ins and"
                " click and collect, the shipping location for online orders.",
            ),
            Column("sku", "code", "A sku code."),
            Column(
                "units",
                "int",
                "Units sold, a whole number (negative: returns, 0: no"
                " sale; both counted and reported, neither is demand).",
            ),
            _opt(
                "channel",
                "code",
                "Empty or `store` for walk-ins, else the online channel"
                " (`web…` is a web shop, any other code a marketplace).",
            ),
            _opt(
                "order_id", "text", "Groups an online order's lines (default: a row is an order)."
            ),
            _opt(
                "fulfilment",
                "enum",
                "An online line shipped or collected in store (default ship).",
                choices=FULFILMENT,
            ),
        ),
    ),
    Table(
        "stock",
        "The starting snapshot: what the system shows on hand, and on order.",
        True,
        ("location", "sku"),
        (
            Column("location", "code", "A location code."),
            Column("sku", "code", "A sku code."),
            Column("on_hand", "int", "Units on hand, whole, >= 0.", minimum=0),
            _opt(
                "on_order",
                "int",
                "Units on order from the sku's supplier (arrive after its lead time).",
                minimum=0,
            ),
        ),
    ),
    Table(
        "policy",
        "Optional reorder levels per (location, sku), instead of the derived ones.",
        False,
        ("location", "sku"),
        (
            Column("location", "code", "A location code."),
            Column("sku", "code", "A sku code."),
            Column(
                "reorder_point",
                "int",
                "Reorder when the inventory position is at or below this.",
                minimum=0,
            ),
            Column("order_up_to", "int", "Order up to this, above reorder_point.", minimum=1),
        ),
    ),
)
TABLE = {t.name: t for t in TABLES}

_JSON_TYPE = {
    "code": {"type": "string", "minLength": 1},
    "text": {"type": "string"},
    "int": {"type": "integer"},
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "enum": {"type": "string"},
}
_BOUNDS = {
    "minimum": "minimum",
    "exclusive_minimum": "exclusiveMinimum",
    "maximum": "maximum",
    "exclusive_maximum": "exclusiveMaximum",
}


def json_schema() -> dict[str, Any]:
    """The package as JSON Schema (draft 2020-12): an object of tables, each an array of
    rows; what it cannot say (keys, references, date order) is in each description."""
    defs: dict[str, Any] = {}
    for t in TABLES:
        props: dict[str, Any] = {}
        for c in t.columns:
            prop: dict[str, Any] = {**_JSON_TYPE[c.type], "description": c.description}
            if c.choices:
                prop["enum"] = list(c.choices)
            for attr, key in _BOUNDS.items():
                if getattr(c, attr) is not None:
                    prop[key] = getattr(c, attr)
            if c.nullable:
                prop = {"anyOf": [prop, {"type": "null"}], "description": c.description}
            props[c.name] = prop
        note = f" Key: ({', '.join(t.key)}), unique." if t.key else ""
        defs[t.name] = {
            "description": f"{t.description}{note} File: {t.name}.csv or {t.name}.parquet.",
            "type": "array",
            "items": {
                "type": "object",
                "properties": props,
                "required": [c.name for c in t.columns if c.required],
                "additionalProperties": True,
            },
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://omnitwin.example/package.schema.json",
        "title": "omnitwin data package",
        "description": "A folder of CSV or Parquet tables, one file per table. Codes in"
        " sales, stock, policy, lanes and skus.supplier must exist in their table.",
        "type": "object",
        "properties": {t.name: {"$ref": f"#/$defs/{t.name}"} for t in TABLES},
        "required": [t.name for t in TABLES if t.required],
        "$defs": defs,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def _bounds(c: Column) -> str:
    parts = []
    if c.choices:
        parts.append(" \\| ".join(f"`{x}`" for x in c.choices))
    if c.minimum is not None:
        parts.append(f">= {c.minimum:g}")
    if c.exclusive_minimum is not None:
        parts.append(f"> {c.exclusive_minimum:g}")
    if c.maximum is not None:
        parts.append(f"<= {c.maximum:g}")
    if c.exclusive_maximum is not None:
        parts.append(f"< {c.exclusive_maximum:g}")
    return ", ".join(parts)


def schema_markdown() -> str:
    """The README's table of every column (generated; a test keeps the README in step)."""
    lines = [
        "| table | column | type | required | values | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for t in TABLES:
        name = t.name if t.required else f"{t.name} (optional)"
        for c in t.columns:
            key = " (key)" if c.name in t.key else ""
            lines.append(
                f"| {name} | `{c.name}`{key} | {c.type} | {'yes' if c.required else 'no'} |"
                f" {_bounds(c)} | {c.description} |"
            )
            name = ""
    return "\n".join(lines) + "\n"
