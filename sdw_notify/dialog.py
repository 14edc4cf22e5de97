"""The reminder dialog: "Check for updates" or "Remind me later".

Written for journalists, not admins: it says what is wrong in one line, why
it matters, and what will happen (the SecureDrop app is closed while the
updates are installed).  "Remind me later" is the default and the Escape
button, because an Enter pressed by accident (the dialog pops up while
someone is typing) must not start a long update (upstream issue #1636);
"Check for updates" needs a deliberate click or Tab then Enter.

Strings go through ``QCoreApplication.translate`` (context ``NotifyDialog``)
so they can be translated with Qt's tools.  Only this module of the notifier
imports Qt, and only through ``launcher.qt`` (PyQt6, else PyQt5).
"""

from __future__ import annotations

import enum
import html

from launcher import qtapp
from launcher import strings as launcher_strings
from launcher.qt import (
    QApplication,
    QCoreApplication,
    QMessageBox,
    QPushButton,
    QShowEvent,
    Qt,
    QWidget,
)
from sdw_notify.decision import Decision
from sdw_updater.contract import CLIENT_VM

__all__ = ["CLIENT_VM", "Choice", "NotifyDialog", "application", "ask", "texts"]

CONTEXT = "NotifyDialog"
DAY = 86400


class Choice(enum.Enum):
    """What the user answered."""

    CHECK = "check_for_updates"
    LATER = "remind_me_later"


def tr(text: str, n: int = -1) -> str:
    return QCoreApplication.translate(CONTEXT, text, n=n)


def texts(
    decision: Decision, sd_app_running: bool, usual_duration: float | None = None
) -> tuple[str, str, str]:
    """The window title, the headline and the explanation for this decision.

    ``usual_duration`` is the updater's one estimate (``launcher.estimate``):
    the reminder names the same time the updater's window will.
    """
    title = tr("SecureDrop Workstation")
    headline = tr("Security check recommended")
    if decision.age is not None:
        # Only shown once overdue (more than five days), so the English
        # plural is always right; %n lets translators pick their plural forms.
        days = int(decision.age // DAY)
        first = tr("SecureDrop Workstation has not checked for security updates in %n days.", days)
    else:
        first = tr("SecureDrop Workstation cannot tell when it last checked for security updates.")
    if usual_duration is None:
        how_long = tr(
            "Updates keep your computer and your sources safe. Checking takes a few "
            "minutes, and longer when there is a lot to install."
        )
    else:
        how_long = tr(
            "Updates keep your computer and your sources safe. Updating usually takes {duration}."
        ).format(duration=launcher_strings.about(usual_duration))
    parts = [first, how_long]
    if sd_app_running:
        parts.append(
            tr(
                "The SecureDrop app is open. It will be closed while the updates are "
                'installed: save your work before you choose "Check for updates".'
            )
        )
    return title, headline, "\n\n".join(parts)


class NotifyDialog(QMessageBox):
    """The reminder; ``choice()`` tells which button ended it (Later if none did)."""

    def __init__(
        self,
        decision: Decision,
        sd_app_running: bool,
        parent: QWidget | None = None,
        usual_duration: float | None = None,
    ) -> None:
        super().__init__(parent)
        title, headline, body = texts(decision, sd_app_running, usual_duration)
        self.setWindowTitle(title)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setText(f"<b>{html.escape(headline)}</b>")
        # Qt 6 lays the explanation out in the headline's format (rich text), where a
        # blank line is no paragraph break: each paragraph is given as one, escaped.
        self.setInformativeText(
            "".join(f"<p>{html.escape(part, quote=False)}</p>" for part in body.split("\n\n"))
        )
        icon = qtapp.window_icon()
        if icon.isNull():
            self.setIcon(QMessageBox.Icon.Information)
        else:
            self.setWindowIcon(icon)
            self.setIconPixmap(icon.pixmap(64, 64))
        self.check_button = QPushButton(tr("Check for updates"))
        self.later_button = QPushButton(tr("Remind me later"))
        self.addButton(self.check_button, QMessageBox.ButtonRole.AcceptRole)
        self.addButton(self.later_button, QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.later_button)
        self.setEscapeButton(self.later_button)
        # A reminder hidden behind other windows would never be seen.
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)

    def showEvent(self, event: QShowEvent | None) -> None:
        """Put the focus on "Remind me later" each time the dialog appears.

        Qt would focus the first button, "Check for updates", and a focused
        button becomes the default for Enter: exactly the accident to avoid.
        """
        super().showEvent(event)
        self.later_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def choice(self) -> Choice:
        return Choice.CHECK if self.clickedButton() is self.check_button else Choice.LATER


def application() -> QApplication:
    """The process's QApplication (``launcher.qtapp``), shared with the updater's window."""
    return qtapp.application("sdw-notify")


def ask(decision: Decision, sd_app_running: bool, usual_duration: float | None = None) -> Choice:
    """Show the dialog modally and return the answer."""
    application()
    dialog = NotifyDialog(decision, sd_app_running, usual_duration=usual_duration)
    dialog.exec()
    return dialog.choice()
