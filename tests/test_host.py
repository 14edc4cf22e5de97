"""The host seam's tool runner against real processes: kept stdout, overflow."""

from __future__ import annotations

from pathlib import Path

import needs

from sdw_updater.qubes import QubesHost


def test_stdout_is_kept_in_whole_lines_and_overflow_is_told() -> None:
    host = QubesHost(bin_dirs=[Path(needs.tool("seq")).parent])
    small = host.run(["seq", "1", "3"], 10)
    assert small.ok
    assert small.stdout_lines == [b"1", b"2", b"3"]
    assert small.stdout_head == b"1\n2\n3\n"
    assert small.stdout_overflow is False

    big = host.run(["seq", "1", "100000"], 30, stdout_limit=20)
    assert big.ok
    assert big.stdout_overflow is True
    assert big.stdout_lines == [
        str(n).encode() for n in range(1, 10)
    ]  # 18 bytes; "10\n" would pass 20
    assert len(big.stdout_head) <= 20


def test_missing_executable_is_reported_not_raised(tmp_path: Path) -> None:
    result = QubesHost(bin_dirs=[tmp_path]).run(["qubes-dom0-update", "--check-only"], 10)
    assert result.exit is None and result.missing
    assert result.describe() == "qubes-dom0-update was not found"
