"""The host seam: everything the updater asks of, or does to, dom0, in Qubes verbs.

``Host`` is the contract; :class:`sdw_updater.qubes.QubesHost` is its one
implementation, over the real dom0 tools and ``qubesadmin``.  The simulator
runs the very same implementation, only with other executables, another
``qubesadmin`` app object, another root for dom0 files and a clock it can
move.  To change how a Qubes tool is called, change ``qubes.py``; to see
what the updater can do to dom0 at all, read this file.
"""

# No ``from __future__ import annotations`` here: under it typing.NamedTuple compiles
# every field's annotation string (about 0.2 ms a field, on the launcher's fast path).

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from sdw_updater.process import ToolResult, Watch


class HostError(Exception):
    """Qubes could not answer a question the run depends on.

    Names the VM and the Admin API call, so the log tells an admin what
    was refused (a read that fails must fail the run, never shrink it).
    """

    def __init__(self, vm: str, call: str, reason: str) -> None:
        super().__init__(f"could not read {call} of {vm}: {reason}")
        self.vm = vm
        self.call = call
        self.reason = reason


# The records here are NamedTuples, not dataclasses: they are on the launcher's fast
# path, and ``dataclasses`` (with inspect, ast and dis) costs more to import than
# deciding and starting the app takes.


class VMInfo(NamedTuple):
    """A snapshot of one VM, as qubesadmin told it."""

    name: str
    klass: str
    template: str | None
    tags: frozenset[str]
    power: str
    agent_version: str | None
    netvm: str | None = None  # the qube it gets its network from (None: offline, or dom0)


class Boot(NamedTuple):
    """What identifies this boot of dom0: the kernel's boot id and when it booted."""

    boot_id: str | None
    booted_at: float | None  # wall-clock estimate (now - uptime); for logs and old files


class ClientStart(NamedTuple):
    """How starting the app went: ``ok``, or what went wrong in plain words."""

    ok: bool
    message: str


class Host(Protocol):
    """dom0, as the updater sees it."""

    timeout_scale: float

    # ----- time and dom0's own files ------------------------------------------------

    def now(self) -> float:
        """dom0's wall clock (through the seam, so a simulated clock can jump)."""
        ...

    def boot(self) -> Boot: ...

    def uptime(self) -> float | None:
        """Seconds since dom0 booted (None when it cannot be told)."""
        ...

    def dom0_release(self) -> str | None:
        """dom0's Qubes release ("4.3"), or None when it cannot be told."""
        ...

    def migration_pending(self) -> bool: ...

    def running_processes(self) -> set[str]:
        """Exact command names of dom0's processes."""
        ...

    def read_file(self, path: str, limit: int = 1024 * 1024) -> bytes | None:
        """A dom0 file, at most ``limit`` bytes (more, or not a regular file: None)."""
        ...

    def list_dir(self, path: str) -> list[str]: ...

    # ----- VMs (qubesadmin) ---------------------------------------------------------

    def vms(self, refresh: bool = False) -> dict[str, VMInfo]:
        """Every VM Qubes knows; raises HostError when one cannot be read.

        ``refresh`` forgets what was read before (qubesadmin caches the VM
        list): after a migration, VMs may have been created or removed.
        """
        ...

    def template_agents(self) -> dict[str, str | None]:
        """Each TemplateVM's ``qubes-agent-version`` (None when unset); raises HostError.

        What the in-place-upgrade guard needs first, for far fewer Admin
        API calls than :meth:`vms` (it runs on every launch).
        """
        ...

    def updatevm(self) -> str | None:
        """dom0's UpdateVM (``qubes-prefs updatevm``), None when none is set; raises HostError."""
        ...

    def power_state(self, name: str) -> str:
        """One VM's power state now; "NA" when it cannot be told."""
        ...

    def feature(self, vm: str, name: str) -> str | None:
        """A feature of a VM (None when unset); raises HostError when refused."""
        ...

    # ----- the update's tools -------------------------------------------------------

    def check_network(self) -> "ToolResult":
        """``nmcli networking connectivity check`` in sys-net."""
        ...

    def dom0_check(self, watch: "Watch") -> "ToolResult":
        """``qubes-dom0-update --check-only``: 100 updates, 0 none (or a hidden failure)."""
        ...

    def dom0_update(self, watch: "Watch") -> "ToolResult":
        """``sudo qubes-dom0-update -y``; every question it asks is answered "no"."""
        ...

    def rpmdb_stamp(self) -> tuple[int, ...] | None:
        """What changes when a package is installed in dom0 (None: cannot be told)."""
        ...

    def highstate(self, watch: "Watch") -> "ToolResult":
        """dom0's Salt state (``qubesctl --show-output state.highstate``)."""
        ...

    def apply_migration(self, watch: "Watch") -> "ToolResult":
        """The full provisioning a migration needs (``sdw-admin --apply``)."""
        ...

    def clear_migration(self) -> "ToolResult": ...

    def update_templates(self, names: Sequence[str], watch: "Watch") -> "ToolResult":
        """``qubes-vm-update`` for exactly ``names``, progress lines on stderr."""
        ...

    def start_vms(self, names: Sequence[str]) -> "ToolResult": ...

    def shutdown_vms(self, names: Sequence[str]) -> "ToolResult": ...

    def start_client(self) -> ClientStart:
        """Start the SecureDrop app in its VM and the proxy VM beside it."""
        ...

    def reboot(self) -> "ToolResult": ...

    # ----- what the trust checks read ------------------------------------------------

    def rpm_keys(self) -> "ToolResult":
        """The public keys in dom0's rpm database (armored, one after the other)."""
        ...

    def rpm_signers(self, packages: Sequence[str]) -> "ToolResult":
        """Name and signature of each installed package named."""
        ...

    def read_vm_file(self, vm: str, path: str, limit: int, binary: bool = False) -> "ToolResult":
        """A file inside a VM (untrusted: the VM answers; base64 when ``binary``)."""
        ...

    def dnf_config(self, releasever: str, limit: int) -> "ToolResult":
        """dom0's repository configuration as dnf's own parser reads it (JSON on stdout).

        Run by the system Python, which owns dnf's module, on this host's dom0
        files (``sdw_updater/trust/dnfprobe.py``).
        """
        ...
