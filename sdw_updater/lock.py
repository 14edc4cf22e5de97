"""Single-instance locks (``sdw-updater.lock``, ``sdw-notify.lock``).

POSIX ``lockf`` write locks, as the existing updater uses, so an old and a
new updater exclude each other.  The lock directory is ``$XDG_RUNTIME_DIR``,
else ``/run/user/<uid>``, else the state directory: a missing runtime
directory must not crash the program.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from pathlib import Path

from sdw_updater.logs import open_regular

log = logging.getLogger("sdw.lock")

# struct flock as Linux lays it out: l_type, l_whence, l_start, l_len, l_pid.
_FLOCK = "hhqqi"


def lock_dir(state_directory: Path) -> Path:
    """The first usable directory of ``$XDG_RUNTIME_DIR``, ``/run/user/<uid>``, state dir."""
    candidates: list[Path] = []
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        candidates.append(Path(xdg))
    candidates.append(Path(f"/run/user/{os.getuid()}"))
    for candidate in candidates:
        if candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return state_directory


class Lock:
    """An exclusive, non-blocking lock held for the life of this object's ``fd``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it or it cannot be made."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            log.error("Error writing to lock file '%s': %s", self.path, exc)
            return False
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            log.error("Error obtaining lock on '%s'.", self.path)
            return False
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None


def is_locked(path: Path) -> bool:
    """True when another process holds the lock at ``path``.

    Asks the kernel (``F_GETLK``) instead of taking the lock for a moment:
    a probe that took it could make an updater starting at that very
    instant believe another updater was running.
    """
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot ask: assume busy, the safe answer for "may I start?"
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        return struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK
    except (OSError, struct.error):
        return True
    finally:
        os.close(fd)
