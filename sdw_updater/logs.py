"""Logging: a readable ``updater.log`` and a bounded ``updater-detail.log``.

Admins tail these files (``~/.securedrop_updater/logs/``).  Both rotate by
size with a fixed number of backups, so nothing grows without bound.  Tool
output goes only to the detail log, with ANSI escapes and control
characters removed and every line and every tool call capped.
"""

from __future__ import annotations

import errno
import io
import logging
import logging.handlers
import os
import re
import stat
from pathlib import Path

LOG_FORMAT = "%(asctime)s - %(name)s:%(lineno)d(%(funcName)s) %(levelname)s: %(message)s"
MAIN_LOG_BYTES = 1024 * 1024
DETAIL_LOG_BYTES = 5 * 1024 * 1024
BACKUPS = 5
DETAIL_BACKUPS = 10
MAX_LINE = 4096

DETAIL_LOGGER = "sdw.detail"

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Every C0 control but TAB (newline too: one line must stay one log line), DEL,
# and the C1 controls U+0080-U+009F, which terminals obey as well (U+009B is CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Characters that are invisible or move text around: line and paragraph
# separators (U+2028/9 start a new line in the window, so a VM could forge a
# step header), bidi embeddings, overrides and isolates, zero-width and other
# format characters (Unicode categories Cf, Zl, Zp).
_INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)


def clean_line(raw: bytes, limit: int = MAX_LINE) -> str:
    """Make one line of untrusted output safe to log and to show."""
    # Decoded first, so that C1 controls, which are characters, not bytes, are found.
    text = _ANSI.sub("", raw[: limit * 2].decode("utf-8", errors="replace"))
    out = _INVISIBLE.sub("", _CONTROL.sub("", text))
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


class SafeRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log that opens its file with :func:`open_regular`."""

    def _open(self) -> io.TextIOWrapper:
        fd = open_regular(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def configure(log_dir: Path, main_name: str = "updater.log", detail: bool = True) -> None:
    """Set up the ``sdw`` logger tree with rotating files; idempotent.

    Failing to create the log directory must not stop an update, so errors
    fall back to stderr logging.
    """
    root = logging.getLogger("sdw")
    root.setLevel(logging.INFO)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    detail_logger = logging.getLogger(DETAIL_LOGGER)
    for handler in list(detail_logger.handlers):
        detail_logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    main: logging.Handler
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        main = SafeRotatingFileHandler(
            log_dir / main_name, maxBytes=MAIN_LOG_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        main = logging.StreamHandler()
    main.setFormatter(formatter)
    root.addHandler(main)
    if detail:
        try:
            detail_handler: logging.Handler = SafeRotatingFileHandler(
                log_dir / "updater-detail.log",
                maxBytes=DETAIL_LOG_BYTES,
                backupCount=DETAIL_BACKUPS,
                encoding="utf-8",
            )
        except OSError:
            detail_handler = logging.NullHandler()
        detail_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        detail_logger.addHandler(detail_handler)
        detail_logger.setLevel(logging.INFO)
        detail_logger.propagate = False
