"""The Qubes seam (sdw_updater/qubes.py) where dom0's tools need help: a halted UpdateVM.

``qubes-dom0-update --check-only`` refuses while dom0's UpdateVM is halted
(exit 1) and never starts it.  The updater starts it with ``qvm-start``, as
it starts every VM (its timeout; a stop of the updater stops it), and checks
again within what is left of the step's time; when it cannot start it, it
says so with the command to run, and asks for no reboot.  End to end
through ``sdw-updater --cli --simulate``; the box tier runs the same
scenarios with the real ``qubesadmin`` and ``qvm-start``
(tests/box/test_box_agreement.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from helpers import (
    FORCE,
    INSTANT,
    NO_DOM0,
    read_journal,
    read_status,
    run_updater,
    stop_updater,
    vm_starts,
)

from sdw_sim.journal import Entry
from sdw_updater.contract import UPDATER_LOCK, ExitCode
from sdw_updater.lock import is_locked

HALTED = '[vms."sys-firewall"]\npower = "Halted"\n'


def checks(journal: list[Entry]) -> list[int | None]:
    """The exit codes of every qubes-dom0-update --check-only, in order."""
    return [
        r["exit"]
        for r in journal
        if r["tool"] == "qubes-dom0-update" and "--check-only" in r["argv"]
    ]


def test_a_halted_updatevm_is_started_and_the_check_runs_again(home: Path) -> None:
    run = run_updater(home, *FORCE, scenario=INSTANT + NO_DOM0 + HALTED)
    assert run.returncode == ExitCode.OK, run.stdout + run.stderr
    journal = read_journal(home)
    assert checks(journal) == [1, 0]
    first, again = (i for i, r in enumerate(journal) if r["tool"] == "qubes-dom0-update")
    between = journal[first + 1 : again]
    assert [(r["tool"], r["argv"], r["exit"]) for r in between] == [
        ("qvm-start", ["--skip-if-running", "sys-firewall"], 0)
    ]
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert "dom0's UpdateVM sys-firewall is halted" in log


def test_with_dom0_updates_the_run_goes_on_to_install_them(home: Path) -> None:
    run = run_updater(home, *FORCE, scenario=INSTANT + HALTED)
    assert run.returncode == ExitCode.REBOOT_REQUIRED, run.stdout + run.stderr
    journal = read_journal(home)
    assert checks(journal) == [1, 100]
    assert any(r["tool"] == "qubes-dom0-update" and r["argv"] == ["-y"] for r in journal)


def test_an_updatevm_that_cannot_start_is_said_with_the_command_to_run(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + HALTED + "start_fails = true\n"
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED
    assert checks(read_journal(home)) == [1]
    assert "dom0's UpdateVM sys-firewall is halted and could not be started" in run.stdout
    assert "qvm-start sys-firewall" in run.stdout
    assert "reboot" not in run.stdout.lower() and "restart the computer" not in run.stdout.lower()
    assert read_status(home)["status"] == "3"


def test_another_updatevm_is_the_one_started(home: Path) -> None:
    scenario = (
        '[sim]\ntime_scale = 0.0\nupdatevm = "sys-whonix"\n'
        + NO_DOM0
        + '[vms."sys-whonix"]\npower = "Halted"\n'
    )
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.OK, run.stdout + run.stderr
    journal = read_journal(home)
    assert checks(journal) == [1, 0]
    assert "sys-whonix" in vm_starts(journal)


def test_no_updatevm_at_all_is_said_with_the_command_to_run(home: Path) -> None:
    run = run_updater(home, *FORCE, scenario='[sim]\ntime_scale = 0.0\nupdatevm = ""\n' + NO_DOM0)
    assert run.returncode == ExitCode.FAILED
    assert "dom0 has no UpdateVM" in run.stdout
    assert "qubes-prefs updatevm sys-firewall" in run.stdout


def test_a_check_that_fails_otherwise_starts_nothing(home: Path) -> None:
    """The lock of another qubes-dom0-update: exit 1 too, with the UpdateVM running."""
    run = run_updater(home, *FORCE, scenario=INSTANT + "[dom0]\nlock_held = true\n")
    assert run.returncode == ExitCode.FAILED
    journal = read_journal(home)
    assert checks(journal) == [1]
    assert "sys-firewall" not in vm_starts(journal)


def updatevm_starting(journal: list[Entry]) -> bool:
    """sys-firewall's start is under way (whichever way the updater starts it)."""
    return any(r["exit"] is None and vm_starts([r]) == ["sys-firewall"] for r in journal)


def test_a_stop_while_the_updatevm_starts_stops_the_start_and_ends_the_run(home: Path) -> None:
    """SIGTERM while the UpdateVM boots (a minute here): the start is stopped, not waited for."""
    scenario = (
        "[sim]\ntime_scale = 0.05\n[network]\ncheck_duration = 0\n"
        + NO_DOM0
        + "check_duration = 0\n"
        + HALTED
        + "start_duration = 1200\n"
    )
    began = time.monotonic()
    run = stop_updater(home, scenario, updatevm_starting)
    took = time.monotonic() - began
    assert run.returncode == ExitCode.FAILED, run.stdout
    assert took < 30, f"the run went on for {took:.0f} s after the stop"
    journal = read_journal(home)
    start = next(r for r in journal if vm_starts([r]) == ["sys-firewall"])
    assert (start["tool"], start["exit"]) == ("qvm-start", -15), start
    assert checks(journal) == [1]
    assert "The update was stopped" in run.stdout
    assert "could not be started (the updater was stopped during the start)" in run.stdout
    assert read_status(home)["status"] == "3"
    assert not is_locked(Path(os.environ["XDG_RUNTIME_DIR"]) / UPDATER_LOCK)
