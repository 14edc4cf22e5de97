"""The window's screens: introduction, progress, and one page per outcome.

Each page is a title, a body that scrolls inside the window when the
screen is small (a 1366x768 laptop, or a large scale factor), and a footer
that always stays visible: the buttons, or on the progress page the notice
not to close the window.  Pages only draw; ``flow.py`` decides which page
shows, with which buttons, and ``wizard.py`` wires them together.
"""

from __future__ import annotations

import itertools
import logging
import time

from launcher import strings as S
from launcher import style
from launcher.estimate import SmoothValue, quiet_shown, time_left
from launcher.flow import BASE_BUTTONS, SAFE_BUTTONS, Button, Screen
from launcher.messages import SummaryText, paragraphs
from launcher.qt import (
    QFontDatabase,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    pyqtSignal,
)
from launcher.widgets import (
    Disclosure,
    ReadOnlyBox,
    bold,
    icon_label,
    make_button,
    muted,
    scaled,
    scroll_area,
    text_label,
    title_label,
)
from launcher.worker import PumpItem, Skipped
from sdw_updater import events as ev

log = logging.getLogger("sdw.launcher.pages")

DETAILS_MAX_LINES = 5000
#: What a template's last output line may show in its row (the rest is in the details).
LAST_LINE_CHARS = 90

BUTTON_TEXT = {
    Button.START: S.BUTTON_START,
    Button.CANCEL: S.BUTTON_CANCEL,
    Button.CONTINUE: S.BUTTON_CONTINUE,
    Button.RESTART: S.BUTTON_REBOOT,
    Button.LATER: S.BUTTON_LATER,
    Button.RETRY: S.BUTTON_RETRY,
    Button.CLOSE: S.BUTTON_CLOSE,
}

# For each outcome screen: its icon and its title.
OUTCOME_LOOK: dict[Screen, tuple[QStyle.StandardPixmap, str]] = {
    Screen.COMPLETE: (QStyle.StandardPixmap.SP_DialogApplyButton, S.COMPLETE_TITLE),
    Screen.REBOOT: (QStyle.StandardPixmap.SP_BrowserReload, S.REBOOT_TITLE),
    Screen.FAILED: (QStyle.StandardPixmap.SP_MessageBoxCritical, S.FAILED_TITLE),
    Screen.NETWORK: (QStyle.StandardPixmap.SP_MessageBoxWarning, S.NETWORK_TITLE),
    Screen.LOCKED: (QStyle.StandardPixmap.SP_MessageBoxInformation, S.LOCKED_TITLE),
    Screen.LOCK_UNUSABLE: (QStyle.StandardPixmap.SP_MessageBoxCritical, S.LOCK_UNUSABLE_TITLE),
    Screen.DIST_UPGRADE: (QStyle.StandardPixmap.SP_MessageBoxWarning, S.DIST_UPGRADE_TITLE),
    Screen.TRUST: (QStyle.StandardPixmap.SP_MessageBoxCritical, S.TRUST_TITLE),
    Screen.CLIENT_FAILED: (QStyle.StandardPixmap.SP_MessageBoxCritical, S.CLIENT_FAILED_TITLE),
}


class Page(QWidget):
    """Title on top, a scrolling body, a footer that never scrolls away."""

    def __init__(self, name: str, title: str, pixmap: QStyle.StandardPixmap | None) -> None:
        super().__init__()
        self.setObjectName(name)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        if pixmap is not None:
            header.addWidget(icon_label(pixmap, self))
        self.title = title_label(title)
        header.addWidget(self.title, 1)
        outer.addLayout(header)
        outer.addSpacing(6)
        self.body_widget = QWidget()
        self.content = QVBoxLayout(self.body_widget)
        self.content.setContentsMargins(0, 0, scaled(6), 0)
        self.scroller = scroll_area(self.body_widget)
        outer.addWidget(self.scroller, 1)
        self.footer = QVBoxLayout()
        outer.addLayout(self.footer)


class IntroPage(Page):
    """Why updates are needed, how long they take, what not to do."""

    def __init__(self, expected_total: float, last_updated_ago: float | None) -> None:
        super().__init__(
            Screen.INTRO, S.tr(S.INTRO_TITLE), QStyle.StandardPixmap.SP_MessageBoxInformation
        )
        self.why = text_label(paragraphs(S.tr(S.INTRO_WHY), S.intro_last_updated(last_updated_ago)))
        self.content.addWidget(self.why)
        self.duration = bold(text_label(S.intro_duration(expected_total)))
        self.content.addWidget(self.duration)
        self.points: list[QLabel] = []
        for point in S.INTRO_POINTS:
            row = QHBoxLayout()
            bullet = text_label("\u2022", wrap=False)
            bullet.setAlignment(Qt.AlignmentFlag.AlignTop)
            bullet.setFixedWidth(scaled(14))
            bullet.setAccessibleName("")
            row.addWidget(bullet)
            label = text_label(S.tr(point))
            row.addWidget(label, 1)
            self.points.append(label)
            self.content.addLayout(row)
        self.content.addStretch(1)
        self.cancel_note = text_label(S.tr(S.INTRO_CANCEL_NOTE))
        self.footer.addWidget(self.cancel_note)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = make_button(S.tr(S.BUTTON_CANCEL), safe=True)
        self.cancel_button.setObjectName("cancel_button")
        self.start_button = make_button(S.tr(S.BUTTON_START), safe=False)
        self.start_button.setObjectName("start_button")
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)
        self.footer.addLayout(buttons)

    def focus_first(self) -> None:
        self.cancel_button.setFocus(Qt.FocusReason.OtherFocusReason)


class TemplateRow:
    """One template: its name, its state in words, a small bar named after it.

    Below it, while the template shows no progress for long, its last
    output line (the stall display: ``events.TemplateActivity``).
    """

    def __init__(self, grid: QGridLayout, row: int, name: str) -> None:
        self.name = name
        self.name_label = text_label(name, wrap=False)
        self.state_label = text_label(S.template_state("waiting", 0), wrap=False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(scaled(120))
        self.bar.setFixedHeight(scaled(12))
        self.bar.setAccessibleName(S.template_bar_name(name))
        self.last_line = muted(text_label("", wrap=False))
        self.last_line.hide()
        self.state = "waiting"
        self.percent = 0.0
        self.quiet = False
        grid.addWidget(self.name_label, 2 * row, 0)
        grid.addWidget(self.state_label, 2 * row, 1)
        grid.addWidget(self.bar, 2 * row, 2)
        grid.addWidget(self.last_line, 2 * row + 1, 0, 1, 3)

    def set(self, state: str, percent: float) -> None:
        # A row's percent never goes back either, and a final state stays final.
        final = ("done", "no_updates", "failed", "stalled", "not_reached")
        if self.state in final and state in ("waiting", "updating"):
            return
        if (state, max(self.percent, percent)) == (self.state, self.percent) and self.quiet:
            return  # a repeated snapshot is not progress: the stall display stays
        self.state = state
        if state in ("done", "no_updates", "updating", "waiting"):
            self.percent = max(self.percent, percent)
        if state in ("done", "no_updates"):
            self.percent = 100.0
        self.quiet = False
        self.last_line.hide()
        self.state_label.setText(S.template_state(state, self.percent))
        failed = state in ("failed", "stalled", "not_reached")
        self.state_label.setStyleSheet(style.ERROR_STYLE if failed else "")
        self.bar.setValue(int(self.percent))

    def activity(self, quiet: float, limit: float, last_line: str) -> None:
        """The engine's word on how long this template has been quiet."""
        if self.state != "updating":
            return
        if not quiet_shown(quiet, limit):
            if self.quiet:
                self.set("updating", self.percent)
            return
        if not self.quiet:
            log.info("Window: template %s shown as making no progress", self.name)
        self.quiet = True
        self.state_label.setText(S.template_quiet(quiet))
        self.state_label.setStyleSheet(style.WARNING_STYLE)
        if last_line:
            shown = last_line[:LAST_LINE_CHARS] + (
                "\u2026" if len(last_line) > LAST_LINE_CHARS else ""
            )
            self.last_line.setText(S.template_last_line(shown))
            self.last_line.show()

    @property
    def text(self) -> str:
        return self.state_label.text()


class ProgressPage(Page):
    """The run as it happens.  One page per run, so a retry starts from a clean slate."""

    details_toggled = pyqtSignal(bool)

    def __init__(self, log_path: str, from_notifier: bool = False) -> None:
        super().__init__(Screen.PROGRESS, S.tr(S.PROGRESS_TITLE), None)
        self.log_path = log_path
        self.smooth = SmoothValue()
        self.rows: dict[str, TemplateRow] = {}
        self.warnings: list[ev.Notice] = []
        self.current_step: str | None = None
        if from_notifier:
            self.content.addWidget(text_label(S.tr(S.PROGRESS_FROM_NOTIFIER)))
        self.step_label = bold(text_label(S.tr(S.PROGRESS_STARTING)))
        self.step_label.setObjectName("step_label")
        self.content.addWidget(self.step_label)
        self.hint_label = muted(text_label(""))
        self.hint_label.setMinimumHeight(self.hint_label.fontMetrics().lineSpacing() * 2)
        self.hint_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.content.addWidget(self.hint_label)
        # How long the current step has been working (steps report no progress
        # of their own): the bar may move slowly, the clock never stands still.
        self.step_time_label = muted(text_label(""))
        self.step_time_label.setObjectName("step_time")
        self.content.addWidget(self.step_time_label)
        self.step_started = time.monotonic()
        self.step_expected = 0.0
        self.step_slow_said = False
        self.running = True
        bar_row = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setObjectName("overall_bar")
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName(S.tr(S.OVERALL_BAR_NAME))
        bar_row.addWidget(self.bar, 1)
        self.percent_label = text_label(S.percent(0), wrap=False)
        self.percent_label.setMinimumWidth(
            self.percent_label.fontMetrics().horizontalAdvance("100%")
        )
        self.percent_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar_row.addWidget(self.percent_label)
        self.content.addLayout(bar_row)
        times = QHBoxLayout()
        self.elapsed_label = muted(text_label(S.elapsed(0), wrap=False))
        self.left_label = muted(text_label(S.tr(S.ESTIMATING), wrap=False))
        self.left_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        times.addWidget(self.elapsed_label)
        times.addStretch(1)
        times.addWidget(self.left_label)
        self.content.addLayout(times)
        self.content.addSpacing(6)
        self.templates_heading = bold(text_label(S.tr(S.TEMPLATES_HEADING)))
        self.content.addWidget(self.templates_heading)
        self.templates_box = QWidget()
        self.grid = QGridLayout(self.templates_box)
        self.grid.setContentsMargins(4, 0, 4, 0)
        self.grid.setColumnStretch(0, 1)
        self.grid.setColumnMinimumWidth(1, scaled(150))
        self.content.addWidget(self.templates_box)
        self.templates_heading.hide()
        self.templates_box.hide()
        # Templates an admin added (VMs tagged sd-extras): their own group.
        self.extras_heading = bold(text_label(S.tr(S.EXTRAS_HEADING)))
        self.content.addWidget(self.extras_heading)
        self.extras_box = QWidget()
        self.extras_grid = QGridLayout(self.extras_box)
        self.extras_grid.setContentsMargins(4, 0, 4, 0)
        self.extras_grid.setColumnStretch(0, 1)
        self.extras_grid.setColumnMinimumWidth(1, scaled(150))
        self.content.addWidget(self.extras_box)
        self.extras_heading.hide()
        self.extras_box.hide()
        self.extras: set[str] = set()
        self.details_button = Disclosure(S.tr(S.DETAILS_SHOW), S.tr(S.DETAILS_HIDE))
        self.details_button.setObjectName("details_button")
        self.details_button.toggled_open.connect(self._toggle_details)
        self.content.addWidget(self.details_button)
        self.details = ReadOnlyBox(lines=8)
        self.details.setObjectName("details")
        self.details.setAccessibleName(S.tr(S.DETAILS_BOX_NAME))
        self.details.setMaximumBlockCount(DETAILS_MAX_LINES)
        # Wrapped: a long tool line is read without scrolling sideways.
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.hide()
        self.content.addWidget(self.details, 1)
        self.spacer = QWidget()
        self.content.addWidget(self.spacer, 1)
        self.notice = text_label(S.tr(S.PROGRESS_NOTICE))
        self.notice.setObjectName("notice")
        self.notice.setStyleSheet(style.QUIET_NOTICE_STYLE)
        self.close_refused = False
        self.footer.addWidget(self.notice)

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
            self.step_started = time.monotonic()
            self.step_expected = item.expected
            self.step_slow_said = False
            self.show_step_time()
            return f"--- {words} ---"
        elif isinstance(item, ev.StepFinished):
            if not item.ok and not item.skipped:
                return S.tr(S.DETAILS_STEP_FAILED, detail=item.detail)
        elif isinstance(item, ev.TemplatesPlanned):
            if item.extras and not self.extras.issuperset(item.extras):
                log.info(
                    "Window: extra templates shown as their own group: %s", ", ".join(item.extras)
                )
            self.extras.update(item.extras)
            for name in item.names:
                self._row(name)
        elif isinstance(item, ev.TemplateProgress):
            self._row(item.name).set(item.state.value, item.percent)
        elif isinstance(item, ev.TemplateActivity):
            self._row(item.name).activity(item.quiet, item.limit, item.last_line)
        elif isinstance(item, ev.LogLine):
            prefix = {"warning": "WARNING: ", "error": "ERROR: "}.get(item.level, "")
            return prefix + item.text
        elif isinstance(item, ev.Notice):
            self.warnings.append(item)
            return "WARNING: " + item.text
        return None

    def _row(self, name: str) -> TemplateRow:
        row = self.rows.get(name)
        if row is None:
            extra = name in self.extras
            grid = self.extras_grid if extra else self.grid
            count = sum(1 for n in self.rows if (n in self.extras) == extra)
            row = TemplateRow(grid, count, name)
            self.rows[name] = row
            heading, box = (
                (self.extras_heading, self.extras_box)
                if extra
                else (self.templates_heading, self.templates_box)
            )
            heading.show()
            box.show()
        return row

    # ----- time -------------------------------------------------------------

    def _show_value(self, value: float) -> None:
        self.bar.setValue(int(value))
        text = S.percent(value)
        if text != self.percent_label.text():
            self.percent_label.setText(text)

    def animate(self) -> None:
        self._show_value(self.smooth.step())

    def show_times(self, elapsed: float, expected_total: float) -> None:
        text = S.elapsed(elapsed)
        if text != self.elapsed_label.text():
            self.elapsed_label.setText(text)
        left = S.time_left(time_left(elapsed, self.smooth.target, expected_total))
        if left != self.left_label.text():
            self.left_label.setText(left)
        self.show_step_time()

    def show_step_time(self) -> None:
        """The step's own clock, and "taking longer than usual" once past its usual time.

        Not for the templates step: each template's row tells its progress.
        """
        if not self.running or self.current_step in (None, "templates"):
            if self.step_time_label.text():
                self.step_time_label.setText("")
            return
        elapsed = time.monotonic() - self.step_started
        text = S.step_time(elapsed, self.step_expected)
        if text != self.step_time_label.text():
            self.step_time_label.setText(text)
        slow = self.step_expected > 0 and elapsed > self.step_expected
        if slow and not self.step_slow_said:
            self.step_slow_said = True
            self.step_time_label.setStyleSheet(style.WARNING_STYLE)
            log.info("Window: step %s is taking longer than usual", self.current_step)
        elif not slow and self.step_slow_said is False:
            self.step_time_label.setStyleSheet(style.MUTED_STYLE)

    def finish(self) -> None:
        """The run ended: show where it really got to, no more estimates."""
        self._show_value(self.smooth.settle())
        self.left_label.setText("")
        self.running = False
        self.step_time_label.setText("")

    # ----- closing ----------------------------------------------------------

    def refuse_close(self) -> None:
        self.close_refused = True
        self.notice.setText(S.tr(S.PROGRESS_CLOSE_REFUSED))
        self.notice.setStyleSheet(style.NOTICE_STYLE)

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.spacer.setVisible(not shown)
        self.details_toggled.emit(shown)


class SummaryBox(QWidget):
    """The summary of a run that reached the templates: each template, counts, restarts, time."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("summary")
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, scaled(4), 0, scaled(4))
        self.heading = bold(text_label(S.tr(S.SUMMARY_HEADING)))
        self.layout_.addWidget(self.heading)
        self.grid_box = QWidget()
        self.grid = QGridLayout(self.grid_box)
        self.grid.setContentsMargins(scaled(12), 0, 4, 0)
        self.grid.setColumnStretch(1, 1)
        self.grid.setHorizontalSpacing(scaled(16))
        self.layout_.addWidget(self.grid_box)
        self.counts = text_label()
        self.counts.setObjectName("summary_counts")
        self.restarted = text_label()
        self.not_back = text_label()
        self.not_back.setStyleSheet(style.ERROR_STYLE)
        self.time = muted(text_label())
        for label in (self.counts, self.restarted, self.not_back, self.time):
            self.layout_.addWidget(label)
        self.labels: list[QLabel] = []
        self.rows: dict[str, str] = {}

    def fill(self, summary: SummaryText | None) -> None:
        for label in self.labels:
            self.grid.removeWidget(label)
            label.deleteLater()
        self.labels = []
        self.rows = {}
        self.setVisible(summary is not None)
        if summary is None:
            return
        row = 0
        for group, heading in ((summary.rows, ""), (summary.extras, S.tr(S.EXTRAS_HEADING))):
            if group and heading:
                label = bold(text_label(heading))
                self.grid.addWidget(label, row, 0, 1, 2)
                self.labels.append(label)
                row += 1
            for name, words, state in group:
                name_label = text_label(name, wrap=False)
                state_label = text_label(words)
                if state in ("failed", "stalled", "not_reached"):
                    state_label.setStyleSheet(style.ERROR_STYLE)
                self.grid.addWidget(name_label, row, 0)
                self.grid.addWidget(state_label, row, 1)
                self.labels += [name_label, state_label]
                self.rows[name] = words
                row += 1
        for label, text in (
            (self.counts, summary.counts),
            (self.restarted, summary.restarted),
            (self.not_back, summary.not_back),
            (self.time, summary.time),
        ):
            label.setText(text)
            label.setVisible(bool(text))


class AdminSection(QWidget):
    """What only an administrator needs: the log file, the engine's message, notices.

    Collapsed behind "Show details for your administrator": journalists see
    what to do, not a wall of technical text.
    """

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(scaled(12), 0, 0, 0)
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
        self.technical = ReadOnlyBox(lines=5)
        self.technical.setObjectName("technical")
        self.technical.setAccessibleName(S.tr(S.TECHNICAL_LABEL))
        layout.addWidget(self.technical, 1)
        self.notices = text_label(selectable=True)
        self.notices.setObjectName("notices")
        layout.addWidget(self.notices)
        # First what a journalist passes on: the details to copy, and the fix
        # for each known failure (advice.py), the commands an admin runs.
        copy_row = QHBoxLayout()
        self.copy_button = make_button(S.tr(S.COPY_DETAILS), safe=False)
        self.copy_button.setObjectName("copy_button")
        copy_row.addWidget(self.copy_button)
        copy_row.addStretch(1)
        layout.insertLayout(0, copy_row)
        self.copied = text_label()
        self.copied.setObjectName("copied")
        layout.insertWidget(1, self.copied)
        self.fixes_label = bold(text_label(S.tr(S.HELP_FIX_LABEL)))
        layout.insertWidget(2, self.fixes_label)
        self.fixes = text_label(selectable=True)
        self.fixes.setObjectName("fixes")
        layout.insertWidget(3, self.fixes)

    def fill(
        self, technical: str, log_path: str, notices: list[str], fixes: list[str] | None = None
    ) -> bool:
        """Set the texts; False when there is nothing for an administrator at all."""
        fixes = fixes or []
        self.fixes.setText("\n".join(f"\u2022 {fix}" for fix in fixes))
        self.fixes.setVisible(bool(fixes))
        self.fixes_label.setVisible(bool(fixes))
        self.copied.setText("")
        self.copied.hide()
        self.log_path.setText(log_path)
        self.log_row.setVisible(bool(log_path))
        self.technical.setPlainText(technical)
        self.technical_label.setVisible(bool(technical))
        self.technical.setVisible(bool(technical))
        lines = [S.tr(S.ADMIN_NOTICES), *(f"\u2022 {notice}" for notice in notices)]
        self.notices.setText("\n".join(lines) if notices else "")
        self.notices.setVisible(bool(notices))
        return bool(technical or log_path or notices)


class OutcomePage(Page):
    """One outcome: what happened and what to do; details for the administrator; buttons."""

    copy_requested = pyqtSignal()

    def __init__(self, screen: Screen) -> None:
        pixmap, title = OUTCOME_LOOK[screen]
        super().__init__(screen, S.tr(title), pixmap)
        self.kind = screen
        self.body = text_label()
        self.body.setObjectName("body")
        self.content.addWidget(self.body)
        # What went wrong, in plain words (the help for known failures).
        self.help_heading = bold(text_label(S.tr(S.HELP_HEADING)))
        self.content.addWidget(self.help_heading)
        self.help = text_label()
        self.help.setObjectName("help")
        self.content.addWidget(self.help)
        self.summary = SummaryBox()
        self.content.addWidget(self.summary)
        self.journalist_notices = text_label()
        self.journalist_notices.setObjectName("journalist_notices")
        self.journalist_notices.setStyleSheet(style.NOTICE_STYLE)
        self.content.addWidget(self.journalist_notices)
        self.admin_button = Disclosure(S.tr(S.ADMIN_SHOW), S.tr(S.ADMIN_HIDE))
        self.admin_button.setObjectName("admin_button")
        self.content.addWidget(self.admin_button)
        self.admin = AdminSection()
        self.admin.copy_button.clicked.connect(self.copy_requested)
        self.admin.hide()
        self.admin_button.toggled_open.connect(self._toggle_admin)
        self.content.addWidget(self.admin, 1)
        self.content.addStretch(0)
        self.status = text_label()
        self.status.setObjectName("status")
        self.footer.addWidget(self.status)
        self.button_row = QHBoxLayout()
        self.button_row.addStretch(1)
        self.footer.addLayout(self.button_row)
        self.buttons: dict[Button, QPushButton] = {}
        for role in (*BASE_BUTTONS[screen], Button.RESTART):
            if role in self.buttons:
                continue
            button = make_button(S.tr(BUTTON_TEXT[role]), safe=role in SAFE_BUTTONS)
            button.setObjectName(f"{role}_button")
            self.buttons[role] = button
            self.button_row.addWidget(button)
        self.shown_buttons: tuple[Button, ...] = ()
        self.set_buttons(BASE_BUTTONS[screen])
        self.fill("")

    def _toggle_admin(self, shown: bool) -> None:
        self.admin.setVisible(shown)
        if shown:
            # Bring the section into view: on a small screen it opens below the fold.
            QTimer.singleShot(0, self._scroll_to_admin)
        log.info("Window: administrator's details %s", "shown" if shown else "hidden")

    def _scroll_to_admin(self) -> None:
        bar = self.scroller.verticalScrollBar()
        if bar is not None:
            bar.setValue(min(bar.maximum(), self.admin_button.y()))

    # Tests and the screenshot maker read these by their old names.
    @property
    def technical(self) -> QPlainTextEdit:
        return self.admin.technical

    @property
    def log_path(self) -> QLabel:
        return self.admin.log_path

    def set_buttons(self, roles: tuple[Button, ...]) -> None:
        """Show these buttons, in this order; hide the others."""
        for button in self.buttons.values():
            self.button_row.removeWidget(button)
            button.hide()
        for role in roles:
            self.button_row.addWidget(self.buttons[role])
            self.buttons[role].show()
        self.shown_buttons = roles
        # Tab follows the order the buttons are read in.
        shown = [self.buttons[role] for role in roles]
        for first, second in itertools.pairwise(shown):
            QWidget.setTabOrder(first, second)

    def fill(
        self,
        body: str,
        *,
        technical: str = "",
        log_path: str = "",
        admin_notices: list[str] | None = None,
        journalist_notices: list[str] | None = None,
        summary: SummaryText | None = None,
        help_text: str = "",
        fixes: list[str] | None = None,
        can_copy: bool = False,
    ) -> None:
        """Set the texts; empty parts are hidden so each screen stays short."""
        self.body.setText(body)
        self.help.setText(help_text)
        self.help.setVisible(bool(help_text))
        self.help_heading.setVisible(bool(help_text))
        self.summary.fill(summary)
        self.journalist_notices.setText("\n\n".join(journalist_notices or []))
        self.journalist_notices.setVisible(bool(journalist_notices))
        has_admin = self.admin.fill(technical, log_path, admin_notices or [], fixes)
        self.admin.copy_button.setVisible(can_copy)
        has_admin = has_admin or can_copy
        self.admin_button.setVisible(has_admin)
        self.admin_button.set_expanded(False)
        self.set_status("")
        self.set_enabled(True)

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(style.ERROR_STYLE if error else "")
        self.status.setVisible(bool(text))

    def set_enabled(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)

    def focus_first(self) -> None:
        for role in self.shown_buttons:
            if role in SAFE_BUTTONS:
                self.buttons[role].setFocus(Qt.FocusReason.OtherFocusReason)
                return
