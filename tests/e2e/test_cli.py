"""End to end: the installed ``sdw-updater`` console script against the simulator.

Each test runs the real program in a subprocess with its own HOME and asserts
what a user or admin sees: the exit code, the status files, and the commands
the simulated Qubes received (its journal), in order.  The fast path has its
own file (test_fast_path.py), as do the summary and help, retries, the stall
watchdog, stops, trust and hostile input.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import (
    BIN,
    FORCE,
    NO_DOM0,
    changed_dom0,
    client_records,
    client_started,
    last_run_file,
    read_journal,
    read_status,
    run_updater,
    stamp,
    state_files,
    tools,
    vm_starts,
    write_status,
)

from sdw_sim.journal import Entry

HEALTHY = "[sim]\ntime_scale = 0.0\n"


def update_tools(journal: list[Entry]) -> list[str]:
    names = {"qubes-dom0-update", "qubesctl", "sdw-admin", "qubes-vm-update"}
    return [t for t in tools(journal) if t in names]


def test_fresh_workstation_starts_client_without_updating(home: Path) -> None:
    write_status(home, "0")
    result = run_updater(home, "--cli", scenario=HEALTHY)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = read_journal(home)
    assert update_tools(journal) == []
    assert set(vm_starts(journal)) == {"sd-proxy", "sd-app"}  # together, not one after the other
    assert client_started(journal)
    assert not [r for r in journal if r["tool"] == "qvm-run"]  # never `qvm-run -p` for the app
    assert "Started the SecureDrop app" in result.stdout


def test_forced_run_updates_dom0_then_requires_reboot(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=HEALTHY)
    assert result.returncode == 3, result.stdout + result.stderr
    journal = read_journal(home)
    assert update_tools(journal) == [
        "qubes-dom0-update",
        "qubes-dom0-update",
        "qubesctl",
        "qubes-vm-update",
    ]
    assert tools(journal)[0] == "qvm-run"
    assert journal[0]["argv"][-4:] == ["nmcli", "networking", "connectivity", "check"]
    updates = [r for r in journal if r["tool"] in set(update_tools(journal))]
    assert updates[0]["argv"] == ["--check-only"]
    assert updates[1]["argv"] == ["-y"]
    assert updates[2]["argv"] == ["--show-output", "state.highstate"]
    vm_update = updates[3]
    assert vm_update["argv"][:5] == [
        "--apply-to-all",
        "--force-update",
        "--show-output",
        "--just-print-progress",
        "--targets",
    ]
    assert sorted(str(vm_update["argv"][5]).split(",")) == [
        "fedora-43-xfce",
        "sd-inbox-debian-13",
        "sd-viewer-debian-13",
    ]
    assert not client_started(journal)
    assert read_status(home)["status"] == "2"
    assert (home / ".securedrop_updater" / "sdw-last-updated").exists()
    # VMs stopped to apply template updates are started again
    restarts = [r for r in journal if r["tool"] == "qvm-start"]
    assert restarts and "sd-log" in restarts[-1]["argv"]
    assert "restart" in result.stdout.lower()


def test_pending_reboot_is_not_answered_by_updating_again(home: Path) -> None:
    assert run_updater(home, *FORCE, scenario=HEALTHY).returncode == 3
    before = len(read_journal(home))
    again = run_updater(home, *FORCE, scenario=HEALTHY)
    assert again.returncode == 3
    assert read_journal(home)[before:] == []
    assert "restart" in again.stdout.lower()


def test_reboot_done_turns_status_back_to_ok_and_starts_client(home: Path) -> None:
    hour_ago = time.time() - 3600
    write_status(home, "2", hour_ago)
    result = run_updater(home, "--cli", scenario=HEALTHY + "uptime = 600\n")
    assert result.returncode == 0, result.stdout + result.stderr
    status = read_status(home)
    assert status["status"] == "0"
    assert status["last_status_update"] == stamp(hour_ago)  # the reboot does not refresh freshness
    assert client_started(read_journal(home))


def test_no_dom0_updates_ends_ok_and_starts_client(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=HEALTHY + NO_DOM0)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = read_journal(home)
    assert update_tools(journal) == ["qubes-dom0-update", "qubesctl", "qubes-vm-update"]
    assert client_started(journal)
    assert read_status(home)["status"] == "0"
    assert journal.index(client_records(journal)[0]) > max(
        i for i, r in enumerate(journal) if r["tool"] in ("qubes-vm-update", "qvm-start")
    )


def test_could_not_check_dom0_is_a_failure_not_an_update(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=HEALTHY + "[dom0]\ncheck_exit = 1\n")
    assert result.returncode == 1
    journal = read_journal(home)
    assert update_tools(journal) == ["qubes-dom0-update"]
    assert journal[-1]["argv"] == ["--check-only"]
    assert read_status(home)["status"] == "3"
    assert not (home / ".securedrop_updater" / "sdw-last-updated").exists()
    assert "Could not check for dom0 updates" in result.stdout


@pytest.mark.parametrize(
    ("scenario", "last_tool"),
    [
        ("[dom0]\nupdate_exit = 1\n", "qubes-dom0-update"),
        ("[dom0]\nhighstate_exit = 1\n", "qubesctl"),
        ("[dom0]\nupdates = false\nmigration = true\napply_exit = 1\n", "sdw-admin"),
    ],
)
def test_dom0_step_failure_stops_early(home: Path, scenario: str, last_tool: str) -> None:
    result = run_updater(home, *FORCE, scenario=HEALTHY + scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    journal = read_journal(home)
    assert update_tools(journal)[-1] == last_tool
    assert "qubes-vm-update" not in tools(journal)
    assert not client_started(journal)
    assert read_status(home)["status"] == "3"


def test_failure_after_dom0_update_keeps_reboot_pending(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=HEALTHY + "[dom0]\nhighstate_exit = 1\n")
    assert result.returncode == 1
    status = read_status(home)
    assert status["status"] == "3"  # the failure is not hidden by the reboot
    assert "reboot_requested_at" in status
    nxt = run_updater(home, "--cli", scenario=HEALTHY + "[dom0]\nhighstate_exit = 1\n")
    assert nxt.returncode == 3
    assert "failed" in nxt.stdout.lower()


def test_migration_runs_full_apply_and_clears_flag(home: Path) -> None:
    scenario = HEALTHY + "[dom0]\nupdates = false\nmigration = true\n"
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = read_journal(home)
    names = tools(journal)
    assert (
        names.index("qubesctl")
        < names.index("sdw-admin")
        < names.index("rm")
        < names.index("qubes-vm-update")
    )
    assert journal[names.index("sdw-admin")]["argv"] == ["--apply"]
    assert not (home / ".securedrop_updater/sim/root/tmp/sdw-migrations").exists()


@pytest.mark.parametrize("mode", ["error", "cancelled", "crash", "garbage", "hang"])
def test_template_failure_modes(home: Path, mode: str) -> None:
    scenario = (
        "[sim]\ntime_scale = 0.0\ntimeout_scale = 0.0001\n"
        + NO_DOM0
        + f'[templates."sd-viewer-debian-13"]\nresult = "{mode}"\nduration = 5\n'
    )
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sd-viewer-debian-13" in result.stdout
    journal = read_journal(home)
    assert not client_started(journal)
    assert read_status(home)["status"] == "3"
    assert not (home / ".securedrop_updater" / "sdw-last-updated").exists()
    vm_update = next(r for r in journal if r["tool"] == "qubes-vm-update")
    if mode in ("crash", "hang"):
        assert vm_update["exit"] is None or vm_update["exit"] < 0


def test_no_updates_templates_are_ok(home: Path) -> None:
    scenario = (
        HEALTHY
        + NO_DOM0
        + "".join(
            f'[templates."{t}"]\nresult = "no_updates"\n'
            for t in (
                "fedora-43-xfce",
                "whonix-gateway-17",
                "sd-inbox-debian-13",
                "sd-viewer-debian-13",
            )
        )
    )
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    # nothing was updated, so nothing needed a restart: only the app's VMs were started
    assert set(vm_starts(read_journal(home))) == {"sd-proxy", "sd-app"}


def test_vms_that_cannot_be_read_to_restart_them_fail_the_run(home: Path) -> None:
    """qubesd refuses the VM list once qubes-vm-update -R has shut VMs down.

    The run cannot tell which VMs to start again: never "ok" (which would
    also silence the reminder), the app not started, and the VMs that ran
    before stay owed in the summary for the next run.
    """
    scenario = HEALTHY + 'list_refused_with = "qubes-vm-update"\n' + NO_DOM0
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    assert read_status(home)["status"] != "0"
    journal = read_journal(home)
    assert "qubes-vm-update" in tools(journal)
    assert not client_started(journal)
    summary = last_run_file(home)
    assert summary["failed_step"] == "restart"
    assert "sd-log" in summary["not_restarted"]


def test_output_flood_is_bounded_in_logs(home: Path) -> None:
    scenario = HEALTHY + NO_DOM0 + '[templates."fedora-43-xfce"]\nflood_mb = 30\n'
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    logs = home / ".securedrop_updater" / "logs"
    total = sum(p.stat().st_size for p in logs.iterdir())
    assert total < 80 * 1024 * 1024
    assert "not logged" in (logs / "updater-detail.log").read_text(errors="replace") or any(
        "not logged" in p.read_text(errors="replace") for p in logs.glob("updater-detail.log.*")
    )


def test_network_down_changes_nothing(home: Path) -> None:
    write_status(home, "1", time.time() - 100)
    before = state_files(home)
    result = run_updater(home, *FORCE, scenario=HEALTHY + '[network]\nconnectivity = "none"\n')
    assert result.returncode == 4
    assert state_files(home) == before
    assert tools(read_journal(home)) == ["qvm-run"]
    assert "network" in result.stdout.lower()


def test_skip_netcheck_does_not_check(home: Path) -> None:
    result = run_updater(
        home,
        *FORCE,
        "--skip-netcheck",
        scenario=HEALTHY + NO_DOM0 + '[network]\nconnectivity = "none"\n',
    )
    assert result.returncode == 0
    assert not any(r["tool"] == "qvm-run" and "nmcli" in r["argv"] for r in read_journal(home))


def test_second_updater_exits_5(home: Path, tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from pathlib import Path; from sdw_updater.lock import Lock; "
            f"l=Lock(Path({str(runtime / 'sdw-updater.lock')!r})); assert l.acquire(); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_updater(home, *FORCE, scenario=HEALTHY)
        assert result.returncode == 5
        assert update_tools(read_journal(home)) == []
        assert "already running" in result.stdout
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_dist_upgrade_refuses(home: Path) -> None:
    scenario = '[sim]\nqubes_release = "4.4"\n'
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 7
    assert read_journal(home) == []
    assert not (home / ".securedrop_updater" / "sdw-update-status").exists()


def test_missing_agent_version_is_not_evidence(home: Path) -> None:
    scenario = HEALTHY + NO_DOM0 + '[templates."fedora-43-xfce"]\nagent_version = "none"\n'
    assert run_updater(home, *FORCE, scenario=scenario).returncode == 0


def test_client_start_failure_exits_8(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario=HEALTHY + NO_DOM0 + "[client]\nstart_exit = 1\n")
    assert result.returncode == 8
    assert read_status(home)["status"] == "0"


@pytest.mark.parametrize(
    "args",
    [
        ("--skip-delta", "-1"),
        ("--skip-delta", "abc"),
        ("--skip-delta", "1.5"),
        ("--bogus",),
    ],
)
def test_usage_errors_exit_2(home: Path, args: tuple[str, ...]) -> None:
    result = run_updater(home, "--cli", *args, scenario=HEALTHY)
    assert result.returncode == 2
    assert read_journal(home) == []


def test_bad_scenario_is_a_usage_error(home: Path) -> None:
    result = run_updater(home, "--cli", scenario="[sim]\ntime_scale = 'fast'\n")
    assert result.returncode == 2
    assert "scenario" in result.stderr


def test_status_reports_and_changes_nothing(home: Path) -> None:
    write_status(home, "0", time.time() - 100)
    before = state_files(home)
    result = run_updater(home, "--status", scenario=HEALTHY)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["status"] == "0"
    assert data["status_name"] == "OK"
    assert data["due"] is False
    assert data["reboot_pending"] is False
    assert {"last_status_update", "last_updated"} <= data.keys()
    assert state_files(home) == before
    assert read_journal(home) == []
    forced = json.loads(run_updater(home, "--status", "--skip-delta", "0", scenario=HEALTHY).stdout)
    assert forced["due"] is True


def test_key_expiry_is_always_in_status(home: Path) -> None:
    result = run_updater(home, "--status", scenario=HEALTHY)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # The simulator plays the real release key: it expires 2027-05-24 13:19:23 UTC.
    expected = (1811164763 - time.time()) // 86400
    assert abs(report["key_expires_in_days"] - expected) <= 1


def test_version(home: Path) -> None:
    result = run_updater(home, "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("sdw-updater ")


def test_untrusted_status_means_update(home: Path) -> None:
    directory = home / ".securedrop_updater"
    directory.mkdir()
    (directory / "sdw-update-status").write_text(
        '{"status": "0", "last_status_update": "2099-01-01 00:00:00"}'
    )
    result = run_updater(home, "--cli", scenario=HEALTHY + NO_DOM0)
    assert result.returncode == 0
    assert "qubes-vm-update" in tools(read_journal(home))


def test_progress_bar_on_a_terminal(home: Path) -> None:
    """On a TTY the CLI redraws one progress line; the outcome still ends the output."""
    scenario = home / "s.toml"
    scenario.write_text(HEALTHY + NO_DOM0)
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(BIN / "sdw-updater"), *FORCE, "--simulate", str(scenario)],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            env={**os.environ, "HOME": str(home)},
        )
        os.close(terminal)
        output = bytearray()
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(controller)
    text = output.decode(errors="replace")
    assert "\r\x1b[K[" in text  # the bar is redrawn in place
    assert "100.0%" in text
    assert "Started the SecureDrop app." in text


# ----- a status that cannot be written, or one dated a little ahead -----------------


def test_a_run_that_cannot_record_in_progress_changes_nothing(home: Path) -> None:
    """The status file cannot be written (here: a directory stands in its place)."""
    (home / ".securedrop_updater" / "sdw-update-status").mkdir(parents=True)
    result = run_updater(home, *FORCE, scenario=HEALTHY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "could not record its state" in result.stdout
    assert "changed nothing" in result.stdout
    journal = read_journal(home)
    assert not changed_dom0(journal)
    assert not client_started(journal)


def test_skip_delta_0_runs_even_when_the_status_is_dated_ahead(home: Path) -> None:
    write_status(home, "0", time.time() + 120)  # within the clock-skew allowance
    result = run_updater(home, *FORCE, scenario=HEALTHY)
    assert result.returncode == 3, result.stdout + result.stderr
    journal = read_journal(home)
    assert changed_dom0(journal)
    assert not client_started(journal)
