"""The simulator plays the real dom0 tools as they are, not as documented.

The facts: docs/qubes-tools.md, "Corrections: what the tools really do".

Each test runs the fake tools as the engine runs them (the wrapper
executables, argument lists, stdin at EOF unless a test answers a prompt)
and asserts exit codes, output and the simulated workstation's state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_sim import make_env, power, sudo, tool

from sdw_sim import SimEnv, read_journal

APP = "press.freedom.SecureDropApp"
START_APP = f"qubes.StartApp+{APP}"
INSTANT = "[sim]\ntime_scale = 0.0\n"
# Real time passes, but only where a test says so: every other duration is 0.
REAL_TIME = (
    "[sim]\ntime_scale = 1.0\nvm_start_duration = 0\nvm_shutdown_duration = 0\n"
    "[network]\ncheck_duration = 0\n"
    "[dom0]\ncheck_duration = 0\nupdate_duration = 0\nhighstate_duration = 0\napply_duration = 0\n"
)


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


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


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


# ----- qubesctl is in test_sim.py; qubes-vm-update -----------------------------------


def test_vm_update_exit_is_the_largest_agent_code(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        '[templates."fedora-43-xfce"]\nresult = "error"\nexit_code = 22\n'
        '[templates."whonix-gateway-17"]\nresult = "error"\nexit_code = 25\n'
        '[templates."sd-inbox-debian-13"]\nresult = "error"\nexit_code = 26\n',
    )
    two = tool(
        env, "qubes-vm-update", "--force-update", "--targets", "fedora-43-xfce,whonix-gateway-17"
    )
    assert two.returncode == 25
    assert (
        tool(env, "qubes-vm-update", "--force-update", "--targets", "sd-inbox-debian-13").returncode
        == 26
    )


def test_vm_update_no_updates_is_0_unless_signalled(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[templates."fedora-43-xfce"]\nresult = "no_updates"\n')
    plain = ["--force-update", "--just-print-progress", "--targets", "fedora-43-xfce"]
    assert tool(env, "qubes-vm-update", *plain).returncode == 0
    assert tool(env, "qubes-vm-update", "--signal-no-updates", *plain).returncode == 100


def test_fail_first_counts_attempts_across_runs(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[templates."sd-viewer-debian-13"]\nfail_first = 2\n')
    argv = ["--force-update", "--just-print-progress", "--targets", "sd-viewer-debian-13"]
    results = []
    for _ in range(3):
        run = tool(env, "qubes-vm-update", *argv)
        results.append((run.returncode, run.stderr.splitlines()[-1]))
    assert results == [
        (24, "sd-viewer-debian-13 done error"),
        (24, "sd-viewer-debian-13 done error"),
        (0, "sd-viewer-debian-13 done success"),
    ]


def one_at_a_time(env: SimEnv, stdout: int, *options: str) -> subprocess.Popen[bytes]:
    """The simulated qubes-vm-update on fedora-43-xfce, then sd-inbox-debian-13 (-x 1)."""
    return subprocess.Popen(
        [
            str(env.bin_dir / "qubes-vm-update"),
            "-x",
            "1",
            "--force-update",
            *options,
            "--just-print-progress",
            "--targets",
            "fedora-43-xfce,sd-inbox-debian-13",
        ],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_vm_update_sigint_cancels_the_waiting_qubes_and_exits_130(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        REAL_TIME + '[templates."fedora-43-xfce"]\nduration = 3\n',
    )
    proc = one_at_a_time(env, subprocess.DEVNULL)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        while not any(line.startswith("fedora-43-xfce updating") for line in lines):
            line = proc.stderr.readline().decode()
            assert line, "qubes-vm-update ended before updating"
            lines.append(line.rstrip("\n"))
        os.kill(proc.pid, signal.SIGINT)
        lines += proc.stderr.read().decode().splitlines()
        assert proc.wait(timeout=30) == 130
    finally:
        kill_group(proc)
        if proc.stderr is not None:
            proc.stderr.close()
    last = {line.split(" ")[0]: line for line in lines if line}
    assert last["fedora-43-xfce"] == "fedora-43-xfce done success"  # the running one finished
    assert last["sd-inbox-debian-13"] == "sd-inbox-debian-13 done cancelled"
    assert read_journal(env.journal_path)[-1]["exit"] == 130


def test_vm_update_sigint_before_an_agent_runs_cancels_that_qube_too(tmp_path: Path) -> None:
    """SIGINT while the tool copies its agent into a qube: the agent never runs.

    The real tool checks its stop flag between copying the agent and
    starting it (checked against 4.2.37, 4.3.21, 4.4.1 in the box tier):
    a qube in that phase ends ``done cancelled`` like one never started,
    with ``Cancelled`` on err; one never started says ``Canceled`` on out.
    """
    env = make_env(tmp_path, REAL_TIME + '[templates."fedora-43-xfce"]\nduration = 60\n')
    proc = one_at_a_time(env, subprocess.PIPE, "--show-output")
    try:
        assert proc.stderr is not None and proc.stdout is not None
        first = proc.stderr.readline().decode()  # the first snapshot: the agent is being copied
        assert first.startswith(("fedora-43-xfce pending", "sd-inbox-debian-13 pending")), first
        os.kill(proc.pid, signal.SIGINT)
        stderr = first + proc.stderr.read().decode()
        stdout = proc.stdout.read().decode()
        assert proc.wait(timeout=30) == 130
    finally:
        kill_group(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    last = {line.split(" ")[0]: line for line in stderr.splitlines() if line}
    assert last["fedora-43-xfce"] == "fedora-43-xfce done cancelled"
    assert last["sd-inbox-debian-13"] == "sd-inbox-debian-13 done cancelled"
    assert "fedora-43-xfce:err: Cancelled" in stdout.splitlines()
    assert "sd-inbox-debian-13:out: Canceled" in stdout.splitlines()
    assert power(env, "fedora-43-xfce") == "Halted"  # started for the copy, shut down again


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
