"""Output floods: run a forced update while a template prints megabytes, measure what it costs.

The simulator streams the flood (``[templates."X"].flood_mb`` for many
lines, ``flood_line_mb`` for one line without a newline until its end), so
the only thing that could hold it all in memory is the updater.  A small
wrapper process starts the real console script and reports:

* the updater's own peak resident set (``VmHWM`` of its /proc entry, read
  every 10 ms while it runs: memory plateaus during a flood, so the last
  reading is the peak);
* the peak of the whole tree (``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the
  largest of the updater and the simulator's tools), an upper bound;

and, from ``~/.securedrop_updater/logs/``, how much was written to disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
FLOOD_TEMPLATE = "fedora-43-xfce"

# The wrapper is self-contained source (run with -c), so it needs nothing on sys.path.
WRAPPER = """
import json, os, resource, signal, subprocess, sys, time
deadline = time.monotonic() + float(sys.argv[1])
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
hwm = 0
while proc.poll() is None:
    if time.monotonic() > deadline:
        proc.kill()
    try:
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.01)
tree = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"exit": proc.returncode, "updater_kb": hwm, "tree_kb": tree}))
"""


@dataclass(frozen=True)
class FloodResult:
    """One flooded run: its end, its peak memory, and its logs on disk."""

    exit: int
    seconds: float
    updater_kb: int
    tree_kb: int
    log_bytes: int
    largest_log: int
    log_files: int
    detail_text: str  # the current updater-detail.log (bounded, so small enough to read)

    @property
    def updater_mb(self) -> float:
        return self.updater_kb / 1024

    @property
    def tree_mb(self) -> float:
        return self.tree_kb / 1024


def scenario(flood_mb: float = 0, line_mb: float = 0) -> str:
    """A forced run without dom0 updates; one template floods its output."""
    return (
        "[sim]\ntime_scale = 0.0\n[dom0]\nupdates = false\n"
        f'[templates."{FLOOD_TEMPLATE}"]\nflood_mb = {flood_mb}\nflood_line_mb = {line_mb}\n'
    )


def run_flood(
    home: Path, flood_mb: float = 0, line_mb: float = 0, timeout: float = 900
) -> FloodResult:
    """Run ``sdw-updater --cli --skip-delta 0`` under the flood and measure it."""
    home.mkdir(parents=True, exist_ok=True)
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    path = home / "scenario.toml"
    path.write_text(scenario(flood_mb, line_mb))
    command = [
        str(BIN / "sdw-updater"),
        "--cli",
        "--skip-delta",
        "0",
        "--simulate",
        str(path),
    ]
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime))
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(timeout), *command],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
        check=True,
    )
    seconds = time.monotonic() - began
    report = json.loads(done.stdout)
    logs = sorted((home / ".securedrop_updater" / "logs").iterdir())
    sizes = [p.stat().st_size for p in logs]
    detail = home / ".securedrop_updater" / "logs" / "updater-detail.log"
    return FloodResult(
        exit=report["exit"],
        seconds=seconds,
        updater_kb=report["updater_kb"],
        tree_kb=report["tree_kb"],
        log_bytes=sum(sizes),
        largest_log=max(sizes, default=0),
        log_files=len(logs),
        detail_text=detail.read_text(errors="replace") if detail.exists() else "",
    )
