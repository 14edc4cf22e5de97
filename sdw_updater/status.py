"""The status store: ``sdw-update-status`` and ``sdw-last-updated``.

Both files are shared with the existing updater, so their format is fixed:
the status file is JSON with a string ``status`` code and a
``"%Y-%m-%d %H:%M:%S"`` local-time ``last_status_update``; the last-updated
file holds a bare timestamp.  Everything read here is untrusted: parsing is
strict and any doubt is reported as ``None`` (meaning "run the updater").
Every write is atomic (temp file, fsync, rename, fsync of the directory) so
a power cut never leaves a half-written file behind.
"""

# No ``from __future__ import annotations`` here: under it typing.NamedTuple compiles
# every field's annotation string (about 0.2 ms a field, on the launcher's fast path).

import json
import logging
import os
import re
import stat
import time
from pathlib import Path
from typing import NamedTuple

from sdw_updater.contract import (
    DATE_FORMAT,
    LAST_UPDATED_FILE,
    STATE_DIR_NAME,
    STATUS_FILE,
    UpdateStatus,
)

log = logging.getLogger("sdw.status")

MAX_FILE_BYTES = 64 * 1024
# Patterns, not compiled objects: ``re`` compiles (and caches) them on first use.
_BOOT_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CLOCK_SKEW = 300.0  # seconds a timestamp may lie in the future before we distrust it


class StatusRecord(NamedTuple):
    """A trusted, parsed status file.

    ``reboot_requested_at`` is our extension: the time a run asked for a
    reboot that the status code alone cannot express (a run that failed
    *and* updated dom0 keeps it, so the failure is not hidden and the
    reboot is not forgotten).  For files of the existing updater it is
    derived from status "2" and its timestamp.
    """

    status: UpdateStatus
    timestamp: float
    reboot_requested_at: float | None = None
    #: The boot id of dom0 when the reboot was requested: the reboot has
    #: happened when dom0 runs under another boot id (a clock jump is not one).
    reboot_boot_id: str | None = None


def state_dir(home: Path | None = None) -> Path:
    """``~/.securedrop_updater``, from ``$HOME`` (tests and the demo set it)."""
    base = home if home is not None else Path(os.environ.get("HOME") or Path.home())
    return base / STATE_DIR_NAME


def format_time(epoch: float) -> str:
    """Format an epoch as the on-disk local-time string."""
    return time.strftime(DATE_FORMAT, time.localtime(epoch))


# What ``time.strptime(text, DATE_FORMAT)`` accepts, spelled out: the very
# pattern _strptime builds for "%Y-%m-%d %H:%M:%S" (any Unicode digit, one or
# more whitespace characters between date and time, one-digit fields and a
# space-padded day where strptime allows them, seconds up to 61), matched
# from the start with nothing left over.  strptime itself costs the launcher
# a module import and a locale probe on every click; the property test in
# tests/updater/test_status.py holds this parser to strptime's answers.
_STAMP = (
    r"(?P<Y>\d\d\d\d)-(?P<m>1[0-2]|0[1-9]|[1-9])-(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])"
    r"\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)"
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_date(year: int, month: int, day: int) -> bool:
    """A real calendar day (strptime refuses Feb 30 and year 0 through ``datetime.date``)."""
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return year >= 1 and day <= _MONTH_DAYS[month - 1] + (1 if month == 2 and leap else 0)


def parse_time(text: object, now: float) -> float | None:
    """Parse an on-disk timestamp strictly; ``None`` if malformed or in the future.

    Accepts exactly what ``time.strptime(text, DATE_FORMAT)`` accepts among
    19-character strings, and gives the same local time.
    """
    if not isinstance(text, str) or len(text) != 19:
        return None
    found = re.match(_STAMP, text, re.IGNORECASE)
    if found is None or found.end() != len(text):
        return None
    year, month, day = int(found["Y"]), int(found["m"]), int(found["d"])
    if not _valid_date(year, month, day):
        return None
    fields = (year, month, day, int(found["H"]), int(found["M"]), int(found["S"]), 0, 1, -1)
    try:
        # mktime ignores the weekday and day of the year; -1: local time decides DST.
        epoch = time.mktime(fields)
    except (ValueError, OverflowError):
        return None
    if epoch > now + CLOCK_SKEW:
        return None
    return epoch


def parse_status(raw: bytes, now: float) -> StatusRecord | None:
    """Parse the bytes of ``sdw-update-status``; ``None`` when untrustworthy."""
    if not raw or len(raw) > MAX_FILE_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    code = data.get("status")
    if not isinstance(code, str):
        return None
    try:
        status = UpdateStatus(code)
    except ValueError:
        return None
    stamp = parse_time(data.get("last_status_update"), now)
    if stamp is None:
        return None
    requested: float | None = None
    if "reboot_requested_at" in data:
        requested = parse_time(data.get("reboot_requested_at"), now)
        if requested is None:
            # A mangled extension key must not silently drop a pending reboot.
            requested = stamp
    elif status is UpdateStatus.REBOOT_REQUIRED:
        requested = stamp
    boot_id = data.get("reboot_boot_id")
    if not (isinstance(boot_id, str) and re.fullmatch(_BOOT_ID, boot_id)):
        boot_id = None
    return StatusRecord(status, stamp, requested, boot_id if requested is not None else None)


def parse_last_updated(raw: bytes, now: float) -> float | None:
    """Parse ``sdw-last-updated``: one timestamp, optional trailing newline."""
    if not raw or len(raw) > 64:
        return None
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return parse_time(text, now)


def read_bounded(path: Path | str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """Read at most ``limit + 1`` bytes of a regular file; ``None`` if unreadable.

    Opened non-blocking and checked with fstat so a FIFO or device planted
    in place of a state file cannot hang or flood the updater.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically and durably (raises OSError)."""
    import tempfile  # only when writing: the launcher's fast path reads

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    sync_directory(path)


def sync_directory(path: Path | str) -> None:
    """Make the creation, replacement or removal of ``path`` durable (fsync its directory).

    Best effort: the change itself has already happened, and a directory
    that cannot be synced (some file systems refuse) must not undo it.
    """
    try:
        dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


class StatusStore:
    """Reads and writes the two state files under one state directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.status_path = directory / STATUS_FILE
        self.last_updated_path = directory / LAST_UPDATED_FILE

    def read_status(self, now: float) -> StatusRecord | None:
        raw = read_bounded(self.status_path)
        if raw is None:
            log.info("No status file at %s, assuming first run", self.status_path)
            return None
        record = parse_status(raw, now)
        if record is None:
            log.warning("Cannot trust status file %s, the updater will run", self.status_path)
        return record

    def read_last_updated(self, now: float) -> float | None:
        raw = read_bounded(self.last_updated_path, 64)
        if raw is None:
            return None
        stamp = parse_last_updated(raw, now)
        if stamp is None:
            log.warning("Cannot trust %s", self.last_updated_path)
        return stamp

    def write_status(
        self,
        status: UpdateStatus,
        now: float,
        reboot_requested_at: float | None = None,
        extra: dict[str, object] | None = None,
        reboot_boot_id: str | None = None,
    ) -> bool:
        """Write the status file; log and return False on failure (never raise)."""
        data: dict[str, object] = {"last_status_update": format_time(now), "status": status.value}
        if reboot_requested_at is not None:
            data["reboot_requested_at"] = format_time(reboot_requested_at)
            if reboot_boot_id is not None:
                data["reboot_boot_id"] = reboot_boot_id
        if extra:
            data.update(extra)
        try:
            atomic_write(self.status_path, (json.dumps(data, sort_keys=True) + "\n").encode())
        except OSError as exc:
            log.error("Error writing update status flag to dom0: %s", exc)
            return False
        log.info("Status set to %s (%s)", status.value, status.name)
        return True

    def write_last_updated(self, now: float) -> bool:
        """Record the time of the last successful run; never raise."""
        try:
            atomic_write(self.last_updated_path, format_time(now).encode())
        except OSError as exc:
            log.error("Error writing last updated flag to dom0: %s", exc)
            return False
        return True
