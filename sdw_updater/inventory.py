"""What to update, decided from the VMs Qubes knows.  Pure functions: data in, data out.

Nothing is hard-coded but ``sys-usb``'s name.  The templates to update are
the templates (template chains followed: a disposable VM's template is
itself an AppVM) of

- every VM tagged ``sd-workstation``,
- every VM in their network chains (``netvm``, followed to its end),
- dom0's UpdateVM (``qubes-prefs updatevm``) and its network chain,
- ``sys-usb``.

On SecureDrop Workstation 1.7 that is sd-proxy -> sys-firewall -> sys-net,
the UpdateVM sys-firewall, and sys-usb: no SecureDrop VM uses sys-whonix,
so its template is updated only when something the workstation depends on
runs on it (an UpdateVM set to sys-whonix, say).
"""

from __future__ import annotations

from collections.abc import Iterable

from sdw_updater.contract import EXTRAS_TAG, USB_VM, WORKSTATION_TAG
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


def network_chain(vms: dict[str, VMInfo], name: str) -> list[str]:
    """``name`` and the VMs its network goes through, in order (its netvm, that one's, ...).

    A loop ends the chain where it closes (Qubes refuses one, but what it
    answers is read, not assumed); a netvm Qubes does not list ends it too.
    """
    chain: list[str] = []
    current = vms.get(name)
    while current is not None and current.name not in chain:
        chain.append(current.name)
        current = vms.get(current.netvm) if current.netvm else None
    return chain


def depended_on(vms: dict[str, VMInfo], updatevm: str | None) -> list[str]:
    """The VMs the workstation depends on (sorted): see the module docstring."""
    needed: set[str] = set()
    roots = sorted(name for name, vm in vms.items() if WORKSTATION_TAG in vm.tags)
    for name in [*roots, *([updatevm] if updatevm else [])]:
        needed.update(network_chain(vms, name))
    if USB_VM in vms:
        needed.add(USB_VM)
    return sorted(needed)


def templates_to_update(vms: dict[str, VMInfo], updatevm: str | None) -> list[str]:
    """The TemplateVMs behind every VM the workstation depends on (sorted, each once)."""
    return templates_of(vms, (vms[name] for name in depended_on(vms, updatevm)))


def extra_templates(vms: dict[str, VMInfo], already: Iterable[str] = ()) -> list[str]:
    """The TemplateVMs behind the VMs tagged ``sd-extras``, less those in ``already``.

    An organisation's own VMs: their templates are updated only when an
    admin turns it on (``settings.update_extras``), and shown as their own group.
    """
    skip = set(already)
    roots = [vm for vm in vms.values() if EXTRAS_TAG in vm.tags]
    return [name for name in templates_of(vms, roots) if name not in skip]


def other_release(
    dom0_release: str | None, vms: dict[str, VMInfo], templates: Iterable[str]
) -> dict[str, str]:
    """Each of ``templates`` whose agent release differs from dom0's, with that release.

    A missing release on either side is not a difference (the existing
    updater took a missing feature as an upgrade and silently never updated).
    """
    if dom0_release is None:
        return {}
    found = {}
    for name in templates:
        agent = vms[name].agent_version if name in vms else None
        if agent is not None and agent != dom0_release:
            found[name] = agent
    return found


def dist_upgrade_evidence(
    dom0_release: str | None, vms: dict[str, VMInfo], templates: Iterable[str]
) -> list[str]:
    """Templates whose agent release differs from dom0's: evidence of an in-place upgrade.

    Give it the workstation's own templates only: an organisation's extra
    template (``sd-extras``) may lag a release while Qubes is not being
    upgraded, and must not stop the workstation (see ``other_release``).
    """
    return [
        f"{name} ({agent})" for name, agent in other_release(dom0_release, vms, templates).items()
    ]


def start_order(name: str) -> tuple[int, str]:
    """sys-net before sys-firewall before the VMs that use them."""
    order = {"sys-net": 0, "sys-firewall": 1, "sys-usb": 2, "sys-whonix": 3}
    return order.get(name, 10), name
