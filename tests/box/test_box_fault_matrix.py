"""The fault matrix's faults of the simulated dom0 tools, through the box and the built-in simulator.

``tests/e2e/test_fault_matrix.py`` aims every fault of ``[faults."TOOL"]`` at every
step of the plan.  In the box the ``qvm-*`` tools and ``qubes-vm-update`` are
the real ones (a fake's fault cannot apply to them), so the rows here are
the steps that call the simulated tools (``qubes-dom0-update``, ``qubesctl``,
``sdw-admin``, ``rpm``, ``sudo`` and ``rm`` through it); the columns are the
control run and the faults that end without a timeout (``hang`` is left out:
the real mode's timeouts are real, up to an hour).  Each cell runs in the box
(the thorough version) and in the built-in simulator from the same state;
both must give the matrix's expected cell and agree on everything a user
and an admin see, including the sequence of dom0 tool calls.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.faults import EXPECTED, ROWS, Row, scenario_for, seed_state

from .compare import Outcome, builtin_run, outcome
from .conftest import THOROUGH
from .dom0 import SIM_TOOLS, Box, kill_marked, missing_reason
from .test_box_agreement import APP_EXITS, FORCE, _merge

MODES = ("none", "exit", "crash", "garbage", "missing")
BOX_ROWS = [row for row in ROWS if row.tool in (*SIM_TOOLS, "rm")]
CELLS = [(row.key, mode) for row in BOX_ROWS for mode in MODES]
ROW_BY_KEY = {row.key: row for row in BOX_ROWS}
WORKERS = 2


@dataclass(frozen=True)
class Cell:
    builtin: Outcome
    box: Outcome
    output: str


def run_cell(workdir: Path, scenario: str) -> Cell:
    home = workdir / "builtin" / "home"
    seed_state(home)
    path = workdir / "builtin" / "scenario.toml"
    path.write_text(scenario)
    marker = secrets.token_hex(8)
    try:
        done = builtin_run(home, list(FORCE), path, marker=marker)
    finally:
        kill_marked(marker)
    box = Box(workdir / "box", THOROUGH, scenario)
    seed_state(box.home)
    result = box.updater(*FORCE)
    return Cell(
        outcome(home, done.returncode),
        outcome(box.home, result.exit),
        f"--- box\n{result.output}\n--- built-in\n{done.stdout}{done.stderr}",
    )


def cell_scenario(row: Row, mode: str) -> str:
    return _merge(scenario_for(row, mode) + APP_EXITS)


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cell]:
    """One run per distinct scenario (rows sharing a base share their control run)."""
    if missing_reason() is not None:
        return {}
    scenarios = sorted({cell_scenario(ROW_BY_KEY[key], mode) for key, mode in CELLS})
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            text: pool.submit(run_cell, tmp_path_factory.mktemp("cell"), text) for text in scenarios
        }
    return {text: future.result() for text, future in futures.items()}


@pytest.mark.parametrize(("row_key", "mode"), CELLS)
def test_box_cell(row_key: str, mode: str, box_ready: None, cells: dict[str, Cell]) -> None:
    row = ROW_BY_KEY[row_key]
    cell = cells[cell_scenario(row, mode)]
    expect = EXPECTED[row_key][mode]
    context = f"{row_key} x {mode}\n" + "\n".join(cell.box.differences(cell.builtin)) + cell.output
    assert cell.box.exit == expect.exit, context
    assert cell.box.status == expect.status or (expect.status is None), context
    assert cell.box.reboot_recorded == expect.reboot, context
    assert cell.box.client_started == (expect.client != "no"), context
    assert cell.box.differences(cell.builtin) == [], context
