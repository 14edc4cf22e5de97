"""The fault matrix: every step of the plan against every fault the simulator injects.

Rows are the plan's steps (plus ``sudo``, which three of them go through);
columns are the faults of ``[faults."TOOL"]`` (docs/simulator.md) and a
healthy control run.  Each cell runs the installed ``sdw-updater --cli
--skip-delta 0`` against the simulator, as an admin forcing a run would, and
asserts the four things a user, an admin and a reviewer rely on:

* what the user is told: the exit code (design §3);
* what is recorded: the status and last-updated files (design §4);
* what ran afterwards: the journal is the healthy run's journal cut right
  after the faulty call (or before it, when the tool is missing): a failure
  stops the run, and nothing is started after it;
* that no process of the run is left behind (a hung tool is killed with its
  process group).

The expected value of every cell is written out below (``EXPECTED``) and
derived from the design, not from what the engine happens to do; ``NOTES``
says why for the cells that are not plain failures.  When every cell has run
and passed, the module writes the matrix to ``docs/fault-matrix.md``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, read_journal, run_updater, stamp

DOC = ROOT / "docs" / "fault-matrix.md"
CLIENT_SERVICE = "qubes.StartApp+press.freedom.SecureDropClient"
MODES = ("exit", "hang", "crash", "garbage", "missing")
COLUMNS = ("none", *MODES)
# Instant simulated time; every engine timeout at its 1 s floor, so a hang costs ~1 s.
TIMING = "[sim]\ntime_scale = 0.0\ntimeout_scale = 0.00001\n"
NO_DOM0 = "[dom0]\nupdates = false\n"
TEMPLATES = (
    "fedora-40-xfce",
    "sd-large-bookworm-template",
    "sd-small-bookworm-template",
    "whonix-gateway-17",
)
NO_TEMPLATE_UPDATES = "".join(f'[templates."{t}"]\nresult = "no_updates"\n' for t in TEMPLATES)
STALE = time.time() - 10 * 86400  # the state files a cell starts from: ten days old


@dataclass(frozen=True)
class Row:
    """One step of the plan and how a fault is aimed at it."""

    key: str
    label: str
    tool: str
    match: str | None
    base: str = ""
    args: tuple[str, ...] = ()
    journaled: bool = True  # sudo is never journaled (docs/simulator.md)

    def selects(self, record: dict[str, object]) -> bool:
        """Is this journal record the call the row's fault is aimed at?"""
        argv = record["argv"]
        assert isinstance(argv, list)
        return record["tool"] == self.tool and (self.match is None or self.match in argv)


ROWS = (
    Row("netcheck", "network check (`qvm-run -p sys-net nmcli ...`)", "qvm-run", "nmcli"),
    Row(
        "dom0_check",
        "dom0 check (`qubes-dom0-update --check-only`)",
        "qubes-dom0-update",
        "--check-only",
    ),
    Row("dom0_update", "dom0 update (`sudo qubes-dom0-update -y`)", "qubes-dom0-update", "-y"),
    Row(
        "dom0_state", "dom0 state (`sudo qubesctl ... state.highstate`)", "qubesctl", None, NO_DOM0
    ),
    Row(
        "migration",
        "migration (`sdw-admin --apply`)",
        "sdw-admin",
        None,
        "[dom0]\nupdates = false\nmigration = true\n",
    ),
    Row(
        "migration_clear",
        "migration flag (`sudo rm -f -- /tmp/sdw-migrations`)",
        "rm",
        "/tmp/sdw-migrations",
        "[dom0]\nupdates = false\nmigration = true\n",
    ),
    Row("templates", "template updates (`qubes-vm-update`)", "qubes-vm-update", None, NO_DOM0),
    Row("restart", "VM restarts (`qvm-start ... sd-log`)", "qvm-start", "sd-log", NO_DOM0),
    Row(
        "client_proxy",
        "client start: `qvm-start sd-proxy`",
        "qvm-start",
        "sd-proxy",
        NO_DOM0 + NO_TEMPLATE_UPDATES,
    ),
    Row(
        "client_app",
        "client start: `qvm-run ... qubes.StartApp+...SecureDropClient`",
        "qvm-run",
        CLIENT_SERVICE,
        NO_DOM0,
        ("--skip-netcheck",),
    ),
    Row(
        "sudo",
        "`sudo` itself (dom0 update, dom0 state, flag removal)",
        "sudo",
        None,
        journaled=False,
    ),
)
ROW_BY_KEY = {row.key: row for row in ROWS}


@dataclass(frozen=True)
class Expect:
    """One cell: exit code, status code written (None: files untouched), reboot recorded."""

    exit: int
    status: str | None
    reboot: bool = False

    @property
    def client(self) -> str:
        """Was the client started: yes (exit 0), tried and failed (8), or not at all."""
        return {0: "yes", 8: "failed"}.get(self.exit, "no")

    @property
    def run_completed(self) -> bool:
        """Did the update run end well (so last-updated must be written)?"""
        return self.exit in (0, 3, 8)


NETWORK = Expect(4, None)
FAILED = Expect(1, "3")
OK = Expect(0, "0")
REBOOT = Expect(3, "2", reboot=True)
CLIENT_FAILED = Expect(8, "0")


def _row(none: Expect, default: Expect, **overrides: Expect) -> dict[str, Expect]:
    cells = {"none": none, **dict.fromkeys(MODES, default)}
    cells.update(overrides)
    return cells


EXPECTED: dict[str, dict[str, Expect]] = {
    "netcheck": _row(REBOOT, NETWORK),
    "dom0_check": _row(REBOOT, FAILED, garbage=OK),
    "dom0_update": _row(REBOOT, FAILED, garbage=REBOOT),
    "dom0_state": _row(OK, FAILED, garbage=OK),
    "migration": _row(OK, FAILED, garbage=OK),
    "migration_clear": _row(OK, FAILED),
    "templates": _row(OK, FAILED),
    "restart": _row(OK, FAILED),
    "client_proxy": _row(OK, CLIENT_FAILED),
    "client_app": _row(OK, CLIENT_FAILED),
    "sudo": _row(REBOOT, FAILED, garbage=REBOOT),
}

NOTES: dict[tuple[str, str], str] = {
    ("netcheck", "garbage"): (
        "`nmcli` printed something other than one known word: the connectivity is "
        "unknown, which is not `full`, so nothing is attempted (exit 4)."
    ),
    ("netcheck", "missing"): (
        "no `qvm-run`: the network cannot be checked, so nothing is attempted and the "
        "state files stay as they were (exit 4). `--skip-netcheck` is the admin's way round."
    ),
    ("dom0_check", "garbage"): (
        "the result of `qubes-dom0-update --check-only` is its exit code (0 none, 100 "
        "available, anything else: could not check; reference §2); its output is only "
        "logged. Garbage with exit 0 therefore reads as *no dom0 updates*, and the run "
        "goes on: the Salt state and the template updates still run, and the next run "
        "checks again. Nothing is installed on the strength of the garbage."
    ),
    ("dom0_update", "garbage"): (
        "exit 0 of `qubes-dom0-update -y` is the contract's success; dom0 is taken to "
        "have changed, so the run ends asking for a reboot (exit 3, status 2) and does not "
        "start the client: the safe side of the doubt."
    ),
    ("dom0_update", "missing"): (
        "without `qubes-dom0-update` the check before it already fails (exit 1)."
    ),
    ("dom0_state", "garbage"): (
        "Salt's verdict is its exit code; exit 0 is success whatever it printed."
    ),
    ("migration", "garbage"): (
        "`sdw-admin --apply` exit 0 is success; the flag is then removed and re-checked. "
        "If the apply did nothing, the next dom0 state run sets the flag again."
    ),
    ("migration_clear", "garbage"): (
        "`rm` said 0 but the flag is still there: the engine re-reads the flag after "
        "removing it, so a removal that did not happen is a failure (exit 1)."
    ),
    ("templates", "garbage"): (
        "a template's result comes only from a well-formed `done` line; garbage with "
        "exit 0 has none, so every template failed (exit 1)."
    ),
    ("restart", "garbage"): (
        "`qvm-start` said 0 but the VMs are not running: the engine asks Qubes for the "
        "power state after starting, so this is a failure (exit 1)."
    ),
    ("client_proxy", "garbage"): (
        "`qvm-start sd-proxy` said 0 but sd-proxy is not running: exit 8, and the app is "
        "not started without its proxy."
    ),
    ("client_proxy", "missing"): (
        "the row's base has no template updates, so no restart step needs `qvm-start` first."
    ),
    ("client_app", "garbage"): (
        "`qvm-run` said 0 but sd-app is not running: exit 8. Updates were fine, so the "
        "status is 0 and last-updated is written."
    ),
    ("client_app", "missing"): (
        "the row runs with `--skip-netcheck`, else a missing `qvm-run` stops the run at the "
        "network check (exit 4)."
    ),
    ("sudo", "exit"): "`sudo: a password is required`: the first privileged step fails.",
    ("sudo", "garbage"): (
        "a `sudo` that exits 0 without running anything cannot be told from a successful "
        "program: dom0's `sudo` is trusted. The run ends asking for a reboot, not with ok."
    ),
    ("sudo", "missing"): "the failure names `sudo`, not the program it was to run.",
}


# ----- running cells --------------------------------------------------------------


def scenario_for(row: Row, mode: str) -> str:
    """The row's base scenario, plus the fault of this column."""
    text = TIMING + row.base
    if mode != "none":
        text += f'[faults."{row.tool}"]\nmode = "{mode}"\n'
        if row.match is not None and mode != "missing":
            text += f"match = {row.match!r}\n".replace("'", '"')
    return text


def seed_state(home: Path) -> dict[str, bytes]:
    """Stale but trusted state files, as an existing workstation has them."""
    directory = home / ".securedrop_updater"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sdw-update-status").write_text(
        f'{{"last_status_update": "{stamp(STALE)}", "status": "0"}}'
    )
    (directory / "sdw-last-updated").write_text(stamp(STALE))
    return state_files(home)


def state_files(home: Path) -> dict[str, bytes]:
    directory = home / ".securedrop_updater"
    return {
        name: (directory / name).read_bytes()
        for name in ("sdw-update-status", "sdw-last-updated")
        if (directory / name).exists()
    }


def processes_with(marker: str) -> list[int]:
    """PIDs whose environment carries this marker: the run's processes, if any survive."""
    needle = f"SDW_TEST_CELL={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


@dataclass(frozen=True)
class CellRun:
    exit: int
    stdout: str
    journal: list[dict[str, object]]
    before: dict[str, bytes]
    after: dict[str, bytes]
    leftovers: list[int]
    seconds: float


def run_cell(home: Path, monkeypatch: pytest.MonkeyPatch, row: Row, mode: str) -> CellRun:
    marker = secrets.token_hex(8)
    monkeypatch.setenv("SDW_TEST_CELL", marker)
    before = seed_state(home)
    began = time.monotonic()
    result = run_updater(
        home, "--cli", "--skip-delta", "0", *row.args, scenario=scenario_for(row, mode), timeout=90
    )
    seconds = time.monotonic() - began
    return CellRun(
        exit=result.returncode,
        stdout=result.stdout + result.stderr,
        journal=read_journal(home),
        before=before,
        after=state_files(home),
        leftovers=processes_with(marker),
        seconds=seconds,
    )


_BASELINES: dict[str, list[tuple[str, list[str]]]] = {}


def calls(journal: list[dict[str, object]]) -> list[tuple[str, list[str]]]:
    """The journal as (tool, argv) pairs: what was called, whatever its exit."""
    return [(str(r["tool"]), [str(a) for a in r["argv"]]) for r in journal]  # type: ignore[attr-defined]


def baseline(row: Row, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[str]]]:
    """The calls of the row's healthy run (computed once per row)."""
    if row.key not in _BASELINES:
        home = tmp_path_factory.mktemp(f"baseline-{row.key}")
        result = run_updater(
            home, "--cli", "--skip-delta", "0", *row.args, scenario=scenario_for(row, "none")
        )
        assert result.returncode == EXPECTED[row.key]["none"].exit, result.stdout
        _BASELINES[row.key] = calls(read_journal(home))
    return _BASELINES[row.key]


# ----- the matrix document ---------------------------------------------------------


def render_cell(expect: Expect) -> str:
    if expect.status is None:
        status = "unchanged"
    else:
        status = f'"{expect.status}"' + (" +reboot" if expect.reboot else "")
    return f"{expect.exit} / {status} / {expect.client}"


def render() -> str:
    """The whole document (deterministic: no timings, fixed order)."""
    lines = [
        "# Fault matrix",
        "",
        "<!-- Written by tests/test_fault_matrix.py when every cell ran and passed; do not edit. -->",
        "",
        "What `sdw-updater --cli --skip-delta 0` does when one step of the plan meets one",
        'fault of the simulator (`[faults."TOOL"]`, docs/simulator.md): each cell is',
        "**exit code / status file / client started**. Every cell was run against the",
        "installed console script, starting from ten-day-old trusted state files, and its",
        "journal checked: after a failure nothing else ran (the journal is the healthy run's",
        "cut right after the faulty call, or before it when the tool is missing), and no",
        "process of the run was left behind.",
        "",
        "Regenerate: `.venv/bin/python -m pytest tests/test_fault_matrix.py`.",
        "",
        "- exit codes (design §3): 0 ok, client started; 1 updates failed; 3 reboot required;",
        "  4 network unavailable, nothing attempted; 8 updates fine, client not started.",
        '- status (design §4): `"0"` ok, `"2"` reboot required, `"3"` failed; `+reboot`:',
        "  the file also records that a reboot was requested; `unchanged`: neither state file",
        "  was touched. last-updated is written exactly when the exit code is 0, 3 or 8.",
        "- client: `yes` started, `failed` start attempted and failed, `no` not attempted.",
        "- faults: `exit` exits 1; `hang` never ends (the step's timeout, shrunk to 1 s by",
        "  `timeout_scale`, kills its process group); `crash` dies of SIGKILL half way;",
        "  `garbage` prints random bytes and exits 0; `missing` has no executable at all.",
        "  `none` is the healthy control run of the row's scenario.",
        "",
        "| step | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for row in ROWS:
        cells = [render_cell(EXPECTED[row.key][column]) for column in COLUMNS]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    lines += ["", "## Rows", ""]
    for row in ROWS:
        aim = f"`{row.tool}`" + (f" calls with `{row.match}` in argv" if row.match else "")
        base = ", ".join(
            part
            for part in (
                "dom0 updates available"
                if "updates = false" not in row.base
                else "no dom0 updates",
                "migration pending" if "migration = true" in row.base else "",
                "no template updates" if "no_updates" in row.base else "",
                "with " + " ".join(f"`{a}`" for a in row.args) if row.args else "",
            )
            if part
        )
        lines.append(f"- **{row.key}**: faults aimed at {aim}; scenario: {base}.")
    lines += ["", "## Why the cells that are not plain failures are right", ""]
    for row in ROWS:
        for mode in MODES:
            note = NOTES.get((row.key, mode))
            if note:
                lines.append(f"- **{row.key} × {mode}**: {note}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def matrix() -> Iterator[dict[tuple[str, str], Expect]]:
    """Collects the cells that passed; writes the document when all of them did."""
    passed: dict[tuple[str, str], Expect] = {}
    yield passed
    if len(passed) == len(ROWS) * len(COLUMNS):
        text = render()
        if not DOC.exists() or DOC.read_text() != text:
            DOC.write_text(text)


# ----- the test ------------------------------------------------------------------


@pytest.mark.parametrize("mode", COLUMNS)
@pytest.mark.parametrize("row_key", [row.key for row in ROWS])
def test_cell(
    row_key: str,
    mode: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    matrix: dict[tuple[str, str], Expect],
) -> None:
    row = ROW_BY_KEY[row_key]
    expect = EXPECTED[row_key][mode]
    base = baseline(row, tmp_path_factory)
    cell = run_cell(home, monkeypatch, row, mode)
    context = f"{row_key} x {mode}: exit {cell.exit}\n{cell.stdout}"

    # What the user is told.
    assert cell.exit == expect.exit, context
    if expect.exit == 1:
        assert "Details:" in cell.stdout, context
    elif expect.exit == 4:
        assert "network" in cell.stdout.lower(), context
    elif expect.exit == 8:
        assert "could not be started" in cell.stdout, context

    # What is recorded.
    if expect.status is None:
        assert cell.after == cell.before, context
    else:
        status = cell.after["sdw-update-status"].decode()
        assert f'"status": "{expect.status}"' in status, context
        assert ("reboot_requested_at" in status) == expect.reboot, context
        last_updated_written = cell.after["sdw-last-updated"] != cell.before["sdw-last-updated"]
        assert last_updated_written == expect.run_completed, context

    # What ran, and what did not run afterwards.
    journal = calls(cell.journal)
    client_calls = [c for c in journal if c[0] == "qvm-run" and CLIENT_SERVICE in c[1]]
    proxy_starts = [c for c in journal if c[0] == "qvm-start" and "sd-proxy" in c[1]]
    if expect.client == "no":
        assert client_calls == [] and proxy_starts == [], context
    if expect.client == "yes":
        assert journal[-1] == ("qvm-run", ["-p", "--service", "sd-app", CLIENT_SERVICE]), context
    if expect.exit in (1, 4, 8):
        assert journal == base[: stop_index(row, mode, base)], context
    if expect.run_completed:
        assert any(tool == "qubes-vm-update" for tool, _ in journal), context
    faulty = [r for r in cell.journal if row.selects(r)] if row.journaled else []
    if mode in ("exit", "hang", "crash", "garbage") and row.journaled:
        assert faulty, context
        code = faulty[0]["exit"]
        wanted = {"exit": {1}, "hang": {None, -15}, "crash": {-9}, "garbage": {0}}[mode]
        assert code in wanted, context
    if mode == "missing":
        assert faulty == [], context
        # The right program is named: on screen, or (flag removal) in updater.log.
        log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
        named = f"{row.tool} was not found" in cell.stdout
        assert named or f"Executable {row.tool} not found" in log, context

    # Nothing of the run is left behind; a hang cost about its (1 s) timeout.
    assert cell.leftovers == [], context
    assert cell.seconds < 30, context
    matrix[(row_key, mode)] = expect


def stop_index(row: Row, mode: str, base: list[tuple[str, list[str]]]) -> int:
    """Where the journal of a failed cell must end, as an index into the healthy journal.

    Right after the faulty call; before it when the call leaves no record (a
    missing tool fails at its first use in the plan, whichever step that is;
    ``sudo`` is never journaled, and its first use is the dom0 update).
    """
    if row.key == "sudo":
        return next(
            i for i, (tool, argv) in enumerate(base) if tool == "qubes-dom0-update" and "-y" in argv
        )
    if mode == "missing":
        return next(i for i, (tool, _) in enumerate(base) if tool == row.tool)
    index = next(
        i
        for i, (tool, argv) in enumerate(base)
        if tool == row.tool and (row.match is None or row.match in argv)
    )
    return index + 1


def test_matrix_covers_every_step_and_fault() -> None:
    """The matrix is complete: every row has every column, every step of the plan a row."""
    assert all(set(cells) == set(COLUMNS) for cells in EXPECTED.values())
    assert set(EXPECTED) == set(ROW_BY_KEY)
    from sdw_updater.plan import Step

    tool_steps = {
        Step.NETCHECK: "netcheck",
        Step.DOM0_CHECK: "dom0_check",
        Step.DOM0_UPDATE: "dom0_update",
        Step.DOM0_STATE: "dom0_state",
        Step.MIGRATION: "migration",
        Step.TEMPLATES: "templates",
        Step.RESTART: "restart",
    }
    trust_steps = {Step.TRUST, Step.TRUST_INSTALLED, Step.TEMPLATE_SOURCES}
    assert set(Step) == set(tool_steps) | trust_steps  # trust steps run no dom0 tool
    assert set(tool_steps.values()) <= set(ROW_BY_KEY)
