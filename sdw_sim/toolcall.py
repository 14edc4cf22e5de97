"""What every fake tool shares: one call's view of the workstation, and how it talks.

A fake tool (``sdw_sim.tools``), the simulated ``qubes-vm-update``
(``sdw_sim.vmupdate``) and the fake ``qrexec-client`` (``sdw_sim.qrexec``)
each get a :class:`ToolCall`: the scenario, the persistent state, the
journal record of the call, and simulated time.  They print through
:func:`out` and :func:`err` (flushed at once: the engine reads output as it
comes), parse their command lines with :class:`Parser` (which raises
:class:`ToolExit` instead of exiting, so the call is still journaled) and
read a prompt's answer with :func:`read_answer`.

This module imports no tool: the tools import it, never the other way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from sdw_sim import journal
from sdw_sim.scenario import Scenario, VMSpec, parse_scenario
from sdw_sim.state import (
    SCENARIO_FILE,
    StateStore,
    clock,
    present_vms,
    set_power,
    stamp,
    unregister_process,
)

MAX_ANSWER = 4096  # what a prompt reads of one answer line


class ToolCall:
    """Everything one tool call needs: the scenario, the state, where to write."""

    def __init__(self, sim_dir: Path) -> None:
        self.sim_dir = sim_dir
        self.root = sim_dir / "root"
        self.journal_path = sim_dir / "journal.jsonl"
        self.store = StateStore(sim_dir)
        stored = json.loads((sim_dir / SCENARIO_FILE).read_bytes())
        self.scenario: Scenario = parse_scenario(stored["raw"], stored.get("source", ""))
        self.record: journal.Record | None = None
        self.proc_entry: Path | None = None

    def sleep(self, sim_seconds: float) -> None:
        """Let simulated time pass (time_scale real seconds per simulated second)."""
        delay = sim_seconds * self.scenario.sim.time_scale
        if delay > 0:
            time.sleep(delay)

    @property
    def vms(self) -> dict[str, VMSpec]:
        """The VMs that exist now (``sdw-admin --apply`` may create or remove some)."""
        return present_vms(self.scenario, self.store.read())

    @property
    def updatevm(self) -> str | None:
        """dom0's UpdateVM (``[sim].updatevm``), when it exists now."""
        name = self.scenario.sim.updatevm
        return name if name is not None and name in self.vms else None

    def now(self) -> float:
        """dom0's wall clock (``[sim].clock_jump`` applies from the second launch on)."""
        return clock(self.store.read())

    def stamp(self) -> str:
        """A timestamp as Qubes writes features, on dom0's wall clock."""
        return stamp(self.store.read())

    def start_vm(self, name: str) -> bool:
        """Start one halted VM as qubesd would: its start duration, then Running."""
        self.sleep(self.scenario.start_duration(name))
        if self.scenario.vms[name].start_fails:
            return False
        self.set_power(name, "Running")
        return True

    def power(self, name: str) -> str:
        if name == "dom0":
            return "Running"
        value = self.store.read().get("power", {}).get(name)
        return value if isinstance(value, str) else "NA"

    def is_running(self, name: str) -> bool:
        return self.power(name) not in ("Halted", "NA")

    def set_power(self, name: str, power: str) -> None:
        with self.store.locked() as state:
            set_power(state, name, power)

    def features(self, name: str) -> dict[str, str]:
        value = self.store.read().get("features", {}).get(name, {})
        return value if isinstance(value, dict) else {}

    def die(self, sig: int) -> None:
        """End this process by a signal, leaving the journal and /proc as a real death would."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.record is not None:
            self.record.finish(-sig)
        unregister_process(self.proc_entry)
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        time.sleep(60)  # the signal arrives before this ends
        os._exit(128 + sig)


# ----- output ------------------------------------------------------------------


def out(text: str) -> None:
    """Write to stdout and flush now: the engine reads output as it comes."""
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()


def err(text: str) -> None:
    sys.stderr.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stderr.buffer.flush()


class ToolExit(Exception):
    """End the tool with this exit code (the call is still journaled)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the call is journaled with exit 2."""

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            err(message)
        raise ToolExit(status)


def no_such_domain(prog: str, name: str) -> int:
    """What the qvm-* tools say about a VM Qubes does not know (exit 2)."""
    err(f"{prog}: error: no such domain: {name!r}\n")
    return 2


def read_answer() -> str | None:
    """One line from stdin, as ``read`` or ``input()`` would take it; None at EOF.

    The engine runs every tool with stdin at EOF (``/dev/null``): that is
    what a prompt gets in dom0 when nobody is there to answer.
    """
    try:
        line = sys.stdin.buffer.readline(MAX_ANSWER)
    except (OSError, ValueError):
        return None
    if not line:
        return None
    return line.decode("utf-8", "replace").rstrip("\r\n")
