"""The installed programs on a real X server, driven from the keyboard.

Each test starts ``sdw-updater``, ``sdw-notify`` or ``sdw-login`` from
``.venv/bin`` as its own process on Xvfb (Qt's xcb platform, as in dom0),
types what a journalist would type, and checks what the program did: its
exit code, the simulator's journal and the state files.  Screens are told
apart by the lines the window writes to ``updater.log``.

No template is named here: the simulator's inventory is not this tier's
business (it changes with the Qubes release it plays).
"""

from __future__ import annotations

import pytest
from xsession import NOTIFIER_TITLE, Session

from sdw_updater.contract import CLIENT_APP_ID, CLIENT_VM, ExitCode

pytestmark = pytest.mark.window

INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = INSTANT + "[dom0]\nupdates = false\n"
# dom0 is updated, then the Salt state fails: a failure that owes a restart.
DOM0_THEN_FAILURE = INSTANT + "[dom0]\nupdates = true\nhighstate_exit = 1\n"
NETWORK_DOWN = INSTANT + '[network]\nconnectivity = "none"\n'
# A run that stays in its first dom0 step for a minute: long enough to meet it mid-way.
SLOW = "[sim]\ntime_scale = 0.1\n[dom0]\nupdates = false\ncheck_duration = 600\n"


def client_started(session: Session) -> bool:
    """The journal holds the record of starting the SecureDrop app in its VM."""
    return any(
        record["tool"] == "qvm-run"
        and CLIENT_VM in record["argv"]  # type: ignore[operator]
        and any(CLIENT_APP_ID in str(arg) for arg in record["argv"])  # type: ignore[attr-defined]
        for record in session.journal()
    )


def test_healthy_update_then_continue_starts_the_app(session: Session) -> None:
    updater = session.start(
        "sdw-updater", "--skip-delta", "0", "--simulate", str(session.scenario(NO_DOM0))
    )
    window = session.window(updater)
    session.screenshot("intro", window)
    session.key("alt+s")  # Start updates
    session.wait_log(r"Wizard: run ended OK", program=updater)
    session.screenshot("complete", window)
    assert not client_started(session)
    session.key("Return")  # Continue has the focus
    assert updater.wait() == ExitCode.OK, updater.output()
    assert client_started(session)
    assert '"status": "0"' in (session.state / "sdw-update-status").read_text()


def test_reboot_screen_restart_now(session: Session) -> None:
    updater = session.start(
        "sdw-updater", "--skip-delta", "0", "--simulate", str(session.scenario(INSTANT))
    )
    window = session.window(updater)
    session.key("alt+s")
    session.wait_log(r"Wizard: run ended REBOOT_REQUIRED", program=updater)
    session.screenshot("reboot", window)
    session.key("alt+r")  # Restart now
    assert updater.wait() == ExitCode.REBOOT_REQUIRED, updater.output()
    assert "reboot" in session.tools()
    assert not client_started(session)


def test_failure_try_again_keeps_the_owed_restart(session: Session) -> None:
    updater = session.start(
        "sdw-updater", "--skip-delta", "0", "--simulate", str(session.scenario(DOM0_THEN_FAILURE))
    )
    window = session.window(updater)
    session.key("alt+s")
    session.wait_log(r"Wizard: run ended FAILED", program=updater)
    session.screenshot("failed", window)
    session.key("alt+t")  # Try again: dom0 has nothing more to install, the state fails again
    session.wait_log(r"Wizard: run ended FAILED", count=2, program=updater)
    session.screenshot("failed-again", window)
    assert session.tools().count("qubesctl") == 2
    # dom0 changed in the first run: the restart is still offered after the second.
    session.key("alt+r")
    assert updater.wait() == ExitCode.REBOOT_REQUIRED, updater.output()
    assert "reboot" in session.tools()
    assert not client_started(session)


def test_network_down_changes_nothing(session: Session) -> None:
    updater = session.start(
        "sdw-updater", "--skip-delta", "0", "--simulate", str(session.scenario(NETWORK_DOWN))
    )
    window = session.window(updater)
    session.key("alt+s")
    session.wait_log(r"Wizard: run ended NETWORK", program=updater)
    session.screenshot("network", window)
    session.key("Escape")
    assert updater.wait() == ExitCode.NETWORK, updater.output()
    assert not (session.state / "sdw-update-status").exists()
    assert "qubes-dom0-update" not in session.tools()


def test_notifier_check_for_updates_hands_over_to_the_window(session: Session) -> None:
    # No successful update recorded and dom0 up for two hours: the reminder is due.
    notifier = session.start("sdw-notify", "--simulate", str(session.scenario(NO_DOM0)))
    dialog = session.window(notifier, NOTIFIER_TITLE)
    session.screenshot("notifier", dialog)
    session.key("shift+Tab", "Return")  # "Check for updates" needs a deliberate choice
    window = session.window(notifier)  # the updater's window, in the same process
    # The journalist already chose to update: no second confirmation.
    session.wait_log(r"Wizard: run ended OK", program=notifier)
    session.screenshot("complete-from-notifier", window)
    session.key("Return")
    assert notifier.wait() == ExitCode.OK, notifier.output()
    assert client_started(session)


def test_sdw_login_opens_the_window(session: Session) -> None:
    login = session.start(
        "sdw-login", "--wait", "20", "--settle", "0", "--simulate", str(session.scenario(NO_DOM0))
    )
    window = session.window(login)  # sdw-login replaced itself with sdw-updater
    session.screenshot("login-intro", window)
    session.key("Escape")  # Cancel on the introduction: nothing ran
    assert login.wait() == ExitCode.FAILED, login.output()
    assert session.journal() == []


@pytest.mark.parametrize("moment", ["intro", "run"])
def test_a_second_updater_says_so_and_raises_the_first(session: Session, moment: str) -> None:
    scenario = str(session.scenario(SLOW))
    first = session.start("sdw-updater", "--skip-delta", "0", "--simulate", scenario)
    first_window = session.window(first)
    if moment == "run":
        session.key("alt+s")
        session.wait_log(r"Wizard: starting the updates", program=first)
    second = session.start("sdw-updater", "--skip-delta", "0", "--simulate", scenario)
    # Before any introduction: the second one ends at once, the first comes to the front.
    assert second.wait() == ExitCode.LOCKED, second.output()
    assert "already running" in second.output()
    session.wait_log(r"Window: brought to the front", program=first)
    assert session.focused() == first_window
    session.screenshot(f"raised-{moment}", first_window)
    # The only updater window on the screen is the first one.
    assert session.all_windows() == [first_window]
    if moment == "intro":
        assert session.journal() == []
    first.kill()


def test_a_second_updater_names_a_running_text_updater(session: Session) -> None:
    scenario = str(session.scenario(SLOW))
    text = session.start("sdw-updater", "--cli", "--skip-delta", "0", "--simulate", scenario)
    session.wait_log(r"Templates to update", program=text)  # it holds the lock
    second = session.start("sdw-updater", "--skip-delta", "0", "--simulate", scenario)
    window = session.window(second)
    session.screenshot("locked-names-it", window)
    session.key("Return")  # Close has the focus; nothing to start
    assert second.wait() == ExitCode.LOCKED, second.output()
    assert f"process {text.pid}" in session.log()
    text.kill()
