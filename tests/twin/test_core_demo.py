"""`make demo` (until the twin lands): the core demo runs clean and its checks hold."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from twin.cli import app
from twin.core_demo import run


def test_the_core_demo_ends_reconciled_with_every_invariant_holding() -> None:
    out = io.StringIO()
    result = run(Console(file=out, width=120))
    assert result.differences == 0
    assert result.invariants == {
        "units_conserved": True,
        "gl_balanced": True,
        "gl_reconciled": True,
        "events_lost": 0,
        "duplicate_applications": 0,
        "negative_available": 0,
    }
    assert result.core.bus.counters.duplicates_dropped == 1
    assert result.core.gl.unposted == 0
    text = out.getvalue()
    assert "Stock positions" in text and "General-ledger journal" in text


def test_the_core_demo_command_exits_zero() -> None:
    res = CliRunner().invoke(app, ["core-demo"])
    assert res.exit_code == 0, res.output
    assert "0 differences" in res.output
