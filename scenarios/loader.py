"""Loading scenarios: catalogue names or files, `extends`, `--set` overrides, and
validation errors listed by path (`network.stores.count: must be > 0`)."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import Scenario

CATALOG = Path(__file__).resolve().parent / "catalog"


class ScenarioError(ValueError):
    """A scenario that cannot be used; `problems` lists each as `path: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def catalog_names() -> list[str]:
    return sorted(p.stem for p in CATALOG.glob("*.yaml"))


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(scenario)"


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    bounds = {
        "greater_than": (">", "gt"),
        "greater_than_equal": (">=", "ge"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        op, key = bounds[kind]
        limit = ctx.get(key)
        shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
        return f"must be {op} {shown}, got {err.get('input')!r}"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling)"
    if kind == "missing":
        return "required"
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return msg[0].lower() + msg[1:] if msg else msg


def problems_of(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = _message(err)
        # model validators report on the model; their message already starts with the field
        path = _path(loc)
        if ":" in msg.split(" ")[0] and path != "(scenario)":
            out.append(f"{path}.{msg}")
        elif ":" in msg.split(" ")[0]:
            out.append(msg)
        else:
            out.append(f"{path}: {msg}")
    return out


def read_raw(ref: str | Path) -> tuple[dict[str, Any], Path | None]:
    """The raw mapping of a catalogue name or a YAML/JSON file."""
    p = Path(ref)
    if not p.suffix and (CATALOG / f"{ref}.yaml").exists():
        p = CATALOG / f"{ref}.yaml"
    if not p.exists():
        names = ", ".join(catalog_names())
        raise ScenarioError(
            [f"scenario: no catalogue scenario or file {str(ref)!r} (catalogue: {names})"]
        )
    try:
        data = _parsed(p)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ScenarioError([f"{p.name}: not valid YAML/JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"{p.name}: must be a mapping of scenario fields"])
    return copy.deepcopy(data), p


#: parsed files by (path, modification time, size): the service validates the same
#: catalogue file for every request that names it
_PARSED: dict[tuple[str, int, int], Any] = {}


def _parsed(p: Path) -> Any:
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    data = _PARSED.get(key)
    if data is None:
        text = p.read_text()
        data = json.loads(text) if p.suffix == ".json" else yaml.load(text, Loader=_YAML_LOADER)
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[key] = data
    return data


#: libyaml's loader where PyYAML was built with it (about 10× faster), else the Python one
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_extends(
    data: dict[str, Any], origin: Path | None, seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    parent = data.get("extends")
    if not parent:
        return data
    if parent in seen:
        raise ScenarioError([f"extends: cycle {' -> '.join((*seen, parent))}"])
    ref: str | Path = parent
    if origin is not None and (origin.parent / parent).exists():
        ref = origin.parent / parent
    base, base_origin = read_raw(ref)
    base = resolve_extends(base, base_origin, (*seen, parent))
    merged = deep_merge({k: v for k, v in base.items() if k != "extends"}, data)
    return merged


def set_path(data: dict[str, Any], dotted: str, raw_value: str) -> None:
    """Apply one `--set path=value` (value parsed as YAML: numbers, lists, true/false)."""
    try:
        value = yaml.safe_load(raw_value)
    except yaml.YAMLError:
        value = raw_value
    node: Any = data
    parts: list[str | int] = []
    for chunk in dotted.split("."):
        name, _, rest = chunk.partition("[")
        if name:
            parts.append(name)
        while rest:
            idx, _, rest = rest.partition("]")
            if not idx.isdigit():
                raise ScenarioError([f"--set {dotted}: bad index [{idx}]"])
            parts.append(int(idx))
            rest = rest.lstrip("[")
    if not parts:
        raise ScenarioError([f"--set {dotted!r}: empty path"])
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise ScenarioError([f"--set {dotted}: no item [{part}]"])
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise ScenarioError([f"--set {dotted}: {part} is not a section"])
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ScenarioError([f"--set {dotted}: no item [{last}]"])
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise ScenarioError([f"--set {dotted}: parent is not a section"])
        node[last] = value


def anchor_package(data: dict[str, Any], base: Path) -> None:
    """A data package's `path` and `fit` written relative to the scenario file, made
    absolute (runs may start anywhere: another folder, a worker process)."""
    network = data.get("network")
    package = network.get("package") if isinstance(network, dict) else None
    if not isinstance(package, dict):
        return
    for key in ("path", "fit"):
        value = package.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            package[key] = str((base / value).resolve())


def validate(data: Mapping[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(problems_of(exc)) from None


def load(ref: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()) -> Scenario:
    """A validated scenario from a catalogue name, a file or a mapping, with `--set` overrides."""
    if isinstance(ref, Mapping):
        data, origin = dict(ref), None
    else:
        data, origin = read_raw(ref)
    data = resolve_extends(data, origin)
    if origin is not None:
        anchor_package(data, origin.parent)
    overrides = list(overrides)
    if overrides:
        # materialise defaults so --set can reach any field, not only those written; if the
        # file is invalid its errors are reported below, after the overrides
        with contextlib.suppress(ValidationError):
            data = Scenario.model_validate(data).model_dump(mode="json")
    problems = []
    for item in overrides:
        path, eq, value = item.partition("=")
        if not eq or not path.strip():
            problems.append(f"--set {item!r}: expected path=value")
            continue
        try:
            set_path(data, path.strip(), value.strip())
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    return validate(data)
