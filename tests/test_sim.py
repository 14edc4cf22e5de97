"""The simulated Qubes behaves as the real dom0 tools and qubesadmin do.

Tools are run as the engine runs them: the wrapper executables, argument
lists, never a shell, always a timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sdw_sim import ScenarioError, SimEnv, load_scenario, read_journal, setup
from sdw_sim.app import QubesException, QubesVMNotStartedError

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = (
    "fedora-43-xfce",
    "sd-viewer-debian-13",
    "sd-inbox-debian-13",
    "whonix-gateway-17",
)
VM_UPDATE = [
    "qubes-vm-update",
    "--apply-to-all",
    "--force-update",
    "--show-output",
    "--just-print-progress",
    "--targets",
]
# docs/qubes-tools.md, "qubes-vm-update: its progress lines on stderr":
# "<qube> <status> <info>", single spaces, ASCII
PROGRESS = re.compile(
    r"(?P<vm>[A-Za-z][A-Za-z0-9_.-]*) (?:pending None"
    r"|updating (?P<pct>100\.0|[0-9]{1,2}\.[0-9]+)"
    r"|done (?P<done>success|error|cancelled|no_updates))"
)


def make_env(tmp_path: Path, toml: str | None = None) -> SimEnv:
    path = None
    if toml is not None:
        path = tmp_path / "scenario.toml"
        path.write_text(toml)
    return setup(path, tmp_path / "state")


def tool(
    env: SimEnv, name: str, *args: str, answer: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a fake tool; stdin is at EOF (as the engine runs them) unless ``answer`` is given."""
    return subprocess.run(
        [str(env.bin_dir / name), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        input=answer,
        stdin=subprocess.DEVNULL if answer is None else None,
    )


def sudo(
    env: SimEnv, name: str, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    return tool(env, "sudo", "-n", str(env.bin_dir / name), *args, answer=answer)


def power(env: SimEnv, name: str) -> str:
    return str(env.app.domains[name].get_power_state())


def vm_update(env: SimEnv, *targets: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return tool(env, *VM_UPDATE, ",".join(targets), timeout=timeout)


def final_lines(stderr: str) -> dict[str, str]:
    """The last progress line per qube, as the engine keeps it."""
    last: dict[str, str] = {}
    for line in stderr.splitlines():
        if line:
            last[line.split(" ")[0]] = line
    return last


# ----- scenarios --------------------------------------------------------------


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
    files = sorted((REPO / "scenarios").glob("*.toml"))
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


# ----- inventory and the fake qubesadmin --------------------------------------


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
    env = setup(REPO / "scenarios" / "qubes-4.2.toml", tmp_path / "state")
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


def test_app_actions_change_power_and_are_journaled(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    proxy = env.app.domains["sd-proxy"]
    proxy.start()
    assert proxy.is_running() and power(env, "sd-proxy") == "Running"
    assert proxy.start_time != ""
    proxy.shutdown(force=True)
    assert proxy.is_halted()
    with pytest.raises(QubesVMNotStartedError):
        proxy.shutdown()
    proxy.features["last-seen"] = True
    assert proxy.features["last-seen"] == "1"
    assert read_journal(env.journal_path) == [
        {"tool": "qubesadmin", "argv": ["start", "sd-proxy"], "exit": 0},
        {"tool": "qubesadmin", "argv": ["shutdown", "sd-proxy", "force"], "exit": 0},
        {"tool": "qubesadmin", "argv": ["shutdown", "sd-proxy"], "exit": 1},
        {"tool": "qubesadmin", "argv": ["feature-set", "sd-proxy", "last-seen", "1"], "exit": 0},
    ]


def test_app_start_fails_as_the_scenario_says(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[vms."sd-proxy"]\nstart_fails = true\n')
    with pytest.raises(QubesException, match="Start failed"):
        env.app.domains["sd-proxy"].start()
    assert power(env, "sd-proxy") == "Halted"
    assert read_journal(env.journal_path)[-1]["exit"] == 1


def test_power_state_is_read_fresh_after_a_tool_changes_it(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    vm = env.app.domains["sd-proxy"]
    assert vm.get_power_state() == "Halted"
    assert tool(env, "qvm-start", "--skip-if-running", "sd-proxy").returncode == 0
    assert vm.get_power_state() == "Running"


# ----- journal, sudo, qvm-* ----------------------------------------------------


def test_journal_keeps_call_order_and_unwraps_sudo(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    tool(env, "qvm-run", "-p", "sys-net", "nmcli", "networking", "connectivity", "check")
    sudo(env, "qubesctl", "--show-output", "state.highstate")
    tool(env, "qvm-start", "--skip-if-running", "sd-proxy")
    records = read_journal(env.journal_path)
    assert [r["tool"] for r in records] == ["qvm-run", "qubesctl", "qvm-start"]
    assert records[1] == {
        "tool": "qubesctl",
        "argv": ["--show-output", "state.highstate"],
        "exit": 0,
    }
    assert all("sudo" not in r["argv"] for r in records)


def test_network_check_prints_the_scenario_connectivity(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[network]\nconnectivity = "portal"\n')
    result = tool(env, "qvm-run", "-p", "sys-net", "nmcli", "networking", "connectivity", "check")
    assert (result.returncode, result.stdout) == (0, "portal\n")
    missing = tool(env, "qvm-run", "-p", "sys-nope", "true")
    assert missing.returncode == 2
    assert "no such domain: 'sys-nope'" in missing.stderr


def test_starting_the_client_starts_sd_app_and_is_journaled(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    app_id = "qubes.StartApp+press.freedom.SecureDropApp"
    result = tool(env, "qvm-run", "-p", "--service", "sd-app", app_id)
    assert result.returncode == 0
    assert power(env, "sd-app") == "Running"
    record = read_journal(env.journal_path)[-1]
    assert "sd-app" in record["argv"] and app_id in record["argv"]


def test_client_start_exit_comes_from_the_scenario(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[client]\nstart_exit = 3\n")
    app_id = "qubes.StartApp+press.freedom.SecureDropApp"
    assert tool(env, "qvm-run", "-p", "--service", "sd-app", app_id).returncode == 3


def test_qvm_start_follows_r42_semantics(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[vms."sd-gpg"]\nstart_fails = true\n')
    running = tool(env, "qvm-start", "sd-log", "sd-proxy")
    assert running.returncode == 1
    assert "Error: domain sd-log is already running" in running.stderr
    assert power(env, "sd-proxy") == "Halted"  # later qubes are not started
    failing = tool(env, "qvm-start", "--skip-if-running", "sd-gpg", "sd-proxy")
    assert failing.returncode == 1 and "Error: Start failed" in failing.stderr
    assert power(env, "sd-proxy") == "Running"  # the tool continues after a failure
    assert tool(env, "qvm-start", "sd-nope").returncode == 2
    assert tool(env, "qvm-shutdown", "--wait", "sd-proxy", "sd-app").returncode == 0
    assert power(env, "sd-proxy") == "Halted"


# ----- dom0 update, Salt, migration, reboot -----------------------------------


def test_dom0_check_reports_pending_updates_until_they_are_installed(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    check = tool(env, "qubes-dom0-update", "--check-only")
    assert check.returncode == 100
    assert "There are dom0 updates available" in check.stderr
    unprivileged = tool(env, "qubes-dom0-update", "-y")
    assert unprivileged.returncode == 1 and "root" in unprivileged.stderr
    update = sudo(env, "qubes-dom0-update", "-y")
    assert update.returncode == 0
    assert "Using sys-firewall as UpdateVM for Dom0" in update.stderr
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 0
    again = sudo(env, "qubes-dom0-update", "-y")
    assert again.returncode == 0 and "No updates available" in again.stderr
    assert env.app.domains["dom0"].features["updates-available"] == ""


@pytest.mark.parametrize(
    ("toml", "check", "message"),
    [
        ("[dom0]\nupdates = false\n", 0, "No dom0 updates available"),
        ("[dom0]\ncheck_exit = 1\n", 1, "Failed to check for dom0 updates"),
        ('[vms."sys-firewall"]\npower = "Halted"\n', 1, "UpdateVM not running"),
    ],
)
def test_dom0_check_exit_codes(tmp_path: Path, toml: str, check: int, message: str) -> None:
    env = make_env(tmp_path, toml)
    result = tool(env, "qubes-dom0-update", "--check-only")
    assert result.returncode == check
    assert message in result.stderr


def test_dom0_update_failure_keeps_updates_pending(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[dom0]\nupdate_exit = 1\n")
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 1
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 100


def test_migration_flag_is_a_non_empty_directory_removed_only_with_rm_r(
    tmp_path: Path,
) -> None:
    """SecureDrop Workstation 1.7: its RPM %post makes /tmp/sdw-migrations/ and a file in it."""
    env = make_env(tmp_path, "[dom0]\nmigration = true\n")
    flag = env.root / "tmp" / "sdw-migrations"
    assert flag.is_dir() and os.listdir(flag)
    assert sudo(env, "qubesctl", "--show-output", "state.highstate").returncode == 0
    assert flag.is_dir()  # the Salt state neither makes nor removes it
    assert tool(env, "sdw-admin", "--apply").returncode == 0
    assert flag.is_dir()  # sdw-admin leaves it to the updater
    denied = tool(env, "rm", "-rf", "--", "/tmp/sdw-migrations")
    assert denied.returncode == 1 and "Operation not permitted" in denied.stderr
    not_recursive = sudo(env, "rm", "-f", "--", "/tmp/sdw-migrations")
    assert not_recursive.returncode == 1 and "Is a directory" in not_recursive.stderr
    assert sudo(env, "rm", "-rf", "--", "/tmp/sdw-migrations").returncode == 0
    assert not flag.exists()
    # applied: a later dom0 update's %post leaves no flag
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 0
    assert not flag.exists()


def test_migration_flag_of_older_releases_is_a_file(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[dom0]\nmigration = true\nmigration_form = "file"\n')
    flag = env.root / "tmp" / "sdw-migrations"
    assert flag.is_file() and flag.read_bytes().strip()
    assert sudo(env, "rm", "-f", "--", "/tmp/sdw-migrations").returncode == 0
    assert not flag.exists()


def test_dom0_update_recreates_a_pending_migration_flag_and_reboot_empties_tmp(
    tmp_path: Path,
) -> None:
    env = make_env(tmp_path, "[dom0]\nmigration = true\n")
    flag = env.root / "tmp" / "sdw-migrations"
    assert sudo(env, "reboot").returncode == 0
    assert not flag.exists()  # /tmp is a tmpfs: the flag is lost (SecureDrop #1540)
    assert sudo(env, "qubes-dom0-update", "-y").returncode == 0
    assert flag.is_dir() and os.listdir(flag)  # the new dom0 package's %post


def test_rm_never_touches_the_real_file_system(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    real = tmp_path / "real-file"
    real.write_text("keep me")
    assert sudo(env, "rm", "-rf", "--", str(real)).returncode == 0
    assert real.read_text() == "keep me"
    assert sudo(env, "rm", "-rf", "--", "/../../" + str(real)).returncode == 0
    assert real.read_text() == "keep me"
    assert sudo(env, "rm", "-rf", "relative").returncode == 1


def test_highstate_failure_in_dom0_exits_1_and_apply_failure_keeps_its_code(
    tmp_path: Path,
) -> None:
    env = make_env(tmp_path, "[dom0]\nhighstate_exit = 2\napply_exit = 5\n")
    salt = sudo(env, "qubesctl", "--show-output", "state.highstate")
    assert salt.returncode == 1  # whatever salt-call's own code (docs/qubes-tools.md)
    assert "DOM0 configuration failed, not continuing" in salt.stderr
    assert "Failed:    1" in salt.stdout
    assert tool(env, "sdw-admin", "--apply").returncode == 5
    assert [r["exit"] for r in read_journal(env.journal_path)] == [1, 5]


def test_qubesctl_exits_with_the_largest_vm_code(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        '[vms."sys-usb"]\nsalt_exit = 20\n[vms."sd-log"]\nsalt_exit = 2\n',
    )
    run = sudo(env, "qubesctl", "--skip-dom0", "--targets", "sys-usb,sd-log,sd-nope", "state.sls")
    assert run.returncode == 20
    assert "sys-usb: ERROR (exit code 20, details in /var/log/qubes/mgmt-sys-usb.log)" in run.stdout
    assert "sd-nope" not in run.stdout  # unknown targets are silently ignored
    fine = sudo(env, "qubesctl", "--skip-dom0", "--targets", "sys-net", "state.sls")
    assert (fine.returncode, fine.stdout) == (0, "sys-net: OK\n")
    dom0_only = sudo(env, "qubesctl", "--show-output", "state.highstate")
    assert dom0_only.returncode == 0 and "sys-usb" not in dom0_only.stdout


def test_reboot_resets_uptime_and_power_states(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[sim]\nuptime = 86400\n")
    uptime = float((env.root / "proc" / "uptime").read_text().split()[0])
    assert 86400 <= uptime < 86460
    tool(env, "qvm-start", "sd-proxy")
    tool(env, "qvm-shutdown", "sys-usb")
    assert sudo(env, "reboot").returncode == 0
    assert float((env.root / "proc" / "uptime").read_text().split()[0]) < 60
    assert power(env, "sd-proxy") == "Halted" and power(env, "sys-usb") == "Running"


# ----- qubes-vm-update -----------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "exit_code", "final"),
    [
        ("success", 0, "done success"),
        ("no_updates", 0, "done no_updates"),
        ("error", 24, "done error"),
        ("cancelled", 130, "done cancelled"),
    ],
)
def test_vm_update_snapshots_and_exit_codes(
    tmp_path: Path, result: str, exit_code: int, final: str
) -> None:
    env = make_env(tmp_path, f'[templates."whonix-gateway-17"]\nresult = "{result}"\n')
    run = vm_update(env, *TEMPLATES)
    assert run.returncode == exit_code
    lines = run.stderr.splitlines()
    assert lines and all(PROGRESS.fullmatch(line) for line in lines), lines
    # every snapshot names each target once
    assert len(lines) % len(TEMPLATES) == 0
    for start in range(0, len(lines), len(TEMPLATES)):
        snapshot = {line.split(" ")[0] for line in lines[start : start + len(TEMPLATES)]}
        assert snapshot == set(TEMPLATES)
    last = final_lines(run.stderr)
    assert last["whonix-gateway-17"] == f"whonix-gateway-17 {final}"
    assert last["fedora-43-xfce"] == "fedora-43-xfce done success"
    percents = [
        float(m["pct"])
        for line in lines
        if (m := PROGRESS.fullmatch(line)) and m["vm"] == "fedora-43-xfce" and m["pct"]
    ]
    assert percents == sorted(percents) and percents[-1] == 100.0
    output = [re.match(r"([^:]+):(out|err): ", line) for line in run.stdout.splitlines()]
    assert output and all(m and m[1] in TEMPLATES for m in output)


def test_vm_update_status_change_then_new_percent(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run = vm_update(env, "fedora-43-xfce")
    lines = run.stderr.splitlines()
    assert lines[:4] == [
        "fedora-43-xfce pending None",
        "fedora-43-xfce updating 0.0",
        "fedora-43-xfce updating 8.33",
        "fedora-43-xfce updating 8.33",
    ]
    assert lines[-1] == "fedora-43-xfce done success"


def test_vm_update_garbage_never_reports_done(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[templates."sd-viewer-debian-13"]\nresult = "garbage"\n')
    run = vm_update(env, "sd-viewer-debian-13", "fedora-43-xfce")
    assert run.returncode == 0
    good = [PROGRESS.fullmatch(line) for line in run.stderr.splitlines()]
    large = [m for m in good if m and m["vm"] == "sd-viewer-debian-13"]
    assert all(m["done"] is None and m["pct"] is None for m in large)
    assert any(m is None for m in good)  # malformed lines were printed
    assert final_lines(run.stderr)["fedora-43-xfce"] == "fedora-43-xfce done success"


def test_vm_update_rejects_bad_targets(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    unknown = vm_update(env, "fedora-43-xfce", "sd-nope")
    assert unknown.returncode == 64
    assert "Unknown qube name: sd-nope" in unknown.stderr
    assert vm_update(env, "fedora-43-xfce", "fedora-43-xfce").returncode == 64
    usage = tool(env, "qubes-vm-update", "--force-update", "--update-if-available")
    assert usage.returncode == 2
    assert read_journal(env.journal_path)[-1]["exit"] == 2


def test_a_successful_update_is_remembered(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert final_lines(vm_update(env, "fedora-43-xfce").stderr)["fedora-43-xfce"].endswith(
        "done success"
    )
    again = vm_update(env, "fedora-43-xfce")
    assert final_lines(again.stderr)["fedora-43-xfce"] == "fedora-43-xfce done no_updates"


def test_propagation_restarts_service_vms_and_stops_the_others(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    domains = env.app.domains
    net_started = domains["sys-net"].start_time
    time.sleep(0.01)
    run = vm_update(env, "fedora-43-xfce", "sd-inbox-debian-13")
    assert run.returncode == 0
    assert power(env, "sys-net") == "Running"
    assert domains["sys-net"].start_time != net_started  # restarted
    assert power(env, "sys-firewall") == "Running"
    assert power(env, "sd-log") == "Halted"  # -R: shut down, not restarted
    assert power(env, "sd-inbox-debian-13") == "Halted"
    assert power(env, "sys-whonix") == "Running"  # its template was not updated
    # In the real tool's order, journaled as qubesd journals the real tool's in the box.
    service = ["sys-net", "sys-firewall", "sys-usb"]
    assert [(r["tool"], r["argv"]) for r in read_journal(env.journal_path)][1:] == [
        *[("qubesadmin", ["shutdown", vm, "force"]) for vm in service],
        *[("qubesadmin", ["start", vm]) for vm in service],
        ("qubesadmin", ["shutdown", "sd-log", "force"]),
    ]


def test_propagation_with_apply_to_sys_leaves_other_vms_running(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run = tool(env, "qubes-vm-update", "-r", "--force-update", "--targets", "sd-inbox-debian-13")
    assert run.returncode == 0
    assert power(env, "sd-log") == "Running"
    assert power(env, "sys-whonix") == "Running"


def test_a_failing_template_leaves_the_vms_of_the_others_halted(tmp_path: Path) -> None:
    """-R applies only the templates that ended success (docs/qubes-tools.md)."""
    env = make_env(tmp_path, '[templates."fedora-43-xfce"]\nresult = "error"\nexit_code = 23\n')
    run = vm_update(env, "fedora-43-xfce", "sd-inbox-debian-13")
    assert run.returncode == 23
    assert power(env, "sd-log") == "Halted"  # sd-inbox's update was applied: shut down
    assert power(env, "sys-net") == "Running"  # its template failed: left as it was
    assert "Temporary failure resolving" in run.stdout  # what a refresh error (23) says


def test_propagation_failure_to_restart_exits_13(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[vms."sys-usb"]\nstart_fails = true\n')
    assert vm_update(env, "fedora-43-xfce").returncode == 13
    assert power(env, "sys-usb") == "Halted"


def test_vm_update_hang_is_killable_by_sigterm_on_the_group(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[templates."fedora-43-xfce"]\nresult = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "qubes-vm-update"), *VM_UPDATE[1:], "fedora-43-xfce,whonix-gateway-17"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
    assert final_lines(stderr)["whonix-gateway-17"] == "whonix-gateway-17 done success"
    assert "done" not in final_lines(stderr)["fedora-43-xfce"]
    assert read_journal(env.journal_path)[-1]["exit"] == -signal.SIGTERM
    assert not [p for p in os.listdir(env.root / "proc") if p == str(proc.pid)]


def test_vm_update_crash_leaves_minus_nine_in_the_journal(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[templates."sd-inbox-debian-13"]\nresult = "crash"\n')
    run = vm_update(env, *TEMPLATES)
    assert run.returncode == -signal.SIGKILL
    assert "sd-inbox-debian-13 updating 50.0" in run.stderr
    assert read_journal(env.journal_path)[-1]["exit"] in (-9, None)


def test_vm_update_flood_is_streamed(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        "[sim]\ntime_scale = 0.5\nvm_start_duration = 0\nvm_shutdown_duration = 0\n"
        '[templates."fedora-43-xfce"]\nflood_mb = 8\nduration = 4\n',
    )
    proc = subprocess.Popen(
        [str(env.bin_dir / "qubes-vm-update"), *VM_UPDATE[1:], "fedora-43-xfce"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(1024 * 1024)
        assert proc.poll() is None  # output arrives while the tool still runs
        total = len(first)
        lines = first.split(b"\n")
        carry = lines.pop()
        bad = sum(not line.startswith(b"fedora-43-xfce:out: ") for line in lines)
        for chunk in proc.stdout:
            total += len(chunk)
            line, carry = carry + chunk, b""
            bad += not line.startswith((b"fedora-43-xfce:out: ", b"fedora-43-xfce:err: "))
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert total >= 8 * 1024 * 1024
    assert bad == 0


# ----- faults --------------------------------------------------------------------


def test_fault_exit_only_hits_matching_calls(tmp_path: Path) -> None:
    env = make_env(
        tmp_path, '[faults."qubes-dom0-update"]\nmode = "exit"\nexit = 7\nmatch = "-y"\n'
    )
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 100
    failed = sudo(env, "qubes-dom0-update", "-y")
    assert failed.returncode == 7 and "fault injected" in failed.stderr
    assert read_journal(env.journal_path)[-1] == {
        "tool": "qubes-dom0-update",
        "argv": ["-y"],
        "exit": 7,
    }


def test_fault_missing_removes_the_executable(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."qubesctl"]\nmode = "missing"\n')
    assert not (env.bin_dir / "qubesctl").exists()
    result = tool(env, "sudo", "-n", "qubesctl", "state.highstate")
    assert result.returncode == 1 and "command not found" in result.stderr
    env = setup(None, tmp_path / "state")
    assert os.access(env.bin_dir / "qubesctl", os.X_OK)


def test_fault_crash_and_garbage(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        '[faults."sdw-admin"]\nmode = "crash"\n[faults."qvm-run"]\nmode = "garbage"\n',
    )
    crash = tool(env, "sdw-admin", "--apply")
    assert crash.returncode == -signal.SIGKILL and crash.stdout
    garbage = subprocess.run(
        [str(env.bin_dir / "qvm-run"), "-p", "sys-net", "nmcli", "networking", "connectivity"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert garbage.returncode == 0
    assert garbage.stdout.strip() not in (b"full", b"")
    assert [r["exit"] for r in read_journal(env.journal_path)] == [-9, 0]


def test_fault_hang_ends_on_sigterm(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."qvm-start"]\nmode = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "qvm-start"), "sd-proxy"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert read_journal(env.journal_path) == [
        {"tool": "qvm-start", "argv": ["sd-proxy"], "exit": -15}
    ]
    assert power(env, "sd-proxy") == "Halted"


def test_killed_call_keeps_its_record_with_null_exit(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."reboot"]\nmode = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "reboot")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline()  # it started and said so
        tool(env, "qvm-start", "sd-proxy")  # a later call, while reboot still runs
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert read_journal(env.journal_path) == [
        {"tool": "reboot", "argv": [], "exit": None},
        {"tool": "qvm-start", "argv": ["sd-proxy"], "exit": 0},
    ]


# ----- persistence and fake files ------------------------------------------------


def test_state_persists_across_setup_with_the_same_scenario(tmp_path: Path) -> None:
    toml = "[sim]\nuptime = 600\n"
    env = make_env(tmp_path, toml)
    tool(env, "qvm-start", "sd-proxy")
    sudo(env, "qubes-dom0-update", "-y")
    boot = json.loads((env.sim_dir / "state.json").read_text())["boot_time"]
    # the same content with a comment: still the same workstation
    env = make_env(tmp_path, "# relaunch\n" + toml)
    assert power(env, "sd-proxy") == "Running"
    assert tool(env, "qubes-dom0-update", "--check-only").returncode == 0
    assert json.loads((env.sim_dir / "state.json").read_text())["boot_time"] == boot


def test_state_is_reset_by_a_different_scenario_or_a_broken_file(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    tool(env, "qvm-start", "sd-proxy")
    env = make_env(tmp_path, "[sim]\nuptime = 60\n")
    assert power(env, "sd-proxy") == "Halted"
    assert float((env.root / "proc" / "uptime").read_text().split()[0]) < 120
    tool(env, "qvm-start", "sd-proxy")
    (env.sim_dir / "state.json").write_text("{not json")
    env = make_env(tmp_path, "[sim]\nuptime = 60\n")
    assert power(env, "sd-proxy") == "Halted"


def test_fake_dom0_files(tmp_path: Path) -> None:
    env = make_env(
        tmp_path, '[sim]\nqubes_release = "4.3"\nprocesses = ["qubesctl", "salt-call"]\n'
    )
    release = (env.root / "etc" / "os-release").read_text()
    assert "NAME=Qubes\n" in release and "VERSION_ID=4.3\n" in release
    assert re.fullmatch(
        r"[0-9]+\.[0-9]{2} [0-9]+\.[0-9]{2}\n", (env.root / "proc/uptime").read_text()
    )
    comms = sorted(
        (env.root / "proc" / entry / "comm").read_text()
        for entry in os.listdir(env.root / "proc")
        if entry.isdigit()
    )
    assert comms == ["qubesctl\n", "salt-call\n"]
    env = make_env(tmp_path, '[sim]\nqubes_release = "4.3"\n')
    assert not [e for e in os.listdir(env.root / "proc") if e.isdigit()]


def test_running_tools_show_in_the_fake_proc(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[faults."qubesctl"]\nmode = "hang"\n')
    proc = subprocess.Popen(
        [str(env.bin_dir / "sudo"), "-n", str(env.bin_dir / "qubesctl"), "state.highstate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline()
        comm = env.root / "proc" / str(proc.pid) / "comm"
        assert comm.read_text() == "qubesctl\n"
        make_env(tmp_path, '[faults."qubesctl"]\nmode = "hang"\n')  # a relaunch keeps it
        assert comm.exists()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert not comm.exists()


def test_timeout_scale_and_time_scale_are_exposed(tmp_path: Path) -> None:
    env = make_env(tmp_path, "[sim]\ntimeout_scale = 0.01\ntime_scale = 0.5\n")
    assert env.timeout_scale == 0.01
    assert env.scenario.sim.time_scale == 0.5
    assert env.journal_path == tmp_path / "state" / "sim" / "journal.jsonl"
    assert env.bin_dir == tmp_path / "state" / "sim" / "bin"
    assert env.root == tmp_path / "state" / "sim" / "root"


# ----- the package's own structure ------------------------------------------------------


def _sim_imports() -> dict[str, set[str]]:
    """Each module of sdw_sim -> the sdw_sim modules it imports (anywhere in it, lazily too).

    ``from sdw_sim import x`` is an import of the module ``sdw_sim.x`` when there
    is one, else of the package's facade (``sdw_sim``, its ``__init__``).
    """
    import ast

    package = REPO / "sdw_sim"
    modules = {path.stem for path in package.glob("*.py")} - {"__init__"}

    def resolve(name: str) -> str:
        return name if name == "sdw_sim" or name.split(".")[1] in modules else "sdw_sim"

    graph: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        me = "sdw_sim" if path.stem == "__init__" else f"sdw_sim.{path.stem}"
        edges = graph.setdefault(me, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {resolve(a.name) for a in node.names if a.name.startswith("sdw_sim")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sdw_sim"):
                if node.module == "sdw_sim":
                    edges |= {
                        f"sdw_sim.{a.name}" if a.name in modules else "sdw_sim" for a in node.names
                    }
                else:
                    edges.add(resolve(str(node.module)))
        edges.discard(me)
    return graph


def test_the_simulator_imports_one_way() -> None:
    """No import cycle inside sdw_sim, and only outsiders use the package's facade."""
    graph = _sim_imports()
    users_of_facade = sorted(m for m, edges in graph.items() if "sdw_sim" in edges)
    assert users_of_facade == [], users_of_facade
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    # The tools' shared pieces are a module of their own that imports no tool.
    assert not graph["sdw_sim.toolcall"] & {"sdw_sim.tools", "sdw_sim.vmupdate", "sdw_sim.qrexec"}


def test_the_simulator_takes_no_private_names_from_its_other_modules() -> None:
    import ast

    taken = []
    for path in sorted((REPO / "sdw_sim").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sdw_sim"):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        taken.append(f"{path.name}: {node.module}.{alias.name}")
                    modules.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                taken.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert taken == []
