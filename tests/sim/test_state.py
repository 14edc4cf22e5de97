"""The simulated workstation's state (``sdw_sim/state.py``): kept between runs, and dom0's fake files.

The state persists across ``setup`` with the same scenario and is reset by
another scenario or a broken file; dom0's files (os-release, /proc) are
faked under the simulator's root, running tools show in its fake /proc,
and the scales are exposed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from helpers.sim import kill_group, make_env, power, sudo, tool


def test_state_persists_across_setup_with_the_same_scenario(tmp_path: Path) -> None:
    toml = "[sim]\nuptime = 600\n"
    env = make_env(tmp_path, toml)
    tool(env, "qvm-start", "sd-proxy")
    sudo(env, "qubes-dom0-update", "-y")
    boot = json.loads((env.sim_dir / "state.json").read_text())["boot_time"]
    # the same content with a comment: still the same workstation
    env = make_env(tmp_path, "# relaunch\n" + toml)
    assert power(env, "sd-proxy") == "Running"
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 0
    assert json.loads((env.sim_dir / "state.json").read_text())["boot_time"] == boot


def test_state_is_reset_by_a_different_scenario_or_a_broken_file(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    tool(env, "qvm-start", "sd-proxy")
    env = make_env(tmp_path, "[sim]\nuptime = 60\n")
    assert power(env, "sd-proxy") == "Halted"
    assert float((env.root / "proc" / "uptime").read_text().split()[0]) < 120
    tool(env, "qvm-start", "sd-proxy")
    (env.sim_dir / "state.json").write_text("{not json")
    env = make_env(tmp_path, "[sim]\nuptime = 60\n")
    assert power(env, "sd-proxy") == "Halted"


def test_fake_dom0_files(tmp_path: Path) -> None:
    env = make_env(
        tmp_path, '[sim]\nqubes_release = "4.3"\nprocesses = ["qubesctl", "salt-call"]\n'
    )
    release = (env.root / "etc" / "os-release").read_text()
    assert "NAME=Qubes\n" in release and "VERSION_ID=4.3\n" in release
    assert re.fullmatch(
        r"[0-9]+\.[0-9]{2} [0-9]+\.[0-9]{2}\n", (env.root / "proc/uptime").read_text()
    )
    comms = sorted(
        (env.root / "proc" / entry / "comm").read_text()
        for entry in os.listdir(env.root / "proc")
        if entry.isdigit()
    )
    assert comms == ["qubesctl\n", "salt-call\n"]
    env = make_env(tmp_path, '[sim]\nqubes_release = "4.3"\n')
    assert not [e for e in os.listdir(env.root / "proc") if e.isdigit()]


def test_running_tools_show_in_the_fake_proc(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."qubesctl"]\nmode = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "sudo"), "-n", str(env.bin_dir / "qubesctl"), "state.highstate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline()
        comm = env.root / "proc" / str(proc.pid) / "comm"
        assert comm.read_text() == "qubesctl\n"
        make_env(tmp_path, '[faults."qubesctl"]\nmode = "hang"\n')  # a relaunch keeps it
        assert comm.exists()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        kill_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
    assert not comm.exists()


def test_timeout_scale_and_time_scale_are_exposed(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[sim]\ntimeout_scale = 0.01\ntime_scale = 0.5\n")
    assert env.timeout_scale == 0.01
    assert env.scenario.sim.time_scale == 0.5
    assert env.journal_path == tmp_path / "state" / "sim" / "journal.jsonl"
    assert env.bin_dir == tmp_path / "state" / "sim" / "bin"
    assert env.root == tmp_path / "state" / "sim" / "root"
