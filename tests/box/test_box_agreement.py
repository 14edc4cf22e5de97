"""The end-to-end scenarios through the box and through the built-in simulator: they must agree.

Each case is one of ``tests/e2e/test_cli.py``'s scenarios.  It runs once
with ``sdw-updater --simulate`` (the built-in simulator) and once in the box
(the product in its real mode with the real ``qubesadmin``, ``qvm-*`` tools and
``qubes-vm-update``), from the same state files; both must end alike: exit
code, status written (and a recorded reboot), last-updated written or not,
app started or not, and the same sequence of dom0 tool calls.

Every case runs against the thorough version (``THOROUGH``); the cases
marked ``everywhere`` also against the two other pinned versions.  Cases
that only a timeout ends (a hung or crashed tool) are left out: in its real
mode the product's timeouts are real (minutes to hours).  The ``garbage``
template result is left out by design: it plays a broken dom0 tool, which a
VM cannot make the real ``qubes-vm-update`` be (docs/simulator.md).

Until the engine stops waiting for the app (test_box_defects.py), ``qvm-run -p
--service sd-app qubes.StartApp+...`` returns only when the app exits: the
cases let it exit at once (``[qrexec] app_exit_after = 0``); the app that
keeps running is tested in test_box_defects.py.
"""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import FORCE, NO_DOM0

import sdw_sim
from sdw_updater.contract import CLIENT_VM

from .compare import Outcome, builtin_run, outcome
from .conftest import THOROUGH, VERSIONS
from .dom0 import Box, kill_marked, missing_reason

HEALTHY = "[sim]\ntime_scale = 0.0\n"
APP_EXITS = "[qrexec]\napp_exit_after = 0\n"
WORKERS = 2
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

_DEFAULT = sdw_sim.load_scenario(None)
TEMPLATES = sorted(_DEFAULT.templates)
CLIENT_TEMPLATE = _DEFAULT.vms[CLIENT_VM].template


@dataclass(frozen=True)
class Case:
    key: str
    scenario: str = ""
    args: tuple[str, ...] = FORCE
    before: tuple[str, float] | None = None  # status code and its age in seconds (<0: future)
    runs: int = 1  # the last run is compared; earlier ones prepare the state
    everywhere: bool = False  # all three versions, not only THOROUGH

    def toml(self) -> str:
        return HEALTHY + self.scenario + APP_EXITS


CASES = (
    Case("fresh_starts_the_app", args=("--cli",), before=("0", 0), everywhere=True),
    Case("forced_run_updates_dom0_and_asks_for_a_reboot", everywhere=True),
    Case("pending_reboot_is_not_answered_by_updating", runs=2),
    Case("reboot_done_starts_the_app", "[sim]\nuptime = 600\n", ("--cli",), ("2", 3600)),
    Case("no_dom0_updates_ends_ok", NO_DOM0, everywhere=True),
    Case("could_not_check_dom0_fails", "[dom0]\ncheck_exit = 1\n"),
    Case("dom0_update_fails", "[dom0]\nupdate_exit = 1\n"),
    Case("dom0_state_fails", "[dom0]\nhighstate_exit = 1\n"),
    Case("migration_apply_fails", "[dom0]\nupdates = false\nmigration = true\napply_exit = 1\n"),
    Case(
        "migration_runs_the_full_apply",
        "[dom0]\nupdates = false\nmigration = true\n",
        everywhere=True,
    ),
    Case(
        "template_error_fails",
        NO_DOM0 + f'[templates."{CLIENT_TEMPLATE}"]\nresult = "error"\nduration = 5\n',
        everywhere=True,
    ),
    Case(
        "template_cancelled_fails",
        NO_DOM0 + f'[templates."{CLIENT_TEMPLATE}"]\nresult = "cancelled"\nduration = 5\n',
    ),
    Case(
        "templates_without_updates_end_ok",
        NO_DOM0 + "".join(f'[templates."{t}"]\nresult = "no_updates"\n' for t in TEMPLATES),
    ),
    Case(
        "network_down_changes_nothing",
        '[network]\nconnectivity = "none"\n',
        before=("1", 100),
        everywhere=True,
    ),
    Case(
        "skip_netcheck_does_not_check",
        NO_DOM0 + '[network]\nconnectivity = "none"\n',
        (*FORCE, "--skip-netcheck"),
    ),
    Case("dist_upgrade_refuses", '[sim]\nqubes_release = "5.0"\n'),
    Case(
        "missing_agent_version_is_not_evidence",
        NO_DOM0 + f'[templates."{TEMPLATES[0]}"]\nagent_version = "none"\n',
    ),
    Case("app_start_failure_exits_8", NO_DOM0 + "[client]\nstart_exit = 1\n", everywhere=True),
    # What is updated follows the netvms and dom0's UpdateVM, as qubesadmin reads them.
    Case(
        "updatevm_on_whonix_brings_its_template_in",
        NO_DOM0 + '[sim]\nupdatevm = "sys-whonix"\n',
        everywhere=True,
    ),
    # --check-only refuses a halted UpdateVM: the updater starts it and checks again.
    Case(
        "halted_updatevm_is_started_and_checked_again",
        NO_DOM0 + '[vms."sys-firewall"]\npower = "Halted"\n',
        everywhere=True,
    ),
    Case(
        "updatevm_that_cannot_start_fails_saying_so",
        NO_DOM0 + '[vms."sys-firewall"]\npower = "Halted"\nstart_fails = true\n',
    ),
    Case(
        "proxy_through_whonix_brings_its_template_in",
        NO_DOM0 + '[vms."sd-proxy"]\nnetvm = "sys-whonix"\n',
    ),
    Case("untrusted_status_means_update", NO_DOM0, ("--cli",), ("0", -10 * 365 * 86400)),
    Case("status_reports_and_changes_nothing", args=("--status",), before=("0", 100)),
)
CASE_BY_KEY = {case.key: case for case in CASES}
CELLS = [
    (case.key, version)
    for case in CASES
    for version in VERSIONS
    if version == THOROUGH or case.everywhere
]


def _merge(text: str) -> str:
    """One TOML table per name: the cases add keys to [sim] and [dom0] that HEALTHY opens."""
    tables: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line
            tables.setdefault(current, [])
        elif line.strip():
            tables.setdefault(current, []).append(line)
    return "".join(f"{name}\n" + "".join(f"{k}\n" for k in keys) for name, keys in tables.items())


def seed(home: Path, before: tuple[str, float] | None, now: float) -> None:
    if before is None:
        return
    code, age = before
    directory = home / ".securedrop_updater"
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime(DATE_FORMAT, time.localtime(now - age))
    (directory / "sdw-update-status").write_text(
        json.dumps({"status": code, "last_status_update": stamp})
    )


@dataclass(frozen=True)
class Cell:
    builtin: Outcome
    box: Outcome
    builtin_output: str
    box_output: str


def run_cell(workdir: Path, case: Case, version: str) -> Cell:
    scenario = _merge(case.toml())
    now = time.time()  # both tiers start from the very same state files
    # The built-in simulator.
    home = workdir / "builtin" / "home"
    home.mkdir(parents=True)
    seed(home, case.before, now)
    path = workdir / "builtin" / "scenario.toml"
    path.write_text(scenario)
    marker = secrets.token_hex(8)
    try:
        since = 0
        for _ in range(case.runs):
            since = len(sdw_sim.read_journal(home / ".securedrop_updater/sim/journal.jsonl"))
            done = builtin_run(home, list(case.args), path, marker=marker)
    finally:
        kill_marked(marker)
    builtin = outcome(home, done.returncode, since)
    builtin_output = done.stdout + done.stderr
    # The box.
    box = Box(workdir / "box", version, scenario)
    seed(box.home, case.before, now)
    since = 0
    for _ in range(case.runs):
        since = len(box.journal())
        result = box.updater(*case.args)
    return Cell(builtin, outcome(box.home, result.exit, since), builtin_output, result.output)


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Cell]:
    """Every cell, two at a time (each is a chain of processes that mostly wait)."""
    if missing_reason() is not None:
        return {}
    jobs = {
        (key, version): tmp_path_factory.mktemp(f"{key[:40]}-{version}") for key, version in CELLS
    }
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            job: pool.submit(run_cell, workdir, CASE_BY_KEY[job[0]], job[1])
            for job, workdir in jobs.items()
        }
    return {job: future.result() for job, future in futures.items()}


@pytest.mark.parametrize(("key", "version"), CELLS)
def test_box_and_builtin_simulator_agree(
    key: str, version: str, box_ready: None, cells: dict[tuple[str, str], Cell]
) -> None:
    cell = cells[(key, version)]
    differences = cell.box.differences(cell.builtin)
    context = (
        f"{key} on {version}: box vs built-in\n"
        + "\n".join(differences)
        + f"\n--- box output\n{cell.box_output}\n--- built-in output\n{cell.builtin_output}"
    )
    assert differences == [], context
    assert cell.box.exit is not None, context


def test_status_json_agrees(box_ready: None, cells: dict[tuple[str, str], Cell]) -> None:
    """``--status`` prints the same decision in both tiers (``simulated`` aside).

    ``reason`` is left out: it may tell an age, which moves between the runs; and
    ``launcher``: it describes this machine's desktop and the caller's PATH, which
    differ between the tiers by design (the box has a dom0's PATH).
    """
    cell = cells[("status_reports_and_changes_nothing", THOROUGH)]
    box = json.loads(cell.box_output.splitlines()[0])
    builtin = json.loads(cell.builtin_output.splitlines()[0])
    assert (box.pop("simulated"), builtin.pop("simulated")) == (False, True)
    for key in ("reason", "launcher"):
        box.pop(key)
        builtin.pop(key)
    assert box == builtin
