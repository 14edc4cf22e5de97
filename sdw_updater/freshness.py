"""The freshness decision: start the client, run the updater, or ask for a reboot.

A pure function of the recorded state and the clock.  It follows the
existing updater's rules, with their weak spots closed: an untrusted or
missing state always means "run"; a reboot that has not happened yet is
never answered by running the updates again; a reboot that did happen does
not extend the freshness interval.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sdw_updater.contract import UpdateStatus
from sdw_updater.status import StatusRecord

DEFAULT_SKIP_DELTA = 28800


class Action(enum.Enum):
    """What the launcher should do next."""

    START_CLIENT = "start_client"
    RUN_UPDATER = "run_updater"
    REBOOT_PENDING = "reboot_pending"


@dataclass(frozen=True)
class Decision:
    """The decision, why, and a status to record first (if any).

    ``record_ok`` is set when a requested reboot is found to have happened:
    the status then turns back to "0", keeping the original timestamp so the
    reboot does not make the workstation look fresher than its updates.
    """

    action: Action
    reason: str
    record_ok: bool = False
    previous_failed: bool = False


def reboot_done(record: StatusRecord | None, boot_time: float | None) -> bool:
    """True unless a reboot was requested and dom0 has not booted since.

    An unknown boot time cannot prove a reboot happened, so it counts as
    "not done" when a reboot is pending.
    """
    if record is None or record.reboot_requested_at is None:
        return True
    if boot_time is None:
        return False
    return boot_time >= record.reboot_requested_at


def decide(
    record: StatusRecord | None,
    now: float,
    boot_time: float | None,
    skip_delta: int,
) -> Decision:
    """Decide what the launcher does, from trusted-or-None state and the clock."""
    if record is None:
        return Decision(Action.RUN_UPDATER, "no trustworthy status recorded")
    if not reboot_done(record, boot_time):
        return Decision(
            Action.REBOOT_PENDING,
            "a reboot requested earlier has not happened yet",
            previous_failed=record.status is UpdateStatus.FAILED,
        )
    rebooted = record.reboot_requested_at is not None
    status = record.status
    if status is UpdateStatus.REBOOT_REQUIRED and rebooted:
        status = UpdateStatus.OK
    if status is not UpdateStatus.OK:
        return Decision(Action.RUN_UPDATER, f"last status is {status.name}", record_ok=False)
    age = now - record.timestamp
    if age >= skip_delta:
        return Decision(
            Action.RUN_UPDATER,
            f"last update {int(age)} s ago, interval {skip_delta} s",
            record_ok=rebooted,
        )
    return Decision(Action.START_CLIENT, f"up to date ({int(age)} s ago)", record_ok=rebooted)


def is_due(
    record: StatusRecord | None, now: float, boot_time: float | None, skip_delta: int
) -> bool:
    """Would a launch run the updater (as opposed to start the client or ask for a reboot)?"""
    return decide(record, now, boot_time, skip_delta).action is Action.RUN_UPDATER
