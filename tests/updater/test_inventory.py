"""What is updated (``sdw_updater/inventory.py``), as pure functions of the VMs Qubes describes.

The rule (README, "What a run does"): the templates of the workstation's
VMs, of every VM in their network chains and of dom0's UpdateVM.  Its
end-to-end cases, on the simulated workstation: tests/e2e/test_inventory.py.
"""

from __future__ import annotations

import pytest

from sdw_updater.host import VMInfo
from sdw_updater.inventory import network_chain, templates_to_update


def _vm(
    name: str,
    klass: str = "AppVM",
    template: str | None = "t",
    tags: tuple[str, ...] = (),
    netvm: str | None = None,
) -> VMInfo:
    return VMInfo(name, klass, template, frozenset(tags), "Running", "4.3", netvm)


def test_a_netvm_loop_is_followed_once() -> None:
    vms = {
        "t": _vm("t", "TemplateVM", None),
        "u": _vm("u", "TemplateVM", None),
        "a": _vm("a", netvm="b", tags=("sd-workstation",)),
        "b": _vm("b", template="u", netvm="c"),
        "c": _vm("c", netvm="b"),
    }
    assert network_chain(vms, "a") == ["a", "b", "c"]
    assert templates_to_update(vms, None) == ["t", "u"]


@pytest.mark.parametrize("updatevm", [None, "nowhere"])
def test_no_updatevm_or_an_unknown_one_adds_nothing(updatevm: str | None) -> None:
    vms = {
        "t": _vm("t", "TemplateVM", None),
        "a": _vm("a", netvm="gone", tags=("sd-workstation",)),
    }
    assert network_chain(vms, "a") == ["a"]
    assert templates_to_update(vms, updatevm) == ["t"]
