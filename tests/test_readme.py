"""The README's Python examples run and print what they say they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_a_reservation_example_of_five_lines() -> None:
    blocks = python_blocks()
    assert blocks, "README lost its Python example"
    assert len(blocks[0].strip().splitlines()) <= 6


def test_every_readme_example_prints_what_its_comments_promise() -> None:
    for block in python_blocks():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), {})
        promised = re.findall(r"print\(.*\)\s*#\s*(.+)", block)
        printed = out.getvalue().strip().splitlines()
        assert printed[-len(promised) :] == [p.strip() for p in promised]
