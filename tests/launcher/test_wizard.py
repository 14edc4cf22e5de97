"""The updater's window (``launcher/wizard.py``) against the simulated Qubes, in-process (pytest-qt).

Each test builds the real window on a real engine run in its own HOME and
asserts what a journalist sees and what the process would exit with: the
introduction, every outcome screen and its buttons, the owed restart kept
through Try again, the notifier's hand-over, another updater, the progress
and its bounds, the fit on the screen, the administrator's section and the
key expiry notice, what a screen reader is told, and ``run_wizard``.  The
same flows on a real X server, from the installed program: tests/window/.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import INSTANT, read_journal, read_status, tools
from helpers import client_started as journal_client_started
from helpers.lockholder import hold_updater_lock, release_lock
from helpers.wizard import RUN, WAIT_MS, Factory

from launcher import strings as S
from launcher import style
from launcher.flow import BASE_BUTTONS, SAFE_BUTTONS, Button, Origin, Screen
from launcher.pages import DETAILS_MAX_LINES, OutcomePage
from launcher.qt import (
    QApplication,
    QFont,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    Qt,
    QTimer,
)
from launcher.widgets import scaled
from launcher.wizard import (
    DETAILS_HEIGHT,
    FRAME_ALLOWANCE,
    HEIGHT,
    WIDTH,
    Wizard,
    key_notice_days,
    run_wizard,
)
from sdw_updater import events as ev
from sdw_updater.context import open_context
from sdw_updater.contract import UPDATER_LOCK, ExitCode
from sdw_updater.freshness import Action, Decision
from sdw_updater.result import RunResult
from sdw_updater.steps import Step

NO_DOM0 = INSTANT + "[dom0]\nupdates = false\n"
TEMPLATE_ERROR = NO_DOM0 + '[templates."sd-viewer-debian-13"]\nresult = "error"\n'
NETWORK_DOWN = INSTANT + '[network]\nconnectivity = "none"\n'
DIST_UPGRADE = '[sim]\ntime_scale = 0.0\nqubes_release = "4.4"\n'
CLIENT_FAILS = NO_DOM0 + "[client]\nstart_exit = 1\n"
# dom0 is updated, then the Salt state fails: a failure that owes a restart.
DOM0_THEN_FAILURE = INSTANT + "[dom0]\nupdates = true\nhighstate_exit = 1\n"
EXPIRY = "The SecureDrop signing key expires on 2027-05-24 ({days} days left)."


# About two real seconds, spread over every kind of step.
TIMED = """
[sim]
time_scale = 0.002
[dom0]
check_duration = 50
update_duration = 200
highstate_duration = 200
[templates."fedora-43-xfce"]
duration = 150
[templates."whonix-gateway-17"]
duration = 250
[templates."sd-inbox-debian-13"]
duration = 200
[templates."sd-viewer-debian-13"]
duration = 300
"""


def start(qtbot: Any, wizard: Wizard) -> None:
    qtbot.mouseClick(wizard.intro.start_button, Qt.MouseButton.LeftButton)
    assert wizard.page == "progress"
    assert wizard.busy == "update"


def run_to_end(qtbot: Any, wizard: Wizard) -> str:
    start(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    return wizard.page


def click_and_wait(qtbot: Any, wizard: Wizard, button: Any) -> str:
    """Click ``button`` and wait until the window is idle: the screen it ends on."""
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    return wizard.page


def close_and_get_code(qtbot: Any, wizard: Wizard, button: Any) -> int:
    with qtbot.waitSignal(wizard.closed, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not wizard.isVisible()
    return int(blocker.args[0])


def client_started(home: Path) -> bool:
    return journal_client_started(read_journal(home))


def texts(wizard: Wizard, page: str) -> str:
    """Every visible text of a screen, for "does it say X" assertions."""
    screen = Screen(page)
    outcome = wizard.outcomes.get(screen)
    widget = outcome if outcome is not None else wizard.stack.currentWidget()
    assert widget is not None
    parts = [label.text() for label in widget.findChildren(QLabel) if label.isVisible()]
    if outcome is not None:
        parts.append(outcome.technical.toPlainText())
    return "\n".join(parts)


# ----- introduction --------------------------------------------------------------


def test_intro_explains_and_focuses_cancel(make_wizard: Factory) -> None:
    wizard = make_wizard()
    assert wizard.page == "intro"
    shown = texts(wizard, "intro")
    assert "usually takes about" in shown and "minutes" in shown
    assert "cannot use SecureDrop" in shown
    assert "Do not turn off or restart" in shown
    assert "No successful update" in shown
    assert wizard.focusWidget() is wizard.intro.cancel_button
    assert not wizard.intro.start_button.autoDefault()
    assert not wizard.intro.start_button.isDefault()
    assert wizard.intro.cancel_button.nextInFocusChain() is wizard.intro.start_button
    assert wizard.exit_code == 1


def test_intro_estimate_uses_this_workstations_history(make_wizard: Factory, home: Path) -> None:
    state = home / ".securedrop_updater"
    state.mkdir(parents=True)
    (state / "sdw-run-history.json").write_text('{"runs": [{"total": 600}, {"total": 660}]}')
    wizard = make_wizard()
    assert S.intro_duration(630) in texts(wizard, "intro")
    assert "about 10 minutes" in wizard.intro.duration.text()


def test_enter_never_starts_the_update(qtbot: Any, make_wizard: Factory, home: Path) -> None:
    wizard = make_wizard()
    wizard.intro.start_button.setFocus()
    qtbot.keyClick(wizard.intro.start_button, Qt.Key.Key_Return)
    qtbot.keyClick(wizard.intro.start_button, Qt.Key.Key_Enter)
    qtbot.keyClick(wizard, Qt.Key.Key_Return)
    qtbot.wait(50)
    assert wizard.page == "intro"
    assert wizard.busy is None
    assert read_journal(home) == []


def test_cancel_exits_1_and_changes_nothing(qtbot: Any, make_wizard: Factory, home: Path) -> None:
    wizard = make_wizard()
    assert close_and_get_code(qtbot, wizard, wizard.intro.cancel_button) == 1
    assert wizard.exit_code == 1
    assert read_journal(home) == []
    assert not (home / ".securedrop_updater" / "sdw-update-status").exists()


def test_close_button_on_intro_is_cancel(qtbot: Any, make_wizard: Factory) -> None:
    wizard = make_wizard()
    with qtbot.waitSignal(wizard.closed) as blocker:
        assert wizard.close()
    assert blocker.args == [1]


def test_esc_on_intro_closes(qtbot: Any, make_wizard: Factory) -> None:
    wizard = make_wizard()
    with qtbot.waitSignal(wizard.closed) as blocker:
        qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert blocker.args == [1]


# ----- full flows -------------------------------------------------------------------


def test_success_then_continue_starts_client_exit_0(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    wizard = make_wizard(NO_DOM0)
    assert run_to_end(qtbot, wizard) == "complete"
    page = wizard.outcomes[Screen("complete")]
    assert "complete" in page.title.text()
    assert wizard.focusWidget() is page.buttons[Button("continue")]
    assert wizard.exit_code == 8  # closing now would leave the client not started
    assert not client_started(home)
    assert close_and_get_code(qtbot, wizard, page.buttons[Button("continue")]) == 0
    assert client_started(home)
    assert read_status(home)["status"] == "0"
    assert all(row.state in ("done", "no_updates") for row in wizard.progress.rows.values())


def test_dom0_updated_asks_for_reboot_exit_3(qtbot: Any, make_wizard: Factory, home: Path) -> None:
    wizard = make_wizard(INSTANT)
    assert run_to_end(qtbot, wizard) == "reboot"
    page = wizard.outcomes[Screen("reboot")]
    assert "SecureDrop will not start until you restart" in page.body.text()
    assert wizard.focusWidget() is page.buttons[Button("later")]
    assert not page.buttons[Button("reboot")].autoDefault()
    assert close_and_get_code(qtbot, wizard, page.buttons[Button("later")]) == 3
    assert not client_started(home)
    assert read_status(home)["status"] == "2"


def test_reboot_now_goes_through_the_host(qtbot: Any, make_wizard: Factory, home: Path) -> None:
    wizard = make_wizard(INSTANT)
    assert run_to_end(qtbot, wizard) == "reboot"
    code = close_and_get_code(
        qtbot, wizard, wizard.outcomes[Screen("reboot")].buttons[Button("reboot")]
    )
    assert code == 3
    assert "reboot" in tools(read_journal(home))
    assert not client_started(home)


def test_reboot_failure_is_shown_and_buttons_come_back(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    wizard = make_wizard(INSTANT + '[faults."reboot"]\nmode = "exit"\nexit = 1\n')
    assert run_to_end(qtbot, wizard) == "reboot"
    page = wizard.outcomes[Screen("reboot")]
    qtbot.mouseClick(page.buttons[Button("reboot")], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    assert wizard.isVisible()
    assert "could not be restarted" in page.status.text()
    assert page.buttons[Button("reboot")].isEnabled() and page.buttons[Button("later")].isEnabled()
    assert wizard.exit_code == 3


def test_pending_reboot_is_shown_at_once_without_updating(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    decision = Decision(Action.REBOOT_PENDING, "test", previous_failed=True)
    wizard = make_wizard(INSTANT, decision)
    assert wizard.page == "reboot"
    body = wizard.outcomes[Screen("reboot")].body.text()
    assert "has not restarted since" in body
    assert "did not finish" in body
    assert wizard.exit_code == 3
    assert (
        close_and_get_code(
            qtbot, wizard, wizard.outcomes[Screen("reboot")].buttons[Button("later")]
        )
        == 3
    )
    assert read_journal(home) == []


def test_template_failure_names_the_template_exit_1(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    wizard = make_wizard(TEMPLATE_ERROR)
    assert run_to_end(qtbot, wizard) == "failed"
    page = wizard.outcomes[Screen("failed")]
    body = page.body.text()
    assert "sd-viewer-debian-13" in body
    assert S.step_words("templates") in body
    assert page.log_path.text() == "~/.securedrop_updater/logs/updater.log"
    assert "sd-viewer-debian-13" in page.technical.toPlainText()
    assert wizard.focusWidget() is page.buttons[Button("close")]
    assert not page.buttons[Button("retry")].autoDefault()
    assert wizard.progress.rows["sd-viewer-debian-13"].state == "failed"
    assert wizard.progress.rows["sd-viewer-debian-13"].text == S.tr(S.TEMPLATE_FAILED)
    assert close_and_get_code(qtbot, wizard, page.buttons[Button("close")]) == 1
    assert not client_started(home)


def test_retry_runs_the_updates_again(qtbot: Any, make_wizard: Factory, home: Path) -> None:
    wizard = make_wizard(TEMPLATE_ERROR)
    assert run_to_end(qtbot, wizard) == "failed"
    first_page = wizard.progress
    qtbot.mouseClick(
        wizard.outcomes[Screen("failed")].buttons[Button("retry")], Qt.MouseButton.LeftButton
    )
    assert wizard.page == "progress"
    assert wizard.progress is not first_page
    assert wizard.progress.bar.value() == 0
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    assert wizard.page == "failed"
    assert tools(read_journal(home)).count("qubes-vm-update") == 2


def test_network_down_exit_4_and_state_untouched(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    wizard = make_wizard(NETWORK_DOWN)
    assert run_to_end(qtbot, wizard) == "network"
    assert "not connected" in wizard.outcomes[Screen("network")].body.text()
    assert not (home / ".securedrop_updater" / "sdw-update-status").exists()
    assert "qubes-dom0-update" not in tools(read_journal(home))
    assert (
        close_and_get_code(
            qtbot, wizard, wizard.outcomes[Screen("network")].buttons[Button("close")]
        )
        == 4
    )


def test_skip_netcheck_is_passed_to_the_engine(qtbot: Any, make_wizard: Factory) -> None:
    wizard = make_wizard(NETWORK_DOWN + "[dom0]\nupdates = false\n", skip_netcheck=True)
    assert run_to_end(qtbot, wizard) == "complete"


def test_another_updater_running_exit_5(qtbot: Any, make_wizard: Factory, home: Path) -> None:
    wizard = make_wizard(NO_DOM0)
    holder = hold_updater_lock(wizard.ctx.store.directory)
    try:
        assert run_to_end(qtbot, wizard) == "locked"
        assert "already running" in wizard.outcomes[Screen("locked")].title.text()
        assert wizard.exit_code == 5
    finally:
        release_lock(holder)
    # Once the other updater is gone, "Try again" runs the updates.
    qtbot.mouseClick(
        wizard.outcomes[Screen("locked")].buttons[Button("retry")], Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    assert wizard.page == "complete"


def test_dist_upgrade_exit_7(qtbot: Any, make_wizard: Factory, home: Path) -> None:
    wizard = make_wizard(DIST_UPGRADE)
    assert run_to_end(qtbot, wizard) == "dist_upgrade"
    assert "distribution upgrade" in wizard.outcomes[Screen("dist_upgrade")].technical.toPlainText()
    assert wizard.outcomes[Screen("dist_upgrade")].shown_buttons == ("close",)
    assert "qubes-dom0-update" not in tools(read_journal(home))
    code = close_and_get_code(
        qtbot, wizard, wizard.outcomes[Screen("dist_upgrade")].buttons[Button("close")]
    )
    assert code == 7


def test_trust_failure_shows_the_engines_message_exit_6(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    # The real trust checks, against a key file holding an impostor key.
    wizard = make_wizard(INSTANT + '[trust]\ndom0_key = "rogue"\n')
    assert run_to_end(qtbot, wizard) == "trust"
    page = wizard.outcomes[Screen("trust")]
    assert "key" in page.technical.toPlainText().lower()
    assert page.shown_buttons == ("close",)
    assert "qubes-dom0-update" not in tools(read_journal(home))  # nothing after the check
    assert close_and_get_code(qtbot, wizard, page.buttons[Button("close")]) == 6


def test_client_start_failure_exit_8_and_retry(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    wizard = make_wizard(CLIENT_FAILS)
    assert run_to_end(qtbot, wizard) == "complete"
    qtbot.mouseClick(
        wizard.outcomes[Screen("complete")].buttons[Button("continue")], Qt.MouseButton.LeftButton
    )
    assert wizard.busy == "client"
    assert not wizard.close()  # refused while the client is starting
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    assert wizard.page == "client_failed"
    assert "sd-app" in wizard.outcomes[Screen("client_failed")].technical.toPlainText()
    assert wizard.exit_code == 8
    qtbot.mouseClick(
        wizard.outcomes[Screen("client_failed")].buttons[Button("retry")], Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    assert wizard.page == "client_failed"
    page = wizard.outcomes[Screen("client_failed")]
    assert close_and_get_code(qtbot, wizard, page.buttons[Button("close")]) == 8


# ----- the owed restart ------------------------------------------------------------


def test_try_again_keeps_the_owed_restart(qtbot: Any, make_wizard: Callable[..., Wizard]) -> None:
    wizard = make_wizard(DOM0_THEN_FAILURE)
    assert click_and_wait(qtbot, wizard, wizard.intro.start_button) == "failed"
    page = wizard.outcomes[Screen("failed")]
    assert page.shown_buttons == ("close", "retry", "reboot")
    assert S.tr(S.RESTART_OWED_TOO) in page.body.text()
    assert wizard.exit_code == 1
    assert click_and_wait(qtbot, wizard, page.buttons[Button("retry")]) == "failed"
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
    assert click_and_wait(qtbot, wizard, wizard.intro.start_button) == "reboot"
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


# ----- progress -------------------------------------------------------------------


def test_progress_is_smooth_and_never_goes_back(
    qtbot: Any, make_wizard: Factory, home: Path
) -> None:
    wizard = make_wizard(TIMED)
    start(qtbot, wizard)
    values: list[int] = []
    wizard.progress.bar.valueChanged.connect(values.append)
    steps: list[str] = []
    seen_rows: dict[str, list[float]] = {}

    def watch() -> bool:
        for name, row in wizard.progress.rows.items():
            seen_rows.setdefault(name, []).append(row.percent)
        steps.append(wizard.progress.step_label.text())
        return wizard.busy is None

    qtbot.waitUntil(watch, timeout=WAIT_MS)
    assert wizard.page == "reboot"
    assert values == sorted(values)
    assert values[-1] == 100
    assert wizard.progress.bar.maximum() == 100  # what screen readers report: 0-100
    assert len(set(values)) > 10  # eased, not a few jumps
    for percents in seen_rows.values():
        assert percents == sorted(percents)
    assert S.step_words("dom0_update") in steps
    assert S.step_words("templates") in steps
    assert set(wizard.progress.rows) == {
        "fedora-43-xfce",
        "sd-inbox-debian-13",
        "sd-viewer-debian-13",
    }


def test_closing_is_refused_mid_update_and_allowed_after(qtbot: Any, make_wizard: Factory) -> None:
    wizard = make_wizard(TIMED)
    start(qtbot, wizard)
    qtbot.wait(100)
    assert wizard.busy == "update"
    assert not wizard.close()
    assert wizard.isVisible()
    assert wizard.progress.close_refused
    assert "cannot be closed yet" in wizard.progress.notice.text()
    qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert wizard.isVisible()
    assert wizard.page == "progress"
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    with qtbot.waitSignal(wizard.closed) as blocker:
        assert wizard.close()
    assert blocker.args == [3]


def test_ui_thread_keeps_running_during_a_slow_tool(qtbot: Any, make_wizard: Factory) -> None:
    # The dom0 check alone takes about one real second.
    wizard = make_wizard(
        "[sim]\ntime_scale = 0.01\n[dom0]\nupdates = false\ncheck_duration = 100\n"
        "highstate_duration = 5\n"
        + "".join(
            f'[templates."{name}"]\nduration = 5\n'
            for name in (
                "fedora-43-xfce",
                "whonix-gateway-17",
                "sd-inbox-debian-13",
                "sd-viewer-debian-13",
            )
        )
    )
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    began = time.monotonic()
    start(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    took = time.monotonic() - began
    timer.stop()
    assert took >= 0.9, "the scenario should hold a tool for about a second"
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= 0.5 * took / 0.02
    assert max(gaps) < 0.3
    assert wizard.page == "complete"


def test_elapsed_and_time_left_are_shown(qtbot: Any, make_wizard: Factory) -> None:
    wizard = make_wizard(TIMED)
    start(qtbot, wizard)
    qtbot.waitUntil(lambda: wizard.progress.smooth.target > 5, timeout=WAIT_MS)
    assert wizard.progress.elapsed_label.text().startswith("Time elapsed: 00:0")
    left = wizard.progress.left_label.text()
    assert "left" in left or "longer" in left or "Estimating" in left
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)


def first_template() -> str:
    """A template of the simulator's inventory, whichever Qubes release it plays."""
    from sdw_sim.scenario import default_inventory

    return sorted(n for n, vm in default_inventory().items() if vm.klass == "TemplateVM")[0]


def room(wizard: Wizard) -> int:
    """The most height the window may take on its screen."""
    return wizard.available_area().height() - FRAME_ALLOWANCE


def test_details_pane_streams_output_and_is_bounded(qtbot: Any, make_wizard: Factory) -> None:
    flooded = first_template()
    wizard = make_wizard(NO_DOM0 + f'[templates."{flooded}"]\nflood_mb = 2\n')
    start(qtbot, wizard)
    page = wizard.progress
    assert not page.details.isVisible()
    assert wizard.height() == min(scaled(HEIGHT), room(wizard))
    assert page.details_button.accessibleDescription() == "collapsed"
    qtbot.mouseClick(page.details_button, Qt.MouseButton.LeftButton)
    assert page.details.isVisible()
    assert page.details_button.accessibleDescription() == "expanded"
    assert wizard.height() == min(scaled(HEIGHT + DETAILS_HEIGHT), room(wizard))
    assert page.details.maximumBlockCount() == DETAILS_MAX_LINES
    qtbot.waitUntil(lambda: wizard.busy is None, timeout=WAIT_MS)
    assert wizard.page == "complete"
    assert wizard.height() == min(scaled(HEIGHT), room(wizard))
    text = page.details.toPlainText()
    assert page.details.blockCount() <= DETAILS_MAX_LINES
    assert flooded in text
    qtbot.mouseClick(page.details_button, Qt.MouseButton.LeftButton)
    assert not page.details.isVisible()


def test_untrusted_text_is_never_rich_text(qtbot: Any, make_wizard: Factory) -> None:
    wizard = make_wizard()
    wizard.progress.handle_all(
        [ev.TemplateProgress("<b>evil</b>", ev.TemplateState.UPDATING, 10.0)]
    )
    row = wizard.progress.rows["<b>evil</b>"]
    assert row.name_label.textFormat() == Qt.TextFormat.PlainText
    for label in wizard.findChildren(QLabel):
        if label.text() and not label.pixmap():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.text()


# ----- layout and keyboard ----------------------------------------------------------


def test_every_screen_fits_the_screen(make_wizard: Factory) -> None:
    assert_screens_fit(make_wizard())


def test_a_large_system_font_still_fits(qapp: Any, make_wizard: Factory) -> None:
    normal = qapp.font()
    big = QFont(normal)
    big.setPointSizeF(normal.pointSizeF() * 1.6)
    qapp.setFont(big)
    try:
        wizard = make_wizard()
        assert wizard.width() > WIDTH
        assert_screens_fit(wizard)
    finally:
        qapp.setFont(normal)


def assert_screens_fit(wizard: Wizard) -> None:
    """The window stays within the screen, resizable; no screen loses its buttons.

    A screen's body scrolls inside the window when it is longer than the
    room there is; its title and its footer (buttons, notices) always fit.
    """
    area = wizard.available_area()
    assert wizard.width() <= area.width() and wizard.height() <= area.height()
    assert wizard.minimumSize() != wizard.maximumSize()  # resizable
    # The longest failure there is: a step, two templates, a pending restart, notices.
    wizard.show_result(
        RunResult(
            ExitCode.FAILED,
            "These templates failed to update: a-long-template-name-of-a-workstation, "
            "another-long-template-name (qubes-vm-update exited with code 1).",
            failed_step=Step.TEMPLATES,
            templates={
                "a-long-template-name-of-a-workstation": ev.TemplateState.FAILED,
                "another-long-template-name": ev.TemplateState.FAILED,
            },
            dom0_updated=True,
            warnings=["The SecureDrop release key expires in 20 days."],
        )
    )
    # The fullest progress: four templates, the longest hint, the close-refused notice.
    names = ("template-one", "template-two", "a-rather-long-template-name", "x")
    wizard.progress.handle_all([ev.TemplatesPlanned(names), ev.StepStarted("migration", "")])
    wizard.progress.refuse_close()
    pages = [wizard.intro, wizard.progress, *wizard.outcomes.values()]
    for page in pages:
        if isinstance(page, OutcomePage) and page.kind != "failed":
            page.fill(
                "word " * 80,
                technical="text " * 60,
                log_path="~/.securedrop_updater/logs/updater.log",
                admin_notices=["z"],
            )
        wizard.stack.setCurrentWidget(page)
        layout = page.layout()
        assert layout is not None
        layout.activate()
        assert page.minimumSizeHint().height() <= wizard.stack.height(), page.objectName()
        assert page.minimumSizeHint().width() <= wizard.stack.width(), page.objectName()
        for button in page.findChildren(QPushButton):
            if button.isVisibleTo(page) and button.parent() is page:
                assert page.rect().contains(button.geometry()), button.text()
    wizard.stack.setCurrentWidget(wizard.progress)
    wizard.progress.details_button.click()
    assert wizard.progress.minimumSizeHint().height() <= wizard.stack.height()
    assert wizard.height() <= area.height()


def test_outcome_screens_focus_a_safe_button(make_wizard: Factory) -> None:
    wizard = make_wizard()
    for kind, roles in BASE_BUTTONS.items():
        if kind not in wizard.outcomes:
            continue
        page = wizard.outcomes[Screen(kind)]
        for role in (*roles, "reboot"):
            assert page.buttons[Button(role)].autoDefault() == (role in SAFE_BUTTONS)
            assert not page.buttons[Button(role)].isDefault()
        assert roles[0] in SAFE_BUTTONS, kind


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


# ----- entry points ---------------------------------------------------------------------


def test_run_wizard_returns_the_exit_code(qtbot: Any, home: Path) -> None:
    path = home / "scenario.toml"
    path.write_text(INSTANT)
    ctx = open_context(True, str(path), home=home)

    def cancel() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, Wizard) and widget.isVisible():
                widget.intro.cancel_button.click()

    QTimer.singleShot(50, cancel)
    assert run_wizard(ctx, RUN, skip_netcheck=False) == 1


def test_without_a_display_the_text_flow_runs_instead(
    monkeypatch: pytest.MonkeyPatch, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    path = home / "scenario.toml"
    path.write_text(NO_DOM0)
    ctx = open_context(True, str(path), home=home)
    assert run_wizard(ctx, RUN, skip_netcheck=False) == 0
    assert client_started(home)
    assert "Started the SecureDrop app" in capsys.readouterr().out
