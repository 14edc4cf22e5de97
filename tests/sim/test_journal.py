"""The journal (``sdw_sim/journal.py``): one record per call, in the order calls started.

``sudo`` is unwrapped (the record names the program it ran), and a call
killed before it ended keeps its record with a null exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from helpers.sim import kill_group, make_env, sudo, tool

from sdw_sim import read_journal


def test_journal_keeps_call_order_and_unwraps_sudo(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    tool(env, "qvm-run", "-p", "sys-net", "nmcli", "networking", "connectivity", "check")
    sudo(env, "qubesctl", "--show-output", "state.highstate")
    tool(env, "qvm-start", "--skip-if-running", "sd-proxy")
    records = read_journal(env.journal_path)
    assert [r["tool"] for r in records] == ["qvm-run", "qubesctl", "qvm-start"]
    assert records[1] == {
        "tool": "qubesctl",
        "argv": ["--show-output", "state.highstate"],
        "exit": 0,
    }
    assert all("sudo" not in r["argv"] for r in records)


def test_killed_call_keeps_its_record_with_null_exit(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."reboot"]\nmode = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "reboot")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline()  # it started and said so
        tool(env, "qvm-start", "sd-proxy")  # a later call, while reboot still runs
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        kill_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()
    assert read_journal(env.journal_path) == [
        {"tool": "reboot", "argv": [], "exit": None},
        {"tool": "qvm-start", "argv": ["sd-proxy"], "exit": 0},
    ]
