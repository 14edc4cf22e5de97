"""A fake ``qubesadmin`` app: the simulated dom0's Admin API.

It honours the qubesadmin semantics the engine relies on (docs/simulator.md, "The fake qubesadmin
app"): domains sorted by name with dom0 included, KeyError for a missing
qube, ``template`` raising AttributeError where qubesadmin has no such
property, ``netvm`` and the global ``updatevm`` as qubes (or None),
string-valued features, power states read fresh on every call (the fake
tools change them from other processes).  It raises exactly the classes
the engine's seam names (``sdw_updater.adminapi``): qubesadmin's own when
it is installed, the seam's stand-ins otherwise.

Not modelled: changing a netvm (so no QubesVMInUseError), Paused qubes,
memory limits.  Every call that can change something (start, shutdown,
kill, setting or deleting a feature) is journaled with tool "qubesadmin".
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sdw_sim import journal
from sdw_sim.scenario import Scenario, VMSpec
from sdw_sim.state import StateStore, present_vms, set_power
from sdw_updater.adminapi import (
    QubesDaemonAccessError,
    QubesException,
    QubesFeatureNotFoundError,
    QubesNoSuchPropertyError,
    QubesVMError,
    QubesVMNotRunningError,
    QubesVMNotStartedError,
)

__all__ = [
    "FakeApp",
    "FakeVM",
    "QubesException",
    "QubesFeatureNotFoundError",
    "QubesNoSuchPropertyError",
    "QubesVMError",
    "QubesVMNotRunningError",
    "QubesVMNotStartedError",
]

RUNNING_STATES = ("Running", "Transient", "Paused", "Suspended", "Halting", "Dying", "Crashed")


def _feature_string(value: object) -> str:
    """qubesadmin stores features as strings: True -> '1', False -> ''."""
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    return str(value)


class Features:
    """``vm.features``: read fresh from the persisted state on every access."""

    def __init__(self, vm: FakeVM) -> None:
        self._vm = vm

    def _all(self) -> dict[str, str]:
        features = self._vm.app.store.read().get("features", {}).get(self._vm.name, {})
        return dict(features) if isinstance(features, dict) else {}

    def get(self, name: str, default: Any = None) -> Any:
        return self._all().get(name, default)

    def __getitem__(self, name: str) -> str:
        features = self._all()
        if name not in features:
            raise QubesFeatureNotFoundError(name)
        return features[name]

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._all()))

    def keys(self) -> list[str]:
        return sorted(self._all())

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._all().items())

    def __setitem__(self, name: str, value: object) -> None:
        text = _feature_string(value)
        with self._vm.app.action("feature-set", self._vm.name, name, text):
            with self._vm.app.store.locked() as state:
                state.setdefault("features", {}).setdefault(self._vm.name, {})[name] = text

    def __delitem__(self, name: str) -> None:
        with self._vm.app.action("feature-delete", self._vm.name, name):
            with self._vm.app.store.locked() as state:
                features = state.setdefault("features", {}).setdefault(self._vm.name, {})
                if name not in features:
                    raise QubesFeatureNotFoundError(name)
                del features[name]

    def check_with_template(self, name: str, default: Any = None) -> Any:
        vm: FakeVM | None = self._vm
        while vm is not None:
            value = vm.features.get(name, None)
            if value is not None:
                return value
            vm = vm.template_or_none
        return default


class FakeVM:
    """One qube.  Compares equal to its name, like qubesadmin's QubesVM."""

    def __init__(self, app: FakeApp, spec: VMSpec) -> None:
        self.app = app
        self.spec = spec
        self.name = spec.name
        self.klass = spec.klass
        self.tags = frozenset(spec.tags)
        self.features = Features(self)

    def __repr__(self) -> str:
        return f"<FakeVM {self.name} ({self.klass})>"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FakeVM):
            return self.name == other.name
        if isinstance(other, str):
            return self.name == other
        return NotImplemented

    def __lt__(self, other: FakeVM) -> bool:
        return self.name < other.name

    def __hash__(self) -> int:
        return hash(self.name)

    # ----- relations ----------------------------------------------------------

    @property
    def template(self) -> FakeVM:
        """Only AppVMs and DispVMs have one; elsewhere AttributeError, like qubesadmin."""
        if self.spec.template is None:
            raise QubesNoSuchPropertyError(f"Invalid property 'template' of {self.name}")
        return self.app.domains[self.spec.template]

    @property
    def template_or_none(self) -> FakeVM | None:
        return self.app.domains[self.spec.template] if self.spec.template else None

    @property
    def updateable(self) -> bool:
        return self.spec.template is None

    @property
    def netvm(self) -> FakeVM | None:
        """The qube this one gets its network from (``[vms."NAME"].netvm``), or None."""
        if self.klass == "AdminVM":
            raise QubesNoSuchPropertyError(f"Invalid property 'netvm' of {self.name}")
        name = self.spec.netvm
        return self.app.domains.get(name) if name else None

    @property
    def appvms(self) -> list[FakeVM]:
        """Direct children (qubes whose template is this one)."""
        return [vm for vm in self.app.domains if vm.spec.template == self.name]

    @property
    def derived_vms(self) -> list[FakeVM]:
        """All descendants, recursively (through disposable templates)."""
        found: list[FakeVM] = []
        queue = self.appvms
        while queue:
            vm = queue.pop(0)
            if vm not in found:
                found.append(vm)
                queue.extend(vm.appvms)
        return found

    # ----- power ------------------------------------------------------------

    def get_power_state(self) -> str:
        """Read fresh: tool processes change power states behind our back."""
        if self.klass == "AdminVM":
            return "Running"
        power = self.app.store.read().get("power", {})
        value = power.get(self.name) if isinstance(power, dict) else None
        return value if isinstance(value, str) else "NA"

    def is_running(self) -> bool:
        return self.get_power_state() not in ("Halted", "NA")

    @property
    def start_time(self) -> str:
        """When the qube last started (epoch seconds as a string; '' when halted)."""
        starts = self.app.store.read().get("start_time", {})
        value = starts.get(self.name) if isinstance(starts, dict) else None
        return "" if value is None else str(value)

    def is_halted(self) -> bool:
        return self.get_power_state() == "Halted"

    def is_paused(self) -> bool:
        return self.get_power_state() == "Paused"

    def start(self) -> None:
        """No-op unless Halted; may fail as the scenario says (``start_fails``)."""
        with self.app.action("start", self.name):
            if self.klass == "AdminVM" or not self.is_halted():
                return
            self.app.sleep(self.app.scenario.start_duration(self.name))
            if self.spec.start_fails:
                raise QubesException(f"Start failed: simulated start failure of {self.name}")
            self.app.set_power(self.name, "Running")

    def run_service(
        self,
        service: str,
        wait: bool = True,
        autostart: bool = True,
        user: str | None = None,
        **kwargs: Any,
    ) -> subprocess.Popen[bytes]:
        """Start a qrexec service from dom0, as ``QubesLocal.run_service`` does.

        With ``autostart`` the qube is started first, then dom0's
        ``qrexec-client`` (the simulator's, in ``sim/bin``) is run with the
        same command line the real library builds; ``wait=False`` adds
        ``-e``: it returns once the call is set up, the service (an app)
        going on in the qube.
        """
        if autostart:
            self.start()
        elif not self.is_running():
            raise QubesVMNotRunningError(f"{self.name} is not running")
        options = ["-d", self.name] + ([] if wait else ["-e"])
        target = f"{user or 'DEFAULT'}:QUBESRPC {service}{'' if '+' in service else '+'} dom0"
        for stream in ("stdin", "stdout", "stderr"):
            kwargs.setdefault(stream, subprocess.PIPE)
        return subprocess.Popen(
            [str(self.app.sim_dir / "bin" / "qrexec-client"), *options, target], **kwargs
        )

    def shutdown(self, force: bool = False, wait: bool = False) -> None:
        argv = ["shutdown", self.name]
        if force:
            argv.append("force")
        if wait:
            argv.append("wait")
        with self.app.action(*argv):
            if self.klass == "AdminVM":
                raise QubesVMError("Cannot shut down dom0 through the Admin API")
            if not self.is_running():
                raise QubesVMNotStartedError(f"Domain is powered off: {self.name}")
            if wait:
                self.app.sleep(self.app.scenario.sim.vm_shutdown_duration)
            self.app.set_power(self.name, "Halted")

    def kill(self) -> None:
        with self.app.action("kill", self.name):
            if self.klass == "AdminVM":
                raise QubesVMError("Cannot kill dom0")
            if not self.is_running():
                raise QubesVMNotStartedError(f"Domain is powered off: {self.name}")
            self.app.set_power(self.name, "Halted")


class Domains:
    """``app.domains``: a read-only, name-sorted collection, cached as qubesadmin caches it.

    The list is read once and kept for the app's lifetime: VMs that
    ``sdw-admin --apply`` creates or removes meanwhile are not seen until
    ``clear_cache()`` (docs/qubes-tools.md, "qubesadmin caches the VM list").
    """

    def __init__(self, app: FakeApp) -> None:
        self._app = app
        self._cache: dict[str, FakeVM] | None = None

    @property
    def _vms(self) -> dict[str, FakeVM]:
        if self._cache is None:
            self._app.refuse_listing()
            present = present_vms(self._app.scenario, self._app.store.read())
            self._cache = {name: FakeVM(self._app, spec) for name, spec in sorted(present.items())}
        return self._cache

    def clear_cache(self) -> None:
        """Forget the VM list: the next access reads it again (as qubesadmin's)."""
        self._cache = None

    def __iter__(self) -> Iterator[FakeVM]:
        return iter(list(self._vms.values()))

    def __len__(self) -> int:
        return len(self._vms)

    def __getitem__(self, name: object) -> FakeVM:
        key = name.name if isinstance(name, FakeVM) else name
        if not isinstance(key, str) or key not in self._vms:
            raise KeyError(name)
        return self._vms[key]

    def __contains__(self, name: object) -> bool:
        key = name.name if isinstance(name, FakeVM) else name
        return isinstance(key, str) and key in self._vms

    def get(self, name: object, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return list(self._vms)

    def values(self) -> list[FakeVM]:
        return list(self._vms.values())

    def items(self) -> list[tuple[str, FakeVM]]:
        return list(self._vms.items())


class _Action:
    """Journal one changing call: record at start, exit 0 or 1 at the end."""

    def __init__(self, record: journal.Record) -> None:
        self.record = record

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.record.finish(0 if exc_type is None else 1)


class FakeApp:
    """What ``qubesadmin.Qubes()`` returns, for the simulated workstation."""

    def __init__(self, scenario: Scenario, sim_dir: Path) -> None:
        self.scenario = scenario
        self.sim_dir = sim_dir
        self.root = sim_dir / "root"
        self.store = StateStore(sim_dir)
        self.journal_path = sim_dir / "journal.jsonl"
        self.domains = Domains(self)

    @property
    def updatevm(self) -> FakeVM | None:
        """dom0's UpdateVM (the global property ``updatevm``: ``[sim].updatevm``), or None."""
        name = self.scenario.sim.updatevm
        return self.domains.get(name) if name else None

    def refuse_listing(self) -> None:
        """``[sim].list_refused_with``: admin.vm.List denied once that tool ran and exited 0."""
        tool = self.scenario.sim.list_refused_with
        if tool is None:
            return
        records = journal.read_journal(self.journal_path)
        if any(r["tool"] == tool and r["exit"] == 0 for r in records):
            raise QubesDaemonAccessError(f"admin.vm.List refused (after {tool})")

    def action(self, *argv: str) -> _Action:
        return _Action(journal.start(self.journal_path, "qubesadmin", list(argv)))

    def sleep(self, sim_seconds: float) -> None:
        delay = sim_seconds * self.scenario.sim.time_scale
        if delay > 0:
            time.sleep(delay)

    def set_power(self, name: str, power: str) -> None:
        with self.store.locked() as state:
            set_power(state, name, power)
