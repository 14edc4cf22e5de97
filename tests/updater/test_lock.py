"""Single-instance locks (``sdw_updater/lock.py``): held by a real second process, probed without taking them."""

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


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_a_lock_path_that_cannot_be_used_is_not_held(tmp_path: Path, kind: str) -> None:
    """Nobody can hold it: the probe says free, and taking it says what is wrong."""
    path = tmp_path / "sdw-updater.lock"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        (tmp_path / "elsewhere").write_text("")
        path.symlink_to(tmp_path / "elsewhere")
    assert is_locked(path) is False
    lock = Lock(path)
    assert lock.acquire() is False
    assert lock.problem is not None
    assert "cannot be used" in lock.refusal()
