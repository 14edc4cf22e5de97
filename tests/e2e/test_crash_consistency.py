"""Crash consistency: the updater killed at any moment leaves a state that means "run again".

A handful of seeded random trials here (``make bench`` runs fifty, see
benchmarks/crash.py for what each trial checks), plus two kills at chosen
moments that must always behave the same way: right after the network check
(the status already says "in progress" before the first change) and right
after a dom0 update (the reboot it needs is already recorded).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from helpers import BIN, read_journal, read_status, tools

from benchmarks import crash, procs

TIME_SCALE = 0.002  # a forced run of the healthy scenario lasts about two seconds


def test_random_kills_leave_a_state_that_means_run_again(tmp_path: Path) -> None:
    trials = crash.run_trials(tmp_path, count=6, seed=20261122, time_scale=0.001)
    report = crash.summary(trials)
    assert report["problems"] == [], json.dumps(report, indent=2)
    assert report["power_cuts"] == 3


def start_forced_run(home: Path, scenario: str) -> tuple[subprocess.Popen[bytes], str]:
    path = home / "scenario.toml"
    path.write_text(scenario)
    token = secrets.token_hex(8)
    env = dict(os.environ, HOME=str(home), **{procs.MARKER: token})
    proc = subprocess.Popen(
        [str(BIN / "sdw-updater"), "--cli", "--skip-delta", "0", "--simulate", str(path)],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, token


def kill_when(home: Path, proc: subprocess.Popen[bytes], token: str, tool: str) -> None:
    """SIGKILL the updater (alone) as soon as the journal shows ``tool`` started."""
    deadline = time.monotonic() + 60
    try:
        while tool not in tools(read_journal(home)):
            assert proc.poll() is None, "the run ended before the moment to kill it"
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        procs.wait_gone(token, 20)


def next_launch(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "sdw-updater"), "--cli", "--simulate", str(home / "scenario.toml")],
        env=dict(os.environ, HOME=str(home)),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_killed_after_network_check_records_in_progress(home: Path) -> None:
    scenario = f"[sim]\ntime_scale = {TIME_SCALE}\n[dom0]\nupdates = false\n"
    proc, token = start_forced_run(home, scenario)
    kill_when(home, proc, token, "qubes-dom0-update")  # the first call after the network check
    assert read_status(home)["status"] == "4"
    before = len(read_journal(home))
    result = next_launch(home)
    assert result.returncode == 0, result.stdout
    again = read_journal(home)[before:]
    client = next(i for i, r in enumerate(again) if crash.CLIENT_SERVICE in str(r["argv"]))
    assert tools(again).index("qubes-vm-update") < client  # updated, then the client


def test_killed_after_dom0_update_still_asks_for_the_reboot(home: Path) -> None:
    """dom0 changed and nobody rebooted: the next launch must not start the client."""
    proc, token = start_forced_run(home, f"[sim]\ntime_scale = {TIME_SCALE}\n")
    kill_when(home, proc, token, "qubesctl")  # dom0 was updated just before
    status = read_status(home)
    assert status["status"] == "4" and "reboot_requested_at" in status
    before = len(read_journal(home))
    result = next_launch(home)
    assert result.returncode == 3, result.stdout
    assert read_journal(home)[before:] == []  # neither updates nor the client
    assert "restart" in result.stdout.lower()


@pytest.mark.parametrize("code", ["4", "3"])
def test_interrupted_or_failed_status_is_never_fresh(home: Path, code: str) -> None:
    """A recent "in progress" or "failed" is not a reason to skip the updater."""
    directory = home / ".securedrop_updater"
    directory.mkdir()
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    (directory / "sdw-update-status").write_text(
        json.dumps({"status": code, "last_status_update": now})
    )
    (home / "scenario.toml").write_text(
        '[sim]\ntime_scale = 0.0\n[network]\nconnectivity = "none"\n'
    )
    result = next_launch(home)
    assert result.returncode == 4  # it went for the updater (and found no network)
    assert tools(read_journal(home)) == ["qvm-run"]
