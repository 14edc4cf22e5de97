"""The launcher's fast path (issue 14): what a click on a fresh workstation does, and no more.

How long it takes is measured by ``make bench`` (BENCHMARKS.md), never here;
these tests hold what makes it fast without timing anything: nothing sleeps
or polls while the app starts, the in-place-upgrade guard asks Qubes little
and still answers as the full check does, and nothing heavy is imported.
"""

from __future__ import annotations

from pathlib import Path

from helpers import read_journal, run_updater, write_status

HEALTHY = "[sim]\ntime_scale = 0.0\n"


def test_fresh_launch_refuses_when_a_workstation_template_lags(home: Path) -> None:
    write_status(home, "0")
    extra = '[templates."sd-inbox-debian-13"]\nagent_version = "4.2"\n'
    # --cli: without it the window shows the refusal (tests/window covers that screen)
    result = run_updater(home, "--cli", scenario=HEALTHY + extra)
    assert result.returncode == 7, result.stdout + result.stderr
    assert "sd-inbox-debian-13 (4.2)" in result.stderr
    assert read_journal(home) == []
