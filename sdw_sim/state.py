"""The simulated workstation's persistent state and its fake dom0 files.

A real workstation keeps its state between launches: which VMs run, whether
dom0 updates are still pending, when dom0 booted.  ``sim/state.json`` plays
that.  The updater (through the fake ``qubesadmin`` app) and the fake tools
(separate processes, possibly several at once) all change it, so every
change takes an exclusive ``flock`` on ``sim/state.lock`` and the file is
replaced atomically: a reader never sees half a file.

The files the engine reads from dom0 (``/proc/uptime``, ``/proc/stat``,
``/proc/sys/kernel/random/boot_id``, ``/etc/os-release``, ``/etc/qubes-release``,
``/proc/<pid>/comm``, ``/tmp/sdw-migrations``) live under ``sim/root``.

Time: ``boot_time`` and VM start times are real epoch seconds, so uptimes
are real.  dom0's *wall clock* is the real one plus ``clock_offset``
(``[sim].clock_jump`` from the second launch on): everything the simulated
dom0 stamps (features, ``/proc/stat``'s btime) uses that clock, and the
engine reads the offset from ``sim/clock_offset`` (``SimEnv.now()``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdw_sim.scenario import COMM_MAX, Scenario, VMSpec
from sdw_updater.contract import BOOT_ID, MIGRATION_DIR, PROC_UPTIME, QUBES_RELEASE

STATE_VERSION = 2
STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
SCENARIO_FILE = "scenario.json"
CLOCK_OFFSET_FILE = "clock_offset"
MIGRATION_FLAG = MIGRATION_DIR.lstrip("/")
#: What SecureDrop Workstation 1.7's RPM %post leaves in the migration directory.
MIGRATION_MARKER = "pending"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: dom0's daily update check (a cron job) last ran this long before the state was made.
LAST_CHECK_AGE = 6 * 3600
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
    features = {name: dict(spec.features) for name, spec in scenario.vms.items()}
    # dom0's update check (a daily cron job) stamps when it last looked.
    features.setdefault("dom0", {}).setdefault(
        "last-updates-check", time.strftime(DATE_FORMAT, time.localtime(now - LAST_CHECK_AGE))
    )
    state: State = {
        "version": STATE_VERSION,
        "digest": scenario.digest,
        "boot_time": now - scenario.sim.uptime,
        "boot_id": str(uuid.uuid4()),
        "launches": 0,
        "clock_offset": 0.0,
        "power": {},
        "features": features,
        "dom0_updates_pending": scenario.dom0.updates,
        "dom0_installed": False,
        "migration_pending": scenario.dom0.migration,
        "applied": False,
        "template_updates_pending": {
            name: settings.result != "no_updates" for name, settings in scenario.templates.items()
        },
        "update_attempts": {},
        "apps": {},
    }
    reset_power(state, scenario, now - scenario.sim.uptime)
    return state


def present_vms(scenario: Scenario, state: State) -> dict[str, VMSpec]:
    """The VMs that exist now: ``sdw-admin --apply`` creates and removes some."""
    applied = bool(state.get("applied"))
    return {
        name: spec
        for name, spec in scenario.vms.items()
        if not (spec.created_by_apply and not applied) and not (spec.removed_by_apply and applied)
    }


def clock(state: State, real: float | None = None) -> float:
    """dom0's wall clock: the real one moved by ``[sim].clock_jump`` after the first launch."""
    offset = state.get("clock_offset", 0.0)
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        offset = 0.0
    return (time.time() if real is None else real) + float(offset)


def stamp(state: State, real: float | None = None) -> str:
    """A feature timestamp (local time, as Qubes writes them) on dom0's wall clock."""
    return time.strftime(DATE_FORMAT, time.localtime(clock(state, real)))


def _valid(state: Any, scenario: Scenario) -> bool:
    return (
        isinstance(state, dict)
        and state.get("version") == STATE_VERSION
        and state.get("digest") == scenario.digest
        and isinstance(state.get("boot_time"), int | float)
        and isinstance(state.get("boot_id"), str)
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
            fresh = not _valid(state, scenario)
            if fresh:
                state.clear()
                state.update(initial_state(scenario, now))
            return dict(state), fresh

    def launch(self, scenario: Scenario, now: float) -> tuple[State, bool]:
        """``ensure``, and count one more launch of a product program.

        From the second launch on dom0's wall clock is ``[sim].clock_jump``
        seconds ahead (the clock was corrected after an early login); uptime
        and boot id stay as they are.
        """
        with self.locked() as state:
            fresh = not _valid(state, scenario)
            if fresh:
                state.clear()
                state.update(initial_state(scenario, now))
            launches = state.get("launches", 0)
            state["launches"] = (launches if isinstance(launches, int) else 0) + 1
            state["clock_offset"] = scenario.sim.clock_jump if state["launches"] > 1 else 0.0
            return dict(state), fresh


# ----- fake dom0 files -------------------------------------------------------


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, durable=False)


def write_uptime(root: Path, boot_time: float, now: float | None = None) -> None:
    """``/proc/uptime`` as Linux formats it: uptime and idle seconds, two decimals."""
    now = time.time() if now is None else now
    uptime = max(0.0, now - boot_time)
    proc = root / PROC_UPTIME.lstrip("/")
    proc.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(proc, f"{uptime:.2f} {uptime * 1.5:.2f}\n".encode(), durable=False)


def write_boot_files(root: Path, sim_dir: Path, state: State, now: float | None = None) -> None:
    """Everything that tells one boot from another, and dom0's clock.

    ``/proc/uptime`` (real time since boot), ``/proc/stat``'s ``btime``
    (wall clock at boot: it moves when the clock is set, as Linux's does),
    ``/proc/sys/kernel/random/boot_id`` and ``sim/clock_offset``.
    """
    now = time.time() if now is None else now
    boot_time = state.get("boot_time")
    if isinstance(boot_time, bool) or not isinstance(boot_time, int | float):
        boot_time = now
    write_uptime(root, float(boot_time), now)
    btime = int(clock(state, now) - max(0.0, now - float(boot_time)))
    _write_if_changed(
        root / "proc" / "stat",
        f"cpu  4705 356 584 3699 23 23 0 0 0 0\nctxt 1990473\nbtime {btime}\n"
        "processes 2915\nprocs_running 1\nprocs_blocked 0\n".encode(),
    )
    boot_id = state.get("boot_id")
    if isinstance(boot_id, str):
        _write_if_changed(root / BOOT_ID.lstrip("/"), (boot_id + "\n").encode())
    offset = clock(state, 0.0)
    _write_if_changed(sim_dir / CLOCK_OFFSET_FILE, f"{offset:.3f}\n".encode())


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
    _write_if_changed(root / "etc" / "os-release", text.encode())
    _write_if_changed(
        root / QUBES_RELEASE.lstrip("/"), f"Qubes release {release} (R{release})\n".encode()
    )


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


RPMDB_FILE = "usr/lib/sysimage/rpm/rpmdb.sqlite"


def record_rpm_transaction(root: Path, what: str) -> None:
    """dom0's rpm database changes (the file the engine watches), one line per transaction.

    The content stands for the database; only that it changes matters: the
    engine tells "packages were installed" from its size and time.
    """
    path = root / RPMDB_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{time.time():.6f} {what}\n")


def set_migration_flag(root: Path, present: bool, form: str = "directory") -> None:
    """The flag that asks for a full ``sdw-admin --apply``, or its removal.

    SecureDrop Workstation 1.7's RPM ``%post`` makes ``/tmp/sdw-migrations``
    a directory and puts a file in it; older releases left a non-empty
    regular file (``form = "file"``).
    """
    flag = root / MIGRATION_FLAG
    if flag.is_dir() and not flag.is_symlink():
        shutil.rmtree(flag, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            flag.unlink()
    if not present:
        return
    if form == "file":
        flag.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(flag, b"sdw-migration pending: full sdw-admin --apply required\n")
    else:
        flag.mkdir(parents=True, exist_ok=True)
        (flag / MIGRATION_MARKER).write_bytes(b"")


def set_power(state: State, name: str, power: str, now: float | None = None) -> None:
    """Change one VM's power state; a start also sets its ``start_time`` (as Qubes does)."""
    state.setdefault("power", {})[name] = power
    starts = state.setdefault("start_time", {})
    if power == "Running":
        starts[name] = time.time() if now is None else now
    else:
        starts.pop(name, None)


def reset_power(state: State, scenario: Scenario, now: float) -> None:
    """Power states as they are right after boot (no app runs any more)."""
    state["power"] = {}
    state["start_time"] = {}
    state["apps"] = {}
    for name, spec in scenario.vms.items():
        set_power(state, name, spec.power, now)


def reboot(state: State, scenario: Scenario, now: float) -> None:
    """dom0 restarts: a new boot id, uptime 0, VMs as at boot.

    The wall clock is not touched (``clock_offset`` stays); ``/tmp`` is
    emptied by the caller (it is a file, not state).
    """
    state["boot_time"] = now
    state["boot_id"] = str(uuid.uuid4())
    reset_power(state, scenario, now)


def app_started(state: State, vm: str, app_id: str, real_end: float | None) -> None:
    """Remember that ``app_id`` runs in ``vm`` until ``real_end`` (None: until the VM stops)."""
    starts = state.get("start_time", {})
    apps = state.setdefault("apps", {}).setdefault(vm, {})
    apps[app_id] = {
        "vm_started": starts.get(vm) if isinstance(starts, dict) else None,
        "started": time.time(),
        "until": real_end,
    }


def app_ended(state: State, vm: str, app_id: str) -> None:
    apps = state.get("apps", {})
    if isinstance(apps, dict) and isinstance(apps.get(vm), dict):
        apps[vm].pop(app_id, None)


def running_apps(state: State, vm: str, now: float | None = None) -> list[str]:
    """Desktop ids running in ``vm`` now: started there, its VM not restarted, not exited."""
    now = time.time() if now is None else now
    apps = state.get("apps", {})
    entries = apps.get(vm) if isinstance(apps, dict) else None
    if not isinstance(entries, dict):
        return []
    power = state.get("power", {}).get(vm)
    starts = state.get("start_time", {})
    vm_started = starts.get(vm) if isinstance(starts, dict) else None
    running = []
    for app_id, entry in sorted(entries.items()):
        if not isinstance(entry, dict) or power in (None, "Halted", "NA"):
            continue
        until = entry.get("until")
        if entry.get("vm_started") != vm_started:
            continue
        if isinstance(until, int | float) and not isinstance(until, bool) and until <= now:
            continue
        running.append(app_id)
    return running
