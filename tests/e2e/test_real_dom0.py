"""End to end against a dom0 that behaves as the real one does.

The simulator plays the real tools (docs/qubes-tools.md, "Corrections: what
the tools really do") and today's SecureDrop Workstation 1.7 on Qubes 4.3;
each test runs the installed ``sdw-updater --cli --simulate SCENARIO`` and
asserts what an admin relies on: exit codes, the state files, the journal,
the simulated dom0.  The app's start does not wait for the app; the
migration directory; VMs stopped for the other templates started again;
prompts on stdin; a bare 0 from ``--check-only``; the in-place upgrade guard;
a clock jump that is not a reboot; a dom0 update that installed and then
failed still owes a restart.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from helpers import (
    FORCE,
    INSTANT,
    NO_DOM0,
    client_records,
    read_journal,
    read_status,
    run_updater,
    tools,
    write_status,
)

from sdw_sim.journal import Entry
from sdw_sim.state import StateStore, running_apps
from sdw_updater.contract import CLIENT_APP_ID, CLIENT_VM, PROXY_VM

TEMPLATES = ("fedora-43-xfce", "sd-inbox-debian-13", "sd-viewer-debian-13")


# Real time passes (time_scale 1) but every step takes none, except the app: it keeps
# running ten simulated hours once started.  Timeouts are cut twentyfold (the app's
# 180 s become 9 s), so an engine that waits for the app ends within seconds.
APP_RUNS = (
    "[sim]\ntime_scale = 1.0\ntimeout_scale = 0.05\nvm_start_duration = 0\n"
    "vm_shutdown_duration = 0\n"
    "[network]\ncheck_duration = 0\n"
    "[client]\nstart_duration = 0\nrun_duration = 36000\n"
    + "".join(f'[templates."{t}"]\nduration = 0\n' for t in TEMPLATES)
    + "[dom0]\ncheck_duration = 0\nupdate_duration = 0\nhighstate_duration = 0\n"
    "apply_duration = 0\n"
)


def sim_state(home: Path) -> dict[str, object]:
    return StateStore(home / ".securedrop_updater" / "sim").read()


def power(home: Path, vm: str) -> str:
    value = sim_state(home).get("power", {})
    assert isinstance(value, dict)
    return str(value.get(vm))


def boot_id(home: Path) -> str:
    path = home / ".securedrop_updater/sim/root/proc/sys/kernel/random/boot_id"
    return path.read_text().strip()


def client_calls(journal: list[Entry]) -> list[Entry]:
    """The app's start calls, whatever their shape (qvm-run, qubesadmin, qrexec-client)."""
    return client_records(journal)


def vm_update_targets(journal: list[Entry]) -> set[str]:
    for record in journal:
        argv = record["argv"]
        if record["tool"] == "qubes-vm-update" and isinstance(argv, list) and "--targets" in argv:
            return set(str(argv[argv.index("--targets") + 1]).split(","))
    return set()


def assert_app_started_and_running(home: Path) -> None:
    journal = read_journal(home)
    calls = client_calls(journal)
    assert calls and all(c["exit"] == 0 for c in calls), calls
    assert power(home, CLIENT_VM) == power(home, PROXY_VM) == "Running"
    assert running_apps(sim_state(home), CLIENT_VM) == [CLIENT_APP_ID]


# ----- the app start must not wait for the app to exit -------------------------------------


def test_fast_path_starts_the_app_without_waiting_for_it(home: Path) -> None:
    write_status(home, "0")
    result = run_updater(home, "--cli", scenario=APP_RUNS, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_app_started_and_running(home)


def test_forced_run_ends_0_while_the_app_keeps_running(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=APP_RUNS + "updates = false\n", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_status(home)["status"] == "0"
    assert_app_started_and_running(home)


# ----- the migration directory -------------------------------------------------------------


MIGRATION = INSTANT + "[dom0]\nupdates = false\nmigration = true\n"


def test_migration_directory_is_applied_and_removed(home: Path) -> None:
    flag = home / ".securedrop_updater/sim/root/tmp/sdw-migrations"
    result = run_updater(home, *FORCE, scenario=MIGRATION)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = read_journal(home)
    names = tools(journal)
    assert names.count("sdw-admin") == 1
    assert journal[names.index("sdw-admin")] == {
        "tool": "sdw-admin",
        "argv": ["--apply"],
        "exit": 0,
    }
    removal = journal[names.index("rm")]
    assert "/tmp/sdw-migrations" in removal["argv"] and removal["exit"] == 0
    assert names.index("sdw-admin") < names.index("rm") < names.index("qubes-vm-update")
    assert not flag.exists()


def test_migration_flag_of_older_releases_still_works(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=MIGRATION + 'migration_form = "file"\n')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sdw-admin" in tools(read_journal(home))
    assert not (home / ".securedrop_updater/sim/root/tmp/sdw-migrations").exists()


def test_a_vm_the_migration_creates_has_its_template_updated(home: Path) -> None:
    scenario = (
        MIGRATION + '[vms."sd-large-debian-13"]\nklass = "TemplateVM"\ntags = ["sd-workstation"]\n'
        "created_by_apply = true\n"
        '[vms."sd-large"]\ntemplate = "sd-large-debian-13"\ntags = ["sd-workstation"]\n'
        "created_by_apply = true\n"
    )
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    assert vm_update_targets(read_journal(home)) == {*TEMPLATES, "sd-large-debian-13"}


# ----- VMs stopped for the other templates are started again -------------------------------


def test_vms_halted_by_a_partial_failure_are_started_again(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + '[templates."sd-viewer-debian-13"]\nresult = "error"\n'
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    journal = read_journal(home)
    update = next(r for r in journal if r["tool"] == "qubes-vm-update")
    assert update["exit"] == 24  # the agent's install error, as the real tool reports it
    # sd-inbox-debian-13 succeeded: -R shut sd-log down; the run starts it again
    assert power(home, "sd-log") == "Running"
    assert "sd-log" in result.stdout


# ----- prompts on stdin --------------------------------------------------------------------


def test_xen_upgrade_prompt_fails_the_run_and_never_reboots(home: Path) -> None:
    scenario = INSTANT + "[dom0]\nxen_upgrade = true\n"
    run_updater(home, "--status", scenario=scenario)  # the workstation as it boots
    before = boot_id(home)
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    assert boot_id(home) == before
    assert "reboot" not in tools(read_journal(home))
    assert read_status(home)["status"] == "3"
    assert "sudo qubes-dom0-update" in result.stdout  # what the admin runs in a dom0 terminal


def test_boot_not_mounted_fails_the_run_with_an_admin_hint(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=INSTANT + "[dom0]\nboot_mounted = false\n")
    assert result.returncode == 1, result.stdout + result.stderr
    assert read_status(home)["status"] == "3"
    assert "sudo qubes-dom0-update" in result.stdout


def test_apply_prompt_fails_the_run_before_the_templates(home: Path) -> None:
    scenario = MIGRATION + 'migration_form = "file"\napply_prompt = true\n'
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    journal = read_journal(home)
    assert [r["exit"] for r in journal if r["tool"] == "sdw-admin"] == [1]
    assert "qubes-vm-update" not in tools(journal)
    assert read_status(home)["status"] == "3"
    assert "sdw-admin" in result.stdout


# ----- a bare 0 from --check-only is not proof ---------------------------------------------


def test_check_only_0_that_dom0_contradicts_fails_the_run(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=INSTANT + "[dom0]\ncheck_dnf_error = true\n")
    assert result.returncode == 1, result.stdout + result.stderr
    journal = read_journal(home)
    assert [r["argv"] for r in journal if r["tool"] == "qubes-dom0-update"] == [["--check-only"]]
    assert "qubes-vm-update" not in tools(journal)
    assert read_status(home)["status"] == "3"
    assert not client_calls(journal)


# ----- the in-place upgrade guard on the fast path -----------------------------------------


def test_fast_path_refuses_during_an_in_place_upgrade(home: Path) -> None:
    write_status(home, "0")
    result = run_updater(home, "--cli", scenario=INSTANT + 'qubes_release = "4.4"\n')
    assert result.returncode == 7, result.stdout + result.stderr
    assert read_journal(home) == []  # nothing started, nothing changed


# ----- a clock jump is not a reboot --------------------------------------------------------


def test_clock_jump_is_not_a_reboot_and_a_real_reboot_is(home: Path) -> None:
    jump = 2 * 86400
    scenario = INSTANT.replace("\n", f"\nuptime = 600\nclock_jump = {jump}\n", 1)
    assert run_updater(home, *FORCE, scenario=scenario).returncode == 3  # dom0 updated
    # the clock is corrected forward by more than the uptime: still the same boot
    again = run_updater(home, "--cli", scenario=scenario)
    assert again.returncode == 3, again.stdout + again.stderr
    assert not client_calls(read_journal(home))
    assert read_status(home)["status"] == "2"
    # a real restart: the app starts, and "now" is dom0's (jumped) clock
    sim_bin = home / ".securedrop_updater/sim/bin"
    subprocess.run([str(sim_bin / "sudo"), "-n", "reboot"], check=True, timeout=30)
    after = run_updater(home, "--cli", scenario=scenario)
    assert after.returncode == 0, after.stdout + after.stderr
    status = read_status(home)
    assert status["status"] == "0"
    # the launch found the restart done and, the last update being "two days old" on
    # dom0's corrected clock, updated again: every time it wrote is dom0's clock
    written = time.mktime(time.strptime(str(status["last_status_update"]), "%Y-%m-%d %H:%M:%S"))
    assert written - time.time() == pytest.approx(jump, abs=600)


# ----- a dom0 update that installed and then failed owes a restart -------------------------


@pytest.mark.parametrize(
    "failure",
    ["[dom0]\nupdate_exit = 1\n", '[faults."qubes-dom0-update"]\nmode = "crash"\nmatch = "-y"\n'],
    ids=["exit", "killed"],
)
def test_installed_then_failed_dom0_update_still_owes_a_restart(home: Path, failure: str) -> None:
    scenario = INSTANT + failure
    if "[dom0]" in failure:
        scenario += "installed_before_failure = true\n"
    else:
        scenario += "[dom0]\ninstalled_before_failure = true\n"
    first = run_updater(home, *FORCE, scenario=scenario)
    assert first.returncode == 1, first.stdout + first.stderr
    status = read_status(home)
    assert status["status"] == "3" and "reboot_requested_at" in status
    # nothing is left to install now: the next launch must still ask for the restart
    second = run_updater(home, *FORCE, scenario=scenario)
    assert second.returncode == 3, second.stdout + second.stderr
    assert not client_calls(read_journal(home))


def test_scenarios_here_load() -> None:
    """Every scenario above is valid (a typo would test the healthy case instead)."""
    import tomllib

    from sdw_sim.scenario import parse_scenario

    for text in (APP_RUNS + "updates = false\n", MIGRATION + 'migration_form = "file"\n'):
        parse_scenario(tomllib.loads(text))
