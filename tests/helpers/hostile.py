"""Hostile state and dom0 files: what they may hold, and an independent reading of their dates.

Shared by the property tests of the readers (``sdw_updater/status.py`` and
``qubes.py``), of the decisions made from what they read (``freshness.py``,
``sdw_notify/decision.py``) and by the end-to-end runs on mangled files.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from hypothesis import strategies as st

from helpers import stamp
from sdw_updater.status import CLOCK_SKEW, DATE_FORMAT

#: The wall clock the generated files are dated by (when the tests started).
NOW = time.time()
#: Paths that are not regular files, or too big: each must read as "unknown", at once.
SPECIAL = ("fifo", "directory", "dev-zero", "dangling", "loop", "oversized")


def make_special(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "loop":
        path.symlink_to(path)
    else:
        path.write_bytes(b"4.2 " * (1024 * 1024))


def oracle_time(value: object) -> float | None:
    """An independent reading of an on-disk timestamp (datetime, not time.strptime)."""
    if not isinstance(value, str) or len(value) != 19:
        return None
    try:
        epoch = datetime.strptime(value, DATE_FORMAT).timestamp()
    except (ValueError, OverflowError):
        return None
    return None if epoch > NOW + CLOCK_SKEW else epoch


#: Timestamps a state file may hold: sound ones about now, impossible ones, anything.
STAMPS = st.one_of(
    st.floats(min_value=-400 * 86400, max_value=2 * 86400).map(lambda d: stamp(NOW + d)),
    st.sampled_from(
        ["", "2026-02-30 10:00:00", "9999-12-31 23:59:59", "0000-01-01 00:00:00", "now"]
    ),
    st.text(max_size=25),
    st.integers(),
    st.none(),
)
#: Any JSON value, nested a little: what a hostile file or tool may hold where one is expected.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
