"""The simulated Qubes: dom0 for development, tests, demos and CI.

The engine runs unchanged against it; only three things differ from dom0,
all supplied by ``setup()``: the directory its executables are found in
(``env.bin_dir``, fake tools), the ``qubesadmin`` app (``env.app``) and the
root under which dom0 files are read (``env.root``).  See docs/simulator.md.

``setup()`` runs on the launcher's fast path, so it only creates files: no
subprocess, no heavy import (the tools' code is imported by the tools).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sdw_sim.app import FakeApp
from sdw_sim.journal import read_journal
from sdw_sim.scenario import TOOLS, Scenario, ScenarioError, load_scenario
from sdw_sim.state import (
    SCENARIO_FILE,
    StateStore,
    clock,
    record_rpm_transaction,
    running_apps,
    set_migration_flag,
    write_atomic,
    write_boot_files,
    write_os_release,
    write_processes,
)

__all__ = ["Scenario", "ScenarioError", "SimEnv", "load_scenario", "read_journal", "setup"]

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class SimEnv:
    """Everything the engine needs to run against the simulated workstation.

    ``scenario`` is the parsed ``Scenario`` dataclass (see scenario.py);
    ``app`` is a ``FakeApp`` standing in for ``qubesadmin.Qubes()``.
    """

    scenario: Scenario
    state_dir: Path
    sim_dir: Path
    root: Path
    bin_dir: Path
    journal_path: Path
    app: FakeApp
    #: Seconds dom0's wall clock is ahead of the real one (``[sim].clock_jump``
    #: from the second launch on).  Fixed for one launch: ``setup()`` decides it;
    #: the same number is in ``sim/clock_offset`` for programs that only have the files.
    clock_offset: float = 0.0

    @property
    def timeout_scale(self) -> float:
        return self.scenario.sim.timeout_scale

    def now(self) -> float:
        """dom0's wall clock (epoch seconds): what the engine's seam should use as "now"."""
        return time.time() + self.clock_offset

    def boot_id(self) -> str:
        """The simulated kernel's boot id (``root/proc/sys/kernel/random/boot_id``)."""
        value = StateStore(self.sim_dir).read().get("boot_id")
        return value if isinstance(value, str) else ""

    def running_apps(self, vm: str) -> list[str]:
        """Desktop ids running in ``vm`` now (started with ``qubes.StartApp``, not exited)."""
        return running_apps(StateStore(self.sim_dir).read(), vm)


def setup(scenario_path: Path | None, state_dir: Path) -> SimEnv:
    """Prepare (or resume) the simulated workstation under ``state_dir/sim``.

    The persistent state is kept when it was made from the same scenario
    content, and started afresh otherwise.  Raises ScenarioError for a bad
    scenario; OSError when the directories cannot be written.
    """
    scenario = load_scenario(scenario_path)
    sim_dir = state_dir / "sim"
    root = sim_dir / "root"
    bin_dir = sim_dir / "bin"
    for directory in (bin_dir, root / "tmp", root / "etc", root / "proc"):
        directory.mkdir(parents=True, exist_ok=True)
    now = time.time()
    state, fresh = StateStore(sim_dir).launch(scenario, now)
    _write_if_changed(
        sim_dir / SCENARIO_FILE,
        json.dumps({"source": scenario.source, "raw": scenario.raw}, sort_keys=True).encode(),
    )
    if fresh:
        # A pending migration was flagged when the SecureDrop dom0 package was
        # installed (its %post), before this boot's first launch.
        set_migration_flag(root, scenario.dom0.migration, scenario.dom0.migration_form)
        record_rpm_transaction(root, "install")  # the workstation as installed
    _write_wrappers(bin_dir, sim_dir, scenario)
    write_boot_files(root, sim_dir, state, now)
    write_os_release(root, scenario.sim.qubes_release)
    write_processes(root, scenario.sim.processes)
    # Key files, repositories, config.json ([trust]); gpg runs only when a
    # scenario needs a generated key that is not cached yet.
    from sdw_sim import trust as sim_trust  # not needed by the tools' own start-up

    sim_trust.prepare(root, sim_dir, scenario)
    return SimEnv(
        scenario=scenario,
        state_dir=state_dir,
        sim_dir=sim_dir,
        root=root,
        bin_dir=bin_dir,
        journal_path=sim_dir / "journal.jsonl",
        app=FakeApp(scenario, sim_dir),
        clock_offset=clock(state, 0.0),
    )


def _write_if_changed(path: Path, data: bytes, mode: int = 0o644) -> None:
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    write_atomic(path, data)
    os.chmod(path, mode)


def wrapper_script(tool: str, sim_dir: Path) -> str:
    """The executable for one fake tool: this Python, this package, this sim dir."""
    python = sys.executable
    body = (
        "import sys\n"
        f"sys.path.insert(0, {_PACKAGE_PARENT!r})\n"
        "from sdw_sim.tools import main\n"
        f"sys.exit(main({tool!r}, sys.argv[1:], {str(sim_dir)!r}))\n"
    )
    if any(c.isspace() for c in python) or len(python) > 120:
        # A shebang cannot hold such a path: go through sh instead.
        quoted = "'" + python.replace("'", "'\"'\"'") + "'"
        script = body.replace("'", "'\"'\"'")
        return f"#!/bin/sh\nexec {quoted} -SB -c '{script}' \"$@\"\n"
    return f"#!{python} -SB\n# The simulated {tool} (generated by sdw_sim).\n{body}"


def _write_wrappers(bin_dir: Path, sim_dir: Path, scenario: Scenario) -> None:
    """Write missing or stale wrappers; a tool with a ``missing`` fault has none."""
    for tool in TOOLS:
        path = bin_dir / tool
        fault = scenario.faults.get(tool)
        if fault is not None and fault.mode == "missing":
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            continue
        _write_if_changed(path, wrapper_script(tool, sim_dir).encode(), 0o755)
