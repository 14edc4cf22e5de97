"""The stall watchdog end to end through ``sdw-updater --cli``: one stalled template, not the run.

A template with no progress and no output for ``stall_minutes`` stops
``qubes-vm-update`` gracefully: the others keep their results (the template
updating beside it ends with its own ``done``, those not started end "not
reached"), the stalled one is reported with its last output line, and the
template the killed tool left running is shut down.  The setting is read,
and the templates step's timeout stays the outer bound.  The graceful stop
under every kind of stop: tests/e2e/test_fault_matrix.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import (
    FORCE,
    NO_DOM0,
    last_run_file,
    quick_steps,
    read_journal,
    read_status,
    run_updater,
    template,
    template_results,
)

from sdw_updater.contract import ExitCode

VIEWER = "sd-viewer-debian-13"
INBOX = "sd-inbox-debian-13"
FEDORA = "fedora-43-xfce"
WHONIX = "whonix-gateway-17"


# Timeouts cut a thousandfold: the stall watchdog's 15 minutes become its 1 s floor,
# the templates step's 3 hours 10.8 s (the outer bound).
FAST_TIMEOUTS = "[sim]\ntime_scale = 0.0\ntimeout_scale = 0.001\n"


def test_a_stalled_template_is_stopped_and_the_others_keep_their_result(home: Path) -> None:
    scenario = FAST_TIMEOUTS + NO_DOM0 + template(VIEWER, result="hang")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED, run.stdout
    assert f"{VIEWER}  STALLED" in run.stdout
    data = last_run_file(home)
    assert template_results(data) == {
        "fedora-43-xfce": "done",
        "sd-inbox-debian-13": "done",
        VIEWER: "stalled",
    }
    stalled = next(t for t in data["templates"] if t["name"] == VIEWER)
    assert stalled["last_lines"], stalled
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert f"{VIEWER} made no progress and printed nothing" in log
    assert "was stopped by the updater" in log  # the watchdog, not the step's timeout
    record = next(r for r in read_journal(home) if r["tool"] == "qubes-vm-update")
    assert record["exit"] is None or record["exit"] < 0
    assert read_status(home)["status"] == "3"


def test_the_stall_setting_is_read_and_the_step_timeout_stays_the_outer_bound(home: Path) -> None:
    state = home / ".securedrop_updater"
    state.mkdir()
    # 600 minutes scaled are 36 s: the templates step's own timeout (10.8 s) ends it first.
    (state / "sdw-updater-settings.json").write_text('{"stall_minutes": 600, "colour": 1}')
    scenario = FAST_TIMEOUTS + NO_DOM0 + template(VIEWER, result="hang")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED
    log = (state / "logs" / "updater.log").read_text()
    assert "did not finish in time" in log and "made no progress" not in log
    assert "unknown setting 'colour' ignored" in log


def updater_log(home: Path) -> str:
    return (home / ".securedrop_updater" / "logs" / "updater.log").read_text()


# ----- the graceful stop of qubes-vm-update -------------------------------------------------


# Two templates at a time (the tool's -x is dom0's CPU count): fedora-43-xfce hangs
# half way and sd-inbox-debian-13 takes 5 s; the viewer's and whonix's templates wait
# for a free slot.  The stall watchdog's 15 minutes are 1 s (its floor).
ONE_HANGS = (
    quick_steps(0.001)
    + template(FEDORA, result="hang", duration=20)
    + template(INBOX, duration=100)
    + template(VIEWER, duration=100)
    + template(WHONIX, duration=100)
)


def powers(home: Path) -> dict[str, str]:
    state = json.loads((home / ".securedrop_updater" / "sim" / "state.json").read_text())
    return dict(state["power"])


def test_one_stalled_template_does_not_break_the_others(home: Path) -> None:
    """The watchdog asks qubes-vm-update to stop cleanly, and kills only what never ends.

    The template updating beside the stalled one ends with its own ``done
    success``, the stalled one is reported stalled, those not started end
    cancelled (not reached); the stalled template, which the killed tool
    left running, is shut down.
    """
    run = run_updater(home, *FORCE, scenario=ONE_HANGS)
    assert run.returncode == ExitCode.FAILED, run.stdout
    outcome = {t["name"]: t["result"] for t in last_run_file(home)["templates"]}
    assert outcome[FEDORA] == "stalled"
    assert outcome[INBOX] == "done", run.stdout  # its own done line, not cut off
    assert outcome[VIEWER] == "not_reached"
    assert outcome.get(WHONIX, "not_reached") == "not_reached"
    log = updater_log(home)
    assert "Asking pid" in log and "to stop cleanly (stopped: SIGINT)" in log
    assert f"finished: {INBOX}" in log
    assert f"stalled: {FEDORA}" in log
    journal = read_journal(home)
    shutdowns = [r["argv"] for r in journal if r["tool"] == "qvm-shutdown"]
    assert any(FEDORA in argv for argv in shutdowns), shutdowns
    assert powers(home)[FEDORA] == "Halted"
    assert read_status(home)["status"] == "3"
