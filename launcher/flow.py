"""The window's screens, buttons and exit codes, as a state machine without Qt.

The window (``wizard.py``) draws whatever this says and forwards clicks and
engine results to it; everything that decides something lives here, so it
can be read in one place and tested without a display:

* which screen opens (introduction, a pending restart, "another updater is
  running", "the updater cannot start" when the lock file cannot be used,
  or straight into the update when the notifier asked for it);
* which outcome screen an engine result leads to, and which buttons it has;
* that a restart of dom0, once owed, is never lost: not across outcome
  screens, not across "Try again", not when a later run succeeds (then the
  window asks for the restart instead of starting SecureDrop);
* the process exit code (docs/contract.md, "Exit codes") if the window closed now.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sdw_updater.contract import ExitCode
from sdw_updater.freshness import Action


class Screen(enum.StrEnum):
    INTRO = "intro"
    PROGRESS = "progress"
    COMPLETE = "complete"
    REBOOT = "reboot"
    FAILED = "failed"
    NETWORK = "network"
    LOCKED = "locked"
    LOCK_UNUSABLE = "lock_unusable"
    DIST_UPGRADE = "dist_upgrade"
    TRUST = "trust"
    CLIENT_FAILED = "client_failed"


class Button(enum.StrEnum):
    START = "start"
    CANCEL = "cancel"
    CONTINUE = "continue"
    LATER = "later"
    RESTART = "reboot"
    RETRY = "retry"
    CLOSE = "close"


class Busy(enum.StrEnum):
    """Something runs: the window refuses to close until it ends."""

    UPDATE = "update"
    CLIENT = "client"
    REBOOT = "reboot"


class Origin(enum.Enum):
    """Who opened the window: the SecureDrop icon (or login), or the notifier's reminder."""

    ICON = "icon"
    NOTIFIER = "notifier"


# Buttons that may hold the focus and answer Enter.  The others start
# something long or drastic and need a click, their Alt shortcut, or Space
# on a button the journalist moved to on purpose.
SAFE_BUTTONS = frozenset({Button.CANCEL, Button.CONTINUE, Button.LATER, Button.CLOSE})

OUTCOME_SCREENS = {
    ExitCode.OK: Screen.COMPLETE,
    ExitCode.REBOOT_REQUIRED: Screen.REBOOT,
    ExitCode.FAILED: Screen.FAILED,
    ExitCode.NETWORK: Screen.NETWORK,
    ExitCode.LOCKED: Screen.LOCKED,
    ExitCode.DIST_UPGRADE: Screen.DIST_UPGRADE,
    ExitCode.TRUST: Screen.TRUST,
    ExitCode.CLIENT_FAILED: Screen.CLIENT_FAILED,
}

# The exit code when the window closes on a screen.  Closing the
# introduction leaves everything as it was and SecureDrop not started:
# "updates not done" (1).  Closing "complete" without Continue: the updates
# are fine but the app was not started (8).
SCREEN_EXIT = {
    Screen.INTRO: ExitCode.FAILED,
    Screen.PROGRESS: ExitCode.FAILED,
    Screen.COMPLETE: ExitCode.CLIENT_FAILED,
    Screen.REBOOT: ExitCode.REBOOT_REQUIRED,
    Screen.FAILED: ExitCode.FAILED,
    Screen.NETWORK: ExitCode.NETWORK,
    Screen.LOCKED: ExitCode.LOCKED,
    Screen.LOCK_UNUSABLE: ExitCode.LOCKED,
    Screen.DIST_UPGRADE: ExitCode.DIST_UPGRADE,
    Screen.TRUST: ExitCode.TRUST,
    Screen.CLIENT_FAILED: ExitCode.CLIENT_FAILED,
}

# Buttons of each screen, left to right; the first is the safe one that takes the focus.
BASE_BUTTONS: dict[Screen, tuple[Button, ...]] = {
    Screen.INTRO: (Button.CANCEL, Button.START),
    Screen.PROGRESS: (),
    Screen.COMPLETE: (Button.CONTINUE,),
    Screen.REBOOT: (Button.LATER, Button.RESTART),
    Screen.FAILED: (Button.CLOSE, Button.RETRY),
    Screen.NETWORK: (Button.CLOSE, Button.RETRY),
    Screen.LOCKED: (Button.CLOSE, Button.RETRY),
    # Only an administrator can mend the lock file: Try again would fail the same way.
    Screen.LOCK_UNUSABLE: (Button.CLOSE,),
    Screen.DIST_UPGRADE: (Button.CLOSE,),
    Screen.TRUST: (Button.CLOSE,),
    Screen.CLIENT_FAILED: (Button.CLOSE, Button.RETRY),
}

# Screens from which "Start updates" or "Try again" may start a run.
CAN_RUN_FROM = frozenset({Screen.INTRO, Screen.FAILED, Screen.NETWORK, Screen.LOCKED})


@dataclass(frozen=True)
class RunSummary:
    """What the flow needs from an engine result (``plan.RunResult``), nothing more."""

    outcome: ExitCode
    dom0_updated: bool = False
    reboot_owed: bool = False


@dataclass
class Flow:
    """Where the window is, what runs, and whether a restart is owed."""

    origin: Origin = Origin.ICON
    screen: Screen = Screen.INTRO
    busy: Busy | None = None
    restart_owed: bool = False
    # The restart was owed before this window opened (no run happened here).
    restart_pending_at_start: bool = False
    # Another updater held the lock when this window opened: nothing can run here.
    other_updater: bool = False
    # The lock file cannot be used (a directory or a FIFO in its place, ...):
    # no updater can run until an administrator mends it.
    lock_unusable: bool = False
    client_started: bool = False
    restart_chosen: bool = False
    runs: int = 0

    @classmethod
    def opening(
        cls,
        action: Action,
        origin: Origin,
        other_updater: bool = False,
        lock_unusable: bool = False,
    ) -> Flow:
        """The first screen for the launcher's decision (no run starts here).

        The lock comes first: a window that cannot hold it can run nothing,
        and says why before anything else.
        """
        if lock_unusable:
            return cls(origin, Screen.LOCK_UNUSABLE, lock_unusable=True)
        if other_updater:
            return cls(origin, Screen.LOCKED, other_updater=True)
        if action is Action.REBOOT_PENDING:
            return cls(origin, Screen.REBOOT, restart_owed=True, restart_pending_at_start=True)
        return cls(origin, Screen.INTRO)

    @property
    def starts_at_once(self) -> bool:
        """The journalist already chose to update (in the reminder): no second confirmation."""
        return self.origin is Origin.NOTIFIER and self.screen is Screen.INTRO

    # ----- the update run ---------------------------------------------------------

    def start_updates(self) -> bool:
        """Start (or retry) a run; False when nothing may start now."""
        blocked = self.other_updater or self.lock_unusable
        if self.busy is not None or blocked or self.screen not in CAN_RUN_FROM:
            return False
        self.screen = Screen.PROGRESS
        self.busy = Busy.UPDATE
        self.runs += 1
        return True

    def run_ended(self, result: RunSummary, owed_on_disk: bool = False) -> Screen:
        """The outcome screen for a run's result; a restart once owed stays owed."""
        self.busy = None
        self.restart_owed = (
            self.restart_owed or result.dom0_updated or result.reboot_owed or owed_on_disk
        )
        screen = OUTCOME_SCREENS.get(result.outcome, Screen.FAILED)
        if screen is Screen.COMPLETE and self.restart_owed:
            # The updates are fine, but dom0 changed in an earlier run of this
            # window and has not restarted: SecureDrop must not start on it.
            screen = Screen.REBOOT
        self.screen = screen
        return screen

    # ----- starting the app, restarting -------------------------------------------

    def start_client(self) -> bool:
        if self.busy is not None or self.screen not in (Screen.COMPLETE, Screen.CLIENT_FAILED):
            return False
        self.busy = Busy.CLIENT
        return True

    def client_ended(self, ok: bool) -> Screen:
        self.busy = None
        self.client_started = ok
        if not ok:
            self.screen = Screen.CLIENT_FAILED
        return self.screen

    def start_restart(self) -> bool:
        if self.busy is not None or Button.RESTART not in self.buttons():
            return False
        self.busy = Busy.REBOOT
        self.restart_chosen = True
        return True

    def restart_ended(self, ok: bool) -> None:
        """A restart that could not be made leaves the screen and its buttons as they were."""
        self.busy = None
        self.restart_chosen = ok

    # ----- what the window shows ----------------------------------------------------

    def buttons(self) -> tuple[Button, ...]:
        """The buttons of the current screen, safe one first."""
        buttons = BASE_BUTTONS[self.screen]
        if self.screen is Screen.LOCKED and self.other_updater:
            buttons = (Button.CLOSE,)
        if self.restart_offered and Button.RESTART not in buttons:
            buttons = (*buttons, Button.RESTART)
        return buttons

    @property
    def restart_offered(self) -> bool:
        """A restart is owed and this outcome screen must offer it."""
        return self.restart_owed and self.screen not in (
            Screen.INTRO,
            Screen.PROGRESS,
            Screen.COMPLETE,
            Screen.CLIENT_FAILED,
        )

    def retry_runs_updates(self) -> bool:
        """ "Try again" starts the updates again (on "could not start", it starts the app)."""
        return self.screen is not Screen.CLIENT_FAILED

    @property
    def may_close(self) -> bool:
        return self.busy is None

    @property
    def exit_code(self) -> ExitCode:
        """The process exit code if the window closed now (docs/contract.md, "Exit codes")."""
        if self.client_started:
            return ExitCode.OK
        if self.restart_chosen:
            return ExitCode.REBOOT_REQUIRED
        return SCREEN_EXIT[self.screen]
