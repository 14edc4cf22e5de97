"""Launch to first paint of the window, on PyQt6 and on PyQt5, side by side in one run.

The installed ``sdw-updater`` (``pip install .`` into a virtualenv of its
own, with the binding of the development virtualenv at the same version:
PyQt6 from ``.venv``, PyQt5 from ``.venv-qt5``) is launched as the desktop
icon launches it, on a stale workstation (the last update ten days ago: the
window opens on its introduction), on one Xvfb at 1366x768.  The time runs
from just before the process is started to the end of the window's first
paint, as ``painthook/sitecustomize.py`` (put on the launch's
``PYTHONPATH``) notes it inside the process, with the phases in between:
so the difference between the bindings is measured where it arises, not
guessed.  The two bindings alternate round by round; the first launch of
each is not counted (it sets the simulator up and warms the disk cache).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import speed

ROOT = Path(__file__).resolve().parent.parent
HOOK = Path(__file__).resolve().parent / "painthook"
#: The development virtualenv of each binding, whose binding version is installed.
DEV_PYTHON = {
    "PyQt6": ROOT / ".venv" / "bin" / "python",
    "PyQt5": ROOT / ".venv-qt5" / "bin" / "python",
}
#: The phases, between the marks the hook writes (and the launch itself).
PHASES = (
    ("interpreter start", "launch", "interpreter"),
    ("our code before Qt", "interpreter", "binding_start"),
    ("import of the binding", "binding_start", "binding_end"),
    ("the window's modules", "binding_end", "application_start"),
    (
        "QApplication (display, platform plugin, style, fonts, icon)",
        "application_start",
        "application_end",
    ),
    ("lock and listen", "application_end", "window_start"),
    ("building the window", "window_start", "window_end"),
    ("show to first paint event", "window_end", "paint_event"),
    ("first paint", "paint_event", "painted"),
)
STALE_DAYS = 10
SCENARIO = "[sim]\ntime_scale = 0.0\n"


def requirements(python: Path, binding: str) -> list[str]:
    """``NAME==VERSION`` of every distribution of ``binding`` in a virtualenv (wheels, sip)."""
    code = (
        "import importlib.metadata as m\n"
        "for d in m.distributions():\n"
        "    name = d.metadata['Name']\n"
        f"    if name.lower().replace('_', '-').startswith({binding.lower()!r}):\n"
        "        print(f'{name}=={d.version}')\n"
    )
    done = speed.run([str(python), "-c", code], dict(os.environ), ROOT)
    return sorted(done.stdout.split())


def install(work: Path, binding: str) -> Path:
    """The package installed (not editable) with ``binding`` in a virtualenv of its own."""
    wanted = requirements(DEV_PYTHON[binding], binding)
    if not wanted:
        raise RuntimeError(f"no {binding} in {DEV_PYTHON[binding].parent.parent}")
    return speed.install(work / binding, tuple(wanted))


def stale_home(home: Path) -> Path:
    """A HOME whose last successful update was ``STALE_DAYS`` ago: the window opens."""
    speed.fresh_home(home, age=STALE_DAYS * 86400)
    (home / "scenario.toml").write_text(SCENARIO)
    return home


def launch(venv: Path, home: Path, display: str) -> dict[str, float]:
    """One click on the icon: the marks of the launch, relative to its start, in seconds."""
    out = home / "paint.json"
    out.unlink(missing_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("QT_", "DBUS_", "WAYLAND_", "XDG_", "PYTHON"))
    }
    env.update(
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        HOME=str(home),
        XDG_RUNTIME_DIR=str(home / "run"),
        LANG="C.UTF-8",
        PYTHONPATH=str(HOOK),
        SDW_BENCH_PAINT=str(out),
    )
    argv = [str(venv / "bin" / "sdw-updater"), "--simulate", str(home / "scenario.toml")]
    began = time.time()
    done = speed.run(argv, env, home, timeout=120)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"{argv[0]} exited {done.returncode} before its first paint: {done.stderr[-2000:]}"
        )
    marks: dict[str, float] = json.loads(out.read_text())
    return {"launch": 0.0, **{name: at - began for name, at in marks.items()}}


def first_paint(work: Path, rounds: int) -> dict[str, Any]:
    """Both bindings, alternating; medians of the total and of each phase (seconds)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from window.xsession import XServer

    missing = [b for b, python in DEV_PYTHON.items() if not python.exists()]
    if missing:
        return {
            "skipped": f"no virtualenv for {', '.join(missing)} (make venv .venv-qt5/.installed)"
        }
    venvs = {binding: install(work / "installed", binding) for binding in DEV_PYTHON}
    homes = {binding: stale_home(work / f"home-{binding}") for binding in DEV_PYTHON}
    server = XServer(1366, 768)
    runs: dict[str, list[dict[str, float]]] = {binding: [] for binding in DEV_PYTHON}
    versions: dict[str, str] = {}
    try:
        for binding in DEV_PYTHON:  # not counted: the simulator's set-up, a cold disk cache
            launch(venvs[binding], homes[binding], server.display)
        order = list(DEV_PYTHON)
        for number in range(rounds):
            for binding in order if number % 2 == 0 else order[::-1]:
                runs[binding].append(launch(venvs[binding], homes[binding], server.display))
        for binding, venv in venvs.items():
            code = "from launcher import qt; print(qt.describe())"
            versions[binding] = speed.run(
                [str(venv / "bin" / "python"), "-c", code], dict(os.environ), ROOT
            ).stdout.strip()
    finally:
        server.stop()
    report: dict[str, Any] = {"rounds": rounds, "versions": versions, "bindings": {}}
    for binding, marks in runs.items():
        phases = {
            label: statistics.median(m[end] - m[start] for m in marks)
            for label, start, end in PHASES
        }
        report["bindings"][binding] = {
            "total": statistics.median(m["painted"] for m in marks),
            "phases": phases,
        }
    six, five = report["bindings"]["PyQt6"]["total"], report["bindings"]["PyQt5"]["total"]
    report["ratio"] = six / five
    return report
