"""Another process holding the updater lock, for tests of "another updater is running".

The engine's ``lockf`` locks belong to a process, so the holder must be a
process of its own: a small helper that prints one line once it holds the
lock and lets go when its stdin closes (or after ``HELD_LOCK_TIMEOUT``
seconds, whatever happens).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HELD_LOCK_TIMEOUT = 120  # seconds the helper holding the updater lock may live


def hold_updater_lock(state_directory: Path) -> subprocess.Popen[str]:
    """Another process holding the updater lock (lockf locks are per process).

    The helper prints one line once it holds the lock and lets go when its
    stdin closes (or after HELD_LOCK_TIMEOUT seconds, whatever happens).
    """
    code = (
        "import sys, select\n"
        "from pathlib import Path\n"
        "from sdw_updater.contract import UPDATER_LOCK\nfrom sdw_updater.lock import Lock, lock_dir\n"
        "lock = Lock(lock_dir(Path(sys.argv[1])) / UPDATER_LOCK)\n"
        "print('held' if lock.acquire() else 'busy', flush=True)\n"
        f"select.select([sys.stdin], [], [], {HELD_LOCK_TIMEOUT})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(state_directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "held":
        release_lock(proc)
        raise RuntimeError(f"could not take the updater lock for the test ({line!r})")
    return proc


def release_lock(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
