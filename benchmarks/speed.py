"""Seconds to the journalist's window, each a ratio taken in one run.

* ``time_to_window``: in the simulator, with sd-proxy and sd-app booting for
  different lengths of time, the time from the click to the app's start
  against the longer boot (started together, it is that boot; one after the
  other it would be their sum).
* ``fast_path``: the launcher in its REAL mode in the box (the real
  ``qubesadmin`` against the simulated qubesd, VM starts that succeed at
  once), installed as dom0 installs it (no editable-import hook), against
  ``python -c "import qubesadmin"`` with the same interpreter.
* ``notify_dry_run``: ``sdw-notify --dry-run`` with nothing due against
  ``python -c pass``.

Every ratio compares medians of commands timed in alternating rounds of
one run, so a busy machine slows both sides alike and can neither fake nor
fail a goal.  Correctness (the app started, Qt never imported, no Qubes
call by the notifier) is checked on every run and is what fails ``make
bench-quick``; the timings never do.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sdw_updater", "launcher", "sdw_notify", "sdw_sim")
APP = "press.freedom.SecureDropApp"
START_APP = f"qubes.StartApp+{APP}"
BOX_VERSION = "4.3.34"
#: Modules that must never be imported on the fast path or by the notifier's dry run.
HEAVY = ("PyQt5", "PyQt6", "gnupg", "sdw_updater.trust", "sdw_updater.plan", "launcher.wizard")

# dom0's qrexec-client is a C program that returns as soon as the service is
# connected; the simulator's is a Python interpreter that imports the
# simulator first (about 80 ms), which dom0 never pays.  The fast-path
# benchmark puts this in its place: it notes the call and returns at once.
STAND_IN = """#!/bin/sh
# qrexec-client for the fast-path benchmark (benchmarks/speed.py): note the call, return.
printf '%s\\n' "$*" >> {log}
exit 0
"""


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def install(work: Path, extra: tuple[str, ...] = ()) -> Path:
    """This tree installed as a package (``pip install .``, not editable) into a new venv.

    An RPM install has no editable-import hook either; the development
    venv's hook costs every import a detour, which is not what dom0 pays.
    ``extra``: exact requirements installed beside it (a Qt binding's wheels).
    """
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=ignore)
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    venv = work / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300
    )
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    done = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", str(src), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install . failed: {done.stderr[-2000:]}")
    return venv


def fresh_home(home: Path, age: float = 60) -> Path:
    """A HOME whose workstation was updated ``age`` seconds ago (status and last-updated)."""
    state = home / ".securedrop_updater"
    state.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - age))
    (state / "sdw-update-status").write_text(
        json.dumps({"last_status_update": stamp, "status": "0"})
    )
    (state / "sdw-last-updated").write_text(stamp)
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    return home


def alternate(
    commands: dict[str, list[str]], rounds: int, env: dict[str, str], cwd: Path
) -> tuple[dict[str, list[float]], dict[str, list[subprocess.CompletedProcess[str]]]]:
    """Wall times of each command, in rounds whose order alternates."""
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    runs: dict[str, list[subprocess.CompletedProcess[str]]] = {name: [] for name in names}
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            began = time.perf_counter()
            done = run(commands[name], env, cwd)
            times[name].append(time.perf_counter() - began)
            runs[name].append(done)
    return times, runs


def run(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def probe_code(entry: str, args: list[str], prelude: str = "") -> str:
    """Python that runs one entry point in-process and prints, as JSON, what it loaded."""
    return (
        "import contextlib, io, json, sys\n"
        f"{prelude}"
        f"from {entry} import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main({args!r})\n"
        "names = sorted(sys.modules)\n"
        f"heavy = [m for m in names if any(m == h or m.startswith(h + '.') for h in {HEAVY!r})]\n"
        "print(json.dumps({'exit': int(code), 'heavy': heavy, 'modules': len(names),\n"
        "    'qubesadmin': 'qubesadmin' in sys.modules,\n"
        "    'tools': 'sdw_updater.process' in sys.modules, 'stdout': out.getvalue()}))\n"
    )


def probe_report(exit_code: int | None, stdout: str, stderr: str) -> Any:
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"exit": exit_code, "heavy": ["(probe failed)"], "error": stderr[-2000:]}


def heavy_probe(python: Path, entry: str, args: list[str], env: dict[str, str], cwd: Path) -> Any:
    """Run one entry point in-process; what it returned and which modules it imported."""
    done = run([str(python), "-c", probe_code(entry, args)], env, cwd)
    return probe_report(done.returncode, done.stdout, done.stderr)


# ----- time to window (simulator) ---------------------------------------------------------


def window_scenario(time_scale: float, proxy: float, app: float) -> str:
    """Boots of ``proxy`` and ``app`` simulated seconds; the app itself starts at once."""
    return (
        f"[sim]\ntime_scale = {time_scale}\n[client]\nstart_duration = 0\n"
        f'[vms."sd-proxy"]\nstart_duration = {proxy}\n'
        f'[vms."sd-app"]\nstart_duration = {app}\n'
    )


def click(venv: Path, home: Path, scenario: Path) -> tuple[float, float, bool]:
    """One click on a fresh workstation: (s to the app's start, s to exit, started)."""
    from sdw_sim.state import StateStore, set_power

    fresh_home(home)
    sim_dir = home / ".securedrop_updater" / "sim"
    if sim_dir.exists():
        store = StateStore(sim_dir)
        with store.locked() as state:
            for name in ("sd-app", "sd-proxy"):
                set_power(state, name, "Halted")
            state["apps"] = {}
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"))
    began = time.time()
    done = run([str(venv / "bin" / "sdw-updater"), "--simulate", str(scenario)], env, home, 300)
    ended = time.time()
    state = StateStore(sim_dir).read()
    app = state.get("apps", {}).get("sd-app", {}).get(APP)
    started = app["started"] - began if isinstance(app, dict) else float("nan")
    ok = done.returncode == 0 and isinstance(app, dict)
    return started, ended - began, ok


def time_to_window(work: Path, venv: Path, reps: int, time_scale: float = 0.04) -> dict[str, Any]:
    """Click to the app's start with boots of different lengths, both ways round."""
    cases = {"sd-proxy boots longer": (150.0, 100.0), "sd-app boots longer": (100.0, 150.0)}
    report: dict[str, Any] = {"time_scale": time_scale, "cases": {}, "correct": True}
    worst = 0.0
    for label, (proxy, app) in cases.items():
        home = work / label.replace(" ", "-")
        home.mkdir(parents=True)
        scenario = home / "scenario.toml"
        scenario.write_text(window_scenario(time_scale, proxy, app))
        to_app, to_exit = [], []
        for _ in range(reps):
            started, ended, ok = click(venv, home, scenario)
            report["correct"] = report["correct"] and ok
            to_app.append(started)
            to_exit.append(ended)
        longer = max(proxy, app) * time_scale
        ratio = statistics.median(to_app) / longer
        worst = max(worst, ratio)
        report["cases"][label] = {
            "proxy_s": proxy * time_scale,
            "app_s": app * time_scale,
            "to_app_s": statistics.median(to_app),
            "to_exit_s": statistics.median(to_exit),
            "ratio": ratio,
            "exit_ratio": statistics.median(to_exit) / longer,
            "sum_ratio": (proxy + app) * time_scale / longer,
        }
    report["ratio"] = worst
    return report


# ----- the fast path in the box (real mode) ---------------------------------------------


def box_fast_path(venv: Path, rounds: int) -> dict[str, Any]:
    """The installed ``sdw-updater`` in real mode vs ``python -c "import qubesadmin"``.

    The box's directory is the one the venv was installed in (``install``'s
    ``work``): the box keeps it visible in its private ``/tmp``.
    """
    sys.path.insert(0, str(ROOT))
    from tests.box.dom0 import Box, missing_reason

    reason = missing_reason()
    if reason is not None:
        return {"skipped": reason, "correct": True}
    work = venv.parent
    calls = work / "qrexec-calls.log"
    calls.touch()
    box = Box(
        work,
        BOX_VERSION,
        "[sim]\ntime_scale = 0.0\n",
        qrexec_client=STAND_IN.format(log=calls),
    )
    python = str(venv / "bin" / "python")
    spec = {
        "rounds": rounds,
        "sim_dir": str(box.env.sim_dir),
        "home": str(box.home),
        "commands": {
            "sdw-updater": [str(venv / "bin" / "sdw-updater")],
            "import qubesadmin": [python, "-c", "import qubesadmin"],
            "pass": [python, "-c", "pass"],
        },
    }
    spec_path = work / "spec.json"
    result_path = work / "timings.json"
    spec_path.write_text(json.dumps(spec))
    inbox = box.run(
        [sys.executable, str(ROOT / "benchmarks" / "inbox.py"), str(spec_path), str(result_path)],
        timeout=900,
    )
    if not result_path.exists():
        raise RuntimeError(f"the box run failed (exit {inbox.exit}): {inbox.output[-2000:]}")
    result = json.loads(result_path.read_text())
    times = result["times"]
    updater_runs = result["runs"]["sdw-updater"]
    app_calls = [line for line in calls.read_text().splitlines() if START_APP in line]
    correct = (
        all(
            run["exit"] == 0
            and "Started the SecureDrop app" in run["stdout"]
            and set(run["powers"].values()) == {"Running"}
            for run in updater_runs
        )
        and len(app_calls) == rounds
    )
    fresh = (
        "import pathlib, time\n"
        f"state = pathlib.Path({str(box.state_dir)!r})\n"
        "stamp = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(time.time() - 60))\n"
        "(state / 'sdw-update-status').write_text(json.dumps("
        "{'last_status_update': stamp, 'status': '0'}))\n"
    )
    probe = box.run([python, "-c", probe_code("launcher.entry", [], fresh)])
    modules = probe_report(probe.exit, probe.stdout, probe.stderr)
    correct = correct and modules.get("exit") == 0 and not modules.get("heavy")
    ours = median_ms(times["sdw-updater"])
    floor = median_ms(times["import qubesadmin"])
    return {
        "rounds": rounds,
        "updater_ms": ours,
        "import_ms": floor,
        "pass_ms": median_ms(times["pass"]),
        "ratio": ours / floor,
        "correct": correct,
        "heavy": modules.get("heavy"),
        "modules": modules.get("modules"),
        "failures": [r for r in updater_runs if r["exit"] != 0][:2],
    }


#: What any Python program that logs, prints JSON, handles paths and has typed records
#: imports: the notifier's floor before a line of its own runs (reported, not judged).
STDLIB_FLOOR = "import json, logging, pathlib, typing"

# ----- the notifier's dry run ------------------------------------------------------------


def notify_dry_run(work: Path, venv: Path, rounds: int) -> dict[str, Any]:
    """``sdw-notify --dry-run`` (dom0 mode: this machine's /proc) vs ``python -c pass``."""
    home = fresh_home(work / "notify-home")
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"))
    python = str(venv / "bin" / "python")
    times, runs = alternate(
        {
            "sdw-notify --dry-run": [str(venv / "bin" / "sdw-notify"), "--dry-run"],
            "pass": [python, "-c", "pass"],
            "stdlib": [python, "-c", STDLIB_FLOOR],
        },
        rounds,
        env,
        home,
    )
    correct = all(
        run.returncode == 0 and json.loads(run.stdout)["warn"] is False
        for run in runs["sdw-notify --dry-run"]
    )
    probe = heavy_probe(venv / "bin" / "python", "sdw_notify.entry", ["--dry-run"], env, home)
    quiet = not probe.get("qubesadmin") and not probe.get("tools")
    correct = correct and probe.get("exit") == 0 and not probe.get("heavy") and quiet
    ours = median_ms(times["sdw-notify --dry-run"])
    floor = median_ms(times["pass"])
    return {
        "rounds": rounds,
        "notify_ms": ours,
        "pass_ms": floor,
        "stdlib_ms": median_ms(times["stdlib"]),
        "ratio": ours / floor,
        "correct": correct,
        "heavy": probe.get("heavy"),
        "qubes_calls": bool(probe.get("qubesadmin") or probe.get("tools")),
        "modules": probe.get("modules"),
    }
