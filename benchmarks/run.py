"""The benchmarks, measured on this machine (``make bench``, ``make bench-quick``).

``python -m benchmarks.run --full`` measures every goal with enough
repetitions for stable medians and rewrites the results section of
BENCHMARKS.md; ``--quick`` (CI) runs fewer repetitions, a 64 MiB flood and
ten crash trials, and only prints.  ``--only NAME`` runs one benchmark.
The figures of the time to the journalist's window (``time_to_window``,
``fast_path``, ``notify_dry_run``, in ``benchmarks/speed.py``) and the
window's first paint on PyQt6 against PyQt5 (``first_paint``, in
``benchmarks/paint.py``) are ratios of medians taken in alternating rounds
of one run, against the installed package.

The exit code reflects correctness only (a crash trial that leaves "ok", a
flood that fails the run, Qt on the notifier's path, a fast path that does
not start the client): timings are reported, never judged, so a slow CI
machine does not fail the build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import crash, flood, paint, speed

if TYPE_CHECKING:
    from sdw_sim.journal import Entry

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOC = ROOT / "BENCHMARKS.md"
BEGIN = "<!-- results:begin (written by `python -m benchmarks.run --full`) -->"
END = "<!-- results:end -->"


@dataclass
class Result:
    """One goal: what was measured, whether it met the goal, how to measure it again."""

    name: str
    goal: str
    value: str
    met: bool | None  # None: not applicable (a figure without a goal)
    command: str
    details: list[str] = field(default_factory=list)
    correct: bool = True  # False fails the run (correctness, not timing)


@dataclass(frozen=True)
class Mode:
    full: bool
    reps: int
    parser_reps: int
    flood_mb: int
    pipeline_mb: int
    orchestration_reps: int
    trials: int
    window_reps: int
    paint_reps: int

    @property
    def flag(self) -> str:
        return "--full" if self.full else "--quick"


FULL = Mode(True, 21, 9, 1024, 64, 3, 50, 5, 21)
QUICK = Mode(False, 7, 3, 64, 16, 1, 10, 1, 5)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _env(home: Path) -> dict[str, str]:
    runtime = home / "run"
    runtime.mkdir(parents=True, mode=0o700, exist_ok=True)
    return dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime))


def _probe(home: Path, program: str, *args: str) -> tuple[float, dict[str, float]]:
    """Run the entry point under benchmarks.probe; (wall seconds from outside, its report)."""
    report = home / "probe.json"
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "benchmarks.probe", str(report), program, *args],
        env=_env(home),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - began
    return wall, json.loads(report.read_text())


def _journal(home: Path) -> list[Entry]:
    from sdw_sim.journal import read_journal

    return read_journal(home / ".securedrop_updater" / "sim" / "journal.jsonl")


# ----- seconds to the journalist's window (benchmarks/speed.py) ----------------------------

_INSTALLED: dict[str, Path] = {}


def installed(work: Path) -> Path:
    """This tree installed as dom0 would have it (no editable hook), once per run."""
    if "venv" not in _INSTALLED:
        base = work.parent / "installed"
        base.mkdir(exist_ok=True)
        _INSTALLED["venv"] = speed.install(base)
    return _INSTALLED["venv"]


def time_to_window(work: Path, mode: Mode) -> Result:
    report = speed.time_to_window(work, installed(work), mode.window_reps)
    cases = report["cases"]
    details = [
        f"`sdw-updater --simulate` (the icon's command) on a workstation updated a minute ago, "
        f"`[sim] time_scale = {report['time_scale']}`, `[client] start_duration = 0`, "
        f"median of {mode.window_reps} clicks per case; the app started every time: "
        f"{'yes' if report['correct'] else 'NO'}.",
    ]
    for label, case in cases.items():
        details.append(
            f"{label} (sd-proxy {case['proxy_s']:.1f} s, sd-app {case['app_s']:.1f} s): click to "
            f"the app's start **{case['to_app_s']:.2f} s** = {case['ratio']:.3f} × the longer "
            f"boot; click to exit (both VMs confirmed running) {case['to_exit_s']:.2f} s = "
            f"{case['exit_ratio']:.3f} × (one boot after the other: {case['sum_ratio']:.2f} ×)."
        )
    details.append(
        "What remains above the boot is the updater's own start (interpreter, imports, the "
        "upgrade guard) and the simulator's qrexec-client, a Python process of its own (in "
        "dom0 a C program) that records the app as started."
    )
    return Result(
        "time_to_window",
        "click to the app's start ≤ 1.10 × the longer of the sd-proxy and sd-app boots",
        f"{report['ratio']:.3f} × the longer boot",
        report["ratio"] <= 1.10,
        f"python -m benchmarks.run --only time_to_window {mode.flag}",
        details,
        report["correct"],
    )


def fast_path(work: Path, mode: Mode) -> Result:
    venv = installed(work)
    report = speed.box_fast_path(venv, mode.reps)
    command = f"python -m benchmarks.run --only fast_path {mode.flag}"
    goal = 'real mode in the box, installed: median wall ≤ 1.5 × `python -c "import qubesadmin"`'
    if "skipped" in report:
        return Result("fast_path", goal, "not measured", None, command, [report["skipped"]])
    details = [
        f"{report['rounds']} alternating rounds in one box (Qubes {speed.BOX_VERSION}'s real "
        "`qubesadmin` against the simulated qubesd, VM starts that succeed at once), the "
        "package installed with `pip install .` into its own venv (no editable-import hook), "
        "before each `sdw-updater`: sd-app and sd-proxy halted, status one minute old.",
        f"`sdw-updater` (the icon's command, real mode): **{report['updater_ms']:.1f} ms**; "
        f'`python -c "import qubesadmin"`: {report["import_ms"]:.1f} ms; `python -c pass`: '
        f"{report['pass_ms']:.1f} ms (same interpreter, same environment). Ratio "
        f"**{report['ratio']:.2f}**.",
        "every run exited 0, said the app started, left sd-app and sd-proxy running, and made "
        f"the app's qrexec call: {'yes' if report['correct'] else 'NO'}; modules that must not "
        f"load (Qt, gnupg, the trust checks, the plan, the window) loaded: "
        f"{report['heavy'] or 'none'} ({report['modules']} modules in all).",
        "`/usr/lib/qubes/qrexec-client` is a stand-in that notes the call and returns at once, "
        "as dom0's C program returns once the call is connected; the simulator's own is a "
        "Python process (about 80 ms) that dom0 never runs. What the launcher adds to the bare "
        "import: its imports, reading the status, the in-place-upgrade guard (five Admin API "
        "calls) and the start (five calls, the qrexec call, one thread).",
    ]
    return Result(
        "fast_path",
        goal,
        f"{report['ratio']:.2f} × ({report['updater_ms']:.0f} ms / {report['import_ms']:.0f} ms)",
        report["ratio"] <= 1.5,
        command,
        details,
        report["correct"],
    )


def notify_dry_run(work: Path, mode: Mode) -> Result:
    report = speed.notify_dry_run(work, installed(work), mode.reps)
    details = [
        f"{report['rounds']} alternating rounds of `sdw-notify --dry-run` as the systemd timer "
        "would run it in dom0 (no `--simulate`: this machine's /proc), last update a minute ago "
        "(decision: no warning), and `python -c pass` with the same interpreter (installed "
        "package, no editable hook).",
        f"`sdw-notify --dry-run`: **{report['notify_ms']:.1f} ms**; `python -c pass`: "
        f"{report['pass_ms']:.1f} ms; ratio **{report['ratio']:.2f}**. For scale, `python -c "
        f'"{speed.STDLIB_FLOOR}"` (what the standard library alone costs a program that '
        f"logs and prints JSON): {report['stdlib_ms']:.1f} ms = "
        f"{report['stdlib_ms'] / report['pass_ms']:.2f} × `pass`.",
        f"Qt, gnupg, the trust checks, the plan or the window imported: "
        f"{report['heavy'] or 'none'}; a Qubes call (`qubesadmin` or the tool runner loaded): "
        f"{'yes' if report['qubes_calls'] else 'none'} ({report['modules']} modules in all).",
    ]
    return Result(
        "notify_dry_run",
        "nothing due: median wall ≤ 3.5 × `python -c pass`, no Qt, no Qubes call",
        f"{report['ratio']:.2f} × ({report['notify_ms']:.0f} ms / {report['pass_ms']:.0f} ms)",
        report["ratio"] <= 3.5 and not report["heavy"] and not report["qubes_calls"],
        f"python -m benchmarks.run --only notify_dry_run {mode.flag}",
        details,
        report["correct"],
    )


# ----- the window's first paint, on PyQt6 and on PyQt5 (benchmarks/paint.py) ----------

PAINT_LIMIT = 1.10


def first_paint(work: Path, mode: Mode) -> Result:
    report = paint.first_paint(work, mode.paint_reps)
    command = f"python -m benchmarks.run --only first_paint {mode.flag}"
    goal = f"launch to the window's first paint: PyQt6 ≤ {PAINT_LIMIT:.2f} × PyQt5"
    if "skipped" in report:
        return Result("first_paint", goal, "not measured", None, command, [report["skipped"]])
    six, five = (report["bindings"][b] for b in ("PyQt6", "PyQt5"))
    details = [
        f"the installed `sdw-updater` (`pip install .` with {report['versions']['PyQt6']}, and "
        f"with {report['versions']['PyQt5']}, each in a virtualenv of its own) launched as the "
        f"icon launches it on a workstation last updated {paint.STALE_DAYS} days ago (the "
        f"window opens on its introduction), Xvfb 1366x768; {report['rounds']} alternating "
        "rounds after one uncounted launch of each; the time from the process's start to the "
        "end of the window's first paint, and its phases, noted inside the process by "
        "`benchmarks/painthook/sitecustomize.py`.",
        f"PyQt6: **{six['total'] * 1000:.0f} ms**; PyQt5: **{five['total'] * 1000:.0f} ms**; "
        f"ratio **{report['ratio']:.3f}**.",
    ]
    phases = []
    for label, _start, _end in paint.PHASES:
        a, b = six["phases"][label] * 1000, five["phases"][label] * 1000
        phases.append(f"{label} {a:.1f} / {b:.1f} ({a - b:+.1f})")
    details.append(
        "where the time goes (median of each phase in ms, PyQt6 / PyQt5, and the difference): "
        + "; ".join(phases)
        + "."
    )
    return Result(
        "first_paint",
        goal,
        f"{report['ratio']:.3f} × ({six['total'] * 1000:.0f} ms / {five['total'] * 1000:.0f} ms)",
        report["ratio"] <= PAINT_LIMIT,
        command,
        details,
    )


# ----- progress parser ------------------------------------------------------------------

TEMPLATES = (
    "fedora-43-xfce",
    "whonix-gateway-17",
    "sd-inbox-debian-13",
    "sd-viewer-debian-13",
)


def progress_lines(count: int) -> list[bytes]:
    """What ``qubes-vm-update --just-print-progress`` prints: whole snapshots, some junk."""
    lines: list[bytes] = []
    step = 0
    while len(lines) < count:
        step += 1
        for index, name in enumerate(TEMPLATES):
            percent = min(100.0, round(step * (index + 1) * 0.37 % 100, 2))
            lines.append(f"{name} updating {percent}".encode())
        if step % 50 == 0:
            lines.append(b"\x1b[2Ksys-usb updating 12,5")  # junk: the parser must skip it
            lines.append(b"unknown-vm done success")
    lines = lines[: count - len(TEMPLATES)]
    lines += [f"{name} done success".encode() for name in TEMPLATES]
    return lines


def parser_throughput(work: Path, mode: Mode) -> Result:
    from sdw_updater.events import TemplateState
    from sdw_updater.progress import TemplateTracker

    lines = progress_lines(200_000)
    rates = []
    correct = True
    for _ in range(mode.parser_reps):
        tracker = TemplateTracker(TEMPLATES)
        feed = tracker.feed
        began = time.perf_counter()
        for line in lines:
            feed(line)
        rates.append(len(lines) / (time.perf_counter() - began))
        final = tracker.finish(0)
        correct = correct and all(s is TemplateState.DONE for s in final.values())
    value = _median(rates)
    return Result(
        "parser",
        "≥ 200,000 lines/s through `TemplateTracker.feed`",
        f"{value:,.0f} lines/s",
        value >= 200_000,
        f"python -m benchmarks.run --only parser {mode.flag}",
        [
            f"median of {mode.parser_reps} passes over 200,000 lines: snapshot lines of four "
            "templates (`NAME updating PERCENT`), 0.5 % junk lines, four `done success` "
            f"lines; every template ended DONE: {correct}.",
        ],
        correct,
    )


# ----- output pipeline (no goal: explains the flood figures) -------------------------------


def pipeline_throughput(work: Path, mode: Mode) -> Result:
    """Lines/s through Host.run + the runner's output fan-out + the CLI printer."""
    from sdw_updater import logs
    from sdw_updater.cli import Printer
    from sdw_updater.plan import Runner
    from sdw_updater.process import Watch
    from sdw_updater.qubes import QubesHost
    from sdw_updater.status import StatusStore

    data = work / "pipeline.txt"
    count = 0
    with data.open("w") as out:
        written = 0
        while written < mode.pipeline_mb * 1024 * 1024:
            line = (
                f"fedora-43-xfce:out: Get:{count} https://deb.debian.org/debian trixie/main "
                f"amd64 libsim-flood{count % 997} amd64 1.{count}-1 [{100 + count % 900} kB]\n"
            )
            out.write(line)
            written += len(line)
            count += 1
    cat = shutil.which("cat")
    assert cat is not None
    host = QubesHost(bin_dirs=[Path(cat).parent])
    rates: list[float] = []
    logged_rates: list[float] = []
    with open(os.devnull, "w") as devnull:
        for rep in range(max(1, mode.orchestration_reps)):
            for log_output, into in ((False, rates), (True, logged_rates)):
                logs.configure(work / f"pipeline-logs-{rep}-{log_output}")
                runner = Runner(host, StatusStore(work / "pipeline-state"), Printer(devnull, False))
                began = time.perf_counter()
                watch = Watch(on_stdout=runner.stepper.output)
                result = host.run([cat, str(data)], 600, watch, log_output=log_output)
                into.append(count / (time.perf_counter() - began))
                assert result.ok
    logging_off = _median(rates)
    logging_on = _median(logged_rates)
    return Result(
        "pipeline",
        "(no goal: what a flood costs per line)",
        f"{logging_off:,.0f} lines/s",
        None,
        f"python -m benchmarks.run --only pipeline {mode.flag}",
        [
            f"`Host.run(['cat', FILE])` of {mode.pipeline_mb} MiB ({count:,} lines of ~120 "
            "bytes) with the runner's output callback and the CLI printer: "
            f"**{logging_off:,.0f} lines/s** once the detail log's per-call cap is reached "
            f"({logging_off * 120 / 1e6:.0f} MB/s), {logging_on:,.0f} lines/s while lines are "
            "still written to `updater-detail.log` (at most 20 MiB a call).",
        ],
    )


# ----- orchestration overhead --------------------------------------------------------------


def critical_path(scenario_path: Path, journal: list[Entry]) -> float:
    """Simulated seconds the default inventory's forced run must wait, step after step.

    The simulator sleeps ``time_scale`` real seconds per simulated second,
    and nothing else takes simulated time, so the critical path is the sum
    of the sleeps along the plan, which runs its steps one after another:
    network check; dom0 check; dom0 update (when available); Salt state;
    full apply (when a migration is pending); the templates, in parallel
    (all four fit in ``cpus``), so the longest; then ``qubes-vm-update``'s
    propagation (the four service VMs shut down, then started again one by
    one, then sd-log shut down); the engine's restart of sd-log; and, when dom0 was
    not updated, the client (sd-proxy, sd-app autostarted, the app).  The
    trust checks add what the run's journal shows they did: each halted
    template started to read its package source (``qvm-run ... cat``), and
    the wait for shutting them down again.
    """
    from sdw_sim import load_scenario

    scenario = load_scenario(scenario_path)
    sim, dom0 = scenario.sim, scenario.dom0
    templates = [scenario.template_settings(name) for name in TEMPLATES]
    assert all(t.result == "success" for t in templates) and sim.cpus >= len(templates)
    total = scenario.network.check_duration + dom0.check_duration
    total += dom0.update_duration if dom0.updates else 0.0
    total += dom0.highstate_duration
    total += dom0.apply_duration if dom0.migration else 0.0
    total += max(t.duration for t in templates)
    total += 2 * sim.vm_shutdown_duration + 4 * sim.vm_start_duration  # propagation (-R)
    total += sim.vm_start_duration  # the engine restarts sd-log
    if not dom0.updates:
        total += 2 * sim.vm_start_duration + scenario.client.start_duration
    for record in journal:
        argv = record["argv"]
        assert isinstance(argv, list)
        if record["tool"] == "qvm-run" and "cat" in argv:
            total += sim.vm_start_duration  # the templates are halted until read
        elif record["tool"] == "qvm-shutdown" and "--wait" in argv:
            total += sim.vm_shutdown_duration
    return total


def orchestration(work: Path, mode: Mode, time_scale: float = 0.01) -> Result:
    home = work / "orchestration"
    home.mkdir()
    scaled = home / "scaled.toml"
    scaled.write_text(f"[sim]\ntime_scale = {time_scale}\n")
    instant = home / "instant.toml"
    instant.write_text("[sim]\ntime_scale = 0.0\n")
    walls: list[float] = []
    tools: list[float] = []
    ours: list[float] = []
    zero: list[float] = []
    correct = True
    for rep in range(mode.orchestration_reps):
        for scenario, into in ((instant, zero), (scaled, walls)):
            run_home = home / f"{scenario.stem}-{rep}"
            run_home.mkdir()
            wall, report = _probe(
                run_home, "updater", "--cli", "--skip-delta", "0", "--simulate", str(scenario)
            )
            correct = correct and report["exit"] == 3
            into.append(wall)
            if scenario is scaled:
                tools.append(report["tools"])
                ours.append(wall - report["tools"] - report["sim_setup"] - report["sim_import"])
    simulated = critical_path(scaled, _journal(home / "scaled-0"))
    path = simulated * time_scale
    wall = _median(walls)
    ratio = wall / path
    engine = _median(ours)
    slope = (wall - _median(zero)) / time_scale
    return Result(
        "orchestration",
        "wall time ÷ critical path within 2 % (≤ 1.02)",
        f"{ratio:.3f} (engine's own share {engine / path * 100:.2f} %)",
        ratio <= 1.02,
        f"python -m benchmarks.run --only orchestration {mode.flag}",
        [
            f"a forced run (`--cli --skip-delta 0`) of the built-in scenario (dom0 updates, "
            f"three templates) at `time_scale = {time_scale}`; median of "
            f"{mode.orchestration_reps}. Critical path: {simulated:.0f} simulated s "
            f"= **{path:.2f} s**; wall **{wall:.2f} s**; ratio **{ratio:.3f}**.",
            f"check of the critical path: (wall − wall at `time_scale = 0`) ÷ time_scale = "
            f"{slope:.0f} simulated s (computed: {simulated:.0f}).",
            f"where the excess ({wall - path:.2f} s) goes: the same run at `time_scale = 0` "
            f"takes {_median(zero):.2f} s; inside the simulator's tools {_median(tools):.2f} s "
            f"(of which {path:.2f} s are its sleeps, the rest its {report['tool_calls']} "
            "Python processes starting, importing and writing their state), and our own "
            f"work (interpreter, imports, trust checks' gpg runs, orchestration) {engine:.2f} s "
            f"= **{engine / path * 100:.2f} %** of the critical path.",
            f"both excesses are fixed costs, not proportional to the run: wall = "
            f"{_median(zero):.2f} s + critical path (the slope check above), so the ratio "
            f"is 1 + {_median(zero):.2f} s ÷ critical path: it reaches 1.02 at "
            f"`time_scale` ≥ {_median(zero) / (0.02 * simulated):.3f}, and is "
            f"{1 + _median(zero) / simulated:.4f} at `time_scale = 1`, the real durations.",
        ],
        correct,
    )


# ----- flood ------------------------------------------------------------------------------


def flood_memory(work: Path, mode: Mode) -> Result:
    result = flood.run_flood(work / "flood", flood_mb=mode.flood_mb, timeout=1800)
    correct = result.exit == 0
    rate = mode.flood_mb / result.seconds
    return Result(
        "flood",
        f"peak memory < 100 MB under a {'1 GiB' if mode.full else f'{mode.flood_mb} MiB'} flood",
        f"{result.updater_mb:.1f} MiB",
        result.updater_mb < 100,
        f"python -m benchmarks.run --only flood {mode.flag}",
        [
            f'`[templates."fedora-43-xfce"] flood_mb = {mode.flood_mb}`: a forced run while '
            f"one template prints {mode.flood_mb} MiB of `<vm>:out:` lines; exit "
            f"{result.exit} in {result.seconds:.1f} s ({rate:.1f} MiB/s, simulator included).",
            f"peak RSS of the updater process (VmHWM): **{result.updater_mb:.1f} MiB**; of the "
            f"whole tree (getrusage children, includes the simulator): {result.tree_mb:.1f} MiB.",
            f"logs on disk afterwards: {result.log_bytes / 1e6:.1f} MB in {result.log_files} "
            f"files, the largest {result.largest_log / 1e6:.1f} MB (rotation at 5 MiB).",
        ],
        correct,
    )


# ----- crash consistency ------------------------------------------------------------------


def crash_consistency(work: Path, mode: Mode) -> Result:
    trials = crash.run_trials(work / "crash", mode.trials, seed=6, time_scale=0.001)
    report = crash.summary(trials)
    passed = int(report["passed"])  # type: ignore[call-overload]
    details = [
        f"{len(trials)} trials (seed 6, `time_scale = 0.001`, scenarios: dom0 updates, no dom0 "
        f"updates, migration), {report['power_cuts']} of them power cuts (every process of the "
        "run frozen and killed at once, then the simulated dom0 rebooted), the others a SIGKILL "
        "of the updater alone.",
        f"where the kill landed (the call in flight): {_counts(report['killed_in'])}.",
        f"status file after the kill: {_counts(report['status_after_kill'])}.",
        f"the next `sdw-updater --cli`: {_counts(report['next_action'])}.",
        f"orphaned tools that had to be killed: {report['orphans_killed']}; temporary files "
        f"left by an interrupted atomic write: {report['temp_files_left']}.",
    ]
    for problem in report["problems"]:  # type: ignore[attr-defined]
        details.append(f"PROBLEM: {problem}")
    return Result(
        "crash",
        "every trial consistent (status parses, never ok for an unfinished run, next launch updates)",
        f"{passed}/{len(trials)} passed",
        passed == len(trials),
        f"python -m benchmarks.run --only crash {mode.flag}",
        details,
        passed == len(trials),
    )


def _counts(counts: object) -> str:
    assert isinstance(counts, dict)
    return ", ".join(f"{key} × {value}" for key, value in counts.items()) or "none"


# ----- report -------------------------------------------------------------------------------

BENCHMARKS: dict[str, Callable[[Path, Mode], Result]] = {
    "time_to_window": time_to_window,
    "fast_path": fast_path,
    "notify_dry_run": notify_dry_run,
    "first_paint": first_paint,
    "parser": parser_throughput,
    "pipeline": pipeline_throughput,
    "orchestration": orchestration,
    "flood": flood_memory,
    "crash": crash_consistency,
}


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}"


def render(results: list[Result], mode: Mode, seconds: float) -> str:
    mark = {True: "yes", False: "**no**", None: "n/a"}
    lines = [
        BEGIN,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; "
        f"`python -m benchmarks.run {mode.flag}` took {seconds:.0f} s.",
        "",
        "| goal | measured (median) | met? | reproduce |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r.name}: {r.goal} | {r.value} | {mark[r.met]} | `{r.command}` |")
    for r in results:
        lines += ["", f"### {r.name}", ""]
        lines += [f"- {d}" for d in r.details]
    lines += ["", END]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        text = text.rstrip("\n") + "\n\n" + BEGIN + "\n" + END + "\n"
    DOC.write_text(pattern.sub(lambda _: section, text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--full", action="store_true", help="all repetitions; writes BENCHMARKS.md")
    group.add_argument("--quick", action="store_true", help="fewer repetitions (CI); prints only")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument("--write", action="store_true", help="write BENCHMARKS.md in any mode")
    args = parser.parse_args(argv)
    mode = FULL if args.full else QUICK
    names = args.only or list(BENCHMARKS)
    began = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="sdw-bench-") as tmp:
        for name in names:
            work = Path(tmp) / name
            work.mkdir()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                result = BENCHMARKS[name](work, mode)
            except Exception as exc:  # report and go on; it fails the run below
                result = Result(name, "", f"error: {exc}", False, "", [repr(exc)], False)
            results.append(result)
            print(f"[bench] {name}: {result.value}", file=sys.stderr, flush=True)
    section = render(results, mode, time.monotonic() - began)
    print(section)
    if (args.full or args.write) and not args.only:
        write_doc(section)
    failed = [r.name for r in results if not r.correct]
    if failed:
        print(f"correctness failures: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
