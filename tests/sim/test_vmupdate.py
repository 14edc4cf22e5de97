"""The simulated ``qubes-vm-update`` (``sdw_sim/vmupdate.py``) behaves as R4.2/R4.3's does.

docs/qubes-tools.md, "qubes-vm-update": progress snapshots on stderr in its
exact format, agent output on stdout, exit codes (the largest agent code;
no updates is 0), bad targets refused, ``-R``'s restarts and shut-downs,
a hang killable by SIGTERM on the group, a crash, a flood streamed, attempts
counted across runs (``fail_first``), and SIGINT cancelling the templates
still waiting while those updating finish.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.sim import REAL_TIME, TEMPLATES, VM_UPDATE, kill_group, make_env, power, tool

from sdw_sim import SimEnv, read_journal
from sdw_sim.state import StateStore

# docs/qubes-tools.md, "qubes-vm-update: its progress lines on stderr":
# "<qube> <status> <info>", single spaces, ASCII
PROGRESS = re.compile(
    r"(?P<vm>[A-Za-z][A-Za-z0-9_.-]*) (?:pending None"
    r"|updating (?P<pct>100\.0|[0-9]{1,2}\.[0-9]+)"
    r"|done (?P<done>success|error|cancelled|no_updates))"
)


def vm_update(env: SimEnv, *targets: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return tool(env, *VM_UPDATE, ",".join(targets), timeout=timeout)


def final_lines(stderr: str) -> dict[str, str]:
    """The last progress line per qube, as the engine keeps it."""
    last: dict[str, str] = {}
    for line in stderr.splitlines():
        if line:
            last[line.split(" ")[0]] = line
    return last


@pytest.mark.parametrize(
    ("result", "exit_code", "final"),
    [
        ("success", 0, "done success"),
        ("no_updates", 0, "done no_updates"),
        ("error", 24, "done error"),
        ("cancelled", 130, "done cancelled"),
    ],
)
def test_vm_update_snapshots_and_exit_codes(
    tmp_path: Path, result: str, exit_code: int, final: str
) -> None:
    env = make_env(tmp_path, f'[templates."whonix-gateway-17"]\nresult = "{result}"\n')
    run = vm_update(env, *TEMPLATES)
    assert run.returncode == exit_code
    lines = run.stderr.splitlines()
    assert lines and all(PROGRESS.fullmatch(line) for line in lines), lines
    # every snapshot names each target once
    assert len(lines) % len(TEMPLATES) == 0
    for start in range(0, len(lines), len(TEMPLATES)):
        snapshot = {line.split(" ")[0] for line in lines[start : start + len(TEMPLATES)]}
        assert snapshot == set(TEMPLATES)
    last = final_lines(run.stderr)
    assert last["whonix-gateway-17"] == f"whonix-gateway-17 {final}"
    assert last["fedora-43-xfce"] == "fedora-43-xfce done success"
    percents = [
        float(m["pct"])
        for line in lines
        if (m := PROGRESS.fullmatch(line)) and m["vm"] == "fedora-43-xfce" and m["pct"]
    ]
    assert percents == sorted(percents) and percents[-1] == 100.0
    output = [re.match(r"([^:]+):(out|err): ", line) for line in run.stdout.splitlines()]
    assert output and all(m and m[1] in TEMPLATES for m in output)


def test_vm_update_status_change_then_new_percent(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run = vm_update(env, "fedora-43-xfce")
    lines = run.stderr.splitlines()
    assert lines[:4] == [
        "fedora-43-xfce pending None",
        "fedora-43-xfce updating 0.0",
        "fedora-43-xfce updating 8.33",
        "fedora-43-xfce updating 8.33",
    ]
    assert lines[-1] == "fedora-43-xfce done success"


def test_vm_update_garbage_never_reports_done(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[templates."sd-viewer-debian-13"]\nresult = "garbage"\n')
    run = vm_update(env, "sd-viewer-debian-13", "fedora-43-xfce")
    assert run.returncode == 0
    good = [PROGRESS.fullmatch(line) for line in run.stderr.splitlines()]
    large = [m for m in good if m and m["vm"] == "sd-viewer-debian-13"]
    assert all(m["done"] is None and m["pct"] is None for m in large)
    assert any(m is None for m in good)  # malformed lines were printed
    assert final_lines(run.stderr)["fedora-43-xfce"] == "fedora-43-xfce done success"


def test_vm_update_rejects_bad_targets(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    unknown = vm_update(env, "fedora-43-xfce", "sd-nope")
    assert unknown.returncode == 64
    assert "Unknown qube name: sd-nope" in unknown.stderr
    assert vm_update(env, "fedora-43-xfce", "fedora-43-xfce").returncode == 64
    usage = tool(env, "qubes-vm-update", "--force-update", "--update-if-available")
    assert usage.returncode == 2
    assert read_journal(env.journal_path)[-1]["exit"] == 2


def test_a_successful_update_is_remembered(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert final_lines(vm_update(env, "fedora-43-xfce").stderr)["fedora-43-xfce"].endswith(
        "done success"
    )
    again = vm_update(env, "fedora-43-xfce")
    assert final_lines(again.stderr)["fedora-43-xfce"] == "fedora-43-xfce done no_updates"


def test_propagation_restarts_service_vms_and_stops_the_others(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    domains = env.app.domains
    net_started = domains["sys-net"].start_time
    time.sleep(0.01)
    run = vm_update(env, "fedora-43-xfce", "sd-inbox-debian-13")
    assert run.returncode == 0
    assert power(env, "sys-net") == "Running"
    assert domains["sys-net"].start_time != net_started  # restarted
    assert power(env, "sys-firewall") == "Running"
    assert power(env, "sd-log") == "Halted"  # -R: shut down, not restarted
    assert power(env, "sd-inbox-debian-13") == "Halted"
    assert power(env, "sys-whonix") == "Running"  # its template was not updated
    # In the real tool's order, journaled as qubesd journals the real tool's in the box.
    service = ["sys-net", "sys-firewall", "sys-usb"]
    assert [(r["tool"], r["argv"]) for r in read_journal(env.journal_path)][1:] == [
        *[("qubesadmin", ["shutdown", vm, "force"]) for vm in service],
        *[("qubesadmin", ["start", vm]) for vm in service],
        ("qubesadmin", ["shutdown", "sd-log", "force"]),
    ]


def test_propagation_with_apply_to_sys_leaves_other_vms_running(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run = tool(env, "qubes-vm-update", "-r", "--force-update", "--targets", "sd-inbox-debian-13")
    assert run.returncode == 0
    assert power(env, "sd-log") == "Running"
    assert power(env, "sys-whonix") == "Running"


def test_a_failing_template_leaves_the_vms_of_the_others_halted(tmp_path: Path) -> None:
    """-R applies only the templates that ended success (docs/qubes-tools.md)."""
    env = make_env(tmp_path, '[templates."fedora-43-xfce"]\nresult = "error"\nexit_code = 23\n')
    run = vm_update(env, "fedora-43-xfce", "sd-inbox-debian-13")
    assert run.returncode == 23
    assert power(env, "sd-log") == "Halted"  # sd-inbox's update was applied: shut down
    assert power(env, "sys-net") == "Running"  # its template failed: left as it was
    assert "Temporary failure resolving" in run.stdout  # what a refresh error (23) says


def test_propagation_failure_to_restart_exits_13(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[vms."sys-usb"]\nstart_fails = true\n')
    assert vm_update(env, "fedora-43-xfce").returncode == 13
    assert power(env, "sys-usb") == "Halted"


def test_vm_update_hang_is_killable_by_sigterm_on_the_group(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[templates."fedora-43-xfce"]\nresult = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "qubes-vm-update"), *VM_UPDATE[1:], "fedora-43-xfce,whonix-gateway-17"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        kill_group(proc)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
    assert final_lines(stderr)["whonix-gateway-17"] == "whonix-gateway-17 done success"
    assert "done" not in final_lines(stderr)["fedora-43-xfce"]
    assert read_journal(env.journal_path)[-1]["exit"] == -signal.SIGTERM
    assert not [p for p in os.listdir(env.root / "proc") if p == str(proc.pid)]


def test_vm_update_crash_leaves_minus_nine_in_the_journal(tmp_path: Path) -> None:
    """Killed half way, the tool shuts down none of the templates it had started."""
    env = make_env(tmp_path, '[templates."sd-inbox-debian-13"]\nresult = "crash"\n')
    assert power(env, "sd-inbox-debian-13") == "Halted"
    run = vm_update(env, *TEMPLATES)
    assert run.returncode == -signal.SIGKILL
    assert "sd-inbox-debian-13 updating 50.0" in run.stderr
    assert read_journal(env.journal_path)[-1]["exit"] in (-9, None)
    env.app.domains.clear_cache()
    assert power(env, "sd-inbox-debian-13") == "Running"


def test_vm_update_crash_main_leaves_workers_that_finish_the_updates(tmp_path: Path) -> None:
    """Only the main process dies: its workers end the updates under way, then the pipes close.

    Two at a time: sd-inbox-debian-13's update kills the main process half
    way; fedora-43-xfce, updating beside it, is finished by its worker
    without a line and shut down; the two waiting never start.
    """
    env = make_env(
        tmp_path,
        "[sim]\ncpus = 2\n"
        '[templates."sd-inbox-debian-13"]\nresult = "crash_main"\nduration = 10\n'
        '[templates."fedora-43-xfce"]\nduration = 100\n',
    )
    run = vm_update(env, *TEMPLATES)  # reads the pipes to their end: the workers' too
    assert run.returncode == -signal.SIGKILL
    assert "fedora-43-xfce done" not in run.stderr  # nobody prints for the workers
    assert read_journal(env.journal_path)[-1]["exit"] == -9
    env.app.domains.clear_cache()
    assert power(env, "fedora-43-xfce") == "Halted"  # shut down by its worker
    assert power(env, "sd-inbox-debian-13") == "Halted"
    state = StateStore(env.sim_dir).read()
    assert state["features"]["fedora-43-xfce"]["last-update"]
    assert "last-update" not in state["features"].get("sd-inbox-debian-13", {})
    assert "last-update" not in state["features"].get("whonix-gateway-17", {})


def test_vm_update_flood_is_streamed(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        "[sim]\ntime_scale = 0.5\nvm_start_duration = 0\nvm_shutdown_duration = 0\n"
        '[templates."fedora-43-xfce"]\nflood_mb = 8\nduration = 4\n',
    )
    proc = subprocess.Popen(
        [str(env.bin_dir / "qubes-vm-update"), *VM_UPDATE[1:], "fedora-43-xfce"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(1024 * 1024)
        assert proc.poll() is None  # output arrives while the tool still runs
        total = len(first)
        lines = first.split(b"\n")
        carry = lines.pop()
        bad = sum(not line.startswith(b"fedora-43-xfce:out: ") for line in lines)
        for chunk in proc.stdout:
            total += len(chunk)
            line, carry = carry + chunk, b""
            bad += not line.startswith((b"fedora-43-xfce:out: ", b"fedora-43-xfce:err: "))
        assert proc.wait(timeout=30) == 0
    finally:
        kill_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
    assert total >= 8 * 1024 * 1024
    assert bad == 0


# ----- exit codes, attempts, SIGINT ----------------------------------------------------


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
