"""Single-instance locks: held by a real second process, probed without taking them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ----- a lock file that cannot be used is not "another updater" ----------------------------


def _plant(path: Path, kind: str) -> None:
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(path.parent / "elsewhere")
    else:
        os.mkfifo(path)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("directory", "it is a directory"),
        ("symlink", "it is a symbolic link"),
        ("fifo", "it is not a regular file"),
    ],
)
def test_an_unusable_lock_file_is_said_with_its_path_and_exits_5(
    home: Path, kind: str, words: str
) -> None:
    from helpers import read_journal, run_updater

    from sdw_updater.contract import UPDATER_LOCK, ExitCode

    lock = Path(os.environ["XDG_RUNTIME_DIR"]) / UPDATER_LOCK
    _plant(lock, kind)
    run = run_updater(home, "--cli", "--skip-delta", "0", scenario="[sim]\ntime_scale = 0.0\n")
    assert run.returncode == ExitCode.LOCKED, run.stdout + run.stderr
    said = run.stdout + run.stderr
    assert f"lock file {lock} cannot be used ({words}" in said
    assert "Another updater is already running" not in said
    assert read_journal(home) == []  # nothing was attempted
