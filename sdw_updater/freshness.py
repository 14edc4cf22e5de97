"""The freshness decision: start the client, run the updater, or ask for a reboot.

A pure function of the recorded state and the clock.  It follows the
existing updater's rules, with their weak spots closed: an untrusted or
missing state always means "run"; a reboot that has not happened yet is
never answered by running the updates again; a reboot that did happen does
not extend the freshness interval.
"""

# No ``from __future__ import annotations`` here: under it typing.NamedTuple compiles
# every field's annotation string (about 0.2 ms a field, on the launcher's fast path).

import enum
from typing import NamedTuple

from sdw_updater.contract import UpdateStatus
from sdw_updater.host import Boot
from sdw_updater.status import StatusRecord

DEFAULT_SKIP_DELTA = 28800


class Action(enum.Enum):
    """What the launcher should do next."""

    START_CLIENT = "start_client"
    RUN_UPDATER = "run_updater"
    REBOOT_PENDING = "reboot_pending"


class Decision(NamedTuple):
    """The decision, why, and a status to record first (if any).

    ``record_ok`` is set when a requested reboot is found to have happened:
    the status then turns back to "0", keeping the original timestamp so the
    reboot does not make the workstation look fresher than its updates.
    """

    action: Action
    reason: str
    record_ok: bool = False
    previous_failed: bool = False


def reboot_done(record: StatusRecord | None, boot: Boot | None) -> bool:
    """True unless a reboot was requested and dom0 has not booted since.

    "Booted since" means another boot id than the one recorded with the
    request: the wall clock can jump (corrected after an early login) and
    ``now - uptime`` with it, the kernel's boot id cannot.  Only a request
    recorded without a boot id (by the existing updater) falls back to the
    boot time.  Anything unknown cannot prove a reboot, so it counts as
    "not done".
    """
    if record is None or record.reboot_requested_at is None:
        return True
    if boot is None:
        return False
    if record.reboot_boot_id is not None:
        return boot.boot_id is not None and boot.boot_id != record.reboot_boot_id
    if boot.booted_at is None:
        return False
    return boot.booted_at >= record.reboot_requested_at


def decide(
    record: StatusRecord | None,
    now: float,
    boot: Boot | None,
    skip_delta: int,
) -> Decision:
    """Decide what the launcher does, from trusted-or-None state and the clock."""
    if record is None:
        return Decision(Action.RUN_UPDATER, "no trustworthy status recorded")
    if not reboot_done(record, boot):
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
    # 0 forces a run whatever the timestamp says (one a little in the
    # future, within the clock-skew allowance, makes the age negative).
    if skip_delta == 0 or age >= skip_delta:
        return Decision(
            Action.RUN_UPDATER,
            f"last update {int(age)} s ago, interval {skip_delta} s",
            record_ok=rebooted,
        )
    return Decision(Action.START_CLIENT, f"up to date ({int(age)} s ago)", record_ok=rebooted)
