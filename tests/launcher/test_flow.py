"""The window's state machine (``launcher/flow.py``), without Qt: screens, buttons, exit codes.

Every outcome has a screen and an exit code, every screen starts with a
safe button; from the notifier the update starts at once; an owed restart,
from the engine or the status file, survives Try again and a later success.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from launcher.flow import BASE_BUTTONS, SAFE_BUTTONS, Busy, Button, Flow, Origin, RunSummary, Screen
from sdw_updater.contract import ExitCode
from sdw_updater.freshness import Action

OK = RunSummary(ExitCode.OK)
FAILED = RunSummary(ExitCode.FAILED)
FAILED_AFTER_DOM0 = RunSummary(ExitCode.FAILED, dom0_updated=True)


def test_flow_never_imports_qt() -> None:
    code = "import sys, launcher.flow; print(sorted(m for m in sys.modules if 'Qt' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_opening_screens() -> None:
    assert Flow.opening(Action.RUN_UPDATER, Origin.ICON).screen is Screen.INTRO
    pending = Flow.opening(Action.REBOOT_PENDING, Origin.ICON)
    assert pending.screen is Screen.REBOOT and pending.restart_owed
    assert pending.exit_code is ExitCode.REBOOT_REQUIRED
    locked = Flow.opening(Action.RUN_UPDATER, Origin.ICON, other_updater=True)
    assert locked.screen is Screen.LOCKED
    assert locked.buttons() == (Button.CLOSE,)
    assert locked.exit_code is ExitCode.LOCKED
    assert not locked.start_updates()  # nothing may run beside another updater


def test_from_the_notifier_the_update_starts_at_once() -> None:
    flow = Flow.opening(Action.RUN_UPDATER, Origin.NOTIFIER)
    assert flow.starts_at_once
    assert flow.start_updates()
    assert not flow.starts_at_once
    assert Flow.opening(Action.RUN_UPDATER, Origin.ICON).starts_at_once is False
    # A restart still owed is honoured, not answered with an update.
    assert not Flow.opening(Action.REBOOT_PENDING, Origin.NOTIFIER).starts_at_once


def test_a_healthy_run_then_continue() -> None:
    flow = Flow()
    assert flow.exit_code is ExitCode.FAILED  # closing the introduction: nothing ran
    assert flow.start_updates()
    assert flow.busy is Busy.UPDATE and not flow.may_close
    assert not flow.start_updates()  # one run at a time
    assert flow.run_ended(OK) is Screen.COMPLETE
    assert flow.exit_code is ExitCode.CLIENT_FAILED  # closed without Continue
    assert flow.start_client()
    assert flow.client_ended(True) is Screen.COMPLETE
    assert flow.exit_code is ExitCode.OK


def test_client_failure_and_retry_starts_the_client_again() -> None:
    flow = Flow()
    flow.start_updates()
    flow.run_ended(OK)
    flow.start_client()
    assert flow.client_ended(False) is Screen.CLIENT_FAILED
    assert not flow.retry_runs_updates()
    assert flow.start_client()
    assert flow.exit_code is ExitCode.CLIENT_FAILED


def test_the_owed_restart_survives_try_again_and_a_later_success() -> None:
    flow = Flow()
    flow.start_updates()
    assert flow.run_ended(FAILED_AFTER_DOM0) is Screen.FAILED
    assert Button.RESTART in flow.buttons()
    assert flow.buttons()[0] in SAFE_BUTTONS
    # Try again: dom0 has nothing left to install, the run fails elsewhere.
    assert flow.start_updates()
    assert flow.run_ended(FAILED) is Screen.FAILED
    assert Button.RESTART in flow.buttons()
    # A network problem on the third try: still offered.
    flow.start_updates()
    assert flow.run_ended(RunSummary(ExitCode.NETWORK)) is Screen.NETWORK
    assert Button.RESTART in flow.buttons()
    # Finally all is well: SecureDrop must not start on the old dom0.
    flow.start_updates()
    assert flow.run_ended(OK) is Screen.REBOOT
    assert not flow.start_client()
    assert flow.exit_code is ExitCode.REBOOT_REQUIRED


@pytest.mark.parametrize(
    "summary",
    [RunSummary(ExitCode.FAILED, reboot_owed=True), RunSummary(ExitCode.TRUST)],
)
def test_an_owed_restart_comes_from_the_engine_or_the_status_file(summary: RunSummary) -> None:
    flow = Flow()
    flow.start_updates()
    flow.run_ended(summary, owed_on_disk=summary.outcome is ExitCode.TRUST)
    assert flow.restart_owed and Button.RESTART in flow.buttons()


def test_restart_now_and_its_failure() -> None:
    flow = Flow()
    flow.start_updates()
    flow.run_ended(FAILED_AFTER_DOM0)
    assert flow.start_restart()
    assert flow.busy is Busy.REBOOT and not flow.may_close
    flow.restart_ended(False)  # could not restart: the failure screen stays as it was
    assert flow.exit_code is ExitCode.FAILED
    assert flow.start_restart()
    flow.restart_ended(True)
    assert flow.exit_code is ExitCode.REBOOT_REQUIRED


def test_no_restart_offered_when_none_is_owed() -> None:
    flow = Flow()
    flow.start_updates()
    flow.run_ended(FAILED)
    assert Button.RESTART not in flow.buttons()
    assert not flow.start_restart()


@pytest.mark.parametrize("outcome", list(ExitCode))
def test_every_outcome_has_a_screen_and_its_exit_code(outcome: ExitCode) -> None:
    flow = Flow()
    flow.start_updates()
    screen = flow.run_ended(RunSummary(outcome))
    if outcome is ExitCode.USAGE:
        assert screen is Screen.FAILED  # never from a run; a failure if it ever came
    else:
        assert flow.exit_code is (ExitCode.CLIENT_FAILED if outcome is ExitCode.OK else outcome)
    assert flow.buttons() and flow.buttons()[0] in SAFE_BUTTONS


def test_every_screen_starts_with_a_safe_button() -> None:
    for screen, buttons in BASE_BUTTONS.items():
        if buttons:
            assert buttons[0] in SAFE_BUTTONS, screen
        assert not (set(buttons) & {Button.START, Button.RETRY, Button.RESTART} & SAFE_BUTTONS)
