"""Small building blocks of the window's screens.

Every label is plain text (engine messages, template names and tool output
are untrusted and must never be read as Qt rich text); sizes grow with the
application font; read-only boxes show the keyboard focus; disclosure
buttons ("Show details") are push buttons whose accessible name and
description say what they do and whether what they open is expanded or
collapsed.

Accessibility goes through what public PyQt offers and nothing else
(``docs/wizard.md``, "Accessibility", says what that leaves out).
"""

from __future__ import annotations

import os
from pathlib import Path

from launcher import strings as S
from launcher import style
from launcher.qt import (
    QApplication,
    QFont,
    QFontMetrics,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSize,
    QSizePolicy,
    QStyle,
    Qt,
    QWidget,
    pyqtSignal,
)

# Sizes are for a 20 px line (12 pt DejaVu Sans); a larger font scales them up.
REFERENCE_LINE = 20.0


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
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
    return label


def title_label(text: str) -> QLabel:
    """A screen's title: large, bold, and named for screen readers.

    A screen reader reads it as text, not as a heading: neither PyQt binding
    lets a label declare Qt's *Heading* role.
    """
    label = QLabel()
    label.setAccessibleName(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setText(text)
    label.setObjectName("title")
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * 1.45)
    font.setBold(True)
    label.setFont(font)
    return label


def bold(label: QLabel) -> QLabel:
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def muted(label: QLabel) -> QLabel:
    label.setStyleSheet(style.MUTED_STYLE)
    return label


def make_button(text: str, safe: bool) -> QPushButton:
    """A push button; only safe ones react to Enter (see ``flow.SAFE_BUTTONS``)."""
    button = QPushButton(text)
    button.setAutoDefault(safe)
    button.setDefault(False)
    button.setMinimumWidth(scaled(110))
    return button


def icon_label(pixmap: QStyle.StandardPixmap, widget: QWidget) -> QLabel:
    label = QLabel()
    widget_style = widget.style()
    if widget_style is not None:
        label.setPixmap(widget_style.standardIcon(pixmap).pixmap(40, 40))
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setFixedWidth(scaled(48))
    label.setAccessibleName("")
    return label


def display_path(path: Path) -> str:
    """A path as people type it: ``~/.securedrop_updater/...`` under the home directory."""
    home = os.environ.get("HOME")
    if home:
        try:
            return str(Path("~") / path.relative_to(home))
        except ValueError:
            pass
    return str(path)


def scroll_area(body: QWidget) -> QScrollArea:
    """A frameless vertical scroller: a screen's text never pushes its buttons off screen."""
    area = QScrollArea()
    area.setWidget(body)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    area.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
    return area


class ReadOnlyBox(QPlainTextEdit):
    """A read-only text box that takes the keyboard focus and shows it.

    It asks only for its minimum height, so a screen stays compact and any
    free room goes to it.
    """

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setTabChangesFocus(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setStyleSheet(style.FOCUS_STYLE)
        self.setMinimumHeight(self.fontMetrics().lineSpacing() * lines + 12)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), self.minimumHeight())


class Disclosure(QPushButton):
    """A button that shows or hides a part of the screen ("Show details").

    A plain push button, never checkable: a checkable one is announced as a
    check box, which it is not.  Its accessible name is what it does now
    ("Show details", "Hide details"; screen readers announce the change),
    and its accessible description says whether the part is "expanded" or
    "collapsed": public PyQt cannot give a push button Qt's *expandable*
    and *expanded* states, so the description carries them in words.
    """

    toggled_open = pyqtSignal(bool)

    def __init__(self, show_text: str, hide_text: str) -> None:
        super().__init__(show_text)
        self.show_text = show_text
        self.hide_text = hide_text
        self.expanded = False
        self.setAutoDefault(False)
        self.setDefault(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setStyleSheet(style.DISCLOSURE_STYLE)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.clicked.connect(self.toggle_open)
        self._update()

    def toggle_open(self) -> None:
        self.set_expanded(not self.expanded)

    def set_expanded(self, expanded: bool) -> None:
        if expanded == self.expanded:
            return
        self.expanded = expanded
        self._update()
        self.toggled_open.emit(expanded)

    def _update(self) -> None:
        self.setText(self.hide_text if self.expanded else self.show_text)
        widget_style = self.style()
        if widget_style is not None:
            arrow = (
                QStyle.StandardPixmap.SP_ArrowDown
                if self.expanded
                else QStyle.StandardPixmap.SP_ArrowRight
            )
            self.setIcon(widget_style.standardIcon(arrow))
        self.setAccessibleName(self.text().replace("&", ""))
        self.setAccessibleDescription(
            S.tr(S.DISCLOSURE_EXPANDED if self.expanded else S.DISCLOSURE_COLLAPSED)
        )
