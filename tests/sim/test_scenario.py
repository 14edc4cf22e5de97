"""Scenarios (``sdw_sim/scenario.py``): the default workstation, its extensions, strict parsing.

A bad scenario is refused with a clear message (a typo must not test the
healthy case); every example scenario loads; the default inventory is
SecureDrop Workstation 1.7 on Qubes 4.3, with its networks and UpdateVM, and
the Qubes 4.2 layout is a shipped scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ROOT
from helpers.sim import TEMPLATES, make_env

from sdw_sim import ScenarioError, load_scenario, setup


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[simm]\n", "unknown table(s) simm"),
        ("[sim]\ntime_scael = 1\n", "unknown key(s) time_scael"),
        ('[sim]\ntime_scale = "fast"\n', "time_scale must be a number"),
        ("[sim]\ntime_scale = -1\n", "time_scale must be a finite number 0 or more"),
        ("[sim]\ntimeout_scale = 0\n", "timeout_scale must be a finite number greater than 0"),
        ('[sim]\nqubes_release = "four"\n', "qubes_release must look like"),
        ('[sim]\nprocesses = "qubesctl"\n', "processes must be a list"),
        ("[network]\nconnectivity = 5\n", "connectivity must be a string"),
        ("[network]\nconnectivity_repeat = 0\n", "connectivity_repeat must be between 1"),
        ('[dom0]\nupdates = "yes"\n', "updates must be true or false"),
        ("[dom0]\nupdate_exit = 300\n", "update_exit must be between 0 and 255"),
        ("[dom0]\nupdates = false\ncheck_exit = 100\n", "check_exit = 100"),
        ('[templates."fedora-43-xfce"]\nresult = "fine"\n', "result must be one of"),
        ('[templates."sd-app"]\nresult = "error"\n', "sd-app is not a template"),
        ('[templates."fedora-43-xfce"]\nagent_version = 4.3\n', "agent_version must be a string"),
        ('[templates."fedora-43-xfce"]\nexit_code = 1\n', "exit_code must be an agent error"),
        ('[templates."fedora-43-xfce"]\nfail_first = -1\n', "fail_first must be between"),
        ('[dom0]\nmigration_form = "fifo"\n', "migration_form must be one of"),
        ("[dom0]\nxen_upgrade = 1\n", "xen_upgrade must be true or false"),
        ("[client]\nrun_duration = -5\n", "run_duration must be a finite number"),
        ("[sim]\nclock_jump = -60\n", "clock_jump must be a finite number 0 or more"),
        ('[vms."sd-app"]\nfiles = { "etc/x" = "y" }\n', "is not an absolute path"),
        ('[vms."sd-app"]\nstart_duration = "slow"\n', "start_duration must be a number"),
        (
            '[vms."sd-new"]\ntemplate = "sd-inbox-debian-13"\n'
            "created_by_apply = true\nremoved_by_apply = true\n",
            "cannot be both",
        ),
        ('[trust]\ndom0_key = "mine"\n', "dom0_key must be one of"),
        ("[trust]\ngpgcheck = 1\n", "gpgcheck must be true or false"),
        ('[client]\nstart_exit = "0"\n', "start_exit must be an integer"),
        ('[faults."apt"]\nmode = "exit"\n', "unknown tool 'apt'"),
        ('[faults."qvm-run"]\nmode = "explode"\n', "mode must be one of"),
        ('[faults."qvm-run"]\nexit = 3\n', "mode is required"),
        ('[faults."qvm-run"]\nmode = "missing"\nmatch = "x"\n', "drop match"),
        ('[vms."sd-new"]\nklass = "AppVM"\n', "needs a template"),
        ('[vms."fedora-43-xfce"]\nabsent = true\n', "fedora-43-xfce is not in the inventory"),
        ('[vms."dom0"]\npower = "Halted"\n', "dom0 cannot be changed"),
        ('[vms."sd-app"]\npower = "Paused"\n', "power must be one of"),
        ("[sim\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_are_rejected_with_a_clear_message(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_scenario_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.toml")


def test_example_scenarios_load() -> None:
    files = sorted((ROOT / "scenarios").glob("*.toml"))
    assert {f.name for f in files} >= {
        "demo.toml",
        "fresh-no-updates.toml",
        "template-error.toml",
        "network-down.toml",
        "migration.toml",
        "dist-upgrade.toml",
        "qubes-4.2.toml",
    }
    loaded = {f.name: load_scenario(f) for f in files}
    assert 0.02 < loaded["demo.toml"].sim.time_scale < 0.05
    # the demo's app exits within seconds, so an engine that waits for it still ends
    demo = loaded["demo.toml"]
    assert demo.client.run_duration * demo.sim.time_scale < 10
    assert loaded["network-down.toml"].network.connectivity == "none"
    assert loaded["dist-upgrade.toml"].sim.qubes_release == "4.3"
    assert loaded["migration.toml"].dom0.migration


def test_scenario_extensions_change_the_inventory(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        '[vms."sys-usb"]\nabsent = true\n'
        '[vms."sd-extra"]\ntemplate = "sd-inbox-debian-13"\ntags = ["sd-workstation"]\n'
        'power = "Running"\nfeatures = { servicevm = true }\n'
        '[vms."sd-viewer-disp"]\nklass = "DispVM"\ntemplate = "sd-viewer"\n'
        '[templates."fedora-43-xfce"]\nagent_version = "none"\n',
    )
    domains = env.app.domains
    assert "sys-usb" not in domains
    assert domains["sd-extra"].get_power_state() == "Running"
    assert domains["sd-extra"].features.get("servicevm") == "1"
    assert domains["sd-viewer-disp"].template.name == "sd-viewer"
    assert "qubes-agent-version" not in domains["fedora-43-xfce"].features
    small = domains["sd-inbox-debian-13"]
    assert "sd-extra" in [vm.name for vm in small.derived_vms]
    large = domains["sd-viewer-debian-13"]
    assert "sd-viewer-disp" in [vm.name for vm in large.derived_vms]
    assert "sd-viewer-disp" not in [vm.name for vm in large.appvms]


# ----- the default inventory ----------------------------------------------------------


def test_default_inventory_is_sdw_17_on_qubes_43(tmp_path: Path) -> None:
    """The built-in workstation (docs/simulator.md): SecureDrop Workstation 1.7 on Qubes 4.3."""
    env = make_env(tmp_path)
    domains = env.app.domains
    names = [vm.name for vm in domains]
    assert names == sorted(names) and names[0] == "dom0"
    assert len(names) == 16
    assert domains["dom0"].klass == "AdminVM"
    assert {n for n in names if domains[n].klass == "TemplateVM"} == set(TEMPLATES)
    expected = {
        "sys-net": ("fedora-43-xfce", "Running"),
        "sys-firewall": ("fedora-43-xfce", "Running"),
        "sys-usb": ("fedora-43-xfce", "Running"),
        "sys-whonix": ("whonix-gateway-17", "Running"),
        "sd-app": ("sd-inbox-debian-13", "Halted"),
        "sd-proxy": ("sd-inbox-debian-13", "Halted"),
        "sd-gpg": ("sd-inbox-debian-13", "Halted"),
        "sd-log": ("sd-inbox-debian-13", "Running"),
        "sd-viewer": ("sd-viewer-debian-13", "Halted"),
        "sd-devices": ("sd-viewer-debian-13", "Halted"),
        "sd-printers": ("sd-viewer-debian-13", "Halted"),
    }
    assert set(names) == {"dom0", *TEMPLATES, *expected}
    assert "sd-whonix" not in domains
    for name, (template, state) in expected.items():
        assert domains[name].klass == "AppVM"
        assert domains[name].template.name == template
        assert domains[name].get_power_state() == state
    for name in TEMPLATES:
        assert domains[name].get_power_state() == "Halted"
    tagged = {vm.name for vm in domains if "sd-workstation" in vm.tags}
    assert tagged == {"sd-inbox-debian-13", "sd-viewer-debian-13"} | {
        n for n in expected if n.startswith("sd-")
    }
    assert domains["sys-firewall"].features.get("servicevm") == "1"
    assert domains["sd-app"].features.get("servicevm") is None
    assert domains["sd-viewer"].features["template_for_dispvms"] == "1"
    for name in TEMPLATES:
        assert domains[name].features["qubes-agent-version"] == "4.3"
    assert (env.root / "etc" / "os-release").read_text().count("VERSION_ID=4.3\n") == 1
    assert (env.root / "etc" / "qubes-release").read_text() == "Qubes release 4.3 (R4.3)\n"
    assert getattr(domains["fedora-43-xfce"], "template", None) is None
    assert getattr(domains["dom0"], "template", None) is None
    with pytest.raises(KeyError):
        domains["sd-nothing"]
    with pytest.raises(KeyError):
        domains["sd-app"].features["nope"]
    assert domains.get("sd-nothing") is None and "sd-app" in domains
    assert domains["sd-app"] == "sd-app"


def test_networks_and_the_updatevm_are_sdw_17s(tmp_path: Path) -> None:
    """sd-proxy -> sys-firewall -> sys-net; sys-whonix on sys-firewall; the UpdateVM sys-firewall."""
    for sub in "bcd":
        (tmp_path / sub).mkdir()
    domains = make_env(tmp_path).app
    netvms = {
        vm.name: vm.netvm.name for vm in domains.domains if vm.klass != "AdminVM" and vm.netvm
    }
    assert netvms == {
        "sd-proxy": "sys-firewall",
        "sys-firewall": "sys-net",
        "sys-whonix": "sys-firewall",
    }
    assert domains.updatevm is not None and domains.updatevm.name == "sys-firewall"
    with pytest.raises(AttributeError):
        _ = domains.domains["dom0"].netvm
    changed = make_env(
        tmp_path / "b",
        '[sim]\nupdatevm = "sys-whonix"\n[vms."sd-proxy"]\nnetvm = ""\n'
        '[vms."sys-firewall"]\nabsent = true\n',
    ).app
    assert changed.updatevm is not None and changed.updatevm.name == "sys-whonix"
    assert changed.domains["sd-proxy"].netvm is None
    assert changed.domains["sys-whonix"].netvm is None  # its netvm was removed
    assert make_env(tmp_path / "c", '[sim]\nupdatevm = ""\n').app.updatevm is None
    without = make_env(tmp_path / "d", '[vms."sys-firewall"]\nabsent = true\n')
    assert without.app.updatevm is None  # the default follows the inventory


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[sim]\nupdatevm = "sys-nothing"\n', "updatevm sys-nothing is not a qube"),
        ('[sim]\nupdatevm = "dom0"\n', "updatevm dom0 is not a qube"),
        ("[sim]\nupdatevm = 1\n", "updatevm must be a string"),
        ('[vms."sd-proxy"]\nnetvm = "sys-nothing"\n', "its netvm sys-nothing is not a qube"),
        ('[vms."sd-proxy"]\nnetvm = false\n', "netvm must be a string"),
    ],
)
def test_bad_networks_are_rejected(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def test_qubes_42_layout_is_a_shipped_scenario(tmp_path: Path) -> None:
    env = setup(ROOT / "scenarios" / "qubes-4.2.toml", tmp_path / "state")
    domains = env.app.domains
    templates = {vm.name for vm in domains if vm.klass == "TemplateVM"}
    assert templates == {
        "fedora-40-xfce",
        "whonix-gateway-17",
        "sd-small-bookworm-template",
        "sd-large-bookworm-template",
    }
    assert domains["sd-whonix"].template.name == "whonix-gateway-17"
    assert domains["sd-whonix"].get_power_state() == "Running"
    assert "sd-workstation" in domains["sd-whonix"].tags
    assert domains["sd-app"].template.name == "sd-small-bookworm-template"
    assert domains["sd-viewer"].template.name == "sd-large-bookworm-template"
    assert domains["sys-net"].template.name == "fedora-40-xfce"
    assert "sd-printers" not in domains and "fedora-43-xfce" not in domains
    assert {domains[t].features["qubes-agent-version"] for t in templates} == {"4.2"}
    assert "VERSION_ID=4.2\n" in (env.root / "etc" / "os-release").read_text()
    assert domains["sd-proxy"].netvm == "sd-whonix"
    assert domains["sd-whonix"].netvm == "sys-firewall"
