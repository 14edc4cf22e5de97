"""The window's newer duties, in-process (pytest-qt, offscreen): the owed restart,
the notifier's hand-over, another updater, the administrator's section, key
expiry, accessibility and contrast.  The same behaviours are also checked on
a real X server by tests/window/.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wizardkit
from conftest import read_journal
from lockholder import hold_updater_lock, release_lock
from wizardkit import RUN, WAIT_MS

from launcher import qtapp, style
from launcher import strings as S
from launcher.flow import Button, Origin, Screen
from launcher.qt import QApplication, QLabel, QPalette, QPlainTextEdit, QProgressBar, Qt, QTimer
from launcher.wizard import Wizard, key_notice_days, run_wizard
from sdw_updater import events as ev
from sdw_updater.context import open_context
from sdw_updater.contract import UPDATER_LOCK, ExitCode
from sdw_updater.result import RunResult

INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = INSTANT + "[dom0]\nupdates = false\n"
DOM0_THEN_FAILURE = INSTANT + "[dom0]\nupdates = true\nhighstate_exit = 1\n"
EXPIRY = "The SecureDrop signing key expires on 2027-05-24 ({days} days left)."


make_wizard = pytest.fixture(wizardkit.make_wizard)


def run_to_end(qtbot: Any, wizard: Wizard, button: Any) -> str:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    return wizard.page


# ----- the owed restart ------------------------------------------------------------


def test_try_again_keeps_the_owed_restart(qtbot: Any, make_wizard: Callable[..., Wizard]) -> None:
    wizard = make_wizard(DOM0_THEN_FAILURE)
    assert run_to_end(qtbot, wizard, wizard.intro.start_button) == "failed"
    page = wizard.outcomes[Screen("failed")]
    assert page.shown_buttons == ("close", "retry", "reboot")
    assert S.tr(S.RESTART_OWED_TOO) in page.body.text()
    assert run_to_end(qtbot, wizard, page.buttons[Button("retry")]) == "failed"
    assert page.shown_buttons == ("close", "retry", "reboot")
    assert S.tr(S.RESTART_OWED_TOO) in page.body.text()
    assert wizard.focusWidget() is page.buttons[Button("close")]
    with qtbot.waitSignal(wizard.closed, timeout=WAIT_MS) as closed:
        qtbot.mouseClick(page.buttons[Button("reboot")], Qt.MouseButton.LeftButton)
    assert closed.args == [ExitCode.REBOOT_REQUIRED]


def test_a_success_after_an_owed_restart_asks_for_it(
    qtbot: Any, make_wizard: Callable[..., Wizard]
) -> None:
    wizard = make_wizard(NO_DOM0)
    wizard.flow.restart_owed = True  # an earlier run of this window updated dom0
    assert run_to_end(qtbot, wizard, wizard.intro.start_button) == "reboot"
    assert wizard.exit_code == ExitCode.REBOOT_REQUIRED
    assert "continue" not in wizard.outcomes[Screen("reboot")].shown_buttons


# ----- the notifier's hand-over and another updater -----------------------------------


def test_from_the_notifier_the_update_starts_without_asking(
    qtbot: Any, make_wizard: Callable[..., Wizard]
) -> None:
    wizard = make_wizard(NO_DOM0, origin=Origin.NOTIFIER)
    qtbot.waitUntil(lambda: wizard.page != "intro", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    assert wizard.page == "complete"
    assert wizard.outcomes[Screen("complete")].body.text() == S.tr(S.COMPLETE_BODY_FROM_NOTIFIER)
    assert not wizard.intro.cancel_note.isVisible()


def test_another_updater_is_named_before_any_introduction(
    qtbot: Any, make_wizard: Callable[..., Wizard]
) -> None:
    wizard = make_wizard(other_updater="sdw-updater --cli (process 4242)")
    assert wizard.page == "locked"
    page = wizard.outcomes[Screen("locked")]
    assert page.shown_buttons == ("close",)
    assert "process 4242" in page.technical.toPlainText()
    assert wizard.exit_code == ExitCode.LOCKED
    wizard.start_updates()
    assert wizard.page == "locked" and wizard.busy is None


def test_run_wizard_takes_the_lock_first(qtbot: Any, home: Path) -> None:
    path = home / "scenario.toml"
    path.write_text(NO_DOM0)
    ctx = open_context(True, str(path), home=home)
    holder = hold_updater_lock(ctx.store.directory)
    seen: list[str] = []

    def close() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, Wizard) and widget.isVisible():
                seen.append(widget.page)
                seen.append(widget.outcomes[Screen("locked")].technical.toPlainText())
                widget.outcomes[Screen("locked")].buttons[Button("close")].click()
                return
        QTimer.singleShot(20, close)

    QTimer.singleShot(20, close)
    try:
        assert run_wizard(ctx, RUN, skip_netcheck=False) == ExitCode.LOCKED
    finally:
        release_lock(holder)
    assert seen[0] == "locked"
    assert f"process {holder.pid}" in seen[1]


def test_run_wizard_says_a_lock_file_that_cannot_be_used(qtbot: Any, home: Path) -> None:
    """A FIFO where the lock goes: the window says so (not "another update"), exit 5."""
    path = home / "scenario.toml"
    path.write_text(NO_DOM0)
    ctx = open_context(True, str(path), home=home)
    lock = Path(os.environ["XDG_RUNTIME_DIR"]) / UPDATER_LOCK
    os.mkfifo(lock)
    seen: list[str] = []

    def close() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, Wizard) and widget.isVisible():
                page = widget.outcomes[widget.flow.screen]
                seen.extend([widget.page, page.title.text(), page.technical.toPlainText()])
                seen.append(",".join(page.shown_buttons))
                widget.close()
                return
        QTimer.singleShot(20, close)

    QTimer.singleShot(20, close)
    assert run_wizard(ctx, RUN, skip_netcheck=False) == ExitCode.LOCKED
    assert seen[0] == "lock_unusable", seen
    assert "already running" not in seen[1] and seen[1] == S.tr(S.LOCK_UNUSABLE_TITLE)
    assert f"{lock} cannot be used (it is not a regular file)" in seen[2]
    assert seen[3] == "close"
    assert lock.is_fifo()
    assert read_journal(home) == []


def test_brought_to_the_front_it_says_so(make_wizard: Callable[..., Wizard]) -> None:
    wizard = make_wizard()
    assert not wizard.banner.isVisible()
    wizard.bring_to_front()
    assert wizard.banner.isVisible()
    assert wizard.banner.text() == S.tr(S.ALREADY_OPEN)


# ----- notices ------------------------------------------------------------------------


def failed_with(wizard: Wizard, days: int) -> None:
    text = EXPIRY.format(days=days)
    wizard.progress.handle_all([ev.Notice(text, days_left=days)])
    wizard.show_result(RunResult(ExitCode.FAILED, "boom", warnings=[text]))


def test_administrator_details_are_collapsed(make_wizard: Callable[..., Wizard]) -> None:
    wizard = make_wizard()
    failed_with(wizard, 174)
    page = wizard.outcomes[Screen("failed")]
    assert page.admin_button.isVisible() and not page.admin.isVisible()
    assert page.admin_button.accessibleDescription() == "collapsed"
    page.admin_button.click()
    assert page.admin.isVisible()
    assert page.admin_button.accessibleDescription() == "expanded"
    assert "boom" in page.technical.toPlainText()
    assert "174 days left" in page.admin.notices.text()


@pytest.mark.parametrize(("days", "journalist"), [(174, False), (31, False), (30, True), (3, True)])
def test_key_expiry_reaches_journalists_only_when_close(
    make_wizard: Callable[..., Wizard], days: int, journalist: bool
) -> None:
    wizard = make_wizard()
    failed_with(wizard, days)
    page = wizard.outcomes[Screen("failed")]
    assert page.journalist_notices.isVisible() is journalist
    if journalist:
        assert f"in {days} days" in page.journalist_notices.text()
    assert f"{days} days left" in page.admin.notices.text()  # always for the administrator


def test_key_notice_days_comes_from_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert key_notice_days(tmp_path) == 30
    (tmp_path / "sdw-updater-settings.json").write_text('{"key_notice_days": 90}')
    assert key_notice_days(tmp_path) == 90
    # The settings file is the one place: the environment variable is gone.
    monkeypatch.setenv("SDW_UPDATER_KEY_NOTICE_DAYS", "7")
    assert key_notice_days(tmp_path) == 90
    for bad in ("-1", "366", '"ten"', "30.5", "true", "null"):
        (tmp_path / "sdw-updater-settings.json").write_text(f'{{"key_notice_days": {bad}}}')
        assert key_notice_days(tmp_path) == 30, bad


# ----- accessibility ------------------------------------------------------------------


def test_bars_are_named_after_what_they_measure_and_report_0_to_100(
    make_wizard: Callable[..., Wizard],
) -> None:
    wizard = make_wizard()
    wizard.progress.handle_all([ev.TemplatesPlanned(("tpl-a", "tpl-b"))])
    bars = wizard.progress.findChildren(QProgressBar)
    assert len(bars) == 3
    names = {bar.accessibleName() for bar in bars}
    assert names == {
        S.tr(S.OVERALL_BAR_NAME),
        S.template_bar_name("tpl-a"),
        S.template_bar_name("tpl-b"),
    }
    assert all((bar.minimum(), bar.maximum()) == (0, 100) for bar in bars)
    assert not any(bar.isTextVisible() for bar in bars)  # no text drawn on the chunk


def test_titles_are_named_headings(make_wizard: Callable[..., Wizard]) -> None:
    wizard = make_wizard()
    for page in [wizard.intro, wizard.progress, *wizard.outcomes.values()]:
        title = page.findChild(QLabel, "title")
        assert title is not None and title.accessibleName() == title.text()
        assert title.font().bold() and title.font().pointSizeF() > wizard.font().pointSizeF()


def test_read_only_boxes_take_and_show_the_focus(make_wizard: Callable[..., Wizard]) -> None:
    wizard = make_wizard()
    boxes = wizard.findChildren(QPlainTextEdit)
    assert boxes
    for box in boxes:
        assert box.isReadOnly()
        assert box.focusPolicy() == Qt.FocusPolicy.StrongFocus
        assert "QPlainTextEdit:focus" in box.styleSheet()
        assert f"border: 2px solid {style.HIGHLIGHT}" in box.styleSheet()
    assert style.contrast(style.HIGHLIGHT, style.BASE) >= 3.0  # the focus frame itself


@pytest.mark.parametrize(("what", "text", "background"), style.TEXT_PAIRS)
def test_every_text_colour_has_4_5_to_1_contrast(what: str, text: str, background: str) -> None:
    assert style.contrast(text, background) >= style.MIN_CONTRAST, what


def test_contrast_arithmetic() -> None:
    assert style.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert style.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    with pytest.raises(ValueError):
        style.luminance("blue")


def test_the_application_uses_these_colours(qapp: Any) -> None:
    app = qtapp.application()
    assert app is qapp
    palette = app.palette()
    pairs = [
        (QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
        (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
        (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
        (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight),
        (QPalette.ColorRole.ToolTipText, QPalette.ColorRole.ToolTipBase),
        (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.Base),
        (QPalette.ColorRole.Link, QPalette.ColorRole.Base),
    ]
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for text, background in pairs:
            ratio = style.contrast(
                palette.color(group, text).name(), palette.color(group, background).name()
            )
            assert ratio >= style.MIN_CONTRAST, (group, text, background)
    assert not app.windowIcon().isNull()


def test_key_expiry_is_always_in_status(home: Path) -> None:
    from conftest import run_updater

    result = run_updater(home, "--status", scenario=INSTANT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # The simulator plays the real release key: it expires 2027-05-24 13:19:23 UTC.
    expected = (1811164763 - time.time()) // 86400
    assert abs(report["key_expires_in_days"] - expected) <= 1
