"""The fault matrix: every step of the plan against every fault the simulator injects.

Rows are the plan's steps (the trust checks' tool calls included, plus
``sudo``, which three steps go through); columns are the faults of
``[faults."TOOL"]`` (docs/simulator.md) and a healthy control run.  Each
cell runs the installed ``sdw-updater --cli --skip-delta 0`` against the
simulator, as an admin forcing a run would, and asserts what a user, an
admin and a reviewer rely on:

* what the user is told: the exit code (docs/contract.md, "Exit codes");
* what is recorded: the status and last-updated files (docs/contract.md, "Files on
  disk");
* what ran afterwards: the journal is the healthy run's journal up to the
  faulty call, then at most the rest of the failing step (a trust check
  reads every template before it reports), then nothing: no later step,
  no client;
* that no process of the run is left behind (a hung tool is killed with its
  process group), and a hang cost about its timeout.

The expected value of every cell is written out below (``EXPECTED``) and
follows from the contract (docs/contract.md); ``NOTES`` says why for the cells that are not
plain failures.  The cells run two at a time (each is a chain of short
processes; hangs mostly wait).  When every cell has run and passed, the
module writes the matrix to ``docs/fault-matrix.md`` when asked (``make docs``,
``SDW_WRITE_DOCS=1``); otherwise a test checks that the document is current.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import BIN, ROOT, quick_steps, read_journal, state_files
from helpers.faults import (
    COLUMNS,
    EXPECTED,
    FAILED,
    MODES,
    ROW_BY_KEY,
    ROWS,
    Call,
    Expect,
    Row,
    scenario_for,
    seed_state,
)

from benchmarks import procs
from sdw_sim.journal import Entry

DOC = ROOT / "docs" / "fault-matrix.md"
WORKERS = 2
CLIENT_SERVICE = "qubes.StartApp+press.freedom.SecureDropApp"
TEMPLATES = (
    "fedora-43-xfce",
    "sd-inbox-debian-13",
    "sd-viewer-debian-13",
)
NOTES: dict[tuple[str, str], str] = {
    ("netcheck", "garbage"): (
        "`nmcli` printed something other than one known word: the connectivity is "
        "unknown, which is not `full`, so nothing is attempted (exit 4)."
    ),
    ("netcheck", "missing"): (
        "no `qvm-run`: the network cannot be checked, so nothing is attempted and the "
        "state files stay as they were (exit 4). `--skip-netcheck` is the admin's way round."
    ),
    ("trust_keys", "garbage"): (
        "output that is not a key listing cannot show the pinned key: the check fails "
        "closed (exit 6) before anything is installed."
    ),
    ("dom0_check", "garbage"): (
        "`--check-only` exits 0 for most dnf failures too "
        '(docs/qubes-tools.md, "qubes-dom0-update --check-only exits 0 for most dnf failures"), '
        "so a 0 is "
        "believed only when its output reports no error and dom0's own `updates-available` "
        "feature agrees. Here garbage exited 0 while dom0 says updates are available: the "
        "check did not really check, and the run stops (exit 1) before changing anything."
    ),
    ("dom0_update", "garbage"): (
        "exit 0 of `qubes-dom0-update -y` is the contract's success; dom0 is taken to "
        "have changed, so the run ends asking for a reboot (exit 3, status 2) and does not "
        "start the client: the safe side of the doubt."
    ),
    ("dom0_update", "missing"): (
        "without `qubes-dom0-update` the check before it already fails (exit 1)."
    ),
    ("trust_signers", "missing"): (
        "without `rpm` the first trust check (dom0 keys) already fails (exit 6)."
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
    ("template_sources", "garbage"): (
        "a package source that does not parse is not the pinned one: exit 6, nothing updated."
    ),
    ("template_sources", "missing"): ("without `qvm-run` the network check fails first (exit 4)."),
    ("template_shutdown", "exit"): (
        "templates started to read their sources and not shut down again are only a "
        "warning: `qubes-vm-update` updates running templates and shuts them down itself, "
        "so the run goes on and ends ok. Same for every fault of this row."
    ),
    ("templates", "garbage"): (
        "a template's result comes only from a well-formed `done` line; garbage with "
        "exit 0 has none, so every template failed (exit 1)."
    ),
    ("restart", "garbage"): (
        "`qvm-start` said 0 but the VMs are not running: the engine asks Qubes for the "
        "power state after starting, so this is a failure (exit 1)."
    ),
    ("client_app", "exit"): (
        "the app is started as `qvm-run` without `-p` would (qubesadmin's "
        "`run_service(wait=False)`: `qrexec-client -e`, which returns once the call is set "
        "up). A call refused before it connects fails even then: exit 8. Updates were fine, "
        "so the status is 0 and last-updated is written."
    ),
    ("client_app", "garbage"): (
        "`qrexec-client -e` said 0 and sd-app and sd-proxy run: from dom0 that is all a "
        "started app shows (the app runs on in sd-app, and `qrexec-client -e` does not wait "
        "for it, or the journalist would wait until the app closes). Exit 0: the limit of "
        "what dom0 can know. sd-proxy's own start (qubesadmin, no tool) is covered by "
        '`[vms."sd-proxy"] start_fails` in tests/e2e/test_cli.py.'
    ),
    ("sudo", "exit"): "`sudo: a password is required`: the first privileged step fails.",
    ("sudo", "garbage"): (
        "a `sudo` that exits 0 without running anything cannot be told from a successful "
        "program: dom0's `sudo` is trusted. The run ends asking for a reboot, not with ok."
    ),
    ("sudo", "missing"): "the failure names `sudo`, not the program it was to run.",
}


#: Faults that are not one tool misbehaving, each with what the updater does and its test.
HARDENING = (
    "**the status file cannot be written** (disk full, read-only): before any change the "
    "run changes nothing (exit 1); mid-run it stops at once and says so "
    "(`tests/e2e/test_cli.py`, `tests/updater/test_plan.py`).",
    "**the wall clock jumps forward** past the uptime at a reboot request: not a reboot; a "
    "restart counts as done only under another boot id (`tests/e2e/test_real_dom0.py`, "
    "`tests/updater/test_freshness.py`).",
    "**a status dated a little ahead** (within the clock-skew allowance): `--skip-delta 0` "
    "still runs (`tests/e2e/test_cli.py`, `tests/updater/test_freshness.py`).",
    "**a dom0 update installs, then fails or is killed**: the restart is owed and recorded at "
    "once, and Try again or a later run keeps it (`tests/e2e/test_real_dom0.py`).",
    "**python-gnupg missing**: the trust checks fail (exit 6), never skipped "
    "(`tests/e2e/test_trust.py`).",
    "**dnf's configuration** with repositories in `dnf.conf`, another `reposdir`, a duplicate "
    "id, dnf5 drop-ins: read through dnf's own parser; a substituted or unsigned SecureDrop "
    "repository fails the trust check (`tests/updater/trust/test_dnf.py`).",
    "**the keyring package signed by another repository's key**: refused "
    "(`tests/updater/trust/test_rpmdb.py`).",
    "**a deeply nested or hostile `sdw-run-history.json`**: no estimates, the run goes on "
    "(`tests/e2e/test_hostile_input.py`, `tests/updater/test_history.py`).",
    "**a symlink or a FIFO at a lock or log path**: never followed, never blocked on "
    "(`tests/e2e/test_hostile_input.py`).",
    "**SIGTERM during a step**: the tool's process group is stopped (`qubes-vm-update` is "
    "first asked to stop cleanly: above), the status recorded, the lock freed; VMs that "
    "`-R` shut down are started again, or stay owed to the next run "
    "(`tests/e2e/test_stop.py`).",
    "**a tool's child keeps stdout open**: the tool's own exit ends the wait after a short "
    "grace, with its real exit code (`tests/updater/test_process.py`).",
    "**`qubes-vm-update` stopped at its timeout**: templates that printed `done` keep their "
    "result; only those in flight fail, and only after SIGINT and a bounded wait "
    "(`tests/updater/test_progress.py`; the graceful stop above).",
    "**line and paragraph separators, bidi and zero-width characters** in a VM's output: "
    "removed from the logs and the window (`tests/updater/test_logs.py`).",
)


# ----- the graceful stop of qubes-vm-update ---------------------------------------


FEDORA, INBOX = "fedora-43-xfce", "sd-inbox-debian-13"


# Two templates at a time (the tool's -x is dom0's CPU count), so the third waits; an update of
# 100 simulated seconds takes 5 real ones.
def _templates(first: str = "duration = 100", second: str = "duration = 100") -> str:
    """``[templates]`` tables: fedora-43-xfce's and sd-inbox-debian-13's keys; the third 100 s."""
    keys = (first, second, "duration = 100")
    return "".join(
        f'[templates."{name}"]\n{key}\n' for name, key in zip(TEMPLATES, keys, strict=True)
    )


@dataclass(frozen=True)
class StopCase:
    """A way ``qubes-vm-update`` is stopped, and how each template must end."""

    key: str
    label: str
    scenario: str
    expect: Expect
    results: tuple[str, str]  # fedora-43-xfce's and sd-inbox-debian-13's (the first two)
    note: str
    settings: str = ""  # sdw-updater-settings.json, when not the defaults
    sigterm: bool = False  # SIGTERM to sdw-updater once the first two are updating
    asked: bool = True  # the updater asked the tool to stop (not killed from outside)


STOPS = (
    StopCase(
        "stall",
        "the stall watchdog: fedora-43-xfce hangs half way",
        quick_steps(0.001) + _templates('result = "hang"\nduration = 20'),
        FAILED,
        ("stalled", "done"),
        "`stall_minutes` scaled to 1 s: the tool gets SIGINT when fedora-43-xfce stalls; "
        "sd-inbox-debian-13, updating beside it, finishes by itself (`done success`); the "
        "one waiting ends `done cancelled` (not reached); the tool, still waiting for the "
        "hung one, is then killed, and fedora-43-xfce, which it had started, is shut down.",
    ),
    StopCase(
        "timeout",
        "the step's timeout (10.8 s): the two updating need 20 s",
        quick_steps(0.001) + _templates("duration = 400", "duration = 400"),
        FAILED,
        ("failed", "failed"),
        "the tool gets SIGINT `STOP_GRACE` (scaled: 0.3 s) before the step's timeout, so "
        "nothing new starts and the one waiting ends not reached; the two updating are "
        "still at it when the time is up: they are cut off (failed), the tool is killed, "
        "the templates it left running are shut down. The step took its timeout, no more. "
        "(The stall watchdog is set to 600 minutes here.)",
        settings='{"stall_minutes": 600}',
    ),
    StopCase(
        "sigterm",
        "SIGTERM to `sdw-updater` while two templates update",
        quick_steps(0.02) + _templates(),
        FAILED,
        ("done", "done"),
        "`STOP_GRACE` scaled to 6 s: the tool gets SIGINT; the two templates updating finish "
        "by themselves, the one waiting ends `done cancelled` (not reached), `-R` applies "
        "the finished ones and the tool exits 130; the restart step still runs and starts "
        "sd-log again (which `-R` shut down); the status records the failure, the lock is "
        "freed.",
        sigterm=True,
    ),
    StopCase(
        "killed",
        "SIGKILL to `qubes-vm-update` half way (the OOM killer), not from the updater",
        quick_steps(0.001) + _templates('result = "crash"\nduration = 20'),
        FAILED,
        ("failed", "failed"),
        "fedora-43-xfce's update kills the tool half way: nothing asked it to stop, and it "
        "shuts down nothing; the two updating are cut off (failed), sd-viewer-debian-13, "
        "waiting, was never reached; the two templates it had started are shut down by the "
        "updater, which names them in its log (a template that ran before the run is left "
        "running: tests/e2e/test_stop.py).",
        asked=False,
    ),
)


@dataclass(frozen=True)
class StopRun:
    exit: int
    output: str
    results: dict[str, str]
    restarted: list[str]
    powers: dict[str, str]
    log: str
    leftovers: list[int]
    seconds: float


def run_stop(home: Path, case: StopCase) -> StopRun:
    """One forced run of the case, as an admin runs it; SIGTERM when the case says."""
    forced = ForcedRun(home, case.scenario)
    if case.settings:
        (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(case.settings)
    marker = forced.marker
    began = time.monotonic()
    proc = subprocess.Popen(
        forced.argv,
        env=forced.env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    if case.sigterm:
        wanted = {f"{name}: updating" for name in TEMPLATES[:2]}
        while not all(any(w in line for line in lines) for w in wanted):
            line = proc.stdout.readline()
            assert line, "the run ended before the templates updated:\n" + "".join(lines)
            lines.append(line)
        proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    seconds = time.monotonic() - began
    state = home / ".securedrop_updater"
    summary = json.loads((state / "sdw-last-run.json").read_text())
    powers = json.loads((state / "sim" / "state.json").read_text())["power"]
    return StopRun(
        exit=proc.returncode,
        output="".join(lines) + rest,
        results={t["name"]: t["result"] for t in summary["templates"]},
        restarted=list(summary["restarted"]),
        powers=powers,
        log=(state / "logs" / "updater.log").read_text(),
        leftovers=procs.marked(marker),
        seconds=seconds,
    )


@pytest.fixture(scope="module")
def stops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StopRun]:
    """Run every graceful-stop case, two at a time."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            case.key: pool.submit(run_stop, tmp_path_factory.mktemp(case.key) / "home", case)
            for case in STOPS
        }
    return {key: future.result() for key, future in futures.items()}


# ----- running cells --------------------------------------------------------------


class ForcedRun:
    """``sdw-updater --cli --skip-delta 0`` in a fresh HOME: its own lock directory and marker.

    The HOME starts from stale but trusted state files (``before``); every
    process of the run carries ``marker`` in its environment.
    """

    def __init__(self, home: Path, scenario: str) -> None:
        runtime = home / "run"
        runtime.mkdir(parents=True, mode=0o700)
        self.before = seed_state(home)
        path = home / "scenario.toml"
        path.write_text(scenario)
        self.marker = secrets.token_hex(8)
        self.env = dict(
            os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime), **{procs.MARKER: self.marker}
        )
        self.argv = [
            str(BIN / "sdw-updater"), "--cli", "--skip-delta", "0", "--simulate", str(path)
        ]  # fmt: skip


def calls(journal: list[Entry]) -> list[Call]:
    """The journal as (tool, argv) pairs: what was called, whatever its exit.

    VMs started together (sd-proxy and sd-app, in parallel) may be journaled in
    either order: each run of adjacent starts is put in name order.
    """
    pairs = [(str(r["tool"]), [str(a) for a in r["argv"]]) for r in journal]
    settled: list[Call] = []
    for pair in pairs:
        group: list[Call] = []
        while settled and _is_start(settled[-1]) and _is_start(pair):
            group.append(settled.pop())
        settled += sorted([*group, pair], key=lambda c: c[1]) if group else [pair]
    return settled


def _is_start(call: Call) -> bool:
    return call[0] == "qubesadmin" and call[1][:1] == ["start"]


@dataclass(frozen=True)
class CellRun:
    home: Path
    exit: int
    stdout: str
    journal: list[Entry]
    before: dict[str, bytes]
    after: dict[str, bytes]
    leftovers: list[int]
    seconds: float


def run_cell(home: Path, row: Row, mode: str) -> CellRun:
    """One forced run with the cell's fault; its own HOME, lock directory and marker."""
    forced = ForcedRun(home, scenario_for(row, mode))
    before, marker = forced.before, forced.marker
    began = time.monotonic()
    result = subprocess.run(
        forced.argv,
        env=forced.env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return CellRun(
        home=home,
        exit=result.returncode,
        stdout=result.stdout + result.stderr,
        journal=read_journal(home),
        before=before,
        after=state_files(home),
        leftovers=procs.marked(marker),
        seconds=time.monotonic() - began,
    )


def _selected(session: pytest.Session) -> set[tuple[str, str]]:
    """The cells of this session's test_cell items (all of them, unless -k narrowed it)."""
    chosen = set()
    for item in session.items:
        spec = getattr(item, "callspec", None)
        if item.name.startswith("test_cell[") and spec is not None:
            chosen.add((spec.params["row_key"], spec.params["mode"]))
            chosen.add((spec.params["row_key"], "none"))  # the healthy journal to compare with
    return chosen


@pytest.fixture(scope="module")
def cells(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], CellRun]:
    """Run the selected cells, two at a time; the tests then judge one cell each."""
    jobs = sorted(_selected(request.session))
    homes = {job: tmp_path_factory.mktemp(f"{job[0]}-{job[1]}") / "home" for job in jobs}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            job: pool.submit(run_cell, homes[job], ROW_BY_KEY[job[0]], job[1]) for job in jobs
        }
    return {job: future.result() for job, future in futures.items()}


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
        "<!-- Written by tests/e2e/test_fault_matrix.py (`make docs`) when every cell passed; do not edit. -->",
        "",
        "What `sdw-updater --cli --skip-delta 0` does when one step of the plan meets one",
        'fault of the simulator (`[faults."TOOL"]`, docs/simulator.md): each cell is',
        "**exit code / status file / client started**. Every cell was run against the",
        "installed console script, starting from ten-day-old trusted state files, and its",
        "journal checked: the healthy run's calls up to the faulty one, then at most the",
        "rest of the failing step, then nothing (no later step, no client); no process of",
        "the run was left behind.",
        "",
        "Regenerate: `make docs`.",
        "",
        '- exit codes (docs/contract.md, "Exit codes"): 0 ok, client started; 1 updates',
        "  failed; 3 reboot required; 4 network unavailable, nothing attempted; 6 a trust",
        "  check failed; 8 updates fine, client not started.",
        '- status (docs/contract.md, "Files on disk"): `"0"` ok, `"2"` reboot required,',
        '  `"3"` failed; `+reboot`: the file also records that a reboot was requested;',
        "  `unchanged`: neither state file was touched. last-updated is written exactly when",
        "  the exit code is 0, 3 or 8.",
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
        parts = ["no dom0 updates" if "updates = false" in row.base else "dom0 updates available"]
        if "migration = true" in row.base:
            parts.append("migration pending")
        if "no_updates" in row.base:
            parts.append("no template updates")
        lines.append(f"- **{row.key}**: faults aimed at {aim}; scenario: {', '.join(parts)}.")
    lines += [
        "",
        "## Stopping `qubes-vm-update`: gracefully, then by force",
        "",
        "`qubes-vm-update` updates every template in one process. The stall watchdog, the",
        "templates step's timeout and a SIGTERM to the updater first send SIGINT to the",
        "tool alone: the templates already updating finish by themselves, those not",
        "started end `done cancelled`. Only after a bounded wait (until only stalled",
        "templates are left, the step's timeout, or `STOP_GRACE` after a timeout's or",
        "SIGTERM's signal) is its process group killed; templates it left running are",
        "shut down, as they are when something else kills the tool (the last case).",
        "Each case below runs the installed console script on a simulated workstation",
        "where the tool runs two templates at a time (so the third waits); each cell is",
        "**exit code / status file / client started**, then how",
        "fedora-43-xfce and sd-inbox-debian-13 (the two updating) ended;",
        "sd-viewer-debian-13, waiting, always ends not reached.",
        "",
        "| stop | outcome | fedora-43-xfce | sd-inbox-debian-13 |",
        "|---|---|---|---|",
    ]
    for case in STOPS:
        first, second = case.results
        lines.append(f"| {case.label} | {render_cell(case.expect)} | {first} | {second} |")
    lines.append("")
    lines += [f"- **{case.key}**: {case.note}" for case in STOPS]
    lines += ["", "## Beyond one faulty tool: the hardening cases", ""]
    lines += [f"- {case}" for case in HARDENING]
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
    # Tests never write the tree unless asked (`make docs`): they only check it is current.
    complete = len(passed) == len(ROWS) * len(COLUMNS) + len(STOPS)
    if complete and os.environ.get("SDW_WRITE_DOCS") == "1":
        text = render()
        if not DOC.exists() or DOC.read_text() != text:
            DOC.write_text(text)


def test_the_matrix_document_is_current() -> None:
    """docs/fault-matrix.md says what EXPECTED says (regenerate with `make docs`)."""
    assert DOC.read_text() == render(), "run `make docs` and commit docs/fault-matrix.md"


# ----- the test ------------------------------------------------------------------


def stop_index(row: Row, mode: str, base: list[Call]) -> int:
    """Where a failed cell's journal leaves the healthy one (an index into it).

    At the faulty call; for a missing tool, at the first call of that tool in
    the whole plan (whichever step that is); ``sudo`` is never journaled, and
    its first use is the dom0 update.
    """
    if row.key == "sudo":
        return next(i for i, c in enumerate(base) if c == ("qubes-dom0-update", ["-y"]))
    if mode == "missing":
        return next(i for i, (tool, _) in enumerate(base) if tool == row.tool)
    return next(i for i, c in enumerate(base) if row.selects(c))


# How the faulty call itself ended, as its journal record says.
FAULTY_EXITS: dict[str, set[int | None]] = {
    "exit": {1},
    "hang": {None, -15},  # killed by the step's timeout (SIGTERM to its process group)
    "crash": {-9},
    "garbage": {0},
}


@pytest.mark.parametrize("mode", COLUMNS)
@pytest.mark.parametrize("row_key", [row.key for row in ROWS])
def test_cell(
    row_key: str,
    mode: str,
    cells: dict[tuple[str, str], CellRun],
    matrix: dict[tuple[str, str], Expect],
) -> None:
    row = ROW_BY_KEY[row_key]
    expect = EXPECTED[row_key][mode]
    cell = cells[(row_key, mode)]
    base = calls(cells[(row_key, "none")].journal)
    context = f"{row_key} x {mode}: exit {cell.exit}\n{cell.stdout}"

    # What the user is told.
    assert cell.exit == expect.exit, context
    if expect.exit in (1, 6):
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
    client_calls = [
        c for c in journal if c[0] == "qrexec-client" and CLIENT_SERVICE in " ".join(c[1])
    ]
    proxy_starts = [c for c in journal if c == ("qubesadmin", ["start", "sd-proxy"])]
    if expect.client == "no":
        assert client_calls == [] and proxy_starts == [], context
    if expect.client == "yes":
        last_update = max(
            i for i, c in enumerate(journal) if c[0] in ("qubes-vm-update", "qvm-start")
        )
        assert client_calls and journal.index(client_calls[-1]) > last_update, context
        assert client_calls[-1][1][:3] == ["-d", "sd-app", "-e"], context  # never waits for the app
    if expect.exit in (1, 4, 6, 8):
        cut = stop_index(row, mode, base)
        assert journal[:cut] == base[:cut], context
        rest = journal[cut:]
        if mode == "missing" or not row.journaled:
            assert rest == [], context
        else:
            assert rest and row.selects(rest[0]), context
            assert all(row.in_step(c) for c in rest), context
            assert len(rest) == 1 or row.step, context
    if expect.run_completed:
        assert any(tool == "qubes-vm-update" for tool, _ in journal), context
    faulty = [r for r, c in zip(cell.journal, journal, strict=True) if row.selects(c)]
    if mode in ("exit", "hang", "crash", "garbage") and row.journaled:
        assert faulty, context
        assert faulty[0]["exit"] in FAULTY_EXITS[mode], context
    if mode == "missing":
        assert faulty == [], context
        # The right program is named: on screen, or (flag removal) in updater.log.
        log = (cell.home / ".securedrop_updater" / "logs" / "updater.log").read_text()
        named = f"{row.tool} was not found" in cell.stdout
        assert named or f"Executable {row.tool} not found" in log, context

    # Nothing of the run is left behind; a hang cost about its (1 s) timeout.
    assert cell.leftovers == [], context
    assert cell.seconds < 60, context
    matrix[(row_key, mode)] = expect


def test_matrix_covers_every_step_and_fault() -> None:
    """The matrix is complete: every row has every column, every step of the plan a row."""
    assert all(set(cells) == set(COLUMNS) for cells in EXPECTED.values())
    assert set(EXPECTED) == set(ROW_BY_KEY)
    from sdw_updater.plan import Step

    rows_of_steps = {
        Step.NETCHECK: "netcheck",
        Step.TRUST: "trust_keys",
        Step.DOM0_CHECK: "dom0_check",
        Step.DOM0_UPDATE: "dom0_update",
        Step.TRUST_INSTALLED: "trust_signers",
        Step.DOM0_STATE: "dom0_state",
        Step.MIGRATION: "migration",
        Step.TEMPLATE_SOURCES: "template_sources",
        Step.TEMPLATES: "templates",
        Step.RESTART: "restart",
    }
    assert set(Step) == set(rows_of_steps)  # a new step needs a row here
    assert set(rows_of_steps.values()) <= set(ROW_BY_KEY)


@pytest.mark.parametrize("key", [case.key for case in STOPS])
def test_graceful_stop(
    key: str, stops: dict[str, StopRun], matrix: dict[tuple[str, str], Expect]
) -> None:
    case = next(case for case in STOPS if case.key == key)
    run = stops[key]
    context = f"{key}: exit {run.exit}\n{run.output}"
    assert run.exit == case.expect.exit, context
    assert (run.results[FEDORA], run.results[INBOX]) == case.results, context
    waiting = [name for name in run.results if name not in (FEDORA, INBOX)]
    assert waiting == ["sd-viewer-debian-13"], context  # what the document says
    assert all(run.results[name] == "not_reached" for name in waiting), context
    assert ("asked to stop cleanly" in run.log) == case.asked, context
    if not case.asked:
        assert f"left running: {FEDORA}, {INBOX}" in run.log, context
    # Nothing left running that the tool started, nothing of the run left behind.
    assert all(run.powers[name] == "Halted" for name in TEMPLATES), context
    assert run.powers["sd-log"] == "Running", context
    assert run.leftovers == [], context
    if key == "timeout":
        assert "did not finish in time" in run.output, context
        assert run.seconds < 60, context
    if key == "sigterm":
        assert "The update was stopped" in run.output, context
        assert "sd-log" in run.restarted, context
    matrix[("stop", key)] = case.expect
