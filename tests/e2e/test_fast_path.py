"""The launcher's fast path, as a click on the icon runs it: what a fresh workstation does, and no more.

How long it takes is measured by ``make bench`` (BENCHMARKS.md), never here;
these tests hold what makes it fast without timing anything: the installed
``sdw-updater`` starts the app without a window and without importing Qt,
gnupg, the runner, the trust checks or even the switch's check, and the
in-place-upgrade guard still refuses while a workstation template lags.
The guard and the app's start themselves: tests/updater/test_context.py and
tests/updater/test_qubes.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import BIN, client_started, read_journal, run_updater, write_status

from sdw_updater import coexist

HEALTHY = "[sim]\ntime_scale = 0.0\n"


def test_fresh_launch_refuses_when_a_workstation_template_lags(home: Path) -> None:
    write_status(home, "0")
    extra = '[templates."sd-inbox-debian-13"]\nagent_version = "4.2"\n'
    # --cli: without it the window shows the refusal (tests/window covers that screen)
    result = run_updater(home, "--cli", scenario=HEALTHY + extra)
    assert result.returncode == 7, result.stdout + result.stderr
    assert "sd-inbox-debian-13 (4.2)" in result.stderr
    assert read_journal(home) == []


def test_fast_path_shows_no_window_and_never_imports_qt(home: Path) -> None:
    write_status(home, "0")
    path = home / "scenario.toml"
    path.write_text(HEALTHY)
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
    assert client_started(read_journal(home))


def test_fast_path_imports_nothing_it_does_not_need(home: Path) -> None:
    """Fresh workstation: the client starts without Qt, gnupg, the plan or the trust checks."""
    write_status(home, "0")
    scenario = home / "s.toml"
    scenario.write_text(HEALTHY)
    probe = (
        "import sys\n"
        "from launcher.entry import main\n"
        f"code = main(['--simulate', {str(scenario)!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5', 'PyQt6', 'gnupg') or m in ('sdw_updater.plan', 'sdw_updater.trust', "
        "'launcher.wizard', 'launcher.qt', 'sdw_updater.cli'))\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home)},
        check=False,
    )
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stdout + result.stderr
    assert client_started(read_journal(home))


TIMEOUT = 60


def run(argv: list[str], home: Path, path_env: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": path_env, "LANG": "C.UTF-8"}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=home, check=False
    )


CLICK = """
import sys
import time
from launcher import entry
code = entry.main(["--simulate", sys.argv[1]])
print(code, "sdw_updater.coexist" in sys.modules)
"""


@pytest.mark.skipif(
    os.path.lexists(coexist.STATE_FILE), reason=f"this machine has {coexist.STATE_FILE}"
)
def test_with_the_switch_off_a_click_does_not_even_import_the_check(tmp_path: Path) -> None:
    """The fast path pays one lstat of the record: nothing is imported, nothing read."""
    home = tmp_path / "home"
    home.mkdir()
    write_status(home, "0", time.time() - 60)
    scenario = home / "s.toml"
    scenario.write_text("[sim]\ntime_scale = 0.0\n")
    argv = [sys.executable, "-c", CLICK, str(scenario)]
    proc = run(argv, home, f"{BIN}:/usr/bin:/bin")
    assert proc.stdout.splitlines()[-1] == "0 False", proc.stdout + proc.stderr
