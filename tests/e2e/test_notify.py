"""``sdw-notify`` end to end on the simulated workstation, as the timer starts it.

The console script runs in a subprocess: ``--dry-run`` says what it would
do and why, in one JSON object and the log; without it, the silent paths
show no dialog.  Locks are held by real second processes, as an updater or
another notifier would hold them.  The reminder's dialog and its hand-over
to the updater, in this process: tests/notify/test_entry.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from helpers.notify import (
    DAY,
    TIMEOUT,
    dry_run,
    holding,
    notify_log,
    run_notify,
    scenario_file,
    set_last_updated,
    update_tools_run,
)

from sdw_updater.contract import NOTIFY_LOCK, UPDATER_LOCK
from sdw_updater.status import format_time

# ----- --dry-run through the console script --------------------------------------


def test_dry_run_never_updated_warns_and_logs_why(home):
    report = dry_run("--simulate")
    assert report["warn"] is True
    assert report["code"] == "unknown_last_update"
    assert "no trustworthy record" in report["reason"]
    assert report["simulated"] is True
    assert report["last_updated"] is None
    assert report["uptime"] >= 7200
    log = notify_log(home)
    assert "Dry run: warn" in log and report["reason"] in log


@pytest.mark.parametrize(
    ("age", "warn", "code"),
    [(DAY, False, "fresh"), (4.9 * DAY, False, "fresh"), (6 * DAY, True, "overdue")],
)
def test_dry_run_by_age(home, age, warn, code):
    set_last_updated(home, age)
    report = dry_run("--simulate")
    assert (report["warn"], report["code"]) == (warn, code)
    assert report["reason"] in notify_log(home)


@pytest.mark.parametrize(
    "raw", [b"", b"garbage", b"2024-01-0", format_time(time.time() + 40 * DAY).encode()]
)
def test_dry_run_untrustworthy_last_updated_warns(home, raw):
    set_last_updated(home, None, raw=raw)
    report = dry_run("--simulate")
    assert (report["warn"], report["code"]) == (True, "unknown_last_update")


def test_dry_run_within_grace_period(home, tmp_path):
    set_last_updated(home, 30 * DAY)
    report = dry_run("--simulate", scenario_file(tmp_path, "[sim]\nuptime = 600\n"))
    assert (report["warn"], report["code"]) == (False, "grace_period")


@pytest.mark.parametrize(
    ("processes", "warn"),
    [
        (["qubesctl"], False),
        (["sdw-admin"], False),
        (["salt-call", "bash"], False),
        (["cmake"], True),
        (["cmake", "makeinfo", "qubesctl-helper"], True),
    ],
)
def test_dry_run_provisioning_processes(home, tmp_path, processes, warn):
    scenario = scenario_file(tmp_path, f"[sim]\nprocesses = {json.dumps(processes)}\n")
    report = dry_run("--simulate", scenario)
    assert report["warn"] is warn
    if not warn:
        assert report["code"] == "provisioning"
        assert report["conflicting_processes"]
    else:
        assert report["conflicting_processes"] == []


def test_dry_run_silent_while_a_real_updater_holds_its_lock(home):
    with holding(UPDATER_LOCK):
        report = dry_run("--simulate")
    assert (report["warn"], report["code"]) == (False, "updater_running")
    # and once it is gone, the same workstation is nagged again
    assert dry_run("--simulate")["warn"] is True


def test_dry_run_silent_while_another_notifier_runs(home):
    with holding(NOTIFY_LOCK):
        report = dry_run("--simulate")
    assert (report["warn"], report["code"]) == (False, "other_notifier")


@pytest.mark.parametrize("lock_name", [UPDATER_LOCK, NOTIFY_LOCK])
def test_dry_run_warns_when_a_lock_path_cannot_be_used(home, lock_name):
    """A directory where a lock file belongs: no process holds it, so no one is busy.

    Doubt means "update", never quiet: an unusable lock that counted as held
    would silence the reminder every two hours, forever.
    """
    from sdw_updater.lock import lock_dir
    from sdw_updater.status import state_dir

    (lock_dir(state_dir()) / lock_name).mkdir(parents=True)
    report = dry_run("--simulate")
    assert report["warn"] is True, report
    assert report["code"] not in ("updater_running", "other_notifier")


def test_bad_scenario_is_a_usage_error(home, tmp_path):
    result = run_notify(
        "--dry-run", "--simulate", scenario_file(tmp_path, "[sim]\nno_such_key = 1\n")
    )
    assert result.returncode == 2
    assert "sdw-notify: error" in result.stderr


def test_dry_run_imports_no_qt_and_is_quick(home):
    code = (
        "import sys, time, io, contextlib\n"
        "from sdw_notify.entry import main\n"
        "main(['--dry-run', '--simulate'])  # first run sets the simulator up\n"
        "t = time.perf_counter()\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['--dry-run', '--simulate'])\n"
        "took = time.perf_counter() - t\n"
        "qt = any(m.split('.')[0] in ('PyQt5', 'PyQt6') for m in sys.modules)\n"
        "print(rc, qt, round(took, 4))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr
    rc, qt_loaded, took = result.stdout.splitlines()[-1].split()
    assert rc == "0"
    assert qt_loaded == "False"
    assert float(took) < 0.5  # our own work; the target is well under 0.1 s


# ----- without --dry-run: silent paths (no dialog may appear) --------------------


def test_fresh_workstation_exits_quietly(home):
    set_last_updated(home, DAY)
    result = run_notify("--simulate")
    assert result.returncode == 0
    assert "No warning: last update" in notify_log(home)
    assert update_tools_run(home) == []


def test_second_notifier_exits_quietly(home):
    with holding(NOTIFY_LOCK):
        result = run_notify("--simulate")  # would block on a dialog if it warned
    assert result.returncode == 0
    assert "No warning: another notifier is running" in notify_log(home)


def test_silent_while_provisioning(home, tmp_path):
    result = run_notify("--simulate", scenario_file(tmp_path, '[sim]\nprocesses = ["qubesctl"]\n'))
    assert result.returncode == 0
    assert "No warning: a provisioning tool is running: qubesctl" in notify_log(home)
