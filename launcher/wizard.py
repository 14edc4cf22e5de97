"""The preflight wizard: the window a journalist sees when updates are due.

Screens: an introduction (why, how long, what not to do), the progress of
the run (current step in plain words, one overall bar, a row per template,
elapsed time and time left, a details pane with live tool output), and one
screen per outcome (complete, restart required, failed, no network,
another updater running, Qubes upgrade in progress, security check failed,
client did not start).

Rules this window keeps, from what users of the old updater ran into:

* Nothing slow runs on the UI thread (see ``worker.py``); the window keeps
  repainting and its clock keeps ticking throughout.
* While updates run the window cannot be closed (close button, Esc,
  Alt+F4): it says why instead.  Closing mid-update broke workstations.
* Enter never starts an update or restarts the computer: those buttons are
  not "default" buttons and never have the focus when a screen opens.
* Every string the engine or a tool produced is shown as plain text, never
  as Qt rich text: tool output is untrusted input.
* The process exit code is the design's (§3): see ``EXIT_*`` below and
  ``docs/wizard.md``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QEventLoop, QSize, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QCloseEvent, QFont, QFontDatabase, QFontMetrics, QKeyEvent
from PyQt5.QtWidgets import (
    QApplication,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from launcher import strings as S
from launcher.estimate import SmoothValue, time_left
from launcher.worker import CallWorker, EventPump, PumpItem, RunWorker, Skipped
from sdw_updater import events as ev
from sdw_updater.context import Context
from sdw_updater.contract import ExitCode
from sdw_updater.freshness import Action, Decision
from sdw_updater.history import History
from sdw_updater.plan import RunResult

log = logging.getLogger("sdw.launcher.wizard")

# Window size in device-independent pixels: fixed, so the layout stays tidy
# at any scale factor (Qt scales the whole window under QT_SCALE_FACTOR=2).
# Sizes are for a 20 px line (12 pt DejaVu Sans); larger system fonts scale them up
# (see ``scaled``), so a big font never clips text in the fixed window.
WIDTH = 660
HEIGHT = 540
DETAILS_HEIGHT = 230
REFERENCE_LINE = 20.0
TICK_MS = 40  # UI refresh while a run is under way (25 frames a second)
DETAILS_MAX_LINES = 5000

# Exit codes (design §3).  Cancelling or closing before anything ran leaves
# the state untouched and the client not started: "updates not done" (1).
EXIT_OK = int(ExitCode.OK)
EXIT_NOT_UPDATED = int(ExitCode.FAILED)
EXIT_REBOOT = int(ExitCode.REBOOT_REQUIRED)
# Updates fine but the client not started: also when the window is closed
# on the "complete" screen without choosing Continue.
EXIT_CLIENT_NOT_STARTED = int(ExitCode.CLIENT_FAILED)

# ExitCode screens, in the order the engine's outcomes are listed.
COMPLETE = "complete"
REBOOT = "reboot"
FAILED = "failed"
NETWORK = "network"
LOCKED = "locked"
DIST_UPGRADE = "dist_upgrade"
TRUST = "trust"
CLIENT_FAILED = "client_failed"

OUTCOME_PAGES = {
    ExitCode.OK: COMPLETE,
    ExitCode.REBOOT_REQUIRED: REBOOT,
    ExitCode.FAILED: FAILED,
    ExitCode.NETWORK: NETWORK,
    ExitCode.LOCKED: LOCKED,
    ExitCode.DIST_UPGRADE: DIST_UPGRADE,
    ExitCode.TRUST: TRUST,
    ExitCode.CLIENT_FAILED: CLIENT_FAILED,
}

# Exit code of each outcome screen when the window closes on it.
PAGE_EXIT = {
    COMPLETE: EXIT_CLIENT_NOT_STARTED,
    REBOOT: EXIT_REBOOT,
    FAILED: int(ExitCode.FAILED),
    NETWORK: int(ExitCode.NETWORK),
    LOCKED: int(ExitCode.LOCKED),
    DIST_UPGRADE: int(ExitCode.DIST_UPGRADE),
    TRUST: int(ExitCode.TRUST),
    CLIENT_FAILED: int(ExitCode.CLIENT_FAILED),
}

# Button roles.  "Safe" buttons may take the focus and answer Enter; "act"
# buttons start something long or drastic and need a deliberate click,
# Space on the focused button, or their Alt shortcut.
CONTINUE = "continue"
REBOOT_NOW = "reboot"
LATER = "later"
RETRY = "retry"
CLOSE = "close"
SAFE_BUTTONS = {CONTINUE, LATER, CLOSE}

BUTTON_TEXT = {
    CONTINUE: S.BUTTON_CONTINUE,
    REBOOT_NOW: S.BUTTON_REBOOT,
    LATER: S.BUTTON_LATER,
    RETRY: S.BUTTON_RETRY,
    CLOSE: S.BUTTON_CLOSE,
}

# For each outcome screen: icon, title, buttons left to right (the first is focused).
PAGE_SPEC: dict[str, tuple[QStyle.StandardPixmap, str, tuple[str, ...]]] = {
    COMPLETE: (QStyle.StandardPixmap.SP_DialogApplyButton, S.COMPLETE_TITLE, (CONTINUE,)),
    REBOOT: (QStyle.StandardPixmap.SP_BrowserReload, S.REBOOT_TITLE, (LATER, REBOOT_NOW)),
    FAILED: (QStyle.StandardPixmap.SP_MessageBoxCritical, S.FAILED_TITLE, (CLOSE, RETRY)),
    NETWORK: (QStyle.StandardPixmap.SP_MessageBoxWarning, S.NETWORK_TITLE, (CLOSE, RETRY)),
    LOCKED: (QStyle.StandardPixmap.SP_MessageBoxInformation, S.LOCKED_TITLE, (CLOSE, RETRY)),
    DIST_UPGRADE: (QStyle.StandardPixmap.SP_MessageBoxWarning, S.DIST_UPGRADE_TITLE, (CLOSE,)),
    TRUST: (QStyle.StandardPixmap.SP_MessageBoxCritical, S.TRUST_TITLE, (CLOSE,)),
    CLIENT_FAILED: (
        QStyle.StandardPixmap.SP_MessageBoxCritical,
        S.CLIENT_FAILED_TITLE,
        (CLOSE, RETRY),
    ),
}

NOTICE_STYLE = "QLabel { color: palette(window-text); padding: 6px; }"
REFUSED_STYLE = (
    "QLabel { background: #fff3c4; color: #2b2100; border: 1px solid #b58900;"
    " border-radius: 4px; padding: 6px; font-weight: bold; }"
)
ERROR_TEXT_STYLE = "QLabel { color: #a40000; font-weight: bold; }"


# ----- small building blocks ----------------------------------------------------


def scaled(pixels: int) -> int:
    """``pixels`` for the reference font, grown for a larger application font."""
    line = QFontMetrics(QApplication.font()).lineSpacing()
    return round(pixels * max(1.0, line / REFERENCE_LINE))


def text_label(text: str = "", *, selectable: bool = False, wrap: bool = True) -> QLabel:
    """A plain-text label: Qt must never interpret engine or tool text as HTML."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(
            Qt.TextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
    return label


def title_label(text: str) -> QLabel:
    label = text_label(text)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * 1.45)
    font.setBold(True)
    label.setFont(font)
    label.setAccessibleName(text)
    return label


def bold(label: QLabel) -> QLabel:
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def make_button(text: str, safe: bool) -> QPushButton:
    """A push button; only safe ones react to Enter (see SAFE_BUTTONS)."""
    button = QPushButton(text)
    button.setAutoDefault(safe)
    button.setDefault(False)
    button.setMinimumWidth(120)
    return button


def display_path(path: Path) -> str:
    """A path as people type it: ``~/.securedrop_updater/...`` under the home directory."""
    home = os.environ.get("HOME")
    if home:
        try:
            return str(Path("~") / path.relative_to(home))
        except ValueError:
            pass
    return str(path)


def paragraphs(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


def icon_label(pixmap: QStyle.StandardPixmap, widget: QWidget) -> QLabel:
    label = QLabel()
    style = widget.style()
    if style is not None:
        label.setPixmap(style.standardIcon(pixmap).pixmap(40, 40))
    label.setAlignment(Qt.Alignment(Qt.AlignmentFlag.AlignTop) | Qt.AlignmentFlag.AlignLeft)
    label.setFixedWidth(scaled(48))
    return label


# ----- screens ------------------------------------------------------------------


class IntroPage(QWidget):
    """Why updates are needed, how long they take, what not to do."""

    def __init__(self, expected_total: float, last_updated_ago: float | None) -> None:
        super().__init__()
        self.setObjectName("intro")
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        header.addWidget(icon_label(QStyle.StandardPixmap.SP_MessageBoxInformation, self))
        self.title = title_label(S.tr(S.INTRO_TITLE))
        header.addWidget(self.title, 1)
        layout.addLayout(header)
        layout.addSpacing(6)
        self.why = text_label(paragraphs(S.tr(S.INTRO_WHY), S.intro_last_updated(last_updated_ago)))
        layout.addWidget(self.why)
        self.duration = bold(text_label(S.intro_duration(expected_total)))
        layout.addWidget(self.duration)
        self.points: list[QLabel] = []
        for point in S.INTRO_POINTS:
            row = QHBoxLayout()
            bullet = text_label("\u2022", wrap=False)
            bullet.setAlignment(Qt.AlignmentFlag.AlignTop)
            bullet.setFixedWidth(scaled(14))
            row.addWidget(bullet)
            label = text_label(S.tr(point))
            row.addWidget(label, 1)
            self.points.append(label)
            layout.addLayout(row)
        layout.addStretch(1)
        self.cancel_note = text_label(S.tr(S.INTRO_CANCEL_NOTE))
        layout.addWidget(self.cancel_note)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = make_button(S.tr(S.BUTTON_CANCEL), safe=True)
        self.cancel_button.setObjectName("cancel_button")
        self.start_button = make_button(S.tr(S.BUTTON_START), safe=False)
        self.start_button.setObjectName("start_button")
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)
        layout.addLayout(buttons)

    def focus_first(self) -> None:
        self.cancel_button.setFocus(Qt.FocusReason.OtherFocusReason)


class TemplateRow:
    """One template: its name, its state in words, and a small bar."""

    def __init__(self, grid: QGridLayout, row: int, name: str) -> None:
        self.name = name
        self.name_label = text_label(name, wrap=False)
        self.state_label = text_label(S.template_state("waiting", 0), wrap=False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(scaled(140))
        self.bar.setFixedHeight(12)
        self.state = "waiting"
        self.percent = 0.0
        grid.addWidget(self.name_label, row, 0)
        grid.addWidget(self.state_label, row, 1)
        grid.addWidget(self.bar, row, 2)

    def set(self, state: str, percent: float) -> None:
        # A row's percent never goes back either, and a final state stays final.
        if self.state in ("done", "no_updates", "failed") and state in ("waiting", "updating"):
            return
        self.state = state
        self.percent = max(self.percent, percent) if state != "failed" else self.percent
        if state in ("done", "no_updates"):
            self.percent = 100.0
        self.state_label.setText(S.template_state(state, self.percent))
        self.state_label.setStyleSheet(ERROR_TEXT_STYLE if state == "failed" else "")
        self.bar.setValue(int(self.percent))

    @property
    def text(self) -> str:
        return self.state_label.text()


class ProgressPage(QWidget):
    """The run as it happens.  One page per run, so a retry starts from a clean slate."""

    details_toggled = pyqtSignal(bool)

    def __init__(self, log_path: str) -> None:
        super().__init__()
        self.setObjectName("progress")
        self.log_path = log_path
        self.smooth = SmoothValue()
        self.rows: dict[str, TemplateRow] = {}
        self.warnings: list[str] = []
        self.current_step: str | None = None
        layout = QVBoxLayout(self)
        self.title = title_label(S.tr(S.PROGRESS_TITLE))
        layout.addWidget(self.title)
        self.step_label = bold(text_label(S.tr(S.PROGRESS_STARTING)))
        self.step_label.setObjectName("step_label")
        layout.addWidget(self.step_label)
        self.hint_label = text_label("")
        self.hint_label.setMinimumHeight(self.hint_label.fontMetrics().lineSpacing() * 2)
        self.hint_label.setAlignment(
            Qt.Alignment(Qt.AlignmentFlag.AlignTop) | Qt.AlignmentFlag.AlignLeft
        )
        layout.addWidget(self.hint_label)
        self.bar = QProgressBar()
        self.bar.setObjectName("overall_bar")
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("%p%")
        self.bar.setAccessibleName(S.tr(S.PROGRESS_TITLE))
        layout.addWidget(self.bar)
        times = QHBoxLayout()
        self.elapsed_label = text_label(S.elapsed(0), wrap=False)
        self.left_label = text_label(S.tr(S.ESTIMATING), wrap=False)
        self.left_label.setAlignment(
            Qt.Alignment(Qt.AlignmentFlag.AlignRight) | Qt.AlignmentFlag.AlignVCenter
        )
        times.addWidget(self.elapsed_label)
        times.addStretch(1)
        times.addWidget(self.left_label)
        layout.addLayout(times)
        layout.addSpacing(6)
        self.templates_heading = bold(text_label(S.tr(S.TEMPLATES_HEADING)))
        layout.addWidget(self.templates_heading)
        self.templates_box = QWidget()
        self.grid = QGridLayout(self.templates_box)
        self.grid.setContentsMargins(4, 0, 4, 0)
        self.grid.setColumnStretch(0, 1)
        self.grid.setColumnMinimumWidth(1, scaled(170))
        self.templates_scroll = QScrollArea()
        self.templates_scroll.setWidget(self.templates_box)
        self.templates_scroll.setWidgetResizable(True)
        self.templates_scroll.setFrameShape(QFrame.NoFrame)
        self.templates_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.templates_scroll.setFixedHeight(scaled(132))
        self.templates_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.templates_scroll)
        self.templates_heading.hide()
        self.templates_scroll.hide()
        self.spacer = QWidget()
        self.spacer.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
        layout.addWidget(self.spacer, 1)
        self.details_button = QToolButton()
        self.details_button.setObjectName("details_button")
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setText(S.tr(S.DETAILS_SHOW))
        self.details_button.setCheckable(True)
        self.details_button.setAutoRaise(True)
        self.details_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.details_button.toggled.connect(self._toggle_details)
        layout.addWidget(self.details_button)
        self.details = QPlainTextEdit()
        self.details.setObjectName("details")
        self.details.setReadOnly(True)
        self.details.setMaximumBlockCount(DETAILS_MAX_LINES)
        self.details.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.details.setFixedHeight(scaled(DETAILS_HEIGHT - 10))
        self.details.setTabChangesFocus(True)
        self.details.hide()
        layout.addWidget(self.details)
        self.notice = text_label(S.tr(S.PROGRESS_NOTICE))
        self.notice.setObjectName("notice")
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.close_refused = False
        layout.addWidget(self.notice)

    # ----- events from the engine -------------------------------------------

    def handle_all(self, items: list[PumpItem]) -> None:
        """Apply a batch of engine events; tool output is appended in one go."""
        lines: list[str] = []
        for item in items:
            line = self.handle(item)
            if line is not None:
                lines.append(line)
        if lines:
            self.details.appendPlainText("\n".join(lines[-DETAILS_MAX_LINES:]))

    def handle(self, item: PumpItem) -> str | None:
        """Apply one event; return a line for the details pane, if any."""
        if isinstance(item, Skipped):
            return S.tr(S.DETAILS_SKIPPED, n=item.count, path=self.log_path)
        if isinstance(item, ev.OverallProgress):
            self.smooth.aim(item.percent)
        elif isinstance(item, ev.StepStarted):
            self.current_step = item.step
            words = S.step_words(item.step, item.label)
            self.step_label.setText(words)
            self.hint_label.setText(S.step_hint(item.step))
            return f"--- {words} ---"
        elif isinstance(item, ev.StepFinished):
            if not item.ok and not item.skipped:
                return S.tr(S.DETAILS_STEP_FAILED, detail=item.detail)
        elif isinstance(item, ev.TemplatesPlanned):
            for name in item.names:
                self._row(name)
        elif isinstance(item, ev.TemplateProgress):
            self._row(item.name).set(item.state.value, item.percent)
        elif isinstance(item, ev.LogLine):
            prefix = {"warning": "WARNING: ", "error": "ERROR: "}.get(item.level, "")
            return prefix + item.text
        elif isinstance(item, ev.Warning_):
            self.warnings.append(item.text)
            return "WARNING: " + item.text
        return None

    def _row(self, name: str) -> TemplateRow:
        row = self.rows.get(name)
        if row is None:
            row = TemplateRow(self.grid, len(self.rows), name)
            self.rows[name] = row
            self.templates_heading.show()
            self.templates_scroll.show()
        return row

    # ----- time -------------------------------------------------------------

    def animate(self) -> None:
        self.bar.setValue(round(self.smooth.step() * 10))

    def show_times(self, elapsed: float, expected_total: float) -> None:
        text = S.elapsed(elapsed)
        if text != self.elapsed_label.text():
            self.elapsed_label.setText(text)
        left = S.time_left(time_left(elapsed, self.smooth.target, expected_total))
        if left != self.left_label.text():
            self.left_label.setText(left)

    def finish(self) -> None:
        """The run ended: show where it really got to, no more estimates."""
        self.bar.setValue(round(self.smooth.settle() * 10))
        self.left_label.setText("")

    # ----- closing ----------------------------------------------------------

    def refuse_close(self) -> None:
        self.close_refused = True
        self.notice.setText(S.tr(S.PROGRESS_CLOSE_REFUSED))
        self.notice.setStyleSheet(REFUSED_STYLE)

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.spacer.setVisible(not shown)
        self.details_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
        self.details_button.setText(S.tr(S.DETAILS_HIDE if shown else S.DETAILS_SHOW))
        self.details_toggled.emit(shown)


class CompactText(QPlainTextEdit):
    """A read-only text box that asks only for its minimum height.

    The layout then keeps screens compact and hands any free room to it,
    so a long technical message grows the box instead of the window.
    """

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), self.minimumHeight())


class OutcomePage(QWidget):
    """One outcome: what happened, what to do, where the log is, and the buttons."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.setObjectName(kind)
        pixmap, title, roles = PAGE_SPEC[kind]
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        header.addWidget(icon_label(pixmap, self))
        self.title = title_label(S.tr(title))
        header.addWidget(self.title, 1)
        layout.addLayout(header)
        layout.addSpacing(6)
        self.body = text_label()
        self.body.setObjectName("body")
        layout.addWidget(self.body)
        self.log_row = QWidget()
        log_layout = QHBoxLayout(self.log_row)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addWidget(bold(text_label(S.tr(S.LOG_LABEL), wrap=False)))
        self.log_path = text_label(selectable=True)
        self.log_path.setObjectName("log_path")
        log_layout.addWidget(self.log_path, 1)
        layout.addWidget(self.log_row)
        self.technical_label = bold(text_label(S.tr(S.TECHNICAL_LABEL)))
        layout.addWidget(self.technical_label)
        self.technical = CompactText()
        self.technical.setObjectName("technical")
        self.technical.setReadOnly(True)
        lines = self.technical.fontMetrics().lineSpacing()
        # At least five lines; it takes the free space so long messages fit.
        self.technical.setMinimumHeight(lines * 5 + 12)
        self.technical.setTabChangesFocus(True)
        layout.addWidget(self.technical, 4)
        self.warnings = text_label(selectable=True)
        self.warnings.setObjectName("warnings")
        layout.addWidget(self.warnings)
        layout.addStretch(1)
        self.status = text_label()
        self.status.setObjectName("status")
        layout.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.buttons: dict[str, QPushButton] = {}
        for role in roles:
            button = make_button(S.tr(BUTTON_TEXT[role]), safe=role in SAFE_BUTTONS)
            button.setObjectName(f"{role}_button")
            self.buttons[role] = button
            row.addWidget(button)
        layout.addLayout(row)
        self.fill("")

    def fill(
        self,
        body: str,
        technical: str = "",
        log_path: str = "",
        warnings: list[str] | None = None,
    ) -> None:
        """Set the texts; empty parts are hidden so each screen stays short."""
        self.body.setText(body)
        self.log_path.setText(log_path)
        self.log_row.setVisible(bool(log_path))
        self.technical.setPlainText(technical)
        # Short messages keep a compact box; long ones may take the free space.
        long_text = len(technical) > 240 or technical.count("\n") > 3
        self.technical.setMaximumHeight(16777215 if long_text else self.technical.minimumHeight())
        self.technical_label.setVisible(bool(technical))
        self.technical.setVisible(bool(technical))
        lines = [S.tr(S.WARNINGS_LABEL), *(f"\u2022 {w}" for w in warnings or [])]
        self.warnings.setText("\n".join(lines) if warnings else "")
        self.warnings.setVisible(bool(warnings))
        self.set_status("")
        self.set_enabled(True)

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_TEXT_STYLE if error else "")
        self.status.setVisible(bool(text))

    def set_enabled(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)

    def focus_first(self) -> None:
        for role, button in self.buttons.items():
            if role in SAFE_BUTTONS:
                button.setFocus(Qt.FocusReason.OtherFocusReason)
                return


# ----- the window -----------------------------------------------------------------


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
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.decision = decision
        self.skip_netcheck = skip_netcheck
        self.exit_code = EXIT_NOT_UPDATED
        self.busy: str | None = None  # "update", "client", "reboot": closing is refused
        self.result: RunResult | None = None
        self.run_worker: RunWorker | None = None
        self.call_worker: CallWorker | None = None
        self.pump = EventPump()
        self.run_started = 0.0
        self.log_path = display_path(ctx.log_dir / "updater.log")
        self._done = False
        now = time.time()
        self.expected_total = History(ctx.store.directory).estimate_total()
        last = ctx.store.read_last_updated(now)

        self.setWindowTitle(S.tr(S.WINDOW_TITLE))
        self.setWindowFlags(
            Qt.WindowFlags(Qt.WindowType.Window)
            | Qt.WindowType.CustomizeWindowHint
            | Qt.WindowType.WindowTitleHint
            | Qt.WindowType.WindowMinimizeButtonHint
            | Qt.WindowType.WindowCloseButtonHint
        )
        self.stack = QStackedWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 14, 14, 14)
        outer.addWidget(self.stack)

        self.intro = IntroPage(self.expected_total, None if last is None else now - last)
        self.intro.start_button.clicked.connect(self.start_updates)
        self.intro.cancel_button.clicked.connect(self.request_close)
        self.stack.addWidget(self.intro)
        self.progress = self._new_progress_page()
        self.outcomes: dict[str, OutcomePage] = {}
        actions: dict[str, Callable[[], Any]] = {
            CONTINUE: self.start_client,
            REBOOT_NOW: self.reboot,
            LATER: self.request_close,
            CLOSE: self.request_close,
        }
        for kind in PAGE_SPEC:
            page = OutcomePage(kind)
            for role, button in page.buttons.items():
                if role == RETRY:
                    retry = self.start_client if kind == CLIENT_FAILED else self.start_updates
                    button.clicked.connect(retry)
                else:
                    button.clicked.connect(actions[role])
            self.outcomes[kind] = page
            self.stack.addWidget(page)

        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._set_height(details=False)

        if decision.action is Action.REBOOT_PENDING:
            body = paragraphs(
                S.tr(S.REBOOT_PENDING_BODY),
                S.tr(S.REBOOT_PENDING_FAILED) if decision.previous_failed else "",
                S.tr(S.REBOOT_SAVE_WORK),
            )
            self._show_outcome(REBOOT, body)
        else:
            self._show(self.intro)
            self.intro.focus_first()

    # ----- navigation -------------------------------------------------------

    @property
    def page(self) -> str:
        """The name of the screen shown now (``intro``, ``progress``, or an outcome)."""
        current = self.stack.currentWidget()
        return current.objectName() if current is not None else ""

    def _show(self, page: QWidget) -> None:
        self.stack.setCurrentWidget(page)
        self._set_height(details=page is self.progress and self.progress.details.isVisible())

    def _set_height(self, details: bool) -> None:
        self.setFixedSize(scaled(WIDTH), scaled(HEIGHT + (DETAILS_HEIGHT if details else 0)))

    def _new_progress_page(self) -> ProgressPage:
        page = ProgressPage(display_path(self.ctx.log_dir / "updater-detail.log"))
        page.details_toggled.connect(self._set_height)
        self.stack.addWidget(page)
        return page

    def _show_outcome(
        self,
        kind: str,
        body: str,
        technical: str = "",
        log: bool = False,
        warnings: list[str] | None = None,
    ) -> OutcomePage:
        page = self.outcomes[kind]
        page.fill(body, technical, self.log_path if log else "", warnings)
        self.exit_code = PAGE_EXIT[kind]
        self._show(page)
        page.focus_first()
        return page

    # ----- the update run -----------------------------------------------------

    def start_updates(self) -> None:
        """Start a fresh run (also "Try again"); the engine takes the lock itself."""
        if self.busy is not None:
            return
        if self.run_worker is not None:
            self.run_worker.wait()
        old = self.progress
        self.progress = self._new_progress_page()
        if self.stack.indexOf(old) >= 0:
            self.stack.removeWidget(old)
            old.deleteLater()
        self.result = None
        self.pump = EventPump()
        self.busy = "update"
        self.exit_code = EXIT_NOT_UPDATED
        self.run_started = time.monotonic()
        self._show(self.progress)
        self.progress.details_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self.progress.show_times(0.0, self.expected_total)
        log.info("Wizard: starting the updates")
        worker = RunWorker(self.ctx, self.skip_netcheck, self.pump, self)
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
        self.busy = None
        self.result = result
        log.info("Wizard: run ended %s", result.outcome.name)
        self.show_result(result)

    def show_result(self, result: RunResult) -> None:
        """The outcome screen for an engine result, in plain words."""
        kind = OUTCOME_PAGES.get(result.outcome, FAILED)
        warnings = list(result.warnings)
        if kind == COMPLETE:
            self._show_outcome(COMPLETE, S.tr(S.COMPLETE_BODY), warnings=warnings)
        elif kind == REBOOT:
            body = paragraphs(S.tr(S.REBOOT_BODY), S.tr(S.REBOOT_SAVE_WORK))
            self._show_outcome(REBOOT, body, warnings=warnings)
        elif kind == FAILED:
            failed = sorted(
                name for name, state in result.templates.items() if state is ev.TemplateState.FAILED
            )
            step = (
                S.tr(S.FAILED_STEP, step=S.step_words(result.failed_step.value))
                if result.failed_step is not None
                else S.tr(S.FAILED_STEP_UNKNOWN)
            )
            body = paragraphs(
                "\n".join([step, S.failed_templates(failed)] if failed else [step]),
                S.tr(S.FAILED_REBOOT_TOO) if result.dom0_updated else "",
                S.tr(S.FAILED_NEXT),
            )
            self._show_outcome(FAILED, body, result.message, log=True, warnings=warnings)
        elif kind == NETWORK:
            self._show_outcome(NETWORK, S.tr(S.NETWORK_BODY), result.message)
        elif kind == LOCKED:
            self._show_outcome(LOCKED, S.tr(S.LOCKED_BODY))
        elif kind == DIST_UPGRADE:
            self._show_outcome(DIST_UPGRADE, S.tr(S.DIST_UPGRADE_BODY), result.message, log=True)
        elif kind == TRUST:
            self._show_outcome(
                TRUST, S.tr(S.TRUST_BODY), result.message, log=True, warnings=warnings
            )
        else:
            self._show_outcome(CLIENT_FAILED, S.tr(S.CLIENT_FAILED_BODY), result.message, log=True)

    # ----- the client and the reboot -------------------------------------------

    def start_client(self) -> None:
        """Continue: start the SecureDrop client off the UI thread, then close."""
        if self.busy is not None:
            return
        page = self.outcomes[self.page] if self.page in self.outcomes else self.outcomes[COMPLETE]
        page.set_enabled(False)
        page.set_status(S.tr(S.COMPLETE_STARTING))
        self._call("client", self.ctx.host.start_client, self._on_client)

    def _on_client(self, value: Any, error: str | None) -> None:
        ok = bool(getattr(value, "ok", False))
        message = getattr(value, "message", "") or error or ""
        if ok:
            self.exit_code = EXIT_OK
            self.close()
            return
        log.error("Wizard: the client did not start: %s", message)
        self._show_outcome(CLIENT_FAILED, S.tr(S.CLIENT_FAILED_BODY), str(message), log=True)

    def reboot(self) -> None:
        """Restart now, through the host seam, off the UI thread."""
        if self.busy is not None:
            return
        page = self.outcomes[REBOOT]
        page.set_enabled(False)
        page.set_status(S.tr(S.REBOOT_STARTING))
        self._call("reboot", self.ctx.host.reboot, self._on_reboot)

    def _on_reboot(self, value: Any, error: str | None) -> None:
        page = self.outcomes[REBOOT]
        if error is None and getattr(value, "ok", False):
            self.close()  # dom0 is going down; exit 3: the client was not started
            return
        reason = error or (value.describe() if value is not None else "")
        log.error("Wizard: reboot failed: %s", reason)
        page.set_enabled(True)
        page.set_status(S.tr(S.REBOOT_FAILED, reason=reason), error=True)

    def _call(
        self, why: str, call: Callable[[], Any], done: Callable[[Any, str | None], None]
    ) -> None:
        self.busy = why
        if self.call_worker is not None:
            self.call_worker.wait()
        worker = CallWorker(call, self)

        def finished(value: Any, error: object) -> None:
            self.busy = None
            done(value, None if error is None else str(error))

        worker.call_done.connect(finished)
        self.call_worker = worker
        worker.start()

    # ----- closing ------------------------------------------------------------

    def request_close(self) -> None:
        """Close (a button's action); refused like the close button while busy."""
        self.close()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Refuse while something runs (say why); otherwise report the exit code."""
        if event is None:
            return
        if self.busy is not None:
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

    def _refuse_close(self) -> None:
        log.info("Wizard: refused to close while busy (%s)", self.busy)
        if self.busy == "update":
            self.progress.refuse_close()
        elif self.page in self.outcomes:
            self.outcomes[self.page].set_status(S.tr(S.BUSY_CLOSE_REFUSED))

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        """Esc asks to close, like the close button (and is refused the same way)."""
        if event is not None and event.key() == Qt.Key.Key_Escape:
            event.accept()
            self.close()
            return
        super().keyPressEvent(event)


def ensure_app() -> QApplication:
    """The running QApplication, or a new one set up for high-DPI screens."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QApplication.setAttribute(Qt.ApplicationAttribute.AA_EnableHighDpiScaling, True)
    QApplication.setAttribute(Qt.ApplicationAttribute.AA_UseHighDpiPixmaps, True)
    app = QApplication(sys.argv[:1] or ["sdw-updater"])
    app.setApplicationName("sdw-updater")
    app.setApplicationDisplayName(S.tr(S.WINDOW_TITLE))
    return app


def has_display() -> bool:
    """Whether Qt can open a window at all (it aborts the process when it cannot)."""
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def run_wizard(ctx: Context, decision: Decision, skip_netcheck: bool) -> int:
    """Show the wizard until it closes; return the process exit code (design §3).

    Without any display (an ssh session, a broken login) Qt would abort the
    process; the same flow then runs as text instead, with the same codes.
    """
    if not has_display():
        log.warning("No display: running the text front end instead of the window")
        from sdw_updater.cli import run_cli

        return run_cli(ctx, decision, skip_netcheck)
    ensure_app()
    wizard = Wizard(ctx, decision, skip_netcheck)
    loop = QEventLoop()
    wizard.closed.connect(loop.quit)
    wizard.show()
    wizard.raise_()
    wizard.activateWindow()
    loop.exec_()
    return wizard.exit_code
