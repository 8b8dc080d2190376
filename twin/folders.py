"""Output folders checked before any work starts: a run that would end in a folder it
cannot write loses the run, so `--out`, `--export` and a package folder are checked
first and named in the message (exit code 2)."""

from __future__ import annotations

import os
from pathlib import Path


def folder_problem(option: str, path: Path | str | None) -> str | None:
    """Why `path` cannot be (or become) a folder to write into, naming `option`; None if
    it can. Nothing is created."""
    if path is None:
        return None
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            return f"{option}: {p} is a file, not a folder"
        if not os.access(p, os.W_OK | os.X_OK):
            return f"{option}: cannot write into {p} (permission denied)"
        return None
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{option}: {parent} is a file, so {p} cannot be a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{option}: cannot create {p}: {parent} is not writable (permission denied)"
    return None


def check_folders(**options: Path | str | None) -> list[str]:
    """`folder_problem` for each `--option=path` given (keyword: the option's name with
    `_` for `-`)."""
    found = (folder_problem("--" + k.replace("_", "-"), v) for k, v in options.items())
    return [p for p in found if p is not None]
