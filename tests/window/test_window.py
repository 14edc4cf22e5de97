"""The installed programs on a real X server, driven from the keyboard.

Each test starts ``sdw-updater``, ``sdw-notify`` or ``sdw-login`` from
``.venv/bin`` (PyQt6) as its own process on Xvfb (Qt's xcb platform, as in
dom0); the main flows (marked ``both_bindings``) run again from
``.venv-qt5/bin`` (PyQt5, no PyQt6): a healthy run to Continue, failure and
Try again, the restart screen, the notifier's hand-over, a second launch,
and the fit on both screens.  The test types what a journalist would type,
and checks what the program did: its exit code, the simulator's journal
and the state files.  Screens are told
apart by the lines the window writes to ``updater.log``.  The last test
measures the window on real screens from the X server (``xwininfo``,
``xprop``): a 1366x768 laptop, and 1920x1080 at ``QT_SCALE_FACTOR=2``
(960x540 device independent pixels, the tightest case), details open.

No template is named here: the simulator's inventory is not this tier's
business (it changes with the Qubes release it plays).  Without Xvfb,
xdotool or a library Qt's xcb plugin needs, every test fails at once naming the
Debian package (``xsession.require_tools``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import INSTANT, write_status
from helpers import client_started as journal_client_started

from sdw_updater.contract import UPDATER_LOCK, ExitCode
from sdw_updater.lock import is_locked
from window import screenreader, xsession
from window.xsession import NOTIFIER_TITLE, Program, Session, both_bindings

pytestmark = pytest.mark.window

NO_DOM0 = INSTANT + "[dom0]\nupdates = false\n"
# dom0 is updated, then the Salt state fails: a failure that owes a restart.
DOM0_THEN_FAILURE = INSTANT + "[dom0]\nupdates = true\nhighstate_exit = 1\n"
NETWORK_DOWN = INSTANT + '[network]\nconnectivity = "none"\n'
# A run that stays in its first dom0 step for a minute: long enough to meet it mid-way.
SLOW = "[sim]\ntime_scale = 0.1\n[dom0]\nupdates = false\ncheck_duration = 600\n"


def client_started(session: Session) -> bool:
    """The journal holds the record of starting the SecureDrop app in its VM."""
    return journal_client_started(session.journal())


def run_to(session: Session, scenario: str, outcome: str) -> tuple[Program, str]:
    """Start sdw-updater, choose Start updates, wait for the run's outcome."""
    updater = session.forced_update(scenario)
    window = session.window(updater)
    session.key("alt+s")  # Start updates
    session.wait_log(rf"Wizard: run ended {outcome}", program=updater)
    return updater, window


@both_bindings()
def test_healthy_update_then_continue_starts_the_app(session: Session) -> None:
    updater = session.forced_update(NO_DOM0)
    window = session.window(updater)
    session.screenshot("intro", window)
    # With the mouse: "Start updates" is the last button, in the bottom right corner.
    size = session.geometry(window)
    session.click(window, size.width - 70, size.height - 27)
    session.wait_log(r"Wizard: run ended OK", program=updater)
    session.screenshot("complete", window)
    assert not client_started(session)
    session.key("Return")  # with the keyboard: Continue has the focus
    assert updater.wait() == ExitCode.OK, updater.output()
    assert client_started(session)
    assert '"status": "0"' in (session.state / "sdw-update-status").read_text()


@both_bindings()
def test_reboot_screen_restart_now(session: Session) -> None:
    updater, window = run_to(session, INSTANT, "REBOOT_REQUIRED")
    session.screenshot("reboot", window)
    session.key("alt+r")  # Restart now
    assert updater.wait() == ExitCode.REBOOT_REQUIRED, updater.output()
    assert "reboot" in session.tools()
    assert not client_started(session)


@both_bindings()
def test_failure_try_again_keeps_the_owed_restart(session: Session) -> None:
    updater, window = run_to(session, DOM0_THEN_FAILURE, "FAILED")
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
    updater, window = run_to(session, NETWORK_DOWN, "NETWORK")
    session.screenshot("network", window)
    session.key("Escape")
    assert updater.wait() == ExitCode.NETWORK, updater.output()
    assert not (session.state / "sdw-update-status").exists()
    assert "qubes-dom0-update" not in session.tools()


@both_bindings()
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


@both_bindings()
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


def connections_to(path: str) -> int:
    """Sockets the kernel lists under ``path``: the listening one, plus one per connection.

    A connection is listed as soon as the kernel accepts it into the
    listener's queue, even while the listening process is stopped.
    """
    lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[-1] == path)


#: A ``sitecustomize`` that stops the launch as its window's construction begins.
HOLD_BEFORE_WINDOW = Path(__file__).with_name("hold")


def stopped(program: Program) -> bool:
    """The process is stopped (SIGSTOP): state ``T`` in ``/proc/PID/stat``."""
    stat = Path(f"/proc/{program.pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "T"


@both_bindings()
def test_a_double_click_opens_one_window(session: Session) -> None:
    """The second launch of a double click arrives while the first builds its window.

    The first launch holds the lock and is stopped just before it builds
    its window (``hold/sitecustomize.py``; a busy machine may hold it there
    for a while); the second starts then.  It must reach the first and exit
    5 without a window of its own; the first, once it runs again, comes to
    the front.
    """
    scenario = str(session.scenario(SLOW))
    first = session.start(
        "sdw-updater",
        "--skip-delta",
        "0",
        "--simulate",
        scenario,
        env={"PYTHONPATH": str(HOLD_BEFORE_WINDOW)},
    )
    try:
        xsession.wait_for("the first launch to stop before its window", lambda: stopped(first))
        assert is_locked(session.runtime / "sdw-updater.lock")
        second = session.start("sdw-updater", "--skip-delta", "0", "--simulate", scenario)
        socket = str(session.runtime / "sdw-updater.window")
        xsession.wait_for(
            "the second launch to reach the first, end, or show a window",
            lambda: (
                connections_to(socket) >= 2
                or second.proc.poll() is not None
                or session.windows(second)
            ),
        )
        assert not session.windows(second), "the second launch showed a window of its own"
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.wait() == ExitCode.LOCKED, second.output()
    assert "already running" in second.output()
    first_window = session.window(first)
    session.wait_log(r"Window: brought to the front", program=first)
    assert session.all_windows() == [first_window]
    session.key("Escape")  # Cancel: the first launch ends as if it had been alone
    assert first.wait() == ExitCode.FAILED, first.output()
    assert session.journal() == []


@both_bindings()
def test_the_fast_path_imports_no_qt(session: Session) -> None:
    """A fresh workstation: the app starts, no window, and neither binding is imported."""
    write_status(session.home, "0")
    updater = session.start(
        "sdw-updater",
        "--simulate",
        str(session.scenario(INSTANT)),
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert updater.wait() == ExitCode.OK, updater.output()
    imported = [
        line.split("|")[-1].strip() for line in updater.output().splitlines() if "|" in line
    ]
    assert "launcher.entry" in imported
    assert not [name for name in imported if name.startswith(("PyQt", "launcher.qt"))]
    assert client_started(session)
    assert not session.all_windows()


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


def plant(path: Path, kind: str) -> None:
    """Put something that is not a usable lock file where the updater's lock goes."""
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)


@both_bindings()
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_lock_file_that_cannot_be_used_is_said_not_another_update(
    session: Session, kind: str
) -> None:
    """Nobody runs, but the lock file is a directory or a FIFO: the window says that.

    The journalist reads that the updater cannot start and to call the
    administrator (never "another update is running", which would have them
    wait for nothing); the administrator's details and the program's stderr
    name the file and what is wrong with it; the window exits 5.
    """
    lock = session.runtime / UPDATER_LOCK
    plant(lock, kind)
    with screenreader.screen_reader(session) as reader:
        updater = session.forced_update(INSTANT, env=reader.env, bindir=reader.bindir)
        window = session.window(updater)
        session.wait_log(r"Window: screen \w+", program=updater)
        assert "Window: screen lock_unusable" in session.log(), session.log()
        reader.find("The updater cannot start", "label")
        nodes = reader.tree()
        said = [str(n.get("name", "")) for n in nodes]
        assert not [s for s in said if "already running" in s], screenreader.render(nodes)
        assert [s for s in said if "contact your administrator" in s.lower()], said
        assert "Try again" not in said  # nothing a journalist can do here fixes it
        session.key("alt+a")  # Show details for your administrator
        session.wait_log(r"Window: administrator's details shown", program=updater)
        session.screenshot(f"lock-unusable-{kind}", window)
        session.key("Return")  # Close has the focus
        assert updater.wait() == ExitCode.LOCKED, updater.output()
    words = "it is a directory" if kind == "directory" else "it is not a regular file"
    assert f"lock file {lock} cannot be used ({words}" in updater.output()
    assert "already running" not in updater.output()
    assert session.journal() == []  # nothing was attempted
    assert lock.is_dir() if kind == "directory" else lock.is_fifo()  # and nothing removed


# A run that stays on the progress screen for a minute (the test ends it).
SCREENS = {
    "1366x768": (1366, 768, None),
    "1920x1080-scale2": (1920, 1080, 2.0),
}


def size_hints(session: Session, window: str) -> dict[str, tuple[int, int]]:
    """The minimum and maximum sizes the program gave the window manager."""
    text = session.prop(window, "WM_NORMAL_HINTS")
    hints = {}
    for kind in ("minimum", "maximum"):
        match = re.search(rf"program specified {kind} size: (\d+) by (\d+)", text)
        if match:
            hints[kind] = (int(match.group(1)), int(match.group(2)))
    return hints


@both_bindings()
@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_the_window_fits_opens_centred_and_can_be_resized(
    session_factory: Callable[..., Session],
    screen: str,
) -> None:
    width, height, scale = SCREENS[screen]
    session = session_factory(width, height, scale)
    updater = session.forced_update(SLOW)
    window = session.window(updater)
    opened = session.geometry(window)
    assert opened.inside((width, height)), opened
    centre_x, centre_y = opened.centre
    assert abs(centre_x - width / 2) <= 2 and abs(centre_y - height / 2) <= 2, opened
    assert "_NET_WM_ICON(CARDINAL)" in session.prop(window, "_NET_WM_ICON"), "no window icon"
    hints = size_hints(session, window)
    assert hints.get("minimum") != hints.get("maximum"), f"fixed size: {hints}"
    session.screenshot(f"{screen}-intro")

    session.key("alt+s")
    session.wait_log(r"Wizard: starting the updates", program=updater)
    session.key("alt+d")  # Show details
    session.wait_log(r"Window: details shown", program=updater)
    grown = session.geometry(window)
    session.screenshot(f"{screen}-details")
    assert grown.inside((width, height)), grown
    updater.kill()


SLOW_SALT = "[sim]\ntime_scale = 0.05\n[dom0]\ncheck_duration = 1\nupdate_duration = 1\nhighstate_duration = 4000\n"


def test_sigterm_during_a_run_stops_the_tools_records_and_closes(session: Session) -> None:
    """A logout (SIGTERM) mid-update: no tool left running, the status says failed, lock freed."""
    updater = session.forced_update(SLOW_SALT)
    window = session.window(updater)
    session.key("alt+s")  # Start updates
    xsession.wait_for("the Salt step", lambda: "qubesctl" in session.tools())
    os.kill(updater.pid, signal.SIGTERM)
    assert updater.wait() == ExitCode.FAILED, updater.output()
    status = (session.state / "sdw-update-status").read_text()
    assert '"status": "3"' in status and "reboot_requested_at" in status  # dom0 was updated
    salt = [r for r in session.journal() if r["tool"] == "qubesctl"]
    assert salt and salt[-1]["exit"] == -15
    assert not client_started(session)
    assert not session.windows(updater)
    assert window


def test_sigterm_on_the_first_screen_closes_at_once_and_changes_nothing(session: Session) -> None:
    updater = session.forced_update(NO_DOM0)
    session.window(updater)
    os.kill(updater.pid, signal.SIGTERM)
    assert updater.wait() == ExitCode.FAILED, updater.output()  # nothing ran: "not updated"
    assert not (session.state / "sdw-update-status").exists()
    assert session.tools() == [] or "qubes-dom0-update" not in session.tools()


def mid_upgrade_icon(session: Session) -> Program:
    """The icon clicked on a fresh workstation while Qubes is upgraded in place."""
    state = session.state
    state.mkdir(parents=True, exist_ok=True)
    (state / "sdw-update-status").write_text(
        json.dumps({"status": "0", "last_status_update": time.strftime("%Y-%m-%d %H:%M:%S")})
    )
    scenario = session.scenario('[sim]\ntime_scale = 0.0\nqubes_release = "4.4"\n')
    return session.start("sdw-updater", "--simulate", str(scenario))


def test_a_fresh_workstation_mid_upgrade_says_so_in_the_window(session: Session) -> None:
    """The icon on a fresh workstation while Qubes is upgraded in place: a screen, exit 7."""
    updater = mid_upgrade_icon(session)
    window = session.window(updater)
    session.wait_log(r"distribution upgrade", program=updater)
    session.screenshot("dist-upgrade-fast-path", window)
    session.key("Escape")
    assert updater.wait() == ExitCode.DIST_UPGRADE, updater.output()
    assert not client_started(session)


def test_a_second_click_mid_upgrade_raises_the_notice_instead_of_a_second_one(
    session: Session,
) -> None:
    """An impatient double click: one notice on the screen, brought to the front."""
    first = mid_upgrade_icon(session)
    first_window = session.window(first)
    session.wait_log(r"distribution upgrade", program=first)
    second = mid_upgrade_icon(session)
    assert second.wait() == ExitCode.LOCKED, second.output()
    assert "already running" in second.output()
    session.wait_log(r"Window: brought to the front", program=first)
    assert session.all_windows() == [first_window]
    session.key("Escape")
    assert first.wait() == ExitCode.DIST_UPGRADE, first.output()
