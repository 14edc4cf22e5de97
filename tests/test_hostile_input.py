"""Hostile input: every file the updater reads, every tool output it parses.

The parsers have their own example tests (test_status.py, test_progress.py);
this module attacks them where the updater actually uses them:

* dom0 files through the real ``Host.read_file`` on a temporary root
  (os-release, /proc/uptime, the migration flag, /proc/<pid>/comm), including
  files that are not regular files at all;
* the state files through the ``StatusStore`` and on into the freshness and
  notifier decisions, judged by an independent oracle: only a file that
  really says ok, recently, may skip the updater or the reminder;
* tool output through the real ``Runner`` (a scripted host feeds every tool's
  stdout/stderr and exit code from hypothesis): no exception escapes, and
  the run ends ok only when every tool said so in the contract's terms;
* the line splitter and line cleaner every output line goes through;
* end to end: mangled state files under ``$HOME``, then ``sdw-updater
  --status``, ``--cli`` and ``sdw-notify --dry-run`` as a user runs them.

The trust checks' pure parsers (config.json, repository files, rpm's key
and signature listings, the templates' apt sources) are attacked the same
way: no exception but the documented ones, and garbage never passes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, read_journal, run_updater, stamp, tools
from helpers.hostile import NOW, make_special

# ----- end to end: mangled state files under $HOME ---------------------------------

OLD = stamp(NOW - 3600)
FUTURE = stamp(NOW + 86400)
UNTRUSTED_STATUS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \n\t",
    "truncated": f'{{"last_status_update": "{OLD}", "sta'.encode(),
    "future": f'{{"last_status_update": "{FUTURE}", "status": "0"}}'.encode(),
    "int-code": f'{{"last_status_update": "{OLD}", "status": 0}}'.encode(),
    "padded-code": f'{{"last_status_update": "{OLD}", "status": " 0"}}'.encode(),
    "unknown-code": f'{{"last_status_update": "{OLD}", "status": "9"}}'.encode(),
    "no-date": b'{"status": "0"}',
    "bad-date": b'{"last_status_update": "2026-02-30 10:00:00", "status": "0"}',
    "short-date": f'{{"last_status_update": "{OLD[:16]}", "status": "0"}}'.encode(),
    "list": b'["0"]',
    "utf16": f'{{"last_status_update": "{OLD}", "status": "0"}}'.encode("utf-16"),
    "binary": bytes(range(256)),
    "deep": b"[" * 30000 + b"]" * 30000,
    "huge": f'{{"last_status_update": "{OLD}", "status": "0", "x": "{"y" * 70000}"}}'.encode(),
}
UNTRUSTED_KINDS = ("fifo", "directory", "dev-zero", "dangling")
NO_NETWORK = '[sim]\ntime_scale = 0.0\n[network]\nconnectivity = "none"\n'


def plant_status(home: Path, shape: str) -> Path:
    path = home / ".securedrop_updater" / "sdw-update-status"
    path.parent.mkdir(parents=True, exist_ok=True)
    if shape in UNTRUSTED_STATUS:
        path.write_bytes(UNTRUSTED_STATUS[shape])
    else:
        make_special(path, shape)
    return path


def snapshot(path: Path) -> tuple[str, bytes | None]:
    """What a state path is now (type and, for a regular file, content)."""
    if path.is_symlink():
        return "link", os.readlink(path).encode()
    if path.is_dir():
        return "dir", None
    if path.exists() and path.is_file():
        return "file", path.read_bytes()
    return "other", None


@pytest.mark.parametrize("shape", [*UNTRUSTED_STATUS, *UNTRUSTED_KINDS])
def test_mangled_status_means_update_end_to_end(home: Path, shape: str) -> None:
    path = plant_status(home, shape)
    before = snapshot(path)
    report = run_updater(home, "--status", scenario=NO_NETWORK, timeout=30)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["status"] is None and data["due"] is True and data["reboot_pending"] is False
    assert snapshot(path) == before
    assert read_journal(home) == []
    launched = run_updater(home, "--cli", scenario=NO_NETWORK, timeout=30)
    assert launched.returncode == 4, launched.stdout + launched.stderr  # went for the updater
    assert tools(read_journal(home)) == ["qvm-run"]  # ... and started nothing
    assert snapshot(path) == before


def test_mangled_reboot_time_keeps_the_reboot_pending(home: Path) -> None:
    path = home / ".securedrop_updater" / "sdw-update-status"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"status": "3", "last_status_update": OLD, "reboot_requested_at": "garbage"})
    )
    result = run_updater(home, "--cli", scenario="[sim]\ntime_scale = 0.0\nuptime = 86400\n")
    assert result.returncode == 3, result.stdout
    assert read_journal(home) == []


@pytest.mark.parametrize(
    "raw",
    [b"", b"yesterday", FUTURE.encode(), OLD.encode() + b"x", b"\x00" * 19, OLD[:10].encode()],
    ids=["empty", "words", "future", "trailing", "nuls", "date-only"],
)
def test_mangled_last_updated_means_remind(home: Path, raw: bytes) -> None:
    directory = home / ".securedrop_updater"
    directory.mkdir()
    (directory / "sdw-last-updated").write_bytes(raw)
    scenario = home / "scenario.toml"
    scenario.write_text("[sim]\nuptime = 7200\n")
    result = subprocess.run(
        [str(BIN / "sdw-notify"), "--dry-run", "--simulate", str(scenario)],
        env=dict(os.environ, HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["warn"] is True and data["code"] == "unknown_last_update"
    assert (directory / "sdw-last-updated").read_bytes() == raw
