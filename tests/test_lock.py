"""Single-instance locks: held by a real second process, probed without taking them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdw_updater.lock import Lock, is_locked, lock_dir

HOLD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from sdw_updater.lock import Lock\n"
    "lock = Lock(Path(sys.argv[1]))\n"
    "assert lock.acquire()\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_probe_sees_another_process_and_never_takes_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "sdw-updater.lock"
    assert is_locked(path) is False  # no file: nobody holds it
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert is_locked(path) is True
        assert Lock(path).acquire() is False
    finally:
        holder.communicate(timeout=10)
    assert is_locked(path) is False
    # Probing leaves the lock free for the next updater.
    assert is_locked(path) is False
    mine = Lock(path)
    assert mine.acquire() is True
    mine.release()


def test_lock_dir_falls_back_when_runtime_dir_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "does-not-exist"))
    chosen = lock_dir(tmp_path / "state")
    assert chosen in (tmp_path / "state", Path(f"/run/user/{os.getuid()}"))
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert lock_dir(tmp_path / "state") == runtime


def test_lock_in_an_unwritable_place_fails_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert Lock(blocker / "sub" / "x.lock").acquire() is False


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


def test_held_lock_still_says_another_updater(tmp_path: Path) -> None:
    path = tmp_path / "sdw-updater.lock"
    first = Lock(path)
    assert first.acquire()
    holder = subprocess.run(
        [
            sys.executable,
            "-c",
            HOLD.replace("assert lock.acquire()", "print(lock.acquire(), lock.refusal())"),
            str(path),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    first.release()
    assert holder.stdout.splitlines()[0] == "False Another updater is already running."
