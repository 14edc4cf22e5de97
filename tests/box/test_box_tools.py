"""The box's parts against the real Qubes tools, and against the built-in simulator's fakes.

The real ``qvm-*`` tools and ``qubes-vm-update`` of each pinned version run
in the box against the simulated qubesd and the fake ``qrexec-client``; the
same commands run through the built-in simulator's fake tools on a twin
workstation.  Both must describe one world: same exit codes, same answers,
same power states afterwards.  Where they differ the real tools are right
(docs/qubes-tools.md, "Corrections: what the tools really do"); the known
differences are marked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.sim import VM_UPDATE

import sdw_sim
from sdw_sim.scenario import Scenario
from sdw_updater.contract import CLIENT_APP_ID, CLIENT_VM, NET_VM, WORKSTATION_TAG

from .conftest import THOROUGH, VERSIONS
from .dom0 import Box

APT_SOURCE = "/etc/apt/sources.list.d/apt_freedom_press.sources"
START_APP = f"qubes.StartApp+{CLIENT_APP_ID}"
# The app exits as soon as it started, so `qvm-run -p --service` returns (box only).
APP_EXITS = "[qrexec]\napp_exit_after = 0\n"
DONE = re.compile(r"^(?P<vm>\S+) done (?P<result>\S+)$")


def client_template(scenario: Scenario) -> str:
    template = scenario.vms[CLIENT_VM].template
    assert template is not None
    return template


def fake_tool(env: sdw_sim.SimEnv, argv: list[str]) -> tuple[int, str, str]:
    """One call of a built-in simulator's fake tool, as the engine makes it."""
    proc = subprocess.run(
        [str(env.bin_dir / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def powers(sim_dir: Path) -> dict[str, str]:
    return dict(json.loads((sim_dir / "state.json").read_text())["power"])


# ----- the qvm-* tools ------------------------------------------------------------------


def commands(scenario: Scenario) -> list[tuple[list[str], int, str | None]]:
    """(argv, exit code, stdout) that both tiers must give, in this order (None: any, alike)."""
    template = client_template(scenario)
    return [
        (["qvm-start", CLIENT_VM], 0, ""),
        (["qvm-start", CLIENT_VM], 1, ""),  # already running (R4.2-R4.4 alike)
        (["qvm-start", "--skip-if-running", CLIENT_VM], 0, ""),
        (["qvm-shutdown", "--wait", CLIENT_VM], 0, ""),
        (["qvm-shutdown", "--wait", CLIENT_VM], 0, ""),  # halted is fine
        (["qvm-run", "-p", NET_VM, "nmcli", "networking", "connectivity", "check"], 0, "full\n"),
        (["qvm-run", "-p", CLIENT_VM, "hostname"], 0, f"{CLIENT_VM}\n"),  # autostarted
        (["qvm-run", "-p", "--no-gui", template, "cat", "--", APT_SOURCE], 0, None),
        (["qvm-run", "-p", "--service", CLIENT_VM, START_APP], 0, ""),
        (["qvm-run", "-p", "--service", CLIENT_VM, "qubes.StartApp+no.such.App"], 1, ""),
        (["qvm-run", "--service", CLIENT_VM, START_APP], 0, ""),
        (["qvm-run", "-p", "no-such-vm", "true"], 2, ""),
        (["qvm-start", "no-such-vm"], 2, ""),
        (["qvm-kill", CLIENT_VM], 0, ""),
        (["qvm-kill", CLIENT_VM], 0, ""),  # halted qubes are ignored
        (["qubes-vm-update", "--targets", "no-such-vm"], 64, ""),
        (["qubes-vm-update", "--targets", f"{NET_VM},{NET_VM}"], 64, ""),
    ]


@pytest.mark.parametrize("version", list(VERSIONS))
def test_real_qvm_tools_and_the_fakes_agree(
    version: str, make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = make_box(version, APP_EXITS)
    table = commands(box.env.scenario)
    results = box.commands(*[["/usr/bin/" + argv[0], *argv[1:]] for argv, _, _ in table])
    twin = sdw_sim.setup(box.scenario_path, tmp_path / "twin")
    for (argv, code, stdout), real in zip(table, results, strict=True):
        fake = fake_tool(twin, argv)
        where = f"{' '.join(argv)}: real {real.exit} {real.output!r}, fake {fake}"
        assert real.exit == code, where
        assert fake[0] == code, where
        assert real.stdout == fake[1], where
        if stdout is not None:
            assert real.stdout == stdout, where
    assert powers(box.env.sim_dir) == powers(twin.sim_dir)
    changes = [r["argv"] for r in results[-1].journal if r["tool"] == "qubesadmin"]
    assert ["start", CLIENT_VM] in changes
    assert any(a[:2] == ["shutdown", CLIENT_VM] for a in changes)
    assert ["kill", CLIENT_VM] in changes


@pytest.mark.parametrize("version", list(VERSIONS))
def test_qubesadmin_reads_the_simulated_workstation(
    version: str, make_box: Callable[..., Box]
) -> None:
    """qvm-ls, qvm-features, qvm-prefs, qvm-tags see what the built-in FakeApp sees."""
    box = make_box(version)
    app = box.env.app
    template = client_template(box.env.scenario)
    listing, agent, unset, prefs, no_prop, tags = box.commands(
        ["qvm-ls", "--raw-data", "--fields", "NAME,CLASS,STATE,TEMPLATE"],
        ["qvm-features", template, "qubes-agent-version"],
        ["qvm-features", CLIENT_VM, "no-such-feature"],
        ["qvm-prefs", CLIENT_VM, "template"],
        ["qvm-prefs", template, "template"],
        ["qvm-tags", CLIENT_VM, "list"],
    )
    expected = []
    for vm in app.domains:
        parent = vm.spec.template or "-"
        expected.append(f"{vm.name}|{vm.klass}|{vm.get_power_state()}|{parent}")
    assert listing.exit == 0 and listing.stdout.splitlines() == expected
    assert (agent.exit, agent.stdout) == (
        0,
        f"{app.domains[template].features.get('qubes-agent-version')}\n",
    )
    assert (unset.exit, unset.stdout) == (1, "")
    assert (prefs.exit, prefs.stdout) == (0, f"{template}\n")
    assert no_prop.exit == 2 and "no such property" in no_prop.stderr
    assert tags.exit == 0 and WORKSTATION_TAG in tags.stdout.split()


# ----- qubes-vm-update ------------------------------------------------------------------


def update_scenario(scenario: Scenario) -> tuple[str, dict[str, str]]:
    """Every template updated; one ends in error, one has nothing to do."""
    templates = sorted(scenario.templates)
    failing = client_template(scenario)
    quiet = next(t for t in templates if t != failing)
    results = {t: "success" for t in templates}
    results[failing] = "error"
    results[quiet] = "no_updates"
    text = "".join(f'[templates."{t}"]\nresult = "{r}"\n' for t, r in results.items())
    return text, results


def final_results(stderr: str) -> dict[str, str]:
    found = {}
    for line in stderr.splitlines():
        match = DONE.match(line)
        if match:
            found[match["vm"]] = match["result"]
    return found


@pytest.mark.parametrize("version", list(VERSIONS))
def test_real_vm_update_plays_the_templates(
    version: str, make_box: Callable[..., Box], tmp_path: Path
) -> None:
    """Per-template results, output and propagation as [templates] says, in both tiers."""
    text, results = update_scenario(sdw_sim.load_scenario(None))
    box = make_box(version, text)
    argv = [*VM_UPDATE, ",".join(sorted(results))]
    (real,) = box.commands(argv)
    twin = sdw_sim.setup(box.scenario_path, tmp_path / "twin")
    fake = fake_tool(twin, argv)
    assert final_results(real.stderr) == results, real.output
    assert final_results(fake[2]) == results
    # Agent output streams as "<qube>:out: ..." (docs/qubes-tools.md, "qubes-vm-update:
    # its output on stdout").
    assert all(f"{t}:out: " in real.stdout for t in results)
    # -R: only templates that ended `success` propagate; same power states.
    assert powers(box.env.sim_dir) == powers(twin.sim_dir)
    # The real tool exits with the agent's code (24: installing failed).
    assert real.exit == 24, real.output


def test_fake_vm_update_exits_with_the_agents_code(tmp_path: Path) -> None:
    text, results = update_scenario(sdw_sim.load_scenario(None))
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    env = sdw_sim.setup(path, tmp_path / "state")
    assert fake_tool(env, [*VM_UPDATE, ",".join(sorted(results))])[0] == 24


def test_a_crashing_vm_update_dies_of_sigkill(make_box: Callable[..., Box]) -> None:
    """`crash`: qubes-vm-update is killed half way; the journal says -9 (as the fake's)."""
    template = client_template(sdw_sim.load_scenario(None))
    box = make_box(THOROUGH, f'[templates."{template}"]\nresult = "crash"\n')
    (real,) = box.commands([*VM_UPDATE, template])
    assert real.exit == -9
    record = next(r for r in real.journal if r["tool"] == "qubes-vm-update")
    assert record["exit"] == -9


# ----- the qubesd faults ----------------------------------------------------------------


def test_qubesd_faults(make_box: Callable[..., Box]) -> None:
    """[qubesd]: refused, failing and slow calls; VMs that appear and disappear; vanishing."""
    scenario = sdw_sim.load_scenario(None)
    template = client_template(scenario)
    box = make_box(
        THOROUGH,
        "[qubesd]\nvanish_after = 10\n"
        f'[[qubesd.rule]]\nmethod = "admin.vm.property.Get"\nvm = "{CLIENT_VM}"\narg = "template"\n'
        f'[[qubesd.rule]]\nmethod = "admin.vm.feature.Get"\nvm = "{template}"\n'
        'answer = "error"\nerror = "QubesVMNotFoundError"\n'
        '[[qubesd.rule]]\nmethod = "admin.vm.CurrentState"\nanswer = "slow"\ndelay = 0.01\n'
        f'[qubesd.vms."{NET_VM}"]\nappear_with = "sdw-admin"\n'
        f'[qubesd.vms."{template}"]\ndisappear_with = "sdw-admin"\n',
    )
    refused, failed, slow, before, apply, after, *rest = box.commands(
        ["qvm-prefs", CLIENT_VM, "template"],
        ["qvm-features", template, "qubes-agent-version"],
        ["qvm-check", "--running", "dom0"],
        ["qvm-ls", "--raw-list"],
        ["sdw-admin", "--apply"],
        ["qvm-ls", "--raw-list"],
        *[["qvm-ls", "--raw-list"]] * 6,
    )
    assert refused.exit != 0 and refused.stdout == ""
    assert failed.exit != 0
    assert slow.exit == 0  # slow is still an answer
    assert NET_VM not in before.stdout.split() and template in before.stdout.split()
    assert apply.exit == 0
    assert NET_VM in after.stdout.split() and template not in after.stdout.split()
    # vanish_after: the socket is gone, every later call fails to connect.
    assert rest[-1].exit != 0 and "qubesd" in rest[-1].stderr
    log = box.qubesd_log()
    assert f"admin.vm.property.Get+template {CLIENT_VM} -> refused" in log
    assert "vanished after 10 calls" in log


# ----- the Admin API's failures, named at the engine's seam ---------------------------------

SEAM_CHECK = """
import sys
from pathlib import Path

import qubesadmin.exc
import sdw_sim
from sdw_updater import adminapi

assert adminapi.SOURCE == "qubesadmin.exc", adminapi.SOURCE
for name in adminapi.NAMES:
    assert getattr(adminapi, name) is getattr(qubesadmin.exc, name), name
assert adminapi.ERRORS == (qubesadmin.exc.QubesException, KeyError)
scenario = Path(sys.argv[1])
scenario.write_text('[vms."sd-app"]\\nstart_fails = true\\n')
env = sdw_sim.setup(scenario, Path(sys.argv[2]))
try:
    env.app.domains["sd-app"].start()
except qubesadmin.exc.QubesException as exc:
    print("raised", type(exc).__module__, type(exc).__name__)
"""


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_the_seam_names_qubesadmins_own_classes_where_it_is_installed(
    box_ready: None, tmp_path: Path, version: str
) -> None:
    """With qubesadmin importable (dom0, the box), the engine and the fake app use its classes."""
    from .dom0 import ROOT, site

    proc = subprocess.run(
        [sys.executable, "-c", SEAM_CHECK, str(tmp_path / "s.toml"), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": f"{site(version)}:{ROOT}"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "raised qubesadmin.exc QubesException"
