"""``sdw-login`` at a login, the console script on the simulated workstation.

It waits for the desktop session (a display that accepts connections) at
most ``--wait`` seconds, then runs ``sdw-updater``, which starts the app on
a fresh workstation; it logs what it waited for.  Its parts:
tests/notify/test_login.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from helpers import BIN

from sdw_updater.status import format_time

TIMEOUT = 60


def _fresh_home(tmp_path: Path) -> Path:
    """A home whose workstation was updated an hour ago: the launcher starts the client."""
    home = tmp_path / "home"
    state = home / ".securedrop_updater"
    state.mkdir(parents=True)
    stamp = format_time(time.time() - 3600)
    (state / "sdw-update-status").write_text(
        json.dumps({"status": "0", "last_status_update": stamp})
    )
    (state / "sdw-last-updated").write_text(stamp)
    return home


def _journal(home: Path) -> list[dict]:
    path = home / ".securedrop_updater" / "sim" / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _run_login(home: Path, tmp_path: Path, env_extra: dict[str, str], *args: str):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"}
    }
    env.update({"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), **env_extra})
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "sdw-login"), *args, "--simulate"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )
    return result, time.monotonic() - started


def _client_started(home: Path) -> bool:
    return any("sd-app" in json.dumps(call) for call in _journal(home))


def test_login_waits_for_the_display_then_runs_the_updater(tmp_path, listening):
    home = _fresh_home(tmp_path)
    display = listening(str(tmp_path / "wayland-0"))
    result, elapsed = _run_login(
        home, tmp_path, {"WAYLAND_DISPLAY": display}, "--settle", "0", "--wait", "30"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 20
    assert "Started the SecureDrop app" in result.stdout
    assert _client_started(home)
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert "Desktop session ready" in log
    assert "Starting" in log and "--simulate" in log


def test_login_gives_up_waiting_and_still_runs_the_updater(tmp_path):
    home = _fresh_home(tmp_path)
    result, elapsed = _run_login(home, tmp_path, {}, "--settle", "0", "--wait", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 1.0 <= elapsed < 20
    assert _client_started(home)
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert "not ready after 1 s" in log
