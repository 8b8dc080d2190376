"""A data package is checked table by table: every problem names its file, row and column;
rows left out on purpose are counted with the reason; the CLI exits 2 on a bad package."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.data.package import PackageError, check, load
from twin.data.tables import TABLES, json_schema, schema_markdown, schema_text

from .package_kit import edit, write

ROOT = Path(__file__).resolve().parents[2]


def problems(folder: Path) -> list[str]:
    package, found = check(folder)
    assert package is None
    return [str(p) for p in found.problems]


def test_the_tiny_package_is_valid_and_reports_what_it_ignores(tmp_path: Path) -> None:
    package, found = check(write(tmp_path))
    assert package is not None and found.problems == []
    ignored = [str(i) for i in found.ignored]
    assert any("locations.csv: 1 row ignored: returns centres" in i for i in ignored)
    assert any("sales.csv: 1 row ignored: units 0: no sale (row 6)" in i for i in ignored)
    assert any("sales.csv: 1 row ignored: negative units: returns" in i for i in ignored)
    assert any("stock.csv: 1 row ignored: stock at returns centres" in i for i in ignored)
    sales = package.sales
    assert sales is not None
    assert sales.units.tolist() == [2, 1, 1, 1, 1, 1]  # units 0 and -1 are not demand
    assert sales.channels == ["mkt-a", "web"]
    assert sales.returned == {"store": 1}
    assert package.stores == [0, 1] and package.locations.code == ["S1", "S2", "DC1"]
    # order o1's two lines are one order; a row without an order id is its own
    online = sales.channel >= 0
    assert len(set(sales.order[online].tolist())) == 3
    assert package.skus.unit_cost_cents.tolist() == [1050, 400, 225]


@pytest.mark.parametrize(
    ("table", "old", "new", "expected"),
    [
        (  # unknown location in sales
            "sales", "2025-01-06,S2,K2,1", "2025-01-06,S9,K2,1",
            "sales.csv: row 2, column location: unknown location 'S9' (not in locations)",
        ),
        (  # unknown sku in stock
            "stock", "S2,K1,4,0", "S2,K7,4,0",
            "stock.csv: row 3, column sku: unknown sku 'K7' (not in skus)",
        ),
        (  # negative stock
            "stock", "S2,K1,4,0", "S2,K1,-4,0",
            "stock.csv: row 3, column on_hand: -4 must be >= 0",
        ),
        (  # duplicate keys in a keyed table
            "stock", "DC1,K2,30,0", "S1,K1,30,0",
            "stock.csv: row 5, column location, sku: duplicate key (location S1, sku K1):"
            " also in row 1",
        ),
        (  # duplicate codes
            "skus", "K3,2.25", "K1,2.25",
            "skus.csv: row 3, column code: duplicate key 'K1': also in row 1",
        ),
        (  # dates out of order
            "sales", "2025-01-07,S1,K2,1", "2025-01-05,S1,K2,1",
            "sales.csv: row 5, column date: 2025-01-05 comes after 2025-01-06 in an earlier"
            " row: rows must be in date order",
        ),
        (  # units that are not whole numbers
            "sales", "2025-01-06,S1,K1,2", "2025-01-06,S1,K1,2.5",
            "sales.csv: row 1, column units: '2.5' is not a whole number",
        ),
        (  # units that are not numbers at all
            "sales", "2025-01-06,S1,K1,2", "2025-01-06,S1,K1,two",
            "sales.csv: row 1, column units: 'two' is not a number",
        ),
        (  # a date that does not exist
            "sales", "2025-01-06,S1,K1,2", "2025-02-30,S1,K1,2",
            "sales.csv: row 1, column date: '2025-02-30' is not a date (YYYY-MM-DD)",
        ),
        (  # an empty required cell
            "skus", "K2,4.00,9.99,apparel,SUP2,", "K2,4.00,9.99,,SUP2,",
            "skus.csv: row 2, column class: is empty",
        ),
        (  # a value out of bounds
            "suppliers", "SUP2,3,0.2,0.95,", "SUP2,3,0.2,1.5,",
            "suppliers.csv: row 2, column on_time_in_full: 1.5 must be <= 1",
        ),
        (  # a kind that is not one
            "locations", "S2,store,north", "S2,shop,north",
            "locations.csv: row 2, column kind: 'shop' is not one of store, dc, dark_store,"
            " 3pl, returns_centre",
        ),
        (  # a sku's unknown supplier
            "skus", "K3,2.25,5.00,general,SUP1,", "K3,2.25,5.00,general,SUP9,",
            "skus.csv: row 3, column supplier: unknown supplier 'SUP9' (not in suppliers)",
        ),
        (  # an unknown alternate
            "suppliers", "SUP1,6,0.3,0.85,SUP2", "SUP1,6,0.3,0.85,SUP2;SUP8",
            "suppliers.csv: row 1, column alternates: unknown supplier 'SUP8' (not in"
            " suppliers)",
        ),
        (  # a walk-in sale away from a store
            "sales", "2025-01-06,DC1,K1,1,web,o1,ship", "2025-01-06,DC1,K1,1,,,",
            "sales.csv: row 3, column channel: a walk-in sale (no channel) at dc 'DC1':"
            " walk-ins buy at stores",
        ),
        (  # click and collect away from a store
            "sales", "2025-01-06,DC1,K1,1,web,o1,ship", "2025-01-06,DC1,K1,1,web,o1,collect",
            "sales.csv: row 3, column fulfilment: collect: an online order collected at a store"
            " (needs a channel and a store)",
        ),
        (  # a sale at a returns centre
            "sales", "2025-01-06,S2,K2,1", "2025-01-06,RC1,K2,1",
            "sales.csv: row 2, column location: a returns centre does not sell",
        ),
        (  # closing before opening
            "locations", "S1,store,north,53.1,-2.1,9,21,2", "S1,store,north,53.1,-2.1,21,9,2",
            "locations.csv: row 1, column closing_hour: 9 is not after opening_hour 21",
        ),
    ],
)  # fmt: skip
def test_each_kind_of_bad_row_names_file_row_and_column(
    tmp_path: Path, table: str, old: str, new: str, expected: str
) -> None:
    found = problems(write(tmp_path, **{table: edit(table, old, new)}))
    assert expected in found, found


def test_a_missing_table_or_column_and_a_ragged_row_are_named(tmp_path: Path) -> None:
    assert problems(write(tmp_path / "a", stock="")) == [
        "stock.csv: missing: a package needs this table"
    ]
    no_units = "date,location,sku\n2025-01-06,S1,K1\n"
    assert problems(write(tmp_path / "b", sales=no_units)) == [
        "sales.csv: column units: missing: the table needs this column"
    ]
    ragged = edit("stock", "S2,K1,4,0", "S2,K1,4,0,9")
    assert problems(write(tmp_path / "c", stock=ragged)) == [
        "stock.csv: row 3: has 5 fields, the header names 4"
    ]
    assert problems(write(tmp_path / "d", skus=" \n")) == [
        "skus.csv: empty: needs a header row naming the columns"
    ]


def test_both_formats_of_one_table_and_a_policy_below_its_reorder_point(tmp_path: Path) -> None:
    folder = write(tmp_path / "a")
    pq.write_table(pa.table({"code": ["SUP1"]}), folder / "suppliers.parquet")
    assert problems(folder) == ["suppliers.*: both suppliers.csv and suppliers.parquet: keep one"]
    policy = "location,sku,reorder_point,order_up_to\nS1,K1,4,9\nS2,K1,5,5\n"
    assert problems(write(tmp_path / "b", policy=policy)) == [
        "policy.csv: row 2, column order_up_to: 5 must be above reorder_point 5"
    ]


def test_a_parquet_package_is_checked_by_the_same_rules(tmp_path: Path) -> None:
    folder = write(tmp_path)
    (folder / "sales.csv").unlink()
    pq.write_table(
        pa.table(
            {
                "date": pa.array([20094, 20094, 20093], pa.int32()).cast(pa.date32()),
                "location": ["S1", "S2", "S1"],
                "sku": ["K1", "K2", "K3"],
                "units": [1.0, 2.5, 1.0],
            }
        ),
        folder / "sales.parquet",
    )
    assert problems(folder) == [
        "sales.parquet: row 2, column units: '2.5' is not a whole number",
        "sales.parquet: row 3, column date: 2025-01-05 comes after 2025-01-06 in an earlier"
        " row: rows must be in date order",
    ]


def test_many_bad_rows_are_listed_up_to_a_limit_then_counted(tmp_path: Path) -> None:
    rows = "".join(f"2025-01-06,S1,K1,x{i}\n" for i in range(250))
    found = problems(write(tmp_path, sales="date,location,sku,units\n" + rows))
    assert len(found) == 201
    assert found[0] == "sales.csv: row 1, column units: 'x0' is not a number"
    assert found[-1] == "sales.csv: column units: … and 50 more rows: is not a whole number"


def test_unknown_columns_and_files_are_reported_as_ignored(tmp_path: Path) -> None:
    folder = write(tmp_path, skus=TINY_SKUS_WITH_NAME)
    (folder / "notes.txt").write_text("hello")
    package, found = check(folder)
    assert package is not None
    ignored = [str(i) for i in found.ignored]
    assert "skus.csv: 1 column ignored: not in the schema: name" in ignored
    assert f"{folder.name}: 1 file ignored: not package tables: notes.txt" in ignored


TINY_SKUS_WITH_NAME = """code,unit_cost,price,class,supplier,name
K1,10.50,21.00,general,SUP1,Mug
K2,4.00,9.99,apparel,SUP2,Sock
K3,2.25,5.00,general,SUP1,Pen
"""


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    bad = edit("stock", "S2,K1,4,0", "S2,K1,-4,x")
    with pytest.raises(PackageError) as info:
        load(write(tmp_path, stock=bad))
    assert [str(p) for p in info.value.problems] == [
        "stock.csv: row 3, column on_hand: -4 must be >= 0",
        "stock.csv: row 3, column on_order: 'x' is not a number",
    ]


def test_cli_validate_exits_2_listing_problems_and_0_when_valid(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["data", "validate", str(write(tmp_path / "good"))])
    assert good.exit_code == 0, good.output
    assert "valid: good: 2 stores" in good.output
    assert "units 0: no sale" in good.output
    bad_stock = edit("stock", "S2,K1,4,0", "S2,K1,-4,0")
    bad = runner.invoke(app, ["data", "validate", str(write(tmp_path / "bad", stock=bad_stock))])
    assert bad.exit_code == 2
    assert "stock.csv: row 3, column on_hand: -4 must be >= 0" in bad.output
    assert "Traceback" not in bad.output
    js = runner.invoke(app, ["data", "validate", "--json", str(tmp_path / "bad")])
    assert js.exit_code == 2
    body = json.loads(js.stdout)
    assert body["valid"] is False
    assert body["problems"][0] == {
        "file": "stock.csv", "row": 3, "column": "on_hand", "msg": "-4 must be >= 0"
    }  # fmt: skip
    missing = runner.invoke(app, ["data", "validate", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such folder" in missing.output


def test_the_schema_file_and_readme_table_are_generated_from_the_tables() -> None:
    assert (ROOT / "twin" / "data" / "package.schema.json").read_text() == schema_text()
    schema = json_schema()
    assert set(schema["$defs"]) == {t.name for t in TABLES}
    assert schema["required"] == ["locations", "skus", "suppliers", "sales", "stock"]
    assert schema_markdown() in (ROOT / "README.md").read_text()
    res = CliRunner().invoke(app, ["data", "schema"])
    assert json.loads(res.stdout) == schema


def test_odd_parquet_types_are_problems_not_crashes(tmp_path: Path) -> None:
    folder = write(tmp_path)
    (folder / "stock.csv").unlink()
    pq.write_table(
        pa.table(
            {
                "location": pa.array([["S1"], ["S2"]], pa.list_(pa.string())),
                "sku": ["K1", "K2"],
                "on_hand": pa.array([1.5, None], pa.float64()),
            }
        ),
        folder / "stock.parquet",
    )
    found = problems(folder)
    assert any(
        f.startswith("stock.parquet: column location: cannot be read as text") for f in found
    )
    assert "stock.parquet: row 1, column on_hand: '1.5' is not a whole number" in found
    assert "stock.parquet: row 2, column on_hand: is empty" in found
