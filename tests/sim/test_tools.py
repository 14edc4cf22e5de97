"""The simulator's fake dom0 tools (``sdw_sim/tools.py``) play the real ones as they are.

The facts: docs/qubes-tools.md, "Corrections: what the tools really do".
Each test runs the fake tools as the engine runs them (the wrapper
executables, argument lists, stdin at EOF unless a test answers a prompt)
and asserts exit codes, output and the simulated workstation's state:
``qvm-run`` and ``qvm-start`` (the app's start waits for the app with
``-p``), the network check, ``qubes-dom0-update`` (an exit 0 that hides a
failure, prompts, a lock, an update killed half way), Salt, the migration
and ``sdw-admin --apply``, the reboot and the clock, hostile VM-side
answers, and the faults a scenario injects into any tool.
``qubes-vm-update`` is in tests/sim/test_vmupdate.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import INSTANT
from helpers.sim import REAL_TIME, kill_group, make_env, power, sudo, tool

from sdw_sim import SimEnv, read_journal, setup

APP = "press.freedom.SecureDropApp"
START_APP = f"qubes.StartApp+{APP}"


def state(env: SimEnv) -> dict[str, object]:
    return json.loads((env.sim_dir / "state.json").read_text())


def dom0_features(env: SimEnv) -> dict[str, str]:
    return dict(env.app.domains["dom0"].features.items())


def dom0_config_version(env: SimEnv) -> str:
    run = tool(env, "rpm", "-q", "--qf", "%{VERSION}", "securedrop-workstation-dom0-config")
    assert run.returncode == 0, run.stderr
    return run.stdout


def boot_id(env: SimEnv) -> str:
    return (env.root / "proc" / "sys" / "kernel" / "random" / "boot_id").read_text().strip()


# ----- qvm-*, the network check, the app's start ------------------------------------


def test_network_check_prints_the_scenario_connectivity(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[network]\nconnectivity = "portal"\n')
    result = tool(env, "qvm-run", "-p", "sys-net", "nmcli", "networking", "connectivity", "check")
    assert (result.returncode, result.stdout) == (0, "portal\n")
    missing = tool(env, "qvm-run", "-p", "sys-nope", "true")
    assert missing.returncode == 2
    assert "no such domain: 'sys-nope'" in missing.stderr


def test_starting_the_client_starts_sd_app_and_is_journaled(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    app_id = "qubes.StartApp+press.freedom.SecureDropApp"
    result = tool(env, "qvm-run", "-p", "--service", "sd-app", app_id)
    assert result.returncode == 0
    assert power(env, "sd-app") == "Running"
    record = read_journal(env.journal_path)[-1]
    assert "sd-app" in record["argv"] and app_id in record["argv"]


def test_client_start_exit_comes_from_the_scenario(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[client]\nstart_exit = 3\n")
    app_id = "qubes.StartApp+press.freedom.SecureDropApp"
    assert tool(env, "qvm-run", "-p", "--service", "sd-app", app_id).returncode == 3


def test_qvm_start_follows_r42_semantics(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[vms."sd-gpg"]\nstart_fails = true\n')
    running = tool(env, "qvm-start", "sd-log", "sd-proxy")
    assert running.returncode == 1
    assert "Error: domain sd-log is already running" in running.stderr
    assert power(env, "sd-proxy") == "Halted"  # later qubes are not started
    failing = tool(env, "qvm-start", "--skip-if-running", "sd-gpg", "sd-proxy")
    assert failing.returncode == 1 and "Error: Start failed" in failing.stderr
    assert power(env, "sd-proxy") == "Running"  # the tool continues after a failure
    assert tool(env, "qvm-start", "sd-nope").returncode == 2
    assert tool(env, "qvm-shutdown", "--wait", "sd-proxy", "sd-app").returncode == 0
    assert power(env, "sd-proxy") == "Halted"


# ----- dom0 update, Salt, migration, reboot -----------------------------------


def test_dom0_check_reports_pending_updates_until_they_are_installed(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    check = tool(env, "qubes-dom0-update", "--check-only")
    assert check.returncode == 100
    assert "There are dom0 updates available" in check.stderr
    unprivileged = tool(env, "qubes-dom0-update", "-y")
    assert unprivileged.returncode == 1 and "root" in unprivileged.stderr
    update = sudo(env, "qubes-dom0-update", "-y")
    assert update.returncode == 0
    assert "Using sys-firewall as UpdateVM for Dom0" in update.stderr
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 0
    again = sudo(env, "qubes-dom0-update", "-y")
    assert again.returncode == 0 and "No updates available" in again.stderr
    assert env.app.domains["dom0"].features["updates-available"] == ""


@pytest.mark.parametrize(
    ("toml", "check", "message"),
    [
        ("[dom0]\nupdates = false\n", 0, "No dom0 updates available"),
        ("[dom0]\ncheck_exit = 1\n", 1, "Failed to check for dom0 updates"),
        ('[vms."sys-firewall"]\npower = "Halted"\n', 1, "UpdateVM not running"),
    ],
)
def test_dom0_check_exit_codes(tmp_path: Path, toml: str, check: int, message: str) -> None:
    env = make_env(tmp_path, toml)
    result = tool(env, "qubes-dom0-update", "--check-only")
    assert result.returncode == check
    assert message in result.stderr


def test_dom0_update_failure_keeps_updates_pending(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\nupdate_exit = 1\n")
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 1
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 100


def test_migration_flag_is_a_non_empty_directory_removed_only_with_rm_r(
    tmp_path: Path,
) -> None:
    """SecureDrop Workstation 1.7: its RPM %post makes /tmp/sdw-migrations/ and a file in it."""
    env = make_env(tmp_path, "[dom0]\nmigration = true\n")
    flag = env.root / "tmp" / "sdw-migrations"
    assert flag.is_dir() and os.listdir(flag)
    assert sudo(env, "qubesctl", "--show-output", "state.highstate").returncode == 0
    assert flag.is_dir()  # the Salt state neither makes nor removes it
    assert tool(env, "sdw-admin", "--apply").returncode == 0
    assert flag.is_dir()  # sdw-admin leaves it to the updater
    denied = tool(env, "rm", "-rf", "--", "/tmp/sdw-migrations")
    assert denied.returncode == 1 and "Operation not permitted" in denied.stderr
    not_recursive = sudo(env, "rm", "-f", "--", "/tmp/sdw-migrations")
    assert not_recursive.returncode == 1 and "Is a directory" in not_recursive.stderr
    assert sudo(env, "rm", "-rf", "--", "/tmp/sdw-migrations").returncode == 0
    assert not flag.exists()
    # applied: a later dom0 update's %post leaves no flag
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 0
    assert not flag.exists()


def test_migration_flag_of_older_releases_is_a_file(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[dom0]\nmigration = true\nmigration_form = "file"\n')
    flag = env.root / "tmp" / "sdw-migrations"
    assert flag.is_file() and flag.read_bytes().strip()
    assert sudo(env, "rm", "-f", "--", "/tmp/sdw-migrations").returncode == 0
    assert not flag.exists()


def test_dom0_update_recreates_a_pending_migration_flag_and_reboot_empties_tmp(
    tmp_path: Path,
) -> None:
    env = make_env(tmp_path, "[dom0]\nmigration = true\n")
    flag = env.root / "tmp" / "sdw-migrations"
    assert sudo(env, "reboot").returncode == 0
    assert not flag.exists()  # /tmp is a tmpfs: the flag is lost (SecureDrop #1540)
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 0
    assert flag.is_dir() and os.listdir(flag)  # the new dom0 package's %post


def test_rm_never_touches_the_real_file_system(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    real = tmp_path / "real-file"
    real.write_text("keep me")
    assert sudo(env, "rm", "-rf", "--", str(real)).returncode == 0
    assert real.read_text() == "keep me"
    assert sudo(env, "rm", "-rf", "--", "/../../" + str(real)).returncode == 0
    assert real.read_text() == "keep me"
    assert sudo(env, "rm", "-rf", "relative").returncode == 1


def test_highstate_failure_in_dom0_exits_1_and_apply_failure_keeps_its_code(
    tmp_path: Path,
) -> None:
    env = make_env(tmp_path, "[dom0]\nhighstate_exit = 2\napply_exit = 5\n")
    salt = sudo(env, "qubesctl", "--show-output", "state.highstate")
    assert salt.returncode == 1  # whatever salt-call's own code (docs/qubes-tools.md)
    assert "DOM0 configuration failed, not continuing" in salt.stderr
    assert "Failed:    1" in salt.stdout
    assert tool(env, "sdw-admin", "--apply").returncode == 5
    assert [r["exit"] for r in read_journal(env.journal_path)] == [1, 5]


def test_qubesctl_exits_with_the_largest_vm_code(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        '[vms."sys-usb"]\nsalt_exit = 20\n[vms."sd-log"]\nsalt_exit = 2\n',
    )
    run = sudo(env, "qubesctl", "--skip-dom0", "--targets", "sys-usb,sd-log,sd-nope", "state.sls")
    assert run.returncode == 20
    assert "sys-usb: ERROR (exit code 20, details in /var/log/qubes/mgmt-sys-usb.log)" in run.stdout
    assert "sd-nope" not in run.stdout  # unknown targets are silently ignored
    fine = sudo(env, "qubesctl", "--skip-dom0", "--targets", "sys-net", "state.sls")
    assert (fine.returncode, fine.stdout) == (0, "sys-net: OK\n")
    dom0_only = sudo(env, "qubesctl", "--show-output", "state.highstate")
    assert dom0_only.returncode == 0 and "sys-usb" not in dom0_only.stdout


def test_reboot_resets_uptime_and_power_states(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[sim]\nuptime = 86400\n")
    uptime = float((env.root / "proc" / "uptime").read_text().split()[0])
    assert 86400 <= uptime < 86460
    tool(env, "qvm-start", "sd-proxy")
    tool(env, "qvm-shutdown", "sys-usb")
    assert sudo(env, "reboot").returncode == 0
    assert float((env.root / "proc" / "uptime").read_text().split()[0]) < 60
    assert power(env, "sd-proxy") == "Halted" and power(env, "sys-usb") == "Running"


# ----- faults --------------------------------------------------------------------


def test_fault_exit_only_hits_matching_calls(tmp_path: Path) -> None:
    env = make_env(
        tmp_path, '[faults."qubes-dom0-update"]\nmode = "exit"\nexit = 7\nmatch = "-y"\n'
    )
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 100
    failed = sudo(env, "qubes-dom0-update", "-y")
    assert failed.returncode == 7 and "fault injected" in failed.stderr
    assert read_journal(env.journal_path)[-1] == {
        "tool": "qubes-dom0-update",
        "argv": ["-y"],
        "exit": 7,
    }


def test_fault_missing_removes_the_executable(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."qubesctl"]\nmode = "missing"\n')
    assert not (env.bin_dir / "qubesctl").exists()
    result = tool(env, "sudo", "-n", "qubesctl", "state.highstate")
    assert result.returncode == 1 and "command not found" in result.stderr
    env = setup(None, tmp_path / "state")
    assert os.access(env.bin_dir / "qubesctl", os.X_OK)


def test_fault_crash_and_garbage(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        '[faults."sdw-admin"]\nmode = "crash"\n[faults."qvm-run"]\nmode = "garbage"\n',
    )
    crash = tool(env, "sdw-admin", "--apply")
    assert crash.returncode == -signal.SIGKILL and crash.stdout
    garbage = subprocess.run(
        [str(env.bin_dir / "qvm-run"), "-p", "sys-net", "nmcli", "networking", "connectivity"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert garbage.returncode == 0
    assert garbage.stdout.strip() not in (b"full", b"")
    assert [r["exit"] for r in read_journal(env.journal_path)] == [-9, 0]


def test_fault_hang_ends_on_sigterm(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."qvm-start"]\nmode = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "qvm-start"), "sd-proxy"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        kill_group(proc)
    assert read_journal(env.journal_path) == [
        {"tool": "qvm-start", "argv": ["sd-proxy"], "exit": -15}
    ]
    assert power(env, "sd-proxy") == "Halted"


# ----- qvm-run and qubes.StartApp ----------------------------------------------------


def test_start_app_with_p_blocks_until_the_app_exits(tmp_path: Path) -> None:
    env = make_env(tmp_path, REAL_TIME + "[client]\nstart_duration = 0\nrun_duration = 36000\n")
    proc = subprocess.Popen(
        [str(env.bin_dir / "qvm-run"), "-p", "--service", "sd-app", START_APP],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # ten simulated hours of app: it does not return
        assert env.running_apps("sd-app") == [APP]
        os.killpg(proc.pid, signal.SIGTERM)  # what the engine's timeout does
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        kill_group(proc)
    assert read_journal(env.journal_path) == [
        {"tool": "qvm-run", "argv": ["-p", "--service", "sd-app", START_APP], "exit": -15}
    ]
    assert env.running_apps("sd-app") == [APP]  # the app itself goes on in sd-app


def test_start_app_with_p_returns_when_the_app_exits(tmp_path: Path) -> None:
    env = make_env(tmp_path, REAL_TIME + "[client]\nstart_duration = 0\nrun_duration = 0.2\n")
    run = tool(env, "qvm-run", "-p", "--service", "sd-app", START_APP)
    assert run.returncode == 0
    assert env.running_apps("sd-app") == []


def test_start_app_without_p_returns_at_once_and_the_app_runs(tmp_path: Path) -> None:
    env = make_env(tmp_path, REAL_TIME + "[client]\nstart_duration = 0\nrun_duration = 36000\n")
    run = tool(env, "qvm-run", "--service", "sd-app", START_APP)
    assert run.returncode == 0
    assert power(env, "sd-app") == "Running"  # autostarted
    assert env.running_apps("sd-app") == [APP]
    assert read_journal(env.journal_path)[-1]["argv"] == ["--service", "sd-app", START_APP]
    # the app ends with its VM
    assert tool(env, "qvm-shutdown", "--wait", "sd-app").returncode == 0
    assert env.running_apps("sd-app") == []
    tool(env, "qvm-start", "sd-app")
    assert env.running_apps("sd-app") == []


def test_at_time_scale_zero_nothing_waits(tmp_path: Path) -> None:
    env = make_env(tmp_path, INSTANT)
    assert tool(env, "qvm-run", "-p", "--service", "sd-app", START_APP).returncode == 0
    assert env.running_apps("sd-app") == []  # -p came back: the app has exited
    assert tool(env, "qvm-run", "--service", "sd-app", START_APP).returncode == 0
    assert env.running_apps("sd-app") == [APP]  # in the background it runs on


@pytest.mark.parametrize(
    ("toml", "service", "code", "message"),
    [
        ("", "qubes.StartApp+press.freedom.SecureDropClient", 1, "No such application"),
        ("[client]\nstart_exit = 3\n", START_APP, 3, "failed to start"),
    ],
)
def test_an_app_that_cannot_start(
    tmp_path: Path, toml: str, service: str, code: int, message: str
) -> None:
    """1.7.1 no longer installs the old client; a failing app fails the -p call only."""
    env = make_env(tmp_path, INSTANT + toml)
    waited = tool(env, "qvm-run", "-p", "--service", "sd-app", service)
    assert waited.returncode == code and message in waited.stderr
    background = tool(env, "qvm-run", "--service", "sd-app", service)
    assert background.returncode == 0  # dom0 does not wait, so it never hears
    assert env.running_apps("sd-app") == []


def test_vm_start_duration_is_per_vm(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        REAL_TIME.replace("vm_start_duration = 0", "vm_start_duration = 36000")
        + '[vms."sd-proxy"]\nstart_duration = 0\n[vms."sd-gpg"]\nstart_duration = 0\n',
    )
    assert env.scenario.start_duration("sd-app") == 36000
    # only the quick ones: this returns although the default start takes ten hours
    assert tool(env, "qvm-start", "sd-proxy", "sd-gpg").returncode == 0
    assert power(env, "sd-proxy") == power(env, "sd-gpg") == "Running"


# ----- hostile VM-side answers -----------------------------------------------------


def nmcli(env: SimEnv) -> subprocess.CompletedProcess[bytes]:
    """The engine's network check, bytes as sys-net sent them."""
    return subprocess.run(
        [str(env.bin_dir / "qvm-run"), "-p", "sys-net", "nmcli", "networking", "connectivity"],
        capture_output=True,
        check=False,
        timeout=60,
    )


def test_connectivity_is_any_text_sys_net_prints(tmp_path: Path) -> None:
    hostile = "full\\n\\u001b[2Kfull\\u0000\\u2028full"
    env = make_env(tmp_path, f'[network]\nconnectivity = "{hostile}"\n')
    run = nmcli(env)
    assert run.returncode == 0
    assert run.stdout == "full\n\x1b[2Kfull\x00\u2028full\n".encode()


def test_connectivity_can_be_megabytes(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[network]\nconnectivity = "full "\nconnectivity_repeat = 1200000\n')
    run = nmcli(env)
    assert run.returncode == 0
    assert len(run.stdout) == 5 * 1_200_000 + 1 and run.stdout.endswith(b"full \n")


def test_vm_files_and_agent_version_can_be_anything(tmp_path: Path) -> None:
    path = "/etc/apt/sources.list.d/apt_freedom_press.sources"
    env = make_env(
        tmp_path,
        f'[vms."sd-inbox-debian-13"]\nfiles = {{ "{path}" = "Types: deb\\nSigned-By: \\u001b[0m" }}\n'
        '[templates."sd-viewer-debian-13"]\nagent_version = "4.3\\n4.2"\n',
    )
    # an AppVM reads its template's root file system
    run = tool(env, "qvm-run", "-p", "--no-gui", "sd-app", "cat", "--", path)
    assert (run.returncode, run.stdout) == (0, "Types: deb\nSigned-By: \x1b[0m")
    viewer = env.app.domains["sd-viewer-debian-13"]
    assert viewer.features["qubes-agent-version"] == "4.3\n4.2"
    # the other template still has the Salt state's source
    other = tool(env, "qvm-run", "-p", "sd-viewer-debian-13", "cat", "--", path)
    assert other.returncode == 0 and "Suites: trixie" in other.stdout


# ----- qubes-dom0-update -------------------------------------------------------------


def test_check_only_exits_0_when_dnf_fails_and_the_features_disagree(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\ncheck_dnf_error = true\n")
    run = tool(env, "qubes-dom0-update", "--check-only")
    assert run.returncode == 0  # updates are pending, but dnf failed in the UpdateVM
    assert "Error: Failed to download metadata" in run.stderr
    assert run.stdout == "No new updates available\n"
    assert "No dom0 updates available" in run.stderr
    features = dom0_features(env)
    assert features["updates-available"] == "1"  # what dom0 knew from its last check
    time.strptime(features["last-updates-check"], "%Y-%m-%d %H:%M:%S")
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 0  # there was something


def test_r43_flags_go_to_dnf(tmp_path: Path) -> None:
    """R4.2/R4.3 know neither --quiet nor --silent nor --just-print-progress."""
    env = make_env(tmp_path)
    silent_check = tool(env, "qubes-dom0-update", "--check-only", "--silent")
    assert silent_check.returncode == 0  # dnf refused it in the UpdateVM: "no updates"
    assert "unrecognized arguments: --silent" in silent_check.stderr
    progress = sudo(env, "qubes-dom0-update", "-y", "--just-print-progress")
    assert progress.returncode == 2 and "unrecognized arguments" in progress.stderr
    quiet = sudo(env, "qubes-dom0-update", "-y", "--quiet")  # a dnf option: quiet dnf
    assert quiet.returncode == 0 and "Upgrading" not in quiet.stdout


def test_no_y_reads_dnf_answer_from_stdin(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    at_eof = sudo(env, "qubes-dom0-update")
    assert at_eof.returncode == 1 and "Operation aborted." in at_eof.stdout
    assert sudo(env, "qubes-dom0-update", answer="y\n").returncode == 0


def test_lock_held_and_boot_not_mounted_exit_1(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\nlock_held = true\n")
    for run in (
        tool(env, "qubes-dom0-update", "--check-only"),
        sudo(env, "qubes-dom0-update", "-y"),
    ):
        assert run.returncode == 1
        assert "Another instance of qubes-dom0-update is already running!" in run.stderr
    env = make_env(tmp_path, "[dom0]\nboot_mounted = false\n")
    unmounted = sudo(env, "qubes-dom0-update", "-y")
    assert unmounted.returncode == 1 and "/boot is not mounted" in unmounted.stderr
    assert dom0_config_version(env) == "1.7.0"  # nothing installed
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 100
    assert sudo(env, "qubes-dom0-update", "-y", "--skip-boot-check").returncode == 0


def test_update_installs_and_sets_dom0_features(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert dom0_config_version(env) == "1.7.0"
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 0
    assert dom0_config_version(env) == "1.7.1"
    features = dom0_features(env)
    assert features["updates-available"] == ""
    time.strptime(features["last-update"], "%Y-%m-%d %H:%M:%S")


def test_failure_without_installing_changes_nothing(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\nupdate_exit = 1\n")
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 1
    assert dom0_config_version(env) == "1.7.0"
    assert dom0_features(env)["updates-available"] == "1"
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 100


def test_failure_after_installing_leaves_packages_and_nothing_to_update(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\nupdate_exit = 1\ninstalled_before_failure = true\n")
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 1
    assert dom0_config_version(env) == "1.7.1"
    # the script's own "dnf -q check-update" found nothing left: features cleared
    assert dom0_features(env)["updates-available"] == ""
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 0
    again = sudo(env, "qubes-dom0-update", "-y")
    assert again.returncode == 0 and "No updates available" in again.stderr


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_a_killed_update_has_installed_too(tmp_path: Path, mode: str) -> None:
    env = make_env(
        tmp_path,
        "[dom0]\ninstalled_before_failure = true\n"
        f'[faults."qubes-dom0-update"]\nmode = "{mode}"\nmatch = "-y"\n',
    )
    proc = subprocess.Popen(
        [str(env.bin_dir / "sudo"), "-n", str(env.bin_dir / "qubes-dom0-update"), "-y"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline()  # it started (and installed) before it died or hung
        if mode == "hang":
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        kill_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
    assert read_journal(env.journal_path)[-1]["exit"] in ((-9, None) if mode == "crash" else (-15,))
    assert dom0_config_version(env) == "1.7.1"
    assert dom0_features(env)["updates-available"] == "1"  # the script never got that far
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 0


def test_xen_upgrade_at_eof_with_qubes_running_exits_1(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\nxen_upgrade = true\n")
    check = tool(env, "qubes-dom0-update", "--check-only")
    assert check.returncode == 100 and "xen-hypervisor" in check.stdout
    before = boot_id(env)
    run = sudo(env, "qubes-dom0-update", "-y")
    assert run.returncode == 1
    assert "Shut down all qubes now? [y/N]" in run.stdout
    assert "sys-net" in run.stdout  # the running qubes are listed
    assert boot_id(env) == before
    assert dom0_config_version(env) == "1.7.0"
    assert power(env, "sys-net") == "Running"


def test_xen_upgrade_reboot_prompt_at_eof_reboots_dom0(tmp_path: Path) -> None:
    """With no qubes running (the first answer shut them down), EOF means "restart now"."""
    env = make_env(tmp_path, "[dom0]\nxen_upgrade = true\nmigration = true\n")
    before = boot_id(env)
    run = sudo(env, "qubes-dom0-update", "-y", answer="y\n")
    assert run.returncode == -signal.SIGTERM  # the shutdown ended it
    assert "Do you want to restart now? [Y/n]" in run.stdout
    assert boot_id(env) != before
    assert dom0_config_version(env) == "1.7.1"
    assert power(env, "sys-net") == "Running"  # started again by the new boot
    assert not (env.root / "tmp" / "sdw-migrations").exists()  # /tmp is gone with it
    assert float((env.root / "proc" / "uptime").read_text().split()[0]) < 60
    updates = [r for r in read_journal(env.journal_path) if r["tool"] == "qubes-dom0-update"]
    assert updates == [{"tool": "qubes-dom0-update", "argv": ["-y"], "exit": -15}]


def test_xen_upgrade_answered_no_does_not_reboot(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\nxen_upgrade = true\n")
    before = boot_id(env)
    run = sudo(env, "qubes-dom0-update", "-y", "--force-xen-upgrade", answer="n\n")
    assert run.returncode == 0
    assert boot_id(env) == before
    assert dom0_config_version(env) == "1.7.1"
    (tmp_path / "eof").mkdir()
    forced_eof = make_env(tmp_path / "eof", "[dom0]\nxen_upgrade = true\n")
    before = boot_id(forced_eof)
    assert sudo(forced_eof, "qubes-dom0-update", "-y", "--force-xen-upgrade").returncode < 0
    assert boot_id(forced_eof) != before


# ----- sdw-admin --apply -------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "code", "applied"),
    [(None, 1, False), ("n\n", 1, False), ("y\n", 0, True)],
)
def test_apply_prompt(tmp_path: Path, answer: str | None, code: int, applied: bool) -> None:
    env = make_env(tmp_path, "[dom0]\nmigration = true\napply_prompt = true\n")
    run = tool(env, "sdw-admin", "--apply", answer=answer)
    assert run.returncode == code
    if answer is None:
        assert "EOFError: EOF when reading a line" in run.stderr
    assert state(env)["migration_pending"] is (not applied)


def test_apply_creates_and_removes_vms_seen_by_a_fresh_vm_list(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        '[vms."sd-fresh-template"]\nklass = "TemplateVM"\ntags = ["sd-workstation"]\n'
        "created_by_apply = true\n"
        '[vms."sd-fresh"]\ntemplate = "sd-fresh-template"\ntags = ["sd-workstation"]\n'
        "created_by_apply = true\n"
        '[vms."sd-devices"]\nremoved_by_apply = true\n',
    )
    domains = env.app.domains
    assert "sd-fresh" not in domains and "sd-devices" in domains
    assert tool(env, "qvm-start", "sd-fresh").returncode == 2
    updates = ["--force-update", "--targets", "sd-fresh-template"]
    assert tool(env, "qubes-vm-update", *updates).returncode == 64
    assert tool(env, "sdw-admin", "--apply").returncode == 0
    # the app's cached list does not see the change (qubesadmin caches the VM list) ...
    assert "sd-fresh" not in domains and "sd-devices" in domains
    domains.clear_cache()
    assert "sd-fresh" in domains and "sd-devices" not in domains
    assert domains["sd-fresh"].template.name == "sd-fresh-template"
    # ... the tools always do
    assert tool(env, "qvm-start", "sd-fresh").returncode == 0
    assert tool(env, "qvm-start", "sd-devices").returncode == 2
    assert tool(env, "qubes-vm-update", *updates).returncode == 0


# ----- the clock and the boot ---------------------------------------------------------


def test_clock_jump_moves_the_wall_clock_from_the_second_launch_on(tmp_path: Path) -> None:
    jump = 30 * 86400
    toml = f"[sim]\nuptime = 600\nclock_jump = {jump}\n"
    first = make_env(tmp_path, toml)
    assert first.clock_offset == 0
    assert (first.sim_dir / "clock_offset").read_text() == "0.000\n"
    boot, btime = boot_id(first), _btime(first)
    uptime = _uptime(first)
    second = make_env(tmp_path, toml)
    assert second.clock_offset == jump
    assert (second.sim_dir / "clock_offset").read_text() == f"{jump:.3f}\n"
    assert second.now() - time.time() == pytest.approx(jump, abs=5)
    assert boot_id(second) == boot  # the same boot
    assert _uptime(second) >= uptime  # uptime is real time: it did not jump
    assert _btime(second) - btime == pytest.approx(jump, abs=5)  # as Linux's btime moves
    third = make_env(tmp_path, toml)
    assert third.clock_offset == jump  # once, not per launch
    # what the simulated dom0 stamps is on its (jumped) clock
    assert sudo(third, "qubes-dom0-update", "-y").returncode == 0
    stamped = time.mktime(time.strptime(dom0_features(third)["last-update"], "%Y-%m-%d %H:%M:%S"))
    assert stamped - time.time() == pytest.approx(jump, abs=120)


def test_reboot_gives_a_new_boot_id_and_boot_time_but_keeps_the_clock(tmp_path: Path) -> None:
    toml = "[sim]\nuptime = 86400\nclock_jump = 3600\n"
    make_env(tmp_path, toml)
    env = make_env(tmp_path, toml)
    boot = boot_id(env)
    assert _uptime(env) >= 86400
    assert sudo(env, "reboot").returncode == 0
    assert boot_id(env) != boot and len(boot_id(env)) == 36
    assert _uptime(env) < 60
    assert (env.sim_dir / "clock_offset").read_text() == "3600.000\n"
    assert env.boot_id() == boot_id(env)


def _uptime(env: SimEnv) -> float:
    return float((env.root / "proc" / "uptime").read_text().split()[0])


def _btime(env: SimEnv) -> int:
    for line in (env.root / "proc" / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    raise AssertionError("no btime in /proc/stat")
