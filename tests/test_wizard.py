"""The Qt wizard against the simulated Qubes (pytest-qt, offscreen).

Each test builds the real window on a real engine run in its own HOME and
asserts what a journalist sees and what the process would exit with.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BIN, read_journal, write_status
from helpers import client_started as journal_client_started
from helpers import wizard as wizardkit

INSTANT = "[sim]\ntime_scale = 0.0\n"


make_wizard = pytest.fixture(wizardkit.make_wizard)


def client_started(home: Path) -> bool:
    return journal_client_started(read_journal(home))


# ----- entry points ---------------------------------------------------------------------


def test_fast_path_shows_no_window_and_never_imports_qt(home: Path) -> None:
    write_status(home, "0")
    path = home / "scenario.toml"
    path.write_text(INSTANT)
    env = dict(os.environ, HOME=str(home), QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / "sdw-updater"), "--simulate", str(path)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env=env,
        cwd=home,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "launcher.entry" in imported
    assert not [name for name in imported if name.startswith(("PyQt5", "PyQt6"))]
    assert "launcher.wizard" not in imported
    assert "launcher.qt" not in imported
    assert client_started(home)
