"""The simulated workstation's persistent state and its fake dom0 files.

A real workstation keeps its state between launches: which VMs run, whether
dom0 updates are still pending, when dom0 booted.  ``sim/state.json`` plays
that.  The updater (through the fake ``qubesadmin`` app) and the fake tools
(separate processes, possibly several at once) all change it, so every
change takes an exclusive ``flock`` on ``sim/state.lock`` and the file is
replaced atomically: a reader never sees half a file.

The files the engine reads from dom0 (``/proc/uptime``, ``/etc/os-release``,
``/proc/<pid>/comm``, ``/tmp/sdw-migrations``) live under ``sim/root``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdw_sim.scenario import COMM_MAX, Scenario
from sdw_updater.contract import MIGRATION_DIR

STATE_VERSION = 1
STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
SCENARIO_FILE = "scenario.json"
MIGRATION_FLAG = MIGRATION_DIR.lstrip("/")
# Fake PIDs for [sim].processes sit above the kernel's pid_max (2**22), so they
# can never collide with the real PID of a running fake tool.
FAKE_PID_BASE = 5_000_000

State = dict[str, Any]


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write a file by temp + (fsync) + rename so readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def initial_state(scenario: Scenario, now: float) -> State:
    """The state of a workstation that just booted into this scenario."""
    state: State = {
        "version": STATE_VERSION,
        "digest": scenario.digest,
        "boot_time": now - scenario.sim.uptime,
        "power": {},
        "features": {name: dict(spec.features) for name, spec in scenario.vms.items()},
        "dom0_updates_pending": scenario.dom0.updates,
        "migration_pending": scenario.dom0.migration,
        "template_updates_pending": {
            name: settings.result != "no_updates" for name, settings in scenario.templates.items()
        },
    }
    reset_power(state, scenario, now - scenario.sim.uptime)
    return state


def _valid(state: Any, scenario: Scenario) -> bool:
    return (
        isinstance(state, dict)
        and state.get("version") == STATE_VERSION
        and state.get("digest") == scenario.digest
        and isinstance(state.get("boot_time"), int | float)
        and isinstance(state.get("power"), dict)
        and isinstance(state.get("features"), dict)
        and isinstance(state.get("template_updates_pending"), dict)
    )


class StateStore:
    """Reads and changes ``sim/state.json`` safely across processes."""

    def __init__(self, sim_dir: Path) -> None:
        self.sim_dir = sim_dir
        self.path = sim_dir / STATE_FILE
        self.lock_path = sim_dir / LOCK_FILE

    def read(self) -> State:
        """The current state (no lock needed: the file is only ever replaced whole)."""
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def locked(self) -> Iterator[State]:
        """Hold the lock, yield the state to change in place, then write it back."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self.read()
            before = json.dumps(state, sort_keys=True)
            yield state
            after = json.dumps(state, sort_keys=True)
            if after != before:
                write_atomic(self.path, after.encode())
        finally:
            os.close(fd)  # closing releases the flock

    def ensure(self, scenario: Scenario, now: float) -> tuple[State, bool]:
        """Keep the state if it was made from this scenario, else start afresh.

        Returns the state and whether it was (re)initialised.
        """
        with self.locked() as state:
            if _valid(state, scenario):
                return dict(state), False
            state.clear()
            state.update(initial_state(scenario, now))
            return dict(state), True


# ----- fake dom0 files -------------------------------------------------------


def write_uptime(root: Path, boot_time: float, now: float | None = None) -> None:
    """``/proc/uptime`` as Linux formats it: uptime and idle seconds, two decimals."""
    now = time.time() if now is None else now
    uptime = max(0.0, now - boot_time)
    proc = root / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    write_atomic(proc / "uptime", f"{uptime:.2f} {uptime * 1.5:.2f}\n".encode(), durable=False)


def write_os_release(root: Path, release: str) -> None:
    """``/etc/os-release`` of a Qubes dom0 of the scenario's release."""
    text = (
        "NAME=Qubes\n"
        f"VERSION={release} (R{release})\n"
        "ID=qubes\n"
        f"VERSION_ID={release}\n"
        f'PRETTY_NAME="Qubes OS {release} (R{release})"\n'
        "ANSI_COLOR=0;31\n"
        "HOME_URL=https://www.qubes-os.org/\n"
    )
    path = root / "etc" / "os-release"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        write_atomic(path, text.encode(), durable=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def write_processes(root: Path, names: tuple[str, ...]) -> None:
    """One ``/proc/<fakepid>/comm`` per scenario process; remove stale entries.

    Entries for real PIDs belong to fake tools that are running right now
    (they register themselves); they stay while their process lives.
    """
    proc = root / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    wanted = {str(FAKE_PID_BASE + index): name for index, name in enumerate(names)}
    for entry in os.listdir(proc):
        if not entry.isdigit() or entry in wanted:
            continue
        pid = int(entry)
        if pid >= FAKE_PID_BASE or not _pid_alive(pid):
            shutil.rmtree(proc / entry, ignore_errors=True)
    for fake_pid, name in wanted.items():
        comm = proc / fake_pid / "comm"
        comm.parent.mkdir(exist_ok=True)
        if not comm.exists() or comm.read_text() != name + "\n":
            comm.write_text(name + "\n")


def register_process(root: Path, name: str) -> Path | None:
    """Show a running fake tool in the fake ``/proc`` (the notifier looks for them)."""
    entry = root / "proc" / str(os.getpid())
    try:
        entry.mkdir(parents=True, exist_ok=True)
        (entry / "comm").write_text(name[:COMM_MAX] + "\n")
    except OSError:
        return None
    return entry


def unregister_process(entry: Path | None) -> None:
    if entry is not None:
        shutil.rmtree(entry, ignore_errors=True)


def set_migration_flag(root: Path, present: bool) -> None:
    """The flag file the dom0 Salt state leaves when a full apply is needed."""
    flag = root / MIGRATION_FLAG
    if present:
        flag.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(flag, b"sdw-migration pending: full sdw-admin --apply required\n")
    else:
        with contextlib.suppress(FileNotFoundError):
            flag.unlink()


def set_power(state: State, name: str, power: str, now: float | None = None) -> None:
    """Change one VM's power state; a start also sets its ``start_time`` (as Qubes does)."""
    state.setdefault("power", {})[name] = power
    starts = state.setdefault("start_time", {})
    if power == "Running":
        starts[name] = time.time() if now is None else now
    else:
        starts.pop(name, None)


def reset_power(state: State, scenario: Scenario, now: float) -> None:
    """Power states as they are right after boot."""
    state["power"] = {}
    state["start_time"] = {}
    for name, spec in scenario.vms.items():
        set_power(state, name, spec.power, now)
