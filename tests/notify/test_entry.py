"""The notifier's entry (``sdw_notify/entry.py``): the reminder and its hand-over, in this process.

``main()`` runs here so that pytest-qt can answer the modal reminder as a
user would (keys and clicks); Enter means "remind me later", "Check for
updates" hands over to the updater (the very same decision and runner, in
text mode here) with the notifier's lock already free, loses the race to an
updater started meanwhile, and honours the Qubes upgrade check.  The
timer's arguments mean what argparse says.  ``sdw-notify`` as the timer
starts it: tests/e2e/test_notify.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers.notify import (
    DAY,
    TIMEOUT,
    dry_run,
    holding,
    notify_log,
    scenario_file,
    set_last_updated,
    state_of,
    update_tools_run,
)

from launcher.qt import QApplication, Qt, QTimer
from sdw_notify import dialog, entry
from sdw_updater.contract import NOTIFY_LOCK, UPDATER_LOCK


def _answer(action, before=None) -> list[str]:
    """When the modal reminder is up, run ``before`` then ``action(dialog)``.

    Returns the list that receives the reminder's explanation text once shown.
    """

    def poll() -> None:
        modal = QApplication.activeModalWidget()
        if not isinstance(modal, dialog.NotifyDialog):
            QTimer.singleShot(20, poll)
            return
        seen.append(modal.informativeText())
        if before is not None:
            before()
        action(modal)

    seen: list[str] = []
    QTimer.singleShot(20, poll)
    return seen


def _press_enter(modal: dialog.NotifyDialog) -> None:
    from pytestqt.qtbot import QtBot

    QtBot.keyClick(modal.focusWidget() or modal, Qt.Key.Key_Return)


def _click_check(modal: dialog.NotifyDialog) -> None:
    from pytestqt.qtbot import QtBot

    QtBot.mouseClick(modal.check_button, Qt.MouseButton.LeftButton)


@pytest.fixture
def launches(monkeypatch):
    """Record what the notifier asks of ``launch``; run it for real, in text mode.

    The wizard is the window front end of the very same decision and runner;
    the text front end lets a test finish without a person at the window.
    """
    from launcher import entry as launcher_entry

    real = launcher_entry.launch
    calls: list[dict] = []

    def spy(ctx, skip_delta, skip_netcheck=False, cli=False, from_notifier=False):
        probe = subprocess.run(  # is the notify lock free for others during the run?
            [
                sys.executable,
                "-c",
                "from sdw_updater.lock import Lock, lock_dir\nfrom sdw_updater.contract import NOTIFY_LOCK\n"
                "from sdw_updater.status import state_dir\n"
                "print(Lock(lock_dir(state_dir()) / NOTIFY_LOCK).acquire())",
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        calls.append(
            {
                "skip_delta": skip_delta,
                "skip_netcheck": skip_netcheck,
                "cli": cli,
                "from_notifier": from_notifier,
                "notify_lock_free": probe.stdout.strip() == "True",
            }
        )
        return real(ctx, skip_delta, skip_netcheck, True)

    monkeypatch.setattr(launcher_entry, "launch", spy)
    return calls


def test_enter_on_the_reminder_does_not_update(home, qapp, launches):
    _answer(_press_enter)
    assert entry.main(["--simulate"]) == 0
    assert launches == []
    assert update_tools_run(home) == []
    log = notify_log(home)
    assert "Warning the user: no trustworthy record" in log
    assert "User chose: remind_me_later" in log


@pytest.mark.parametrize(("power", "warned"), [("Running", True), ("Halted", False)])
def test_reminder_text_follows_sd_app_power(home, tmp_path, qapp, launches, power, warned):
    set_last_updated(home, 8 * DAY)
    scenario = scenario_file(tmp_path, f'[vms."sd-app"]\npower = "{power}"\n')
    seen = _answer(_press_enter)
    assert entry.main(["--simulate", scenario]) == 0
    (text,) = seen
    assert ("will be closed" in text) is warned
    assert "in 8 days" in text


@pytest.mark.parametrize(
    ("dom0_updates", "code", "said"),
    [
        (False, 0, "Started the SecureDrop app"),
        (True, 3, "Restart the computer"),  # dom0 updated: reboot, no client
    ],
)
def test_check_for_updates_hands_over_to_the_updater(
    home, tmp_path, qapp, launches, capsys, dom0_updates, code, said
):
    scenario = scenario_file(tmp_path, f"[dom0]\nupdates = {str(dom0_updates).lower()}\n")
    _answer(_click_check)
    result = entry.main(["--simulate", scenario])
    out = capsys.readouterr().out
    assert result == code, out
    assert said in out
    assert launches == [
        {
            "skip_delta": 0,
            "skip_netcheck": False,
            "cli": False,
            "from_notifier": True,
            "notify_lock_free": True,
        }
    ]
    tools = update_tools_run(home)
    assert tools.count("qubes-vm-update") == 1  # one updater, one run
    assert ("qubes-dom0-update" in tools) and ("qubesctl" in tools)
    assert "User chose: check_for_updates" in notify_log(home)
    updater_log = (state_of(home) / "logs" / "updater.log").read_text()
    assert "Launch decision: run_updater" in updater_log
    # the run recorded its success: the next reminder stays quiet
    assert dry_run("--simulate", scenario)["warn"] is False


def test_hand_over_loses_the_race_to_another_updater(home, qapp, launches, capsys):
    """An updater started while the dialog was open wins; nothing runs twice."""
    holder: list[subprocess.Popen[str]] = []
    stack: list = []

    def start_updater() -> None:
        context = holding(UPDATER_LOCK)
        holder.append(context.__enter__())
        stack.append(context)

    _answer(_click_check, before=start_updater)
    try:
        code = entry.main(["--simulate"])
    finally:
        for context in stack:
            context.__exit__(None, None, None)
    assert holder, "the competing updater never started"
    assert code == 5
    assert len(launches) == 1
    assert update_tools_run(home) == []


def _unusable(lock_name: str) -> None:
    """A directory where the lock file belongs (no process can hold it)."""
    from sdw_updater.lock import lock_dir
    from sdw_updater.status import state_dir

    (lock_dir(state_dir()) / lock_name).mkdir(parents=True)


def test_an_unusable_updater_lock_warns_and_the_hand_over_says_so(home, qapp, launches, capsys):
    """Not "an updater is running" (quiet forever): the reminder, then the updater's refusal."""
    _unusable(UPDATER_LOCK)
    _answer(_click_check)
    code = entry.main(["--simulate"])
    out = capsys.readouterr().out
    assert code == 5, out
    assert "lock file" in out and "cannot be used" in out
    assert "already running" not in out
    assert len(launches) == 1
    assert update_tools_run(home) == []


def test_an_unusable_notify_lock_still_warns(home, qapp, launches):
    _unusable(NOTIFY_LOCK)
    seen = _answer(_press_enter)
    assert entry.main(["--simulate"]) == 0
    assert seen, "the reminder never appeared"
    assert "Warning the user" in notify_log(home)


def test_hand_over_honours_the_dist_upgrade_check(home, tmp_path, qapp, launches):
    scenario = scenario_file(tmp_path, '[sim]\nqubes_release = "4.4"\n')
    _answer(_click_check)
    assert entry.main(["--simulate", scenario]) == 7
    assert update_tools_run(home) == []


# ----- the command line without argparse ------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["--dry-run"], ["--dry-run", "--dry-run"]])
def test_the_timers_arguments_mean_what_argparse_says(argv: list[str]) -> None:
    from sdw_notify import entry

    assert vars(entry.build_parser().parse_args(argv)) == entry.parse_arguments(argv)._asdict()


def test_other_notifier_arguments_go_through_argparse() -> None:
    from sdw_notify import entry

    with pytest.raises(SystemExit):
        entry.parse_arguments(["--dry-run", "--bogus"])
    assert entry.parse_arguments(["--dry", "--simulate"]).simulate == ""
