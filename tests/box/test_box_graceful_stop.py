"""The graceful stop of ``qubes-vm-update``, with the real tool: both tiers end alike.

One template hangs half way, the others update normally.  The stall
watchdog asks the tool to stop cleanly (SIGINT to the tool alone): the real
``qubes-vm-update`` (and the built-in simulator's, which plays it) lets the
updates under way finish with their own ``done`` line, ends the qubes not
started yet ``done cancelled``, and waits on for the hung one; the engine
then kills it, reports the hung template stalled, and shuts it down (the
killed tool left it running).

In the box the engine runs in its real mode through ``engine_run.py``, with
its timeouts scaled as the built-in simulator scales them: the watchdog's
15 minutes are 4.5 s (the real tool takes a second or two to start an
agent, in which a template says nothing), the step's 3 hours 54 s.  The real tool starts its qubes in an
order of its own (a set) on as many workers as the machine has CPUs, so
which templates run beside the hung one differs between runs and tiers;
what both must show is the same: the hung template stalled, every other one
either updated by itself or never started, none cut off mid-update.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import sdw_sim
from sdw_updater.contract import ExitCode

from .compare import builtin_run
from .conftest import THOROUGH
from .dom0 import Box

HERE = Path(__file__).resolve().parent
HANGS = "fedora-43-xfce"
SCALE = 0.005
SCENARIO = (
    f"[sim]\ntime_scale = 0.05\ntimeout_scale = {SCALE}\ncpus = 2\n"
    "vm_start_duration = 0\nvm_shutdown_duration = 0\n"
    "[network]\ncheck_duration = 0\n"
    "[dom0]\nupdates = false\ncheck_duration = 0\nhighstate_duration = 0\n"
    "[client]\nstart_duration = 0\n[qrexec]\napp_exit_after = 0\n"
    f'[templates."{HANGS}"]\nresult = "hang"\nduration = 20\n'
    + "".join(
        f'[templates."{name}"]\nduration = 240\n'
        for name in sorted(sdw_sim.load_scenario(None).templates)
        if name != HANGS
    )
)


def judged(summary: dict[str, object], power: dict[str, str], log: str) -> list[str]:
    """What is wrong with one tier's run (nothing: it stopped the tool gracefully)."""
    wrong = []
    templates = summary["templates"]
    assert isinstance(templates, list)
    results = {t["name"]: t["result"] for t in templates}
    if results.get(HANGS) != "stalled":
        wrong.append(f"{HANGS} is {results.get(HANGS)}, not stalled")
    others = {name: result for name, result in results.items() if name != HANGS}
    if any(result not in ("done", "not_reached") for result in others.values()):
        wrong.append(f"a template was cut off or failed: {others}")
    if "done" not in others.values():
        wrong.append(f"no template updated beside the stalled one: {others}")
    if summary["outcome"] != ExitCode.FAILED:
        wrong.append(f"outcome {summary['outcome']}")
    if power.get(HANGS) != "Halted":
        wrong.append(f"{HANGS} was left {power.get(HANGS)}")
    if "asked to stop cleanly" not in log:
        wrong.append("the log does not say the tool was asked to stop cleanly")
    return wrong


def tier(home: Path, sim_dir: Path) -> list[str]:
    state = home / ".securedrop_updater"
    summary = json.loads((state / "sdw-last-run.json").read_text())
    power = json.loads((sim_dir / "state.json").read_text())["power"]
    return judged(summary, power, (state / "logs" / "updater.log").read_text())


def test_the_stall_watchdog_stops_the_real_tool_gracefully(
    make_box: Callable[..., Box], tmp_path: Path
) -> None:
    box = make_box(THOROUGH, SCENARIO)
    run = box.run([sys.executable, str(HERE / "engine_run.py"), str(SCALE)], timeout=120)
    assert run.exit == ExitCode.FAILED, run.output
    assert tier(box.home, box.env.sim_dir) == [], run.output
    home = tmp_path / "builtin" / "home"
    home.mkdir(parents=True)
    scenario = tmp_path / "builtin" / "scenario.toml"
    scenario.write_text(SCENARIO)
    builtin = builtin_run(home, ["--cli", "--skip-delta", "0"], scenario)
    assert builtin.returncode == ExitCode.FAILED, builtin.stdout
    assert tier(home, home / ".securedrop_updater" / "sim") == [], builtin.stdout
