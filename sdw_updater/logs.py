"""Logging: a readable ``updater.log`` and a bounded ``updater-detail.log``.

Admins tail these files (``~/.securedrop_updater/logs/``).  Both rotate by
size with a fixed number of backups, so nothing grows without bound.  Tool
output goes only to the detail log, with ANSI escapes and control
characters removed and every line and every tool call capped.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
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


def clean_line(raw: bytes, limit: int = MAX_LINE) -> str:
    """Make one line of untrusted output safe to log and to show."""
    # Decoded first, so that C1 controls, which are characters, not bytes, are found.
    out = _CONTROL.sub("", _ANSI.sub("", raw[: limit * 2].decode("utf-8", errors="replace")))
    if len(out) > limit:
        out = out[:limit] + " [line truncated]"
    return out


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
        main = logging.handlers.RotatingFileHandler(
            log_dir / main_name, maxBytes=MAIN_LOG_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        main = logging.StreamHandler()
    main.setFormatter(formatter)
    root.addHandler(main)
    if detail:
        try:
            detail_handler: logging.Handler = logging.handlers.RotatingFileHandler(
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
