"""The run's summary and help, and the progress that tells the time, in the window.

The installed ``sdw-updater`` on its own Xvfb, driven from the keyboard as a
journalist would: the summary on the outcome screens, the help for a known
failure, "Copy details" (read back from the X clipboard by a separate
program), "Try again" updating only what failed (and saying what it added),
the stall display and the step clock.  What the window showed is told by
``updater.log`` lines, a screen reader and screenshots; what it did, by the
simulator's journal.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import INSTANT, NO_DOM0
from helpers import client_started as journal_client_started

from sdw_updater.contract import ExitCode
from window import screenreader
from window.xsession import Session

pytestmark = pytest.mark.window

VIEWER = "sd-viewer-debian-13"

# Reads the X clipboard as any other program on the desktop would (Qt's own xcb client,
# on the binding the window uses).
READ_CLIPBOARD = (
    "import sys\n"
    "from launcher.qt import QApplication\n"
    "app = QApplication(['clip'])\n"
    "sys.stdout.write(app.clipboard().text())\n"
)


def vm_update_targets(session: Session) -> list[list[str]]:
    found = []
    for record in session.journal():
        if record["tool"] == "qubes-vm-update":
            argv = [str(a) for a in record["argv"]]
            found.append(argv[argv.index("--targets") + 1].split(","))
    return found


def clipboard(session: Session) -> str:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("QT_", "WAYLAND_"))
    }
    env.update(DISPLAY=session.server.display, QT_QPA_PLATFORM="xcb")
    done = subprocess.run(
        [sys.executable, "-c", READ_CLIPBOARD],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_failed_template_summary_help_copy_and_try_again(session: Session) -> None:
    # The viewer template's disk is full on the first attempt only.
    scenario = (
        INSTANT + NO_DOM0 + f'[templates."{VIEWER}"]\nfail_first = 1\nfailure = "disk_full"\n'
    )
    updater = session.forced_update(scenario)
    window = session.window(updater)
    session.key("alt+s")
    session.wait_log(r"Wizard: run ended FAILED", program=updater)
    session.screenshot("failed-template", window)
    session.key("alt+a")  # Show details for your administrator
    session.wait_log(r"Window: administrator's details shown", program=updater)
    session.key("alt+y")  # Copy details
    session.wait_log(r"Window: details copied", program=updater)
    session.screenshot("failed-template-details", window)
    copied = clipboard(session)
    assert "SecureDrop Workstation updater: details for an administrator" in copied
    assert f"{VIEWER}: FAILED" in copied
    assert "You don't have enough free space" in copied  # its last output line
    assert "Help (" in copied and "df -h" in copied
    assert "Not included:" in copied
    assert "BEGIN PGP" not in copied

    # Try again: only the failed template is updated; the others keep their results.
    session.key("alt+t")
    session.wait_log(r"Wizard: try again, retrying only what failed: " + VIEWER, program=updater)
    session.wait_log(r"Wizard: run ended OK", program=updater)
    session.screenshot("retried", window)
    targets = vm_update_targets(session)
    assert len(targets) == 2 and targets[1] == [VIEWER], targets
    assert [r["tool"] for r in session.journal()].count("qubesctl") == 1
    session.key("Return")  # Continue
    assert updater.wait() == ExitCode.OK, updater.output()
    assert journal_client_started(session.journal())


def test_a_stalled_template_is_shown_then_stopped(session: Session) -> None:
    session.state.mkdir(parents=True, exist_ok=True)
    # 1 minute of quiet, scaled by timeout_scale 0.1: stopped after 6 s, shown from 3 s.
    (session.state / "sdw-updater-settings.json").write_text('{"stall_minutes": 1}')
    scenario = (
        "[sim]\ntime_scale = 0.01\ntimeout_scale = 0.1\n"
        + NO_DOM0
        + f'[templates."{VIEWER}"]\nresult = "hang"\nduration = 100\n'
    )
    updater = session.forced_update(scenario)
    window = session.window(updater)
    session.key("alt+s")
    session.wait_log(rf"Window: template {VIEWER} shown as making no progress", program=updater)
    session.screenshot("stalled-row", window)
    session.wait_log(r"Wizard: run ended FAILED", program=updater)
    session.screenshot("stalled-outcome", window)
    assert f"{VIEWER} made no progress and printed nothing" in session.log()
    session.key("Escape")
    assert updater.wait() == ExitCode.FAILED


def test_a_slow_step_shows_its_clock_and_then_that_it_takes_longer(session: Session) -> None:
    # The dom0 check usually takes a minute; here it takes 100 s of real time.
    scenario = "[sim]\ntime_scale = 1.0\n[dom0]\nupdates = false\ncheck_duration = 100\n"
    history = session.state / "sdw-run-history.json"
    session.state.mkdir(parents=True, exist_ok=True)
    # One earlier run where the check took 2 s: "usually" is 2 s here.
    history.write_text('{"runs": [{"dom0_check": 2.0, "total": 60.0}]}')
    updater = session.forced_update(scenario)
    window = session.window(updater)
    session.key("alt+s")
    session.wait_log(r"Window: step dom0_check is taking longer than usual", program=updater)
    session.screenshot("longer-than-usual", window)
    updater.kill()


def test_extra_templates_are_their_own_group(session: Session) -> None:
    session.state.mkdir(parents=True, exist_ok=True)
    (session.state / "sdw-updater-settings.json").write_text('{"update_extras": true}')
    scenario = (
        INSTANT
        + NO_DOM0
        + '[vms."tpl-extra"]\nklass = "TemplateVM"\n'
        + '[vms."org-app"]\ntemplate = "tpl-extra"\ntags = ["sd-extras"]\n'
    )
    updater = session.forced_update(scenario)
    window = session.window(updater)
    session.key("alt+s")
    session.wait_log(
        r"Window: extra templates shown as their own group: tpl-extra", program=updater
    )
    session.wait_log(r"Wizard: run ended OK", program=updater)
    session.screenshot("extras", window)
    assert "tpl-extra" in vm_update_targets(session)[0]
    session.key("Return")
    assert updater.wait() == ExitCode.OK, updater.output()


def test_a_transient_failure_is_retried_once_and_the_summary_says_so(session: Session) -> None:
    """Fedora's mirror drops once: the run retries it by itself and ends OK, saying so."""
    template = "fedora-43-xfce"
    scenario = (
        INSTANT + NO_DOM0 + f'[templates."{template}"]\nfail_first = 1\nfailure = "network"\n'
    )
    with screenreader.screen_reader(session) as reader:
        updater = session.forced_update(scenario, env=reader.env, bindir=reader.bindir)
        window = session.window(updater)
        session.key("alt+s")
        session.wait_log(r"Wizard: run ended OK", program=updater)
        session.screenshot("auto-retried", window)
        # What the summary shows, as a screen reader reads it.
        reader.find("Updated (on a second try)", "label")
        targets = vm_update_targets(session)
        assert len(targets) == 2 and targets[1] == [template], targets
        assert f"{template} failed in a way that looks transient" in session.log()
        session.key("Return")  # Continue
        assert updater.wait() == ExitCode.OK, updater.output()
    assert journal_client_started(session.journal())


def test_try_again_says_which_templates_it_added(session: Session) -> None:
    """Try again also updates a template today's plan has and the failed run did not.

    The viewer's template fails; an administrator turns the extra templates
    on; *Try again* updates the viewer's template and the extra one, and the
    summary says the extra one was added to this retry (as a screen reader
    reads it), beside the kept results ("earlier").
    """
    extras = (
        '[vms."tpl-extra"]\nklass = "TemplateVM"\n'
        '[vms."org-app"]\ntemplate = "tpl-extra"\ntags = ["sd-extras"]\n'
    )
    scenario = (
        INSTANT
        + NO_DOM0
        + extras
        + f'[templates."{VIEWER}"]\nfail_first = 1\nfailure = "disk_full"\n'
    )
    with screenreader.screen_reader(session) as reader:
        updater = session.forced_update(scenario, env=reader.env, bindir=reader.bindir)
        window = session.window(updater)
        session.key("alt+s")
        session.wait_log(r"Wizard: run ended FAILED", program=updater)
        (session.state / "sdw-updater-settings.json").write_text('{"update_extras": true}')
        session.key("alt+t")  # Try again
        session.wait_log(r"Wizard: run ended OK", program=updater)
        session.screenshot("retried-added", window)
        reader.find("Updated (added to this retry)", "label")
        reader.find("Updated (earlier)", "label")
        targets = vm_update_targets(session)
        assert len(targets) == 2 and sorted(targets[1]) == sorted([VIEWER, "tpl-extra"]), targets
        assert "tpl-extra" not in targets[0]
        session.key("Return")  # Continue
        assert updater.wait() == ExitCode.OK, updater.output()
    assert journal_client_started(session.journal())
