"""Output floods: a VM that prints a 10 MB line or tens of megabytes cannot exhaust dom0.

The updater reads tool output as it comes and keeps only bounded pieces of
it (a line is cut at ``MAX_LINE``; the detail log takes at most
``DETAIL_BYTES_PER_CALL`` per call and rotates), so its memory and its logs
stay bounded whatever a template prints.  The 1 GB flood is measured by
``make bench`` (BENCHMARKS.md); here we keep to what runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.flood import run_flood
from sdw_updater.logs import BACKUPS, DETAIL_BACKUPS, DETAIL_LOG_BYTES, MAIN_LOG_BYTES, MAX_LINE
from sdw_updater.process import DETAIL_BYTES_PER_CALL

MEMORY_LIMIT_MB = 100  # BENCHMARKS.md's goal, for the updater and for the whole tree
LOG_LIMIT = DETAIL_LOG_BYTES * (DETAIL_BACKUPS + 1) + MAIN_LOG_BYTES * (BACKUPS + 1)


def test_single_ten_megabyte_line(tmp_path: Path) -> None:
    result = run_flood(tmp_path / "home", line_mb=10, timeout=120)
    assert result.exit == 0  # a long line is not a failure
    assert result.updater_mb < MEMORY_LIMIT_MB and result.tree_mb < MEMORY_LIMIT_MB, result
    # The line reaches the detail log cut to one bounded line, once.
    flooded = [line for line in result.detail_text.splitlines() if "line-flood" in line]
    assert len(flooded) == 1
    assert len(flooded[0]) < MAX_LINE + 200
    assert result.log_bytes < 1024 * 1024


def test_tens_of_megabytes_of_output(tmp_path: Path) -> None:
    result = run_flood(tmp_path / "home", flood_mb=40, timeout=300)
    assert result.exit == 0
    assert result.updater_mb < MEMORY_LIMIT_MB and result.tree_mb < MEMORY_LIMIT_MB, result
    # 40 MiB printed; the detail log took its per-call share and said the rest was dropped.
    assert result.log_bytes <= LOG_LIMIT
    assert result.log_bytes < 2 * DETAIL_BYTES_PER_CALL
    assert result.largest_log <= DETAIL_LOG_BYTES + 2 * MAX_LINE
    assert "bytes of output not logged" in result.detail_text
