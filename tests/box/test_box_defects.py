"""Defects only the real Qubes components show, reproduced in the box.

Each test asserts the right behaviour; each failed on the engine before its
fix, for the reason its section heading gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import sdw_sim
from sdw_updater.contract import CLIENT_VM, NET_VM, WORKSTATION_TAG

from .compare import START_APP, outcome
from .conftest import THOROUGH
from .dom0 import Box
from .test_box_agreement import APP_EXITS, FORCE, HEALTHY, NO_DOM0, TEMPLATES, _merge

DEFAULT = sdw_sim.load_scenario(None)
CLIENT_TEMPLATE = str(DEFAULT.vms[CLIENT_VM].template)
NO_TEMPLATE_UPDATES = "".join(f'[templates."{t}"]\nresult = "no_updates"\n' for t in TEMPLATES)
# The time a run may take here before it counts as hanging (a healthy one takes seconds).
HANG = 30


def scenario(*parts: str) -> str:
    return _merge(HEALTHY + "".join(parts))


def powers(box: Box) -> dict[str, str]:
    return dict(json.loads((box.env.sim_dir / "state.json").read_text())["power"])


def updater_log(box: Box) -> str:
    return (box.state_dir / "logs" / "updater.log").read_text(errors="replace")


def vm_update_targets(box: Box) -> list[str]:
    record = next(r for r in box.journal() if r["tool"] == "qubes-vm-update")
    argv = [str(a) for a in record["argv"]]
    return argv[argv.index("--targets") + 1].split(",")


# ----- the app's start call waits for the app ---------------------------------------------


def test_the_app_is_started_without_waiting_for_it(make_box: Callable[..., Box]) -> None:
    """`qvm-run -p --service sd-app qubes.StartApp+...` returns only when the app exits.

    Here the app keeps running (until sd-app stops), as a journalist's does:
    the run must end 0 soon after starting it, the app still running.  Today
    the run waits for the app until its 180 s timeout, then says exit 8.
    """
    box = make_box(THOROUGH, scenario(NO_DOM0, NO_TEMPLATE_UPDATES))
    result = box.updater(*FORCE, timeout=HANG)
    seen = outcome(box.home, result.exit)
    assert (seen.exit, seen.status, seen.client_started) == (0, "0", True), result.output
    assert powers(box)[CLIENT_VM] == "Running"
    # qubesadmin's run_service(wait=False): qrexec-client -e, which returns once connected
    start = [
        r
        for r in result.journal
        if r["tool"] == "qrexec-client" and any(START_APP in str(a) for a in r["argv"])
    ]
    assert start and start[-1]["exit"] == 0 and "-e" in start[-1]["argv"]


# ----- a VM that cannot be read is skipped silently ---------------------------------------


@pytest.mark.parametrize(
    ("method", "vm", "arg", "word"),
    [
        ("admin.vm.tag.List", CLIENT_TEMPLATE, None, "tag"),
        ("admin.vm.property.Get", NET_VM, "template", "template"),
    ],
    ids=["tags-of-a-template", "template-of-sys-net"],
)
def test_a_refused_read_fails_the_run(
    make_box: Callable[..., Box], method: str, vm: str, arg: str | None, word: str
) -> None:
    """One refused Admin API read: exit 1, status "3", the log naming the VM and what was read.

    Today the VM (or its template) is left out and the run reports success.
    """
    rule = f'[[qubesd.rule]]\nmethod = "{method}"\nvm = "{vm}"\n'
    if arg is not None:
        rule += f'arg = "{arg}"\n'
    box = make_box(THOROUGH, scenario(NO_DOM0, APP_EXITS) + rule)
    result = box.updater(*FORCE)
    seen = outcome(box.home, result.exit)
    assert f"{method}+{arg or ''} {vm} -> refused" in box.qubesd_log()
    assert (seen.exit, seen.status, seen.client_started) == (1, "3", False), result.output
    named = [line for line in updater_log(box).splitlines() if vm in line and word in line.lower()]
    assert named, updater_log(box)


def test_qubesd_gone_mid_run_never_ends_ok(make_box: Callable[..., Box]) -> None:
    """qubesd vanishes while the templates are read and updated: the run fails, the app stays."""
    box = make_box(THOROUGH, scenario(NO_DOM0, APP_EXITS) + "[qubesd]\nvanish_after = 150\n")
    result = box.updater(*FORCE)
    seen = outcome(box.home, result.exit)
    assert "vanished after 150 calls" in box.qubesd_log()
    assert seen.exit not in (0, None) and seen.status != "0", result.output
    assert not seen.client_started


# ----- the VM list is cached across sdw-admin --apply -------------------------------------

NEW_TEMPLATE = "sd-box-new-template"
NEW_VM = "sd-box-new"


def test_a_vm_created_by_the_migration_has_its_template_updated(
    make_box: Callable[..., Box],
) -> None:
    """`sdw-admin --apply` creates a VM on a new template: it is updated in the same run.

    Today the VM list read before the migration is used to the end.
    """
    box = make_box(
        THOROUGH,
        scenario("[dom0]\nupdates = false\nmigration = true\n", APP_EXITS)
        + f'[vms."{NEW_TEMPLATE}"]\nklass = "TemplateVM"\ntags = ["{WORKSTATION_TAG}"]\n'
        + f'[vms."{NEW_VM}"]\ntemplate = "{NEW_TEMPLATE}"\ntags = ["{WORKSTATION_TAG}"]\n'
        + f'[qubesd.vms."{NEW_TEMPLATE}"]\nappear_with = "sdw-admin"\n'
        + f'[qubesd.vms."{NEW_VM}"]\nappear_with = "sdw-admin"\n',
    )
    result = box.updater(*FORCE)
    seen = outcome(box.home, result.exit)
    assert [t for t, _ in seen.calls].count("sdw-admin") == 1, result.output
    assert NEW_TEMPLATE in vm_update_targets(box), result.output
    assert (seen.exit, seen.status) == (0, "0"), result.output


# ----- VMs left halted after a partial failure --------------------------------------------


def _running_workstation_vm() -> tuple[str, str]:
    """A workstation VM that runs at boot (not a service VM), and its template."""
    for name in sorted(DEFAULT.vms):
        spec = DEFAULT.vms[name]
        if (
            spec.klass == "AppVM"
            and spec.power == "Running"
            and WORKSTATION_TAG in spec.tags
            and not spec.features.get("servicevm")
            and spec.template is not None
        ):
            return name, spec.template
    raise AssertionError("the default inventory has no running workstation VM")


def test_vms_halted_for_other_templates_are_started_again_after_a_failure(
    make_box: Callable[..., Box],
) -> None:
    """One template fails: the VMs `qubes-vm-update -R` shut down for the others run again."""
    vm, template = _running_workstation_vm()
    failing = next(t for t in TEMPLATES if t != template)
    box = make_box(
        THOROUGH, scenario(NO_DOM0, APP_EXITS, f'[templates."{failing}"]\nresult = "error"\n')
    )
    result = box.updater(*FORCE)
    seen = outcome(box.home, result.exit)
    assert (seen.exit, seen.status) == (1, "3"), result.output
    assert powers(box)[vm] == "Running", result.output
    assert vm in result.stdout


# ----- the real tools' exit codes, as they are --------------------------------------------


def test_the_agents_exit_code_is_reported(make_box: Callable[..., Box]) -> None:
    """A template whose agent failed: qubes-vm-update exits 24, and the admin is told so."""
    box = make_box(
        THOROUGH,
        scenario(NO_DOM0, APP_EXITS, f'[templates."{CLIENT_TEMPLATE}"]\nresult = "error"\n'),
    )
    result = box.updater(*FORCE)
    seen = outcome(box.home, result.exit)
    assert (seen.exit, seen.status, seen.client_started) == (1, "3", False)
    record = next(r for r in result.journal if r["tool"] == "qubes-vm-update")
    assert record["exit"] == 24
    assert CLIENT_TEMPLATE in result.stdout and "24" in result.stdout
    assert "code 24" in updater_log(box)


def test_a_template_gone_before_its_update_fails_the_run(make_box: Callable[..., Box]) -> None:
    """A template vanishes after the VMs were read: the run fails, naming it.

    Either a later read of the VMs fails (the template's properties can no longer be
    read) or qubes-vm-update exits 64 (unknown target); never a success.
    """
    box = make_box(
        THOROUGH,
        scenario(NO_DOM0, APP_EXITS)
        + f'[qubesd.vms."{CLIENT_TEMPLATE}"]\ndisappear_with = "qubesctl"\n',
    )
    result = box.updater(*FORCE)
    seen = outcome(box.home, result.exit)
    updates = [r for r in result.journal if r["tool"] == "qubes-vm-update"]
    assert all(r["exit"] == 64 for r in updates)
    assert (seen.exit, seen.status, seen.client_started) == (1, "3", False), result.output
    assert CLIENT_TEMPLATE in result.stdout
