"""Uploaded data packages: a zip of a package's tables, unpacked with limits, checked with
the CLI's rules (every problem by file, row and column), fitted, and kept under
`<results_dir>/packages/<id>/` (the tables in `data/`, the fitted `scenario.yaml` and its
`scenario.fit/`, and `package.json`). The id is the zip's SHA-256 (first 32 hex digits),
so the same upload is the same package. Runs name it as the scenario `package:<id>`.

An inline scenario or an override may not point `network.package` at files of its own:
a scenario with a package must be an uploaded package's, with its paths unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import shutil
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from scenarios import Scenario, ScenarioError
from twin.data.fit import FitError
from twin.data.package import Findings, Ignored, check, date_of
from twin.data.tables import TABLES

from .settings import Settings

PREFIX = "package:"
ID = re.compile(r"^[0-9a-f]{32}$")
REF = re.compile(r"^package:[0-9a-f]{32}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TABLE_FILES = {f"{t.name}.{ext}" for t in TABLES for ext in ("csv", "parquet")}
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")


class Refused(ValueError):
    """An upload refused: `errors` as FastAPI-style error dicts, `ignored` what was left out."""

    def __init__(self, errors: list[dict[str, Any]], ignored: list[Ignored] | None = None):
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors
        self.ignored = ignored or []


def _error(msg: str, file: str | None = None, row: int | None = None, column: str | None = None,
           kind: str = "package") -> dict[str, Any]:  # fmt: skip
    loc: list[Any] = ["body"]
    loc += [x for x in (file, row, column) if x is not None]
    return {"type": kind, "loc": loc, "msg": msg[:500], "file": file, "row": row, "column": column}


def folder(settings: Settings, package_id: str) -> Path | None:
    """The folder of an uploaded package, if there is one (a malformed id has none)."""
    if not ID.match(package_id):
        return None
    path = settings.packages_dir.resolve() / package_id
    return path if (path / "package.json").is_file() else None


def scenario_file(settings: Settings, ref: str) -> Path | None:
    """The fitted scenario of `package:<id>`, if that package was uploaded."""
    if not ref.startswith(PREFIX):
        return None
    path = folder(settings, ref[len(PREFIX) :])
    return None if path is None else path / "scenario.yaml"


def meta(path: Path) -> dict[str, Any]:
    return json.loads((path / "package.json").read_text())


def listing(settings: Settings) -> list[dict[str, Any]]:
    """Every uploaded package, newest first."""
    root = settings.packages_dir
    if not root.is_dir():
        return []
    found = [meta(p) for p in root.iterdir() if ID.match(p.name) and (p / "package.json").is_file()]
    return sorted(found, key=lambda m: m["created_at"], reverse=True)


def owns(settings: Settings, ref: Any, sc: Scenario) -> list[dict[str, Any]]:
    """Problems if a scenario's `network.package` is not its uploaded package's own."""
    ref_pkg = sc.network.package
    if ref_pkg is None:
        return []
    where = ["body", "scenario", "network", "package"]
    path = scenario_file(settings, ref) if isinstance(ref, str) else None
    if path is None:
        return [
            {
                "type": "scenario",
                "loc": where,
                "msg": "only an uploaded package's scenario may name a package: upload it"
                " (POST /v1/packages) and run the scenario 'package:<id>'",
            }
        ]
    home = path.parent
    want = {"path": str((home / "data").resolve()), "fit": str((home / "scenario.fit").resolve())}
    return [
        {
            "type": "scenario",
            "loc": [*where, key],
            "msg": f"is set by the uploaded package {ref!r}; it cannot be changed",
        }
        for key in ("path", "fit")
        if str(Path(getattr(ref_pkg, key)).resolve()) != want[key]
    ]


def _unpack(body: bytes, into: Path, settings: Settings) -> list[Ignored]:
    """The zip's tables into `into`: a table at the top or in one folder; anything else is
    ignored; names that climb out, and tables over the unpacked limit, are refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise Refused([_error(f"not a zip archive: {exc}", kind="upload")]) from None
    tops = {PurePosixPath(i.filename).parts[0] for i in infos if "/" in i.filename.strip("/")}
    prefix = f"{next(iter(tops))}/" if len(tops) == 1 and all(
        i.filename.startswith(f"{next(iter(tops))}/") for i in infos
    ) else ""  # fmt: skip
    others, total = [], 0
    into.mkdir(parents=True)
    for info in infos:
        name = info.filename[len(prefix) :] if prefix else info.filename
        if name not in TABLE_FILES:
            others.append(info.filename[:80])
            continue
        written = 0
        try:
            with archive.open(info) as src, (into / name).open("wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    total += len(chunk)
                    if total > settings.max_package_unpacked_bytes:
                        raise Refused(
                            [
                                _error(
                                    "the tables unpack to more than this service's limit of"
                                    f" {settings.max_package_unpacked_bytes} bytes"
                                    " (OMNITWIN_MAX_PACKAGE_UNPACKED_BYTES)",
                                    kind="limit",
                                )
                            ]
                        )
                    dst.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise Refused(
                [_error(f"cannot be unpacked: {exc}", file=name, kind="upload")]
            ) from None
    if not any((into / n).exists() for n in TABLE_FILES):
        raise Refused(
            [_error("no package tables in the zip (locations.csv, skus.csv, …)", kind="upload")]
        )
    if others:
        shown = ", ".join(others[:10]) + (" …" if len(others) > 10 else "")
        return [Ignored("zip", len(others), "files", f"not package tables: {shown}")]
    return []


def _problems(found: Findings) -> list[dict[str, Any]]:
    return [_error(p.message, p.file, p.row, p.column) for p in found.problems]


def upload(body: bytes, settings: Settings, name: str | None = None) -> tuple[dict[str, Any], bool]:
    """Check and fit an uploaded zip; (its `package.json`, whether it is new). Raises
    `Refused` with every problem by file, row and column."""
    from twin.data.commands import fit_package

    package_id = hashlib.sha256(body).hexdigest()[:32]
    existing = folder(settings, package_id)
    if existing is not None:
        return meta(existing), False
    root = settings.packages_dir.resolve()
    tmp = root / f".upload-{uuid.uuid4().hex}"
    try:
        zip_ignored = _unpack(body, tmp / "data", settings)
        package, found = check(tmp / "data")
        if package is None:
            raise Refused(_problems(found), [*zip_ignored, *found.ignored])
        limits = []
        n_stores, n_skus = len(package.stores), len(package.skus.code)
        if n_stores > settings.max_stores:
            limits.append(
                _error(
                    f"{n_stores} stores; this service runs at most {settings.max_stores}"
                    " (OMNITWIN_MAX_STORES)",
                    package.files["locations"],
                    column="kind",
                    kind="limit",
                )
            )
        if n_skus > settings.max_skus:
            limits.append(
                _error(
                    f"{n_skus} skus; this service runs at most {settings.max_skus}"
                    " (OMNITWIN_MAX_SKUS)",
                    package.files["skus"],
                    kind="limit",
                )
            )
        if limits:
            raise Refused(limits, [*zip_ignored, *found.ignored])
        scenario_name = name or f"package-{package_id[:8]}"
        try:
            fit_package(tmp / "data", tmp / "scenario.yaml", scenario_name)
        except (FitError, ScenarioError) as exc:
            msgs = exc.problems if isinstance(exc, ScenarioError) else [str(exc)]
            raise Refused([_error(m, "sales" if "sales" in m else None) for m in msgs]) from None
        sales = package.sales
        assert sales is not None
        record = {
            "id": package_id,
            "name": scenario_name,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "scenario": f"{PREFIX}{package_id}",
            "bytes": len(body),
            "files": sorted(package.files.values()),
            "stores": n_stores,
            "other_locations": len(package.locations.code) - n_stores,
            "skus": n_skus,
            "suppliers": len(package.suppliers.code),
            "channels": sales.channels,
            "history": {
                "first": date_of(sales.first_day).isoformat(),
                "last": date_of(sales.last_day).isoformat(),
                "days": sales.last_day - sales.first_day + 1,
            },
            "sales_rows": int(sales.units.size),
            "ignored": [i.as_dict() for i in [*zip_ignored, *found.ignored]],
        }
        (tmp / "package.json").write_text(json.dumps(record, indent=2))
        try:
            tmp.replace(root / package_id)
        except OSError:  # uploaded meanwhile by another request: theirs stands
            done = folder(settings, package_id)
            if done is None:
                raise
            return meta(done), False
        return record, True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
