"""Beside SecureDrop Workstation's launcher, as users run the programs: which updater the icon runs.

``sdw-updater --status`` says what the icon and the autostart entry run (this
very program, another ``sdw-updater`` earlier on PATH, none), read from
entries and links on this machine's filesystem in a temporary HOME;
``securedrop-updater-switch status`` needs no root and ``on`` does.  The
parts: tests/updater/test_coexist.py and tests/launcher/test_switch.py; the
switch as installed, with the real systemctl and rpm: tests/box/test_box_switch.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import BIN

from launcher import switch
from sdw_updater import coexist
from sdw_updater.coexist import OTHER, OURS

TIMEOUT = 60


def entry(exec_line: str, *extra: str) -> str:
    return "\n".join(["[Desktop Entry]", "Type=Application", "Name=SecureDrop", exec_line, *extra])


def executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def run(argv: list[str], home: Path, path_env: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": path_env, "LANG": "C.UTF-8"}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=home, check=False
    )


def status(home: Path, path_env: str) -> dict[str, object]:
    (home / "s.toml").write_text("[sim]\ntime_scale = 0.0\n")
    proc = run(
        [str(BIN / "sdw-updater"), "--status", "--simulate", str(home / "s.toml")], home, path_env
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["launcher"]


@pytest.mark.skipif(
    os.path.lexists(coexist.STATE_FILE), reason=f"this machine has {coexist.STATE_FILE}"
)
def test_status_says_which_updater_the_icon_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "Desktop").mkdir(parents=True)
    icon = home / coexist.ICON_ENTRY
    path_env = f"{BIN}:/usr/bin:/bin"
    found = status(home, path_env)
    assert (found["icon"], found["icon_runs"], found["autostart"]) == ("missing", None, "missing")
    assert (found["switch"], found["undone"], found["undone_parts"]) == ("off", False, [])
    assert found["local_bin_first"] is False
    icon.write_text(entry("Exec=sdw-updater"))
    found = status(home, path_env)
    # This very program (the checkout's console script) is ours.
    assert found["icon"] == OURS
    assert found["icon_runs"] == os.path.realpath(BIN / "sdw-updater")
    # Another sdw-updater earlier on PATH: the icon would run that one.
    other = executable(tmp_path / "elsewhere" / "sdw-updater")
    found = status(home, f"{other.parent}:{path_env}")
    assert (found["icon"], found["icon_runs"]) == (OTHER, str(other))
    autostart = home / coexist.AUTOSTART_ENTRY
    autostart.parent.mkdir(parents=True)
    autostart.write_text(entry("Exec=sdw-updater", "Hidden=true"))
    assert status(home, path_env)["autostart"] == "disabled"
    autostart.write_text(entry("Exec=sdw-updater"))
    assert status(home, path_env)["autostart"] == OURS


def test_switch_status_needs_no_root_and_on_does(tmp_path: Path) -> None:
    program = str(BIN / "securedrop-updater-switch")
    proc = run([program, "status"], tmp_path, "/usr/bin:/bin")
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stdout.startswith("switch: ")
    assert run([program, "sideways"], tmp_path, "/usr/bin:/bin").returncode == 2
    if os.geteuid() != 0:
        proc = run([program, "on"], tmp_path, "/usr/bin:/bin")
        assert proc.returncode == switch.REFUSED
        assert "run it with sudo" in proc.stderr


def test_an_exec_line_with_a_nul_runs_no_program(tmp_path: Path) -> None:
    """Valid UTF-8, but no file name holds a NUL: the entry runs nothing, and nothing crashes."""
    home = tmp_path / "home"
    (home / "Desktop").mkdir(parents=True)
    (home / coexist.ICON_ENTRY).write_text(entry("Exec=sdw-up\0dater"))
    autostart = home / coexist.AUTOSTART_ENTRY
    autostart.parent.mkdir(parents=True)
    autostart.write_text(entry('Exec="/usr/bin/sdw-login\0" --now'))
    found = status(home, f"{BIN}:/usr/bin:/bin")
    assert (found["icon"], found["icon_runs"]) == ("missing", None)
    assert found["autostart"] == "missing"
