"""What is updated: the templates of everything the workstation depends on.

The rule (README, "What a run does"; docs/simulator.md, "The default
inventory"): the templates, template chains followed, of the VMs tagged
``sd-workstation``, of every VM in their network chains (``netvm`` to the
end), of dom0's UpdateVM and its chain, and of ``sys-usb``.  End to end
through ``sdw-updater --cli --simulate``, the simulated Qubes telling the
engine its VMs, their netvms and its UpdateVM as ``qubesadmin`` does; the
box tier runs the same scenarios against the real ``qubesadmin``
(tests/box/test_box_agreement.py).  With ``"update_extras": true`` the
templates of VMs tagged ``sd-extras`` too, except one on another Qubes
release, which waits alone (it is no evidence of a Qubes upgrade).  The rule
as pure functions: tests/updater/test_inventory.py.
"""

from __future__ import annotations

from pathlib import Path

from helpers import (
    FORCE,
    INSTANT,
    NO_DOM0,
    ROOT,
    client_started,
    last_run_file,
    read_journal,
    run_updater,
    template,
    vm_updates,
)

from sdw_sim.journal import Entry
from sdw_updater.contract import ExitCode

SDW_17 = ["fedora-43-xfce", "sd-inbox-debian-13", "sd-viewer-debian-13"]
WHONIX = "whonix-gateway-17"


def targets(journal: list[Entry]) -> list[str]:
    """The --targets of the (first) qubes-vm-update call, sorted."""
    record = next(r for r in journal if r["tool"] == "qubes-vm-update")
    argv = record["argv"]
    return sorted(argv[argv.index("--targets") + 1].split(","))


def updated(home: Path, scenario: str) -> list[str]:
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.OK, run.stdout + run.stderr
    return targets(read_journal(home))


def test_sdw_17_updates_its_three_templates_and_not_whonix(home: Path) -> None:
    """sd-proxy -> sys-firewall -> sys-net; sys-whonix exists but nothing uses it."""
    assert updated(home, INSTANT + NO_DOM0) == SDW_17


def test_an_updatevm_on_whonix_brings_its_template_in(home: Path) -> None:
    scenario = '[sim]\ntime_scale = 0.0\nupdatevm = "sys-whonix"\n' + NO_DOM0
    assert updated(home, scenario) == sorted([*SDW_17, WHONIX])


def test_a_workstation_vm_routed_through_whonix_brings_its_template_in(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + '[vms."sd-proxy"]\nnetvm = "sys-whonix"\n'
    assert updated(home, scenario) == sorted([*SDW_17, WHONIX])


def test_the_whole_network_chain_is_followed(home: Path) -> None:
    """A firewall on a template of its own, between sd-proxy and sys-net, is updated."""
    scenario = (
        INSTANT
        + NO_DOM0
        + '[vms."fedora-fw"]\nklass = "TemplateVM"\n'
        + '[vms."sys-firewall-2"]\ntemplate = "fedora-fw"\nnetvm = "sys-firewall"\n'
        + 'power = "Running"\n'
        + '[vms."sd-proxy"]\nnetvm = "sys-firewall-2"\n'
    )
    assert updated(home, scenario) == sorted([*SDW_17, "fedora-fw"])


def test_only_what_is_depended_on_counts(home: Path) -> None:
    """sd-proxy offline, no sys-usb, an UpdateVM of its own: sys-net's template drops out."""
    scenario = (
        '[sim]\ntime_scale = 0.0\nupdatevm = "sys-update"\n'
        + NO_DOM0
        + '[vms."fedora-update"]\nklass = "TemplateVM"\n'
        + '[vms."sys-update"]\ntemplate = "fedora-update"\npower = "Running"\n'
        + '[vms."sys-usb"]\nabsent = true\n'
        + '[vms."sd-proxy"]\nnetvm = ""\n'
    )
    assert updated(home, scenario) == ["fedora-update", "sd-inbox-debian-13", "sd-viewer-debian-13"]


def test_the_qubes_42_layout_keeps_updating_whonix(home: Path, tmp_path: Path) -> None:
    """Before 1.7, sd-proxy reached the server through sd-whonix (on whonix-gateway-17)."""
    scenario = (
        (ROOT / "scenarios" / "qubes-4.2.toml")
        .read_text()
        .replace(
            '[sim]\nqubes_release = "4.2"\n', '[sim]\nqubes_release = "4.2"\ntime_scale = 0.0\n'
        )
    )
    assert updated(home, scenario + NO_DOM0) == [
        "fedora-40-xfce",
        "sd-large-bookworm-template",
        "sd-small-bookworm-template",
        WHONIX,
    ]


# ----- the extra templates (sd-extras), when an admin turns them on -----------------------

VIEWER = "sd-viewer-debian-13"
EXTRAS = (
    '[vms."tpl-extra"]\nklass = "TemplateVM"\n'
    '[vms."org-app"]\ntemplate = "tpl-extra"\ntags = ["sd-extras"]\n'
)


def test_extra_templates_only_when_an_admin_turns_them_on(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + EXTRAS
    off = run_updater(home, *FORCE, scenario=scenario)
    assert off.returncode == ExitCode.OK, off.stdout
    assert "tpl-extra" not in vm_updates(read_journal(home))[0]
    (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(
        '{"update_extras": true}'
    )
    on = run_updater(home, *FORCE, scenario=scenario)
    assert on.returncode == ExitCode.OK, on.stdout
    assert "tpl-extra" in vm_updates(read_journal(home))[-1]
    assert "Extra templates (sd-extras), updated too: tpl-extra" in on.stdout
    summary = on.stdout[on.stdout.index("Summary:") :]
    assert summary.index("Extra templates (sd-extras):") < summary.index("tpl-extra")
    groups = {t["name"]: t["group"] for t in last_run_file(home)["templates"]}
    assert groups["tpl-extra"] == "extras" and groups[VIEWER] == "workstation"


def test_an_extra_template_on_another_release_waits_alone(home: Path) -> None:
    """An sd-extras template is never evidence of a Qubes upgrade: it is skipped, and said so."""
    (home / ".securedrop_updater").mkdir()
    (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(
        '{"update_extras": true}'
    )
    scenario = INSTANT + NO_DOM0 + EXTRAS + template("tpl-extra", agent_version="4.2")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.OK, run.stdout + run.stderr
    targets = vm_updates(read_journal(home))[0]
    assert "tpl-extra" not in targets and VIEWER in targets
    said = "tpl-extra (sd-extras) runs the Qubes 4.2 agent while dom0 runs Qubes 4.3"
    assert said in run.stdout
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert said in log
    help_for = {a["where"]: a for a in last_run_file(home)["help"]}
    assert "not updated" in help_for["tpl-extra"]["cause"]
    assert client_started(read_journal(home))
    # A workstation template on another release still means Qubes is being upgraded.
    lagging = scenario + template(VIEWER, agent_version="4.2")
    assert run_updater(home, *FORCE, scenario=lagging).returncode == ExitCode.DIST_UPGRADE
