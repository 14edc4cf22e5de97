"""The reminder dialog (``sdw_notify/dialog.py``), driven with pytest-qt the way a user would.

Enter, keypad Enter, Escape and closing all mean "Remind me later"; only a
deliberate choice checks for updates.  Its text says how long it has been,
or that it cannot tell, and warns that SecureDrop will be closed only when
sd-app runs.
"""

from __future__ import annotations

import pytest

from launcher.qt import QApplication, QLabel, Qt, QtGui, QTimer
from sdw_notify import dialog
from sdw_notify.decision import decide

NOW = 1_750_000_000.0
OVERDUE = decide(NOW - 12 * 86400 - 5, NOW, 7200)
UNKNOWN = decide(None, NOW, 7200)


@pytest.fixture
def shown(qtbot):
    def make(decision=OVERDUE, sd_app_running=False):
        box = dialog.NotifyDialog(decision, sd_app_running)
        qtbot.addWidget(box)
        box.show()
        qtbot.waitExposed(box)
        return box

    return make


def _all_text(box: dialog.NotifyDialog) -> str:
    return f"{box.windowTitle()}\n{box.text()}\n{box.informativeText()}"


def test_buttons_and_their_labels(shown):
    box = shown()
    labels = sorted(button.text() for button in box.buttons())
    assert labels == ["Check for updates", "Remind me later"]
    assert box.defaultButton() is box.later_button
    assert box.escapeButton() is box.later_button
    assert "Security check recommended" in box.text()


def test_enter_by_accident_does_not_start_an_update(shown, qtbot):
    box = shown()
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert not box.isVisible()
    assert box.choice() is dialog.Choice.LATER


def test_keypad_enter_too(shown, qtbot):
    box = shown()
    qtbot.keyClick(box, Qt.Key.Key_Enter)
    assert box.choice() is dialog.Choice.LATER


def test_escape_means_remind_me_later(shown, qtbot):
    box = shown()
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    assert not box.isVisible()
    assert box.choice() is dialog.Choice.LATER


def test_closing_the_window_means_remind_me_later(shown):
    box = shown()
    box.close()
    assert box.choice() is dialog.Choice.LATER


def test_clicking_check_for_updates(shown, qtbot):
    box = shown()
    qtbot.mouseClick(box.check_button, Qt.MouseButton.LeftButton)
    assert not box.isVisible()
    assert box.choice() is dialog.Choice.CHECK


def test_clicking_remind_me_later(shown, qtbot):
    box = shown()
    qtbot.mouseClick(box.later_button, Qt.MouseButton.LeftButton)
    assert box.choice() is dialog.Choice.LATER


def test_text_when_sd_app_is_running_warns_it_will_be_closed(shown):
    text = _all_text(shown(sd_app_running=True))
    assert "SecureDrop app is open" in text
    assert "will be closed" in text
    assert "save your work" in text


def test_text_when_sd_app_is_halted_says_nothing_about_closing(shown):
    text = _all_text(shown(sd_app_running=False))
    assert "closed" not in text
    assert "SecureDrop app is open" not in text


def test_text_says_how_long_or_that_it_cannot_tell(shown):
    assert "in 12 days" in _all_text(shown(OVERDUE))
    unknown = _all_text(shown(UNKNOWN))
    assert "cannot tell when it last checked" in unknown
    assert "%n" not in unknown


def shown_paragraphs(box: dialog.NotifyDialog) -> list[str]:
    """The explanation's paragraphs as the dialog lays them out.

    A QLabel shows its text as HTML when its format is rich text (or
    automatic, and the text looks like HTML): then a blank line is no
    paragraph break.  Each paragraph is one block of the laid-out document.
    """
    label = box.findChild(QLabel, "qt_msgbox_informativelabel")
    assert label is not None
    text, form = label.text(), label.textFormat()
    document = QtGui.QTextDocument()
    automatic = form == Qt.TextFormat.AutoText and Qt.mightBeRichText(text)  # type: ignore[attr-defined]
    if form == Qt.TextFormat.RichText or automatic:
        document.setHtml(text)
    else:
        document.setPlainText(text)
    return [line.strip() for line in document.toPlainText().splitlines() if line.strip()]


@pytest.mark.parametrize("running", [True, False])
def test_the_explanation_keeps_its_paragraphs(shown, running):
    """How long it takes, and that the app will close, each stand out as their own paragraph."""
    box = shown(OVERDUE, running)
    _title, _headline, body = dialog.texts(OVERDUE, running)
    assert shown_paragraphs(box) == body.split("\n\n")
    assert len(shown_paragraphs(box)) == (3 if running else 2)


def test_texts_do_not_leak_internal_words():
    for decision in (OVERDUE, UNKNOWN):
        for running in (True, False):
            joined = " ".join(dialog.texts(decision, running))
            for word in ("dom0", "sd-app", "threshold", "uptime", "None"):
                assert word not in joined


def _press_on_modal(*keys: Qt.Key) -> None:
    """Once the modal dialog is up, type keys into whatever has the focus, as a user would."""
    from pytestqt.qtbot import QtBot

    def press() -> None:
        modal = QApplication.activeModalWidget()
        if modal is None:
            QTimer.singleShot(20, press)
            return
        for key in keys:
            QtBot.keyClick(modal.focusWidget() or modal, key)

    QTimer.singleShot(20, press)


@pytest.mark.parametrize("running", [True, False])
def test_ask_runs_modally_and_enter_answers_later(qapp, running):
    _press_on_modal(Qt.Key.Key_Return)
    assert dialog.ask(OVERDUE, sd_app_running=running) is dialog.Choice.LATER


def test_ask_escape_answers_later(qapp):
    _press_on_modal(Qt.Key.Key_Escape)
    assert dialog.ask(UNKNOWN, sd_app_running=False) is dialog.Choice.LATER


def test_a_deliberate_tab_then_enter_checks_for_updates(qapp):
    _press_on_modal(Qt.Key.Key_Backtab, Qt.Key.Key_Return)
    assert dialog.ask(OVERDUE, sd_app_running=False) is dialog.Choice.CHECK


def test_ask_reuses_the_application(qapp):
    assert dialog.application() is qapp
