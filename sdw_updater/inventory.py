"""What to update, decided from the VMs Qubes knows.  Pure functions: data in, data out.

Nothing is hard-coded: the workstation's VMs carry the ``sd-workstation``
tag, and the templates to update are the templates behind them and behind
Qubes' service VMs (``sys-net``, ``sys-firewall``, ``sys-usb``,
``sys-whonix``), following template chains (a disposable VM's template is
itself an AppVM).
"""

from __future__ import annotations

from collections.abc import Iterable

from sdw_updater.contract import EXTRAS_TAG, SYS_VMS, WORKSTATION_TAG
from sdw_updater.host import VMInfo


def _template_of(vms: dict[str, VMInfo], vm: VMInfo) -> str | None:
    """The TemplateVM at the end of ``vm``'s template chain (itself if it is one)."""
    current: VMInfo | None = vm
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        if current.klass == "TemplateVM":
            return current.name
        current = vms.get(current.template) if current.template else None
    return None


def templates_of(vms: dict[str, VMInfo], roots: Iterable[VMInfo]) -> list[str]:
    """The TemplateVMs behind ``roots`` (sorted, each once)."""
    found = {_template_of(vms, vm) for vm in roots}
    return sorted(name for name in found if name is not None)


def templates_to_update(vms: dict[str, VMInfo]) -> list[str]:
    """The TemplateVMs behind every ``sd-workstation`` VM and the service VMs."""
    roots = [vm for vm in vms.values() if WORKSTATION_TAG in vm.tags or vm.name in SYS_VMS]
    return templates_of(vms, roots)


def extra_templates(vms: dict[str, VMInfo], already: Iterable[str] = ()) -> list[str]:
    """The TemplateVMs behind the VMs tagged ``sd-extras``, less those in ``already``.

    An organisation's own VMs: their templates are updated only when an
    admin turns it on (``settings.update_extras``), and shown as their own group.
    """
    skip = set(already)
    roots = [vm for vm in vms.values() if EXTRAS_TAG in vm.tags]
    return [name for name in templates_of(vms, roots) if name not in skip]


def dist_upgrade_evidence(
    dom0_release: str | None, vms: dict[str, VMInfo], templates: Iterable[str]
) -> list[str]:
    """Templates whose agent release differs from dom0's: evidence of an in-place upgrade.

    A missing release on either side is not evidence (the existing updater
    took a missing feature as an upgrade and silently never updated).
    """
    if dom0_release is None:
        return []
    mismatched = []
    for name in templates:
        agent = vms[name].agent_version if name in vms else None
        if agent is not None and agent != dom0_release:
            mismatched.append(f"{name} ({agent})")
    return mismatched


def start_order(name: str) -> tuple[int, str]:
    """sys-net before sys-firewall before the VMs that use them."""
    order = {"sys-net": 0, "sys-firewall": 1, "sys-usb": 2, "sys-whonix": 3}
    return order.get(name, 10), name
