"""The fake ``qubesadmin`` app (``sdw_sim/app.py``): power changes journaled, read fresh, failures raised.

Starting and stopping qubes changes their power state and is journaled; a
start the scenario makes fail raises what qubesadmin raises; the power state
is read fresh after a fake tool (another process) changed it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.sim import make_env, power, tool

from sdw_sim import read_journal
from sdw_sim.app import QubesException, QubesVMNotStartedError


def test_app_actions_change_power_and_are_journaled(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    proxy = env.app.domains["sd-proxy"]
    proxy.start()
    assert proxy.is_running() and power(env, "sd-proxy") == "Running"
    assert proxy.start_time != ""
    proxy.shutdown(force=True)
    assert proxy.is_halted()
    with pytest.raises(QubesVMNotStartedError):
        proxy.shutdown()
    proxy.features["last-seen"] = True
    assert proxy.features["last-seen"] == "1"
    assert read_journal(env.journal_path) == [
        {"tool": "qubesadmin", "argv": ["start", "sd-proxy"], "exit": 0},
        {"tool": "qubesadmin", "argv": ["shutdown", "sd-proxy", "force"], "exit": 0},
        {"tool": "qubesadmin", "argv": ["shutdown", "sd-proxy"], "exit": 1},
        {"tool": "qubesadmin", "argv": ["feature-set", "sd-proxy", "last-seen", "1"], "exit": 0},
    ]


def test_app_start_fails_as_the_scenario_says(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[vms."sd-proxy"]\nstart_fails = true\n')
    with pytest.raises(QubesException, match="Start failed"):
        env.app.domains["sd-proxy"].start()
    assert power(env, "sd-proxy") == "Halted"
    assert read_journal(env.journal_path)[-1]["exit"] == 1


def test_power_state_is_read_fresh_after_a_tool_changes_it(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    vm = env.app.domains["sd-proxy"]
    assert vm.get_power_state() == "Halted"
    assert tool(env, "qvm-start", "--skip-if-running", "sd-proxy").returncode == 0
    assert vm.get_power_state() == "Running"
