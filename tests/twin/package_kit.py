"""Tiny data packages for the tests: a valid one written as CSV text, edited per test."""

from __future__ import annotations

from pathlib import Path

TINY = {
    "locations": """code,kind,region,latitude,longitude,opening_hour,closing_hour,pickers
S1,store,north,53.1,-2.1,9,21,2
S2,store,north,53.3,-2.4,,,
DC1,dc,north,53.0,-2.0,,,10
RC1,returns_centre,north,,,,,
""",
    "skus": """code,unit_cost,price,class,supplier,case_pack
K1,10.50,21.00,general,SUP1,6
K2,4.00,9.99,apparel,SUP2,
K3,2.25,5.00,general,SUP1,
""",
    "suppliers": """code,lead_time_days,lead_time_cv,on_time_in_full,alternates
SUP1,6,0.3,0.85,SUP2
SUP2,3,0.2,0.95,
""",
    "sales": """date,location,sku,units,channel,order_id,fulfilment
2025-01-06,S1,K1,2,,,
2025-01-06,S2,K2,1,,,
2025-01-06,DC1,K1,1,web,o1,ship
2025-01-06,DC1,K3,1,web,o1,ship
2025-01-07,S1,K2,1,web,o2,collect
2025-01-07,S2,K3,0,,,
2025-01-08,S1,K1,-1,,,
2025-01-08,DC1,K2,1,mkt-a,,
""",
    "stock": """location,sku,on_hand,on_order
S1,K1,5,0
S1,K2,3,
S2,K1,4,0
DC1,K1,40,12
DC1,K2,30,0
RC1,K1,2,0
""",
}


def write(folder: Path, **tables: str) -> Path:
    """The tiny package in `folder`, with any table replaced (None-like '' drops it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**TINY, **tables}.items():
        path = folder / f"{name}.csv"
        if text:
            path.write_text(text)
        elif path.exists():
            path.unlink()
    return folder


def edit(table: str, old: str, new: str) -> str:
    """The tiny table with `old` replaced by `new` (which must be there)."""
    text = TINY[table]
    assert old in text, old
    return text.replace(old, new, 1)
