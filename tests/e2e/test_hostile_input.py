"""Hostile input end to end: mangled files under ``$HOME``, as a user meets them.

State files that are empty, truncated, future-dated, mistyped, binary, huge
or not files at all, then ``sdw-updater --status``, ``--cli`` and
``sdw-notify --dry-run`` as a user runs them: in doubt the updater runs and
the reminder comes, and nothing is changed or followed.  A damaged history
never fails a run; a symlink or a FIFO at a lock or log path is never
followed nor blocked on; a lock file that cannot be used is said so, with
its path.  The readers and parsers themselves, with hypothesis, are in the
tests of their modules (tests/updater/, tests/notify/).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import (
    BIN,
    FORCE,
    INSTANT,
    changed_dom0,
    read_journal,
    read_status,
    run_updater,
    stamp,
    tools,
)
from helpers.hostile import NOW, make_special

from sdw_updater.contract import NOTIFY_LOCK, UPDATER_LOCK

STATE = ".securedrop_updater"


# ----- mangled state files under $HOME ---------------------------------------------------


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


# ----- a damaged history (estimates only) never fails a run ------------------------------


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000 + b"]" * 100_000, b'{"runs": [{"total": 1e999}]}', b"\xff\xfe\x00"],
    ids=["deeply-nested", "overflow", "binary"],
)
def test_a_damaged_history_file_means_no_estimates(home: Path, content: bytes) -> None:
    (home / STATE).mkdir(parents=True)
    (home / STATE / "sdw-run-history.json").write_bytes(content)
    result = run_updater(home, *FORCE, scenario=INSTANT)
    assert result.returncode == 3, result.stdout + result.stderr
    assert read_status(home)["status"] == "2"


# ----- symlinks and FIFOs at the lock and log paths ---------------------------------------


def plant(path: Path, kind: str, victim: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        path.symlink_to(victim)
    else:
        os.mkfifo(path)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_the_updater_lock_path_is_never_followed_nor_blocked_on(home: Path, kind: str) -> None:
    victim = home / "victim"
    victim.write_text("keep me\n")
    plant(Path(os.environ["XDG_RUNTIME_DIR"]) / UPDATER_LOCK, kind, victim)
    result = run_updater(home, *FORCE, scenario=INSTANT, timeout=60)
    assert result.returncode == 5, result.stdout + result.stderr
    assert victim.read_text() == "keep me\n"
    assert not changed_dom0(read_journal(home))


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_log_files_are_never_followed_nor_blocked_on(home: Path, kind: str) -> None:
    victim = home / "victim"
    victim.write_text("keep me\n")
    plant(home / STATE / "logs" / "updater.log", kind, victim)
    plant(home / STATE / "logs" / "updater-detail.log", kind, victim)
    result = run_updater(home, *FORCE, scenario=INSTANT, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_the_notifier_lock_and_log_are_never_followed_nor_blocked_on(home: Path, kind: str) -> None:
    victim = home / "victim"
    victim.write_text("keep me\n")
    plant(home / STATE / "logs" / "sdw-notify.log", kind, victim)
    plant(Path(os.environ["XDG_RUNTIME_DIR"]) / NOTIFY_LOCK, kind, victim)
    result = subprocess.run(
        [str(BIN / "sdw-notify"), "--dry-run", "--simulate"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, HOME=str(home)),
        cwd=home,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert victim.read_text() == "keep me\n"


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
