"""The state files (``sdw_updater/status.py``): files of existing workstations, atomic writes, bad input.

Anything in doubt (a future date, a stray byte, a FIFO or a directory where
the file should be) reads as "no record", which means "run the updater".
The timestamp parser is held to ``strptime``'s answers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from helpers import hostile
from hypothesis import given, settings
from hypothesis import strategies as st

from sdw_updater.contract import DATE_FORMAT
from sdw_updater.status import (
    StatusStore,
    UpdateStatus,
    format_time,
    parse_last_updated,
    parse_status,
    parse_time,
)

NOW = time.mktime(time.strptime("2026-11-22 12:00:00", "%Y-%m-%d %H:%M:%S"))


def test_reads_file_written_by_existing_updater() -> None:
    raw = b'{"last_status_update": "2026-11-22 10:00:00", "status": "0"}'
    record = parse_status(raw, NOW)
    assert record is not None
    assert record.status is UpdateStatus.OK
    assert NOW - record.timestamp == 7200
    assert record.reboot_requested_at is None


def test_reboot_status_of_existing_updater_implies_request_time() -> None:
    record = parse_status(b'{"last_status_update": "2026-11-22 10:00:00", "status": "2"}', NOW)
    assert record is not None and record.reboot_requested_at == record.timestamp


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{}",
        b"null",
        b"[]",
        b'{"status": "0"}',
        b'{"status": 0, "last_status_update": "2026-11-22 10:00:00"}',
        b'{"status": "5", "last_status_update": "2026-11-22 10:00:00"}',
        b'{"status": "0", "last_status_update": "time to die"}',
        b'{"status": "0", "last_status_update": "2026-11-22 10:00"}',
        b'{"status": "0", "last_status_update": "2027-01-01 00:00:00"}',
        b'{"status": "0", "last_status_update": "2026-11-22 10:00:00"',
        b"\xff\xfe garbage",
        b'{"status": "0", "last_status_update": "2026-11-22 10:00:00"}' + b" " * 70000,
        b"[" * 100000,
    ],
    ids=lambda raw: repr(raw[:40]),
)
def test_untrustworthy_status_is_none(raw: bytes) -> None:
    assert parse_status(raw, NOW) is None


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "state")
    for status in UpdateStatus:
        assert store.write_status(status, NOW - 60)
        record = store.read_status(NOW)
        assert record is not None and record.status is status
    data = json.loads((tmp_path / "state" / "sdw-update-status").read_text())
    assert data == {"last_status_update": format_time(NOW - 60), "status": "4"}


def test_failed_with_reboot_keeps_both(tmp_path: Path) -> None:
    store = StatusStore(tmp_path)
    store.write_status(UpdateStatus.FAILED, NOW - 10, reboot_requested_at=NOW - 10)
    record = store.read_status(NOW)
    assert record is not None
    assert record.status is UpdateStatus.FAILED
    assert record.reboot_requested_at == NOW - 10


def test_write_leaves_no_temp_files_and_private_mode(tmp_path: Path) -> None:
    store = StatusStore(tmp_path)
    store.write_status(UpdateStatus.OK, NOW)
    store.write_last_updated(NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sdw-last-updated", "sdw-update-status"]
    assert (tmp_path / "sdw-last-updated").read_text() == format_time(NOW)
    assert os.stat(tmp_path / "sdw-update-status").st_mode & 0o777 == 0o600


def test_write_failure_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = StatusStore(blocker / "sub")  # a file where the directory should be
    assert store.write_status(UpdateStatus.OK, NOW) is False
    assert store.write_last_updated(NOW) is False


def test_fifo_in_place_of_status_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "sdw-update-status")
    assert StatusStore(tmp_path).read_status(NOW) is None


@pytest.mark.parametrize(
    "raw", [b"", b"garbage", b"2026-11-22", b"2099-01-01 00:00:00", b"\x00" * 19, b"2" * 100]
)
def test_untrustworthy_last_updated(raw: bytes) -> None:
    assert parse_last_updated(raw, NOW) is None


def test_last_updated_with_newline() -> None:
    assert parse_last_updated(b"2026-11-22 11:00:00\n", NOW) == NOW - 3600


@given(st.binary(max_size=300))
def test_status_parser_never_raises(raw: bytes) -> None:
    record = parse_status(raw, NOW)
    assert record is None or record.timestamp <= NOW + 300


@given(
    st.dictionaries(
        st.sampled_from(["status", "last_status_update", "reboot_requested_at", "x"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=25), st.lists(st.integers(), max_size=2)
        ),
    )
)
def test_status_parser_json_shapes(data: dict[str, object]) -> None:
    record = parse_status(json.dumps(data).encode(), NOW)
    if record is not None:
        assert isinstance(data.get("status"), str)
        assert record.timestamp <= NOW + 300


READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "status": ("sdw-update-status", lambda r: StatusStore(r).read_status(hostile.NOW)),
    "last-updated": ("sdw-last-updated", lambda r: StatusStore(r).read_last_updated(hostile.NOW)),
}


@pytest.mark.parametrize("kind", hostile.SPECIAL)
@pytest.mark.parametrize("reader", READERS)
def test_files_that_are_not_files(tmp_path: Path, reader: str, kind: str) -> None:
    """A FIFO, device, directory, bad link or huge file reads as "unknown", at once."""
    relative, read = READERS[reader]
    hostile.make_special(tmp_path / relative, kind)
    began = time.monotonic()
    assert read(tmp_path) in (None, False)
    assert time.monotonic() - began < 1.0


# ----- the timestamp parser against strptime ------------------------------------------


DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩０１２３４５６７８９"


def strptime_epoch(text: str) -> float | None:
    """The strict reference: what the parser did with ``time.strptime``, before the future check."""
    if len(text) != 19:
        return None
    try:
        return time.mktime(time.strptime(text, DATE_FORMAT))
    except (ValueError, OverflowError):
        return None


@st.composite
def shaped_stamps(draw: st.DrawFn) -> str:
    """Strings shaped like a timestamp: fields of 1-4 digits or spaces, odd separators."""

    def field(width: int) -> str:
        return draw(st.text(alphabet=DIGITS + " ", min_size=1, max_size=width))

    gap = draw(st.text(alphabet=" \t\n\u3000\x85-", min_size=1, max_size=3))
    dash = draw(st.sampled_from(["-", "-", "-", "/", ":", " "]))
    colon = draw(st.sampled_from([":", ":", ":", "-", " "]))
    return (
        f"{field(4)}{dash}{field(2)}{dash}{field(2)}{gap}{field(2)}{colon}{field(2)}{colon}"
        f"{field(2)}"
    )


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """A valid timestamp with a few characters changed (a digit, a space, a separator)."""
    moment = draw(st.datetimes(min_value=datetime(1000, 1, 1)))
    chars = list(moment.strftime(DATE_FORMAT))
    for _ in range(draw(st.integers(1, 3))):
        chars[draw(st.integers(0, len(chars) - 1))] = draw(st.sampled_from(DIGITS + " -:\t"))
    return "".join(chars)


STAMPS = st.one_of(
    st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda m: m.strftime(DATE_FORMAT)),
    near_misses(),
    shaped_stamps(),
    st.text(alphabet=DIGITS[:10] + " -:\t", min_size=17, max_size=21),
    st.text(max_size=25),
)


@settings(max_examples=3000)
@given(STAMPS)
def test_timestamp_parser_agrees_with_strptime(text: str) -> None:
    """Same accepted strings, same local time, as ``time.strptime(text, DATE_FORMAT)``."""
    assert parse_time(text, float("inf")) == strptime_epoch(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22 10:00:00",
        "2026-1-22  10:00:00",  # one-digit month, two spaces
        "2026-11- 2 10:00:00",  # space-padded day
        "2026-11-22\t\t10:0:00",
        "2024-02-29 23:59:60",  # a leap day, a leap second
        "２０２６-11-22 10:00:00",  # fullwidth digits are digits to strptime
        "2026-02-29 10:00:00",  # no such day
        "0000-01-01 00:00:00",  # no year 0
        "2026-11-22 24:00:00",
        "2026-11-22 10:00:0x",
        "2026-13-22 10:00:00",
    ],
)
def test_timestamp_parser_edge_cases(text: str) -> None:
    assert parse_time(text, float("inf")) == strptime_epoch(text)
