"""Single-instance locks (``sdw-updater.lock``, ``sdw-notify.lock``).

POSIX ``lockf`` write locks, as the existing updater uses, so an old and a
new updater exclude each other.  The lock directory is ``$XDG_RUNTIME_DIR``,
else ``/run/user/<uid>``, else the state directory: a missing runtime
directory must not crash the program.
"""

from __future__ import annotations

import errno
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
    """An exclusive, non-blocking lock held for the life of this object's ``fd``.

    ``acquire`` fails in two ways that mean different things: another
    process holds the lock (another updater runs), or the lock file itself
    cannot be used (a directory, a symlink or a FIFO in its place, no
    permission, ...): then ``problem`` says what is wrong, and
    :meth:`refusal` says it with the path, for the user.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.problem: str | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it or it cannot be made."""
        self.problem = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            return self._unusable(exc)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                return self._unusable(exc)
            log.error("Error obtaining lock on '%s'.", self.path)
            return False
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        self.fd = fd
        return True

    def _unusable(self, exc: OSError) -> bool:
        self.problem = _what_is_wrong(exc)
        log.error("The lock file '%s' cannot be used: %s", self.path, self.problem)
        return False

    def refusal(self) -> str:
        """Why ``acquire`` failed, in a sentence for the user."""
        if self.problem is None:
            return "Another updater is already running."
        return (
            f"The updater's lock file {self.path} cannot be used ({self.problem}), so the "
            "updater did not run. It must be a regular file this user can write: remove or "
            "fix what is there, then try again."
        )

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None


def _what_is_wrong(exc: OSError) -> str:
    """An OSError of opening or locking the lock file, in words."""
    words = {
        errno.EISDIR: "it is a directory",
        errno.ELOOP: "it is a symbolic link, which the updater never follows",
        errno.EINVAL: "it is not a regular file",
        errno.ENOTDIR: "a part of its path is not a directory",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "its file system is read-only",
        errno.ENOSPC: "the disk is full",
    }
    return words.get(exc.errno or 0) or exc.strerror or str(exc)


def is_locked(path: Path) -> bool:
    """True when another process holds the lock at ``path``.

    Asks the kernel (``F_GETLK``) instead of taking the lock for a moment:
    a probe that took it could make an updater starting at that very
    instant believe another updater was running.

    A lock path that cannot be used (a directory, a FIFO, a symlink, no
    permission) is not held by anyone: False.  "Busy" would make the
    notifier stay quiet on every run, forever; the updater it hands over
    to then says loudly that its lock file cannot be used (``Lock.refusal``).
    """
    try:
        fd = open_regular(path, os.O_RDONLY)
    except OSError:
        return False  # missing or unusable: nobody holds it
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        return struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK
    except (OSError, struct.error):
        return False  # the kernel cannot tell: doubt means "update", not "quiet"
    finally:
        os.close(fd)
