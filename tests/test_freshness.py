"""The freshness decision as a table (anchor behaviours §1, weak spots fixed)."""

from __future__ import annotations

import pytest

from sdw_updater.contract import UpdateStatus
from sdw_updater.freshness import Action, decide, reboot_done
from sdw_updater.status import StatusRecord

NOW = 2_000_000_000.0
HOUR = 3600.0
S = UpdateStatus


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
    decision = decide(record, NOW, boot, delta)
    assert decision.action is action, decision.reason
    assert decision.record_ok is record_ok


def test_previous_failure_is_reported_with_pending_reboot() -> None:
    decision = decide(rec(S.FAILED, 60, reboot_at=NOW - 60), NOW, BOOTED_LONG_AGO, 3600)
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
    assert reboot_done(record, boot) is done
