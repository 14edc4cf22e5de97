"""The Qubes seam (sdw_updater/qubes.py) where dom0's tools need help: a halted UpdateVM.

``qubes-dom0-update --check-only`` refuses while dom0's UpdateVM is halted
(exit 1) and never starts it.  The updater starts it through the Admin API
and checks again; when it cannot, it says so with the command to run, and
asks for no reboot.  End to end through ``sdw-updater --cli --simulate``;
the box tier runs the same scenarios with the real ``qubesadmin``
(tests/box/test_box_agreement.py).
"""

from __future__ import annotations

from pathlib import Path

from helpers import read_journal, read_status, run_updater

from sdw_sim.journal import Entry
from sdw_updater.contract import ExitCode

FORCE = ("--cli", "--skip-delta", "0")
INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = "[dom0]\nupdates = false\n"
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
    starts = [r for r in journal if r["tool"] == "qubesadmin" and r["argv"][0] == "start"]
    assert starts[0]["argv"] == ["start", "sys-firewall"] and starts[0]["exit"] == 0
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
    assert ["start", "sys-whonix"] in [r["argv"] for r in journal if r["tool"] == "qubesadmin"]


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
    assert not [r for r in journal if r["tool"] == "qubesadmin" and r["argv"][0] == "start"]
