"""The launch decision (``sdw_updater/freshness.py``): as a table, and against hostile state files.

Upstream's behaviours (docs/upstream.md, "Behaviours its tests check"), with
its weak spots fixed ("Where it falls short"): a restart counts as done only
under another boot id, and ``--skip-delta 0`` always runs.  Status files
from hypothesis go through the real store into the decision, judged by an
independent oracle: only a file that really says ok, recently, may skip
the updater, and a pending reboot is never lost.
"""

from __future__ import annotations

import json

import pytest
from helpers import hostile
from hypothesis import given, settings
from hypothesis import strategies as st

from sdw_updater import freshness
from sdw_updater.contract import UpdateStatus
from sdw_updater.freshness import Action, decide, reboot_done
from sdw_updater.host import Boot
from sdw_updater.status import StatusRecord, StatusStore

NOW = 2_000_000_000.0
HOUR = 3600.0
S = UpdateStatus


def legacy_boot(booted_at: float | None) -> Boot | None:
    """What a boot looks like to a record without a boot id (the existing updater's)."""
    return None if booted_at is None else Boot(None, booted_at)


def rec(status: UpdateStatus, age: float, reboot_at: float | None = None) -> StatusRecord:
    requested = reboot_at
    if status is S.REBOOT_REQUIRED and reboot_at is None:
        requested = NOW - age
    return StatusRecord(status, NOW - age, requested)


BOOTED_LONG_AGO = NOW - 10 * 24 * HOUR
BOOTED_JUST_NOW = NOW - 60


# (record, boot time, skip delta, expected action, record_ok)
TABLE = [
    # interval expired: the updater runs, whatever the status
    (rec(S.OK, 3610), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    (rec(S.UPDATES_REQUIRED, 3610), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    (rec(S.FAILED, 3610), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    (rec(S.IN_PROGRESS, 3610), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    # ... except a reboot that has not happened: never re-run the updates
    (rec(S.REBOOT_REQUIRED, 3610), BOOTED_LONG_AGO, 3600, Action.REBOOT_PENDING, False),
    (rec(S.REBOOT_REQUIRED, 10), BOOTED_LONG_AGO, 0, Action.REBOOT_PENDING, False),
    # reboot done and interval expired: run, and record that the reboot happened
    (rec(S.REBOOT_REQUIRED, 3610), BOOTED_JUST_NOW, 3600, Action.RUN_UPDATER, True),
    # interval not expired, by status
    (rec(S.OK, 10), BOOTED_LONG_AGO, 3600, Action.START_CLIENT, False),
    (rec(S.UPDATES_REQUIRED, 10), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    (rec(S.FAILED, 10), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    (rec(S.IN_PROGRESS, 10), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    (rec(S.REBOOT_REQUIRED, 600), BOOTED_JUST_NOW, 3600, Action.START_CLIENT, True),
    (rec(S.REBOOT_REQUIRED, 600), BOOTED_LONG_AGO, 3600, Action.REBOOT_PENDING, False),
    # --skip-delta 0 always expires
    (rec(S.OK, 0), BOOTED_LONG_AGO, 0, Action.RUN_UPDATER, False),
    # boundary: age == interval expires (>=)
    (rec(S.OK, 3600), BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    (rec(S.OK, 3599), BOOTED_LONG_AGO, 3600, Action.START_CLIENT, False),
    # no trustworthy state: run
    (None, BOOTED_LONG_AGO, 3600, Action.RUN_UPDATER, False),
    # failed run that also updated dom0, reboot not done: reboot first
    (rec(S.FAILED, 60, reboot_at=NOW - 60), BOOTED_LONG_AGO, 3600, Action.REBOOT_PENDING, False),
    # ... reboot done: the failure means run again
    (rec(S.FAILED, 600, reboot_at=NOW - 600), BOOTED_JUST_NOW, 3600, Action.RUN_UPDATER, False),
    # unknown boot time cannot prove a reboot
    (rec(S.REBOOT_REQUIRED, 600), None, 3600, Action.REBOOT_PENDING, False),
]


@pytest.mark.parametrize(("record", "boot", "delta", "action", "record_ok"), TABLE)
def test_decision_table(
    record: StatusRecord | None, boot: float | None, delta: int, action: Action, record_ok: bool
) -> None:
    decision = decide(record, NOW, legacy_boot(boot), delta)
    assert decision.action is action, decision.reason
    assert decision.record_ok is record_ok


def test_previous_failure_is_reported_with_pending_reboot() -> None:
    decision = decide(
        rec(S.FAILED, 60, reboot_at=NOW - 60), NOW, legacy_boot(BOOTED_LONG_AGO), 3600
    )
    assert decision.previous_failed


@pytest.mark.parametrize(
    ("record", "boot", "done"),
    [
        (None, None, True),
        (rec(S.OK, 10), BOOTED_LONG_AGO, True),
        (StatusRecord(S.REBOOT_REQUIRED, 946684800.0, 946684800.0), NOW - 100, True),  # 1999/2000
        (StatusRecord(S.REBOOT_REQUIRED, NOW, NOW), NOW - 100, False),
    ],
)
def test_reboot_performed(record: StatusRecord | None, boot: float | None, done: bool) -> None:
    assert reboot_done(record, legacy_boot(boot)) is done


BOOT_A = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
BOOT_B = "9e8d7c6b-5a49-4837-9261-50f4e3d2c1b0"


@pytest.mark.parametrize(
    ("now_boot", "done"),
    [
        # the same boot, though the wall clock now says it booted after the request
        # (the clock was corrected forward by more than the uptime): not a reboot
        (Boot(BOOT_A, NOW + 86400), False),
        (Boot(BOOT_A, BOOTED_LONG_AGO), False),
        # another boot, whatever the clock says: a reboot
        (Boot(BOOT_B, BOOTED_LONG_AGO), True),
        (Boot(BOOT_B, None), True),
        # a boot id that cannot be read proves nothing
        (Boot(None, NOW + 86400), False),
        (None, False),
    ],
)
def test_a_restart_is_a_changed_boot_not_clock_arithmetic(
    now_boot: Boot | None, done: bool
) -> None:
    """A forward clock jump larger than the uptime is not a reboot."""
    record = StatusRecord(S.REBOOT_REQUIRED, NOW - 600, NOW - 600, reboot_boot_id=BOOT_A)
    assert reboot_done(record, now_boot) is done
    expected = Action.START_CLIENT if done else Action.REBOOT_PENDING
    assert decide(record, NOW, now_boot, 3600).action is expected


@pytest.mark.parametrize("ahead", [1, 120, 299])
def test_skip_delta_0_forces_a_run_even_with_a_timestamp_a_little_ahead(ahead: int) -> None:
    """A status dated within the skew allowance ahead of now must not defeat 0."""
    record = StatusRecord(S.OK, NOW + ahead)
    assert decide(record, NOW, None, 0).action is Action.RUN_UPDATER


# ----- state files through the store and the decisions ---------------------------------


_CODES = st.one_of(
    st.sampled_from(["0", "1", "2", "3", "4", "5", "", " 0", "0 ", "00", "０"]),
    st.integers(0, 5),
    st.none(),
    st.lists(st.just("0"), max_size=2),
)
_STATUS_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "status": _CODES,
        "last_status_update": hostile.STAMPS,
        "reboot_requested_at": hostile.STAMPS,
        "extra": st.recursive(st.none() | st.integers() | st.text(max_size=5), st.lists),
    },
)
_STATUS_FILES = st.one_of(
    st.tuples(
        st.sampled_from([b"", b"\xef\xbb\xbf", b" ", b"\n"]),
        _STATUS_OBJECTS,
        st.sampled_from([b"", b"\n", b"}", b"garbage", b"\x00"]),
    ).map(lambda t: t[0] + json.dumps(t[1]).encode() + t[2]),
    st.binary(max_size=200),
)


@given(_STATUS_FILES, st.floats(min_value=0, max_value=30 * 86400), st.integers(0, 10**6))
@settings(max_examples=300)
def test_only_a_true_recent_ok_skips_the_updater(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes, uptime: float, skip_delta: int
) -> None:
    directory = tmp_path_factory.mktemp("state")
    (directory / "sdw-update-status").write_bytes(raw)
    record = StatusStore(directory).read_status(hostile.NOW)
    boot = hostile.NOW - uptime
    decision = freshness.decide(record, hostile.NOW, Boot(None, boot), skip_delta)
    if decision.action is freshness.Action.RUN_UPDATER:
        return
    # Anything but "run the updater" must rest on a file that says so plainly.
    data = json.loads(raw.decode("utf-8"))
    assert isinstance(data, dict)
    written = hostile.oracle_time(data["last_status_update"])
    assert written is not None
    if decision.action is freshness.Action.START_CLIENT:
        assert data["status"] in ("0", "2")
        assert hostile.NOW - written < skip_delta
        if data["status"] == "2" or "reboot_requested_at" in data:
            assert boot >= (hostile.oracle_time(data.get("reboot_requested_at")) or written)
    else:  # REBOOT_PENDING: a reboot was asked for and dom0 has not booted since
        assert data["status"] in ("0", "1", "2", "3", "4")
        assert data["status"] == "2" or "reboot_requested_at" in data


@given(_STATUS_FILES)
def test_a_pending_reboot_is_never_lost(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    """Status "2" with a sound timestamp and no boot since: always "reboot pending"."""
    directory = tmp_path_factory.mktemp("state")
    (directory / "sdw-update-status").write_bytes(raw)
    record = StatusStore(directory).read_status(hostile.NOW)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return
    if not (isinstance(data, dict) and data.get("status") == "2"):
        return
    written = hostile.oracle_time(data.get("last_status_update"))
    if written is None:
        return
    requested = hostile.oracle_time(data.get("reboot_requested_at")) or written
    boot = min(written, requested) - 60  # dom0 booted before the reboot was asked for
    decision = freshness.decide(record, hostile.NOW, Boot(None, boot), 0)
    assert decision.action is freshness.Action.REBOOT_PENDING
