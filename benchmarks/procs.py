"""Finding and ending the processes of one run, by an environment marker.

The updater starts every tool in a session of its own (so that a timeout can
kill the tool's whole process group), which means the updater's own process
group does not contain its tools, and a tool outlives a killed updater.  To
kill "everything", as a power cut does, or to wait for orphaned tools to
end, we find the run's processes by a marker variable that every process of
the run inherits (``Host.run`` passes the environment on).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MARKER = "SDW_TRIAL"


def marked(token: str) -> list[int]:
    """Live (non-zombie) PIDs whose environment holds ``SDW_TRIAL=token``."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def power_cut(token: str) -> int:
    """SIGKILL every process of the run at (as near as possible) the same instant.

    Stop them all first, rescanning until no new process appears (one may
    have forked meanwhile), then kill them all: nothing runs between the
    first and the last kill.  Returns how many processes were killed.
    """
    stopped: set[int] = set()
    for _ in range(50):
        fresh = [pid for pid in marked(token) if pid not in stopped]
        if not fresh:
            break
        for pid in fresh:
            _signal(pid, signal.SIGSTOP)
            stopped.add(pid)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    return len(stopped)


def wait_gone(token: str, timeout: float) -> list[int]:
    """Wait until no process of the run is left; SIGKILL and return the stragglers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = marked(token)
        if not left:
            return []
        time.sleep(0.05)
    left = marked(token)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    return left
