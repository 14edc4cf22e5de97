"""Logging: a readable ``updater.log`` and a bounded ``updater-detail.log``.

Admins tail these files (``~/.securedrop_updater/logs/``).  Both rotate by
size with a fixed number of backups, so nothing grows without bound.  Tool
output goes only to the detail log, with ANSI escapes and control
characters removed and every line and every tool call capped.

A run that only decides and starts the app (the launcher's fast path) or
only decides (the notifier) writes a few lines: :func:`configure_plain`
appends them to the main log without importing the rotation machinery
(``logging.handlers`` pulls in socket, pickle and queue), and hands over to
:func:`configure` when the file is near its rotation size.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any

LOG_FORMAT = "%(asctime)s - %(name)s:%(lineno)d(%(funcName)s) %(levelname)s: %(message)s"
MAIN_LOG_BYTES = 1024 * 1024
DETAIL_LOG_BYTES = 5 * 1024 * 1024
BACKUPS = 5
DETAIL_BACKUPS = 10
MAX_LINE = 4096

DETAIL_LOGGER = "sdw.detail"

# The patterns of clean_line, compiled on first use: a launch that only starts the
# app never cleans a line, and compiling them costs it half a millisecond.
_ANSI = r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
# Every C0 control but TAB (newline too: one line must stay one log line), DEL,
# and the C1 controls U+0080-U+009F, which terminals obey as well (U+009B is CSI).
_CONTROL = r"[\x00-\x08\x0a-\x1f\x7f-\x9f]"
# Characters that are invisible or move text around: line and paragraph
# separators (U+2028/9 start a new line in the window, so a VM could forge a
# step header), bidi embeddings, overrides and isolates, zero-width and other
# format characters (Unicode categories Cf, Zl, Zp).
_INVISIBLE = (
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
_cleaners: tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]] | None = None


def _compiled() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    global _cleaners
    if _cleaners is None:
        _cleaners = (re.compile(_ANSI), re.compile(_CONTROL), re.compile(_INVISIBLE))
    return _cleaners


def clean_line(raw: bytes, limit: int = MAX_LINE) -> str:
    """Make one line of untrusted output safe to log and to show."""
    ansi, control, invisible = _cleaners or _compiled()
    # Decoded first, so that C1 controls, which are characters, not bytes, are found.
    text = ansi.sub("", raw[: limit * 2].decode("utf-8", errors="replace"))
    out = invisible.sub("", control.sub("", text))
    if len(out) > limit:
        out = out[:limit] + " [line truncated]"
    return out


def open_regular(path: Path | str, flags: int, mode: int = 0o600) -> int:
    """Open a file we own without following a symlink or blocking on a FIFO.

    A symlink planted at a log or lock path would have us overwrite its
    target; a FIFO would hang the updater on ``open``.  Only a regular file
    is accepted (OSError otherwise); the descriptor is returned blocking.
    """
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_log(handler: logging.FileHandler) -> io.TextIOWrapper:
    fd = open_regular(handler.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return open(fd, "a", encoding=handler.encoding, errors=handler.errors)


class SafeFileHandler(logging.FileHandler):
    """A log file (appended to, never rotated) opened with :func:`open_regular`."""

    def _open(self) -> io.TextIOWrapper:
        return _open_log(self)


_rotating_class: Any = None


def rotating_handler(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """A size-rotating log opened with :func:`open_regular` (raises OSError).

    The class is made on first use: ``logging.handlers`` is imported only
    by runs that may write much (an update, its tools' output).
    """
    global _rotating_class
    if _rotating_class is None:
        import logging.handlers

        class SafeRotatingFileHandler(logging.handlers.RotatingFileHandler):
            """A rotating log that opens its file with :func:`open_regular`."""

            def _open(self) -> io.TextIOWrapper:
                return _open_log(self)

        _rotating_class = SafeRotatingFileHandler
    handler: logging.Handler = _rotating_class(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    return handler


def _reset(*names: str) -> None:
    """Close and remove every handler of these loggers (configure is idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()


#: How close to its rotation size the main log may be for :func:`configure_plain`
#: to append to it; a short run writes far less, so the file never passes the size.
PLAIN_HEADROOM = 64 * 1024


def configure_plain(log_dir: Path, main_name: str = "updater.log") -> None:
    """The ``sdw`` logger tree appending to the main log only, for a short run; idempotent.

    Near (or past) the rotation size, or when the file cannot be looked at,
    this is :func:`configure` without the detail log, which rotates it.
    """
    path = log_dir / main_name
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        size = 0
    except OSError:
        size = MAIN_LOG_BYTES
    if size > MAIN_LOG_BYTES - PLAIN_HEADROOM:
        configure(log_dir, main_name, detail=False)
        return
    _reset("sdw", DETAIL_LOGGER)
    root = logging.getLogger("sdw")
    root.setLevel(logging.INFO)
    root.propagate = False
    main: logging.Handler
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        main = SafeFileHandler(path, encoding="utf-8")
    except OSError:
        main = logging.StreamHandler()
    main.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(main)


def configure(log_dir: Path, main_name: str = "updater.log", detail: bool = True) -> None:
    """Set up the ``sdw`` logger tree with rotating files; idempotent.

    Failing to create the log directory must not stop an update, so errors
    fall back to stderr logging.
    """
    _reset("sdw", DETAIL_LOGGER)
    root = logging.getLogger("sdw")
    root.setLevel(logging.INFO)
    root.propagate = False
    detail_logger = logging.getLogger(DETAIL_LOGGER)
    formatter = logging.Formatter(LOG_FORMAT)
    main: logging.Handler
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        main = rotating_handler(log_dir / main_name, MAIN_LOG_BYTES, BACKUPS)
    except OSError:
        main = logging.StreamHandler()
    main.setFormatter(formatter)
    root.addHandler(main)
    if detail:
        try:
            detail_handler = rotating_handler(
                log_dir / "updater-detail.log", DETAIL_LOG_BYTES, DETAIL_BACKUPS
            )
        except OSError:
            detail_handler = logging.NullHandler()
        detail_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        detail_logger.addHandler(detail_handler)
        detail_logger.setLevel(logging.INFO)
        detail_logger.propagate = False
