"""An administrator's settings: ``~/.securedrop_updater/sdw-updater-settings.json``.

Optional, off by default, and read as untrusted like every other file: a
missing, unreadable, oversized or malformed file means the defaults; a key
with a wrong type or a value out of range keeps its default; unknown keys
are ignored.  Every such doubt is one line in ``updater.log``, so an admin
who mistyped a key finds out why it had no effect.

```json
{"update_extras": true, "stall_minutes": 15, "key_notice_days": 30}
```

* ``update_extras`` (bool, default false): also update the templates of the
  VMs tagged ``sd-extras`` (an organisation's own VMs), shown as their own
  group.
* ``stall_minutes`` (number, 1-600, default 15): a template that shows no
  progress and prints nothing for this long is stopped and reported as
  stalled (Qubes users asked for 15 minutes, qubes-issues #8742).  The
  templates step's own timeout stays the outer bound.
* ``key_notice_days`` (whole number, 0-365, default 30): a signing key that
  expires within this many days is also told to the journalist in the
  window (the administrator's notices and the logs always tell it).  This
  file is the one place for it: the window's environment is not read.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from sdw_updater.contract import SETTINGS_FILE
from sdw_updater.status import read_bounded

log = logging.getLogger("sdw.settings")

MAX_SETTINGS_BYTES = 16 * 1024
DEFAULT_STALL_MINUTES = 15.0
STALL_RANGE = (1.0, 600.0)
DEFAULT_KEY_NOTICE_DAYS = 30
KEY_NOTICE_RANGE = (0, 365)
KNOWN = ("update_extras", "stall_minutes", "key_notice_days")


@dataclass(frozen=True)
class Settings:
    """What the administrator chose (the defaults when nothing was)."""

    update_extras: bool = False
    stall_minutes: float = DEFAULT_STALL_MINUTES
    key_notice_days: int = DEFAULT_KEY_NOTICE_DAYS

    @property
    def stall_seconds(self) -> float:
        return self.stall_minutes * 60.0


def parse(raw: bytes | None, where: str = SETTINGS_FILE) -> Settings:
    """The settings in ``raw`` (a file's bytes, or None when there is none); never raises."""
    if raw is None:
        return Settings()
    if len(raw) > MAX_SETTINGS_BYTES:
        log.warning("%s is larger than %d bytes: using the defaults", where, MAX_SETTINGS_BYTES)
        return Settings()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        log.warning("%s is not valid JSON: using the defaults", where)
        return Settings()
    if not isinstance(data, dict):
        log.warning("%s does not hold a JSON object: using the defaults", where)
        return Settings()
    defaults = Settings()
    extras = data.get("update_extras", defaults.update_extras)
    if not isinstance(extras, bool):
        log.warning("%s: update_extras must be true or false; it stays off", where)
        extras = defaults.update_extras
    stall = data.get("stall_minutes", defaults.stall_minutes)
    low, high = STALL_RANGE
    if (
        isinstance(stall, bool)
        or not isinstance(stall, int | float)
        or not math.isfinite(stall)
        or not low <= stall <= high
    ):
        log.warning(
            "%s: stall_minutes must be a number from %g to %g; it stays %g",
            where,
            low,
            high,
            defaults.stall_minutes,
        )
        stall = defaults.stall_minutes
    days = data.get("key_notice_days", defaults.key_notice_days)
    first, last = KEY_NOTICE_RANGE
    if isinstance(days, bool) or not isinstance(days, int) or not first <= days <= last:
        log.warning(
            "%s: key_notice_days must be a whole number from %d to %d; it stays %d",
            where,
            first,
            last,
            defaults.key_notice_days,
        )
        days = defaults.key_notice_days
    for key in sorted(set(data) - set(KNOWN))[:20]:
        log.warning("%s: unknown setting %r ignored", where, key[:64])
    return Settings(update_extras=extras, stall_minutes=float(stall), key_notice_days=days)


def load(state_directory: Path) -> Settings:
    """The settings file under the state directory, read defensively."""
    path = state_directory / SETTINGS_FILE
    settings = parse(read_bounded(path, MAX_SETTINGS_BYTES), str(path))
    if settings != Settings():
        log.info(
            "Settings: update_extras=%s, stall_minutes=%g, key_notice_days=%d",
            settings.update_extras,
            settings.stall_minutes,
            settings.key_notice_days,
        )
    return settings
