"""The updater's window: what a journalist sees when updates are due.

``flow.py`` decides (screens, buttons, exit codes, the owed restart);
``pages.py`` draws the screens; this module wires them to the engine and
to the desktop:

* Nothing slow runs on the UI thread (``worker.py``): the window keeps
  repainting and its clock ticks throughout.
* While something runs the window cannot be closed (close button, Esc,
  Alt+F4): it says why instead.  Closing mid-update broke workstations.
* Enter never starts an update or restarts the computer: those buttons are
  not "default" buttons and never have the focus when a screen opens.
* It fits the screen it opens on: at most the available geometry, opened
  centred, resizable; the screens' bodies scroll inside it.
* One window at a time (``single.py``): it holds the updater lock from
  before its first screen, and comes to the front when launched again.

Entry point: :func:`run_wizard`, called by ``launcher/entry.py``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher import messages, qtapp, single, style
from launcher import strings as S
from launcher.estimate import usual_duration
from launcher.flow import Busy, Button, Flow, Origin, RunSummary, Screen
from launcher.pages import DETAILS_MAX_LINES, IntroPage, OutcomePage, ProgressPage
from launcher.qt import (
    QClipboard,
    QCloseEvent,
    QCursor,
    QEventLoop,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QRect,
    QShortcut,
    QShowEvent,
    QStackedWidget,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    pyqtSignal,
)
from launcher.widgets import display_path, scaled, text_label
from launcher.worker import CallWorker, EventPump, RunWorker
from sdw_updater import diagnostics, freshness, lastrun, process, settings
from sdw_updater.context import Context
from sdw_updater.contract import DETAIL_LOG, UPDATER_LOG, ExitCode
from sdw_updater.freshness import Decision
from sdw_updater.lastrun import LastRun, Retry
from sdw_updater.lock import Lock
from sdw_updater.result import RunResult

__all__ = ["DETAILS_MAX_LINES", "Wizard", "run_wizard"]

log = logging.getLogger("sdw.launcher.wizard")

# The size the window asks for, in device-independent pixels for the
# reference font (``widgets.scaled`` grows them with a larger font); never
# more than the screen's available geometry, which the bodies scroll within.
WIDTH = 660
HEIGHT = 540
DETAILS_HEIGHT = 230
MIN_WIDTH = 420
MIN_HEIGHT = 320
# Room left on the screen for a window manager's frame and title bar.
FRAME_ALLOWANCE = 40
TICK_MS = 40  # UI refresh while a run is under way (25 frames a second)


def key_notice_days(state_directory: Path) -> int:
    """How close the signing key's expiry is shown to journalists (days; settings.py).

    Before that it is a notice for the administrator (and always in the logs).
    """
    return settings.load(state_directory).key_notice_days


class Wizard(QWidget):
    """The whole window.  Tests build it directly with a context and a decision.

    ``exit_code`` always holds the code the process should exit with if the
    window closed now; ``closed`` is emitted once, with it, when it closes.
    """

    closed = pyqtSignal(int)

    def __init__(
        self,
        ctx: Context,
        decision: Decision,
        skip_netcheck: bool = False,
        parent: QWidget | None = None,
        *,
        origin: Origin = Origin.ICON,
        lock: Lock | None = None,
        other_updater: str | None = None,
        lock_refusal: str | None = None,
        notice_days: int = settings.DEFAULT_KEY_NOTICE_DAYS,
        retry: Retry | None = None,
    ) -> None:
        super().__init__(parent)
        # --retry-failed: the first run retries the last recorded one.
        self.first_retry = retry
        # The summary of the last run of this window (lastrun.py): what every
        # outcome screen shows, what "Try again" retries, what "Copy details" copies.
        self.summary: LastRun | None = None
        self.ctx = ctx
        self.decision = decision
        self.skip_netcheck = skip_netcheck
        self.lock = lock
        self.other_updater = other_updater
        # The lock file cannot be used: what is wrong with it, with its path.
        self.lock_refusal = lock_refusal
        self.notice_days = notice_days
        self.flow = Flow.opening(
            decision.action, origin, other_updater is not None, lock_refusal is not None
        )
        self.result: RunResult | None = None
        self.run_worker: RunWorker | None = None
        self.call_worker: CallWorker | None = None
        self.pump = EventPump()
        self.run_started = 0.0
        self.log_path = display_path(ctx.log_dir / UPDATER_LOG)
        self._done = False
        self._terminating = False
        self._placed = False
        self._fitted_details = False
        now = time.time()
        self.expected_total = usual_duration(ctx.store.directory)
        last = ctx.store.read_last_updated(now)

        self.setWindowTitle(S.tr(S.WINDOW_TITLE))
        self.setWindowIcon(qtapp.window_icon())
        self.setWindowFlags(
            Qt.WindowType.Window
            | Qt.WindowType.CustomizeWindowHint
            | Qt.WindowType.WindowTitleHint
            | Qt.WindowType.WindowMinimizeButtonHint
            | Qt.WindowType.WindowMaximizeButtonHint
            | Qt.WindowType.WindowCloseButtonHint
        )
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 14, 14, 14)
        self.banner = text_label(S.tr(S.ALREADY_OPEN))
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet(style.NOTICE_STYLE)
        self.banner.hide()
        outer.addWidget(self.banner)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack)

        self.intro = IntroPage(self.expected_total, None if last is None else now - last)
        self.intro.start_button.clicked.connect(self.start_updates)
        self.intro.cancel_button.clicked.connect(self.request_close)
        self.stack.addWidget(self.intro)
        self.progress = self._new_progress_page()
        self.outcomes: dict[Screen, OutcomePage] = {}
        for screen in (s for s in Screen if s not in (Screen.INTRO, Screen.PROGRESS)):
            page = OutcomePage(screen)
            for role, button in page.buttons.items():
                button.clicked.connect(self._action(role))
            page.copy_requested.connect(self.copy_details)
            self.outcomes[screen] = page
            self.stack.addWidget(page)

        # Esc asks to close, like the close button (and is refused the same
        # way), wherever the focus is: in a scrolled body too.
        self.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.escape.setContext(Qt.ShortcutContext.WindowShortcut)
        self.escape.activated.connect(self.request_close)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._fit(details=False)
        self._show_screen()
        if self.flow.starts_at_once:
            QTimer.singleShot(0, self.start_updates)

    # ----- what is shown ----------------------------------------------------

    @property
    def page(self) -> str:
        """The name of the screen shown now (``intro``, ``progress``, or an outcome)."""
        current = self.stack.currentWidget()
        return current.objectName() if current is not None else ""

    @property
    def busy(self) -> str | None:
        return None if self.flow.busy is None else str(self.flow.busy)

    @property
    def exit_code(self) -> int:
        return int(self.flow.exit_code)

    def _action(self, role: Button) -> Callable[[], None]:
        actions: dict[Button, Callable[[], None]] = {
            Button.CONTINUE: self.start_client,
            Button.RESTART: self.reboot,
            Button.LATER: self.request_close,
            Button.CLOSE: self.request_close,
            Button.RETRY: self.retry,
        }
        return actions[role]

    def _show_screen(self, result: RunResult | None = None) -> None:
        """Show the flow's screen, with its texts and its buttons."""
        screen = self.flow.screen
        log.info("Window: screen %s", screen)
        if screen is Screen.INTRO:
            self.intro.cancel_note.setVisible(self.flow.origin is Origin.ICON)
            self._show(self.intro)
            self.intro.focus_first()
            return
        if screen is Screen.PROGRESS:
            self._show(self.progress)
            return
        page = self.outcomes[screen]
        text = messages.outcome_text(
            self.flow, result, self.decision.previous_failed, self.other_updater, self.lock_refusal
        )
        admin, journalist = messages.notices(result, self.progress.warnings, self.notice_days)
        summary = messages.summary_text(self.summary)
        help_text, fixes = "", list[str]()
        body = text.body
        if screen not in (Screen.COMPLETE, Screen.REBOOT):
            help_text, fixes = messages.help_text(self.summary)
        plan = self._retry_plan()
        if screen is Screen.FAILED and plan is not None and plan.templates is not None:
            body = messages.paragraphs(body, S.tr(S.RETRY_ONLY_FAILED))
        page.fill(
            body,
            technical=text.technical,
            log_path=self.log_path if text.show_log else "",
            admin_notices=admin,
            journalist_notices=journalist,
            summary=summary,
            help_text=help_text,
            fixes=fixes,
            can_copy=self.summary is not None and screen is not Screen.COMPLETE,
        )
        page.set_buttons(self.flow.buttons())
        self._show(page)
        page.focus_first()

    def _show(self, page: QWidget) -> None:
        self.stack.setCurrentWidget(page)
        details = page is self.progress and self.progress.details_button.expanded
        if details != self._fitted_details:
            self._fit(details)

    # ----- size and place -----------------------------------------------------

    def available_area(self) -> QRect:
        """The free area of the screen the window is (or will be) on."""
        screen = self.screen() if self._placed else None
        if screen is None:
            screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else QRect(0, 0, 1024, 700)

    def _fit(self, details: bool) -> None:
        """As large as the screen wants, never larger than the screen; resizable.

        Called when the window is made and when the details pane opens or
        closes: otherwise the size is the journalist's to choose.
        """
        self._fitted_details = details
        area = self.available_area()
        most_w = max(200, area.width())
        most_h = max(200, area.height() - FRAME_ALLOWANCE)
        self.setMinimumSize(min(scaled(MIN_WIDTH), most_w), min(scaled(MIN_HEIGHT), most_h))
        wanted_w = scaled(WIDTH)
        wanted_h = scaled(HEIGHT + (DETAILS_HEIGHT if details else 0))
        if self._placed:
            wanted_w = max(wanted_w, self.width())
        self.resize(min(wanted_w, most_w), min(wanted_h, most_h))
        if self._placed:
            # Keep it on the screen when it grew.
            geometry = self.frameGeometry()
            top = min(geometry.top(), area.bottom() - geometry.height() + 1)
            left = min(geometry.left(), area.right() - geometry.width() + 1)
            self.move(max(area.left(), left), max(area.top(), top))

    def centre(self) -> None:
        """Put the window in the middle of the free area of its screen."""
        area = self.available_area()
        self.move(
            area.left() + (area.width() - self.width()) // 2,
            area.top() + (area.height() - self.height()) // 2,
        )

    def showEvent(self, event: QShowEvent | None) -> None:
        if not self._placed:
            self.centre()
            self._placed = True
        super().showEvent(event)

    def bring_to_front(self) -> None:
        """Another launch asked for the window: show it on top and say so."""
        log.info("Window: brought to the front at the request of another sdw-updater")
        self.banner.show()
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()

    # ----- the update run -----------------------------------------------------

    def _new_progress_page(self) -> ProgressPage:
        page = ProgressPage(
            display_path(self.ctx.log_dir / DETAIL_LOG), self.flow.origin is Origin.NOTIFIER
        )
        page.details_toggled.connect(self._details_toggled)
        self.stack.addWidget(page)
        return page

    def _details_toggled(self, shown: bool) -> None:
        self._fit(details=shown)
        log.info("Window: details %s", "shown" if shown else "hidden")

    def _retry_plan(self) -> Retry | None:
        """What "Try again" would run now: only what failed (None: a full run)."""
        return lastrun.retry_plan(self.summary) if self.summary is not None else None

    def retry(self) -> None:
        if self.flow.retry_runs_updates():
            plan = self._retry_plan()
            if plan is not None:
                log.info("Wizard: try again, %s", plan.describe())
            self._start_run(plan)
        else:
            self.start_client()

    def copy_details(self) -> None:
        """Put the diagnostics text on the clipboard (nothing secret in it: diagnostics.py)."""
        if self.summary is None or self.flow.screen not in self.outcomes:
            return
        text = diagnostics.text(self.summary, diagnostics.facts_for(self.ctx))
        clipboard = QGuiApplication.clipboard()
        if clipboard is None:
            return
        clipboard.setText(text, QClipboard.Mode.Clipboard)
        if clipboard.supportsSelection():
            clipboard.setText(text, QClipboard.Mode.Selection)
        admin = self.outcomes[self.flow.screen].admin
        admin.copied.setText(S.tr(S.COPIED))
        admin.copied.show()
        log.info("Window: details copied (%d lines)", text.count("\n"))

    def start_updates(self) -> None:
        """Start updates (the button's slot: Qt passes it nothing we use)."""
        self._start_run(None)

    def _start_run(self, retry: Retry | None) -> None:
        """Start a run (also "Try again", then maybe only what failed) with the window's lock."""
        if self.run_worker is not None and self.flow.busy is None:
            self.run_worker.wait()
        if not self.flow.start_updates():
            return
        old = self.progress
        self.progress = self._new_progress_page()
        if self.stack.indexOf(old) >= 0:
            self.stack.removeWidget(old)
            old.deleteLater()
        if retry is None and self.first_retry is not None and self.flow.runs == 1:
            retry = self.first_retry
            log.info("Wizard: --retry-failed, %s", retry.describe())
        self.result = None
        self.summary = None
        self.pump = EventPump()
        self.run_started = time.monotonic()
        self._show_screen()
        self.progress.details_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self.progress.show_times(0.0, self.expected_total)
        log.info("Wizard: starting the updates")
        worker = RunWorker(
            self.ctx, self.skip_netcheck, self.pump, self, lock=self.lock, retry=retry
        )
        worker.result_ready.connect(self._on_result)
        self.run_worker = worker
        self.timer.start()
        worker.start()

    def _tick(self) -> None:
        """Drain the engine's events, ease the bar, tick the clock (UI thread)."""
        self.progress.handle_all(self.pump.drain())
        self.progress.animate()
        self.progress.show_times(time.monotonic() - self.run_started, self.expected_total)

    def _on_result(self, result: RunResult) -> None:
        self.progress.handle_all(self.pump.drain())
        self.timer.stop()
        self.progress.finish()
        log.info("Wizard: run ended %s", result.outcome.name)
        self.show_result(result)
        self._end_if_terminating()

    def show_result(self, result: RunResult) -> None:
        """The outcome screen for an engine result, in plain words."""
        self.result = result
        self.summary = lastrun.summarize(result) if result.steps else None
        if self.flow.busy is None:
            self.flow.busy = Busy.UPDATE  # a result shown directly (tests, screenshots)
        self.flow.run_ended(
            RunSummary(result.outcome, result.dom0_updated, result.reboot_owed),
            owed_on_disk=self._restart_owed_on_disk(),
        )
        self._show_screen(result)

    def _restart_owed_on_disk(self) -> bool:
        """The status file records a restart asked for and not yet done."""
        record = self.ctx.store.read_status(self.ctx.host.now())
        if record is None or record.reboot_requested_at is None:
            return False
        return not freshness.reboot_done(record, self.ctx.host.boot())

    # ----- the client and the reboot -------------------------------------------

    def start_client(self) -> None:
        """Continue: start the SecureDrop client off the UI thread, then close."""
        if not self.flow.start_client():
            return
        page = self.outcomes[self.flow.screen]
        page.set_enabled(False)
        page.set_status(S.tr(S.COMPLETE_STARTING))
        self._call(self.ctx.host.start_client, self._on_client)

    def _on_client(self, value: Any, error: str | None) -> None:
        ok = bool(getattr(value, "ok", False))
        message = getattr(value, "message", "") or error or ""
        self.flow.client_ended(ok)
        if ok:
            self.close()
            return
        log.error("Wizard: the client did not start: %s", message)
        self.result = RunResult(ExitCode.CLIENT_FAILED, str(message))
        self._show_screen(self.result)

    def reboot(self) -> None:
        """Restart now, through the host seam, off the UI thread."""
        if not self.flow.start_restart():
            return
        page = self.outcomes[self.flow.screen]
        page.set_enabled(False)
        page.set_status(S.tr(S.REBOOT_STARTING))
        self._call(self.ctx.host.reboot, self._on_reboot)

    def _on_reboot(self, value: Any, error: str | None) -> None:
        page = self.outcomes[self.flow.screen]
        ok = error is None and bool(getattr(value, "ok", False))
        self.flow.restart_ended(ok)
        if ok:
            self.close()  # dom0 is going down; exit 3: the client was not started
            return
        reason = error or (value.describe() if value is not None else "")
        log.error("Wizard: reboot failed: %s", reason)
        page.set_enabled(True)
        page.set_status(S.tr(S.REBOOT_FAILED, reason=reason), error=True)

    def _call(self, call: Callable[[], Any], done: Callable[[Any, str | None], None]) -> None:
        if self.call_worker is not None:
            self.call_worker.wait()
        worker = CallWorker(call, self)

        def finished(value: Any, error: object) -> None:
            done(value, None if error is None else str(error))
            self._end_if_terminating()

        worker.call_done.connect(finished)
        self.call_worker = worker
        worker.start()

    # ----- closing ------------------------------------------------------------

    def terminate(self) -> None:
        """SIGTERM: stop the running tools, let the run record its end, then close.

        The engine's tools run in sessions of their own and do not get the
        signal; ``process.stop_all`` ends them, the runner then fails its step,
        records the status (an owed restart included) and returns, and the
        window closes with the exit code of what happened.
        """
        log.warning("Wizard: asked to stop (SIGTERM)")
        self._terminating = True
        process.stop_all()
        if self.flow.busy is None:
            self.close()

    def _end_if_terminating(self) -> None:
        if self._terminating:
            self.close()

    def request_close(self) -> None:
        """Close (a button's action); refused like the close button while busy."""
        self.close()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Refuse while something runs (say why); otherwise report the exit code."""
        if event is None:
            return
        if not self.flow.may_close and not (self._terminating and self.flow.busy is None):
            event.ignore()
            self._refuse_close()
            return
        event.accept()
        if not self._done:
            self._done = True
            for worker in (self.run_worker, self.call_worker):
                if worker is not None:
                    worker.wait(5000)
            log.info("Wizard: closed, exit code %d", self.exit_code)
            self.closed.emit(self.exit_code)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        """Esc that reached the window itself (the shortcut needs an active window)."""
        if event is not None and event.key() == Qt.Key.Key_Escape:
            event.accept()
            self.close()
            return
        super().keyPressEvent(event)

    def _refuse_close(self) -> None:
        log.info("Wizard: refused to close while busy (%s)", self.flow.busy)
        if self.flow.busy is Busy.UPDATE:
            self.progress.refuse_close()
        elif self.flow.screen in self.outcomes:
            self.outcomes[self.flow.screen].set_status(S.tr(S.BUSY_CLOSE_REFUSED))


def show_outcome(ctx: Context, decision: Decision, result: RunResult) -> int:
    """The window on one outcome screen (nothing runs); its exit code when it closes.

    For what the launcher finds before any run: Qubes in the middle of an
    in-place upgrade on a workstation that is otherwise fresh.
    """
    if not qtapp.has_display():
        return int(result.outcome)
    app = qtapp.application()
    state = ctx.store.directory
    lock, server = _take_lock_and_listen(state)
    # A lock file that cannot be used has no holder, and so no window to raise.
    if lock.fd is None and lock.problem is None and _raised_the_running_window(state):
        return int(ExitCode.LOCKED)
    wizard = Wizard(ctx, decision, notice_days=key_notice_days(state))
    wizard.show_result(result)
    qtapp.on_terminate(wizard.close)
    code = _until_closed(wizard, server, lock)
    app.processEvents()
    return code


def _take_lock_and_listen(state: Path) -> tuple[Lock, single.WindowServer | None]:
    """The updater lock and, at once, the socket a second launch asks to raise the window.

    Listening comes before the window is built: a double click's second
    launch arrives while the first builds its window, and must find it
    answering, not a lock held with nobody listening (it would then show a
    second window).  Requests that arrive before the window exists wait in
    the socket until Qt's loop runs; they are answered once it is shown.
    A lock not taken (``fd`` None) comes with no socket: this window holds
    nothing a second launch could be sent to.
    """
    lock = single.take_lock(state)
    if lock.fd is None:
        return lock, None
    return lock, single.WindowServer(state)


def _raised_the_running_window(state: Path) -> bool:
    """Ask the window that holds the lock to come to the front; True when it did."""
    if not single.ask_running_window_to_raise(state):
        return False
    log.info("Another updater is already running: its window was brought to the front")
    print(
        "sdw-updater: another updater is already running; its window was brought to the front.",
        file=sys.stderr,
    )
    return True


def _until_closed(wizard: Wizard, server: single.WindowServer | None, lock: Lock | None) -> int:
    """Show the window in front and run Qt's loop until it closes; its exit code.

    While the window holds the updater lock it answers a second launch's
    "raise" (``server``); the lock is released when it closes.
    """
    if server is not None:
        server.raise_requested.connect(wizard.bring_to_front)
    loop = QEventLoop()
    wizard.closed.connect(loop.quit)
    try:
        wizard.show()
        wizard.raise_()
        wizard.activateWindow()
        loop.exec()
        return wizard.exit_code
    finally:
        if server is not None:
            server.server.close()
        if lock is not None:
            lock.release()


def run_wizard(
    ctx: Context,
    decision: Decision,
    skip_netcheck: bool,
    origin: Origin = Origin.ICON,
    retry_failed: bool = False,
) -> int:
    """Show the window until it closes; return the process exit code.

    The codes are the contract's (docs/contract.md, "Exit codes").

    ``retry_failed`` (``--retry-failed``): the first run retries only what
    the last recorded run failed, as ``--cli --retry-failed`` does.

    Without any display (an ssh session, a broken login) Qt would abort the
    process; the same flow then runs as text instead, with the same codes.
    """
    if not qtapp.has_display():
        log.warning("No display: running the text front end instead of the window")
        from sdw_updater.cli import run_cli

        return run_cli(ctx, decision, skip_netcheck, retry_failed=retry_failed)
    app = qtapp.application()
    state = ctx.store.directory
    retry: Retry | None = None
    if retry_failed:
        from sdw_updater.cli import retry_of_last_run

        retry, why = retry_of_last_run(ctx)
        log.info("--retry-failed: %s", why)
    lock, server = _take_lock_and_listen(state)
    opening: dict[str, Any]
    if lock.problem is not None:
        # Nobody holds it: the file cannot be used.  Not "another update is
        # running" (the journalist would wait for nothing), and no window to raise.
        refusal = lock.refusal()
        print(f"sdw-updater: {refusal}", file=sys.stderr)
        opening = {"lock_refusal": refusal}
    elif lock.fd is None:
        if _raised_the_running_window(state):
            return int(ExitCode.LOCKED)
        holder = single.describe_holder(state)
        log.warning("Another updater is already running: %s", holder or "unknown process")
        opening = {"other_updater": holder}
    else:
        opening = {"lock": lock, "retry": retry}
    wizard = Wizard(
        ctx, decision, skip_netcheck, origin=origin, notice_days=key_notice_days(state), **opening
    )
    qtapp.on_terminate(wizard.terminate)
    code = _until_closed(wizard, server, lock)
    app.processEvents()
    return code
