"""Crash consistency: SIGKILL a forced update at a random moment, then check what is left.

One trial starts ``sdw-updater --cli --skip-delta 0 --simulate`` with a time
scale that makes the run last a second or two, kills it at a seeded random
moment, and then checks, as the next launch would see it:

* the status file parses, or is absent (nothing was ever recorded);
* it says ok ("0") or reboot required ("2") only for a run that finished its
  updates, or, unchanged, for the previous run when nothing had been changed
  yet; once anything beyond the network check started, it says so ("4");
* the next ``sdw-updater --cli`` (default ``--skip-delta``) runs the updates
  again, or asks for the reboot that a dom0 update needs, and in neither case
  starts the client first;
* a dom0 that was updated is never answered with a client start before a
  reboot, even when the run that updated it was killed.

Two kinds of kill: the updater alone (its tools run on as orphans until
they notice their pipe is gone, as in dom0), and a power cut: every process
of the run is frozen and killed at once, then the simulated dom0 reboots.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import procs
from sdw_sim.journal import Entry, read_journal
from sdw_updater.status import format_time, parse_status

BIN = Path(sys.executable).parent
SCENARIOS = {
    "dom0-updates": "",
    "no-dom0-updates": "[dom0]\nupdates = false\n",
    "migration": "[dom0]\nupdates = false\nmigration = true\n",
}
UPDATE_TOOLS = {"qubes-dom0-update", "qubesctl", "sdw-admin", "qubes-vm-update"}
CLIENT_SERVICE = "qubes.StartApp+press.freedom.SecureDropApp"
STALE = 10 * 86400

Call = tuple[str, list[str]]


def _calls(records: list[Entry]) -> list[Call]:
    return [(r["tool"], list(r["argv"])) for r in records]


def _is_client(call: Call) -> bool:
    """A call that starts the app or its VMs: the launch, not the update before it.

    The app is started with qubesadmin (sd-proxy and sd-app started at once,
    then ``qrexec-client -e`` for ``qubes.StartApp``); the older form was
    ``qvm-start sd-proxy`` and ``qvm-run ... qubes.StartApp``.
    """
    tool, argv = call
    if tool in ("qvm-run", "qrexec-client"):
        return any(CLIENT_SERVICE in arg for arg in argv)
    if tool == "qubesadmin":
        return argv[:1] == ["start"] and argv[1:2] in (["sd-app"], ["sd-proxy"])
    return tool == "qvm-start" and "sd-proxy" in argv


@dataclass(frozen=True)
class Calibration:
    """A healthy run of one scenario: how long it takes, what it calls before the client."""

    name: str
    scenario: str
    seconds: float
    updates: list[Call]


@dataclass
class Trial:
    """One kill and what was found afterwards; ``problems`` empty means it passed."""

    index: int
    scenario: str
    power_cut: bool
    seeded: bool
    kill_at: float
    exited_before_kill: bool = False
    killed_in: str = ""
    status_after_kill: str = "absent"
    finished: bool = False
    next_exit: int | None = None
    next_action: str = ""
    orphans_killed: int = 0
    temp_files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


#: The app exits one simulated second after it starts: an engine that waits for it
#: (``qvm-run -p`` with ``qubes.StartApp``) must not turn each trial into a timeout.
SHORT_APP = "[client]\nrun_duration = 1\n"


def scenario_text(name: str, time_scale: float) -> str:
    return f"[sim]\ntime_scale = {time_scale}\n" + SCENARIOS[name] + SHORT_APP


def _env(home: Path, token: str) -> dict[str, str]:
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime), **{procs.MARKER: token})


def _updater(*args: str) -> list[str]:
    return [str(BIN / "sdw-updater"), *args]


def calibrate(workdir: Path, name: str, time_scale: float) -> Calibration:
    """Run the scenario once, healthy, to learn its length and its calls."""
    home = workdir / f"calibrate-{name}"
    home.mkdir(parents=True)
    path = home / "scenario.toml"
    text = scenario_text(name, time_scale)
    path.write_text(text)
    began = time.monotonic()
    result = subprocess.run(
        _updater("--cli", "--skip-delta", "0", "--simulate", str(path)),
        env=_env(home, secrets.token_hex(8)),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.monotonic() - began
    if result.returncode not in (0, 3):
        raise RuntimeError(f"calibration run of {name} failed: {result.stdout}{result.stderr}")
    calls = _calls(read_journal(home / ".securedrop_updater" / "sim" / "journal.jsonl"))
    updates = [call for call in calls if not _is_client(call)]
    return Calibration(name, text, seconds, updates)


def _seed_state(state: Path) -> None:
    """Trusted state of a workstation whose last update was ten days ago."""
    state.mkdir(parents=True, exist_ok=True)
    stamp = format_time(time.time() - STALE)
    (state / "sdw-update-status").write_text(f'{{"last_status_update": "{stamp}", "status": "0"}}')
    (state / "sdw-last-updated").write_text(stamp)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def run_trial(
    workdir: Path,
    index: int,
    calibration: Calibration,
    *,
    power_cut: bool,
    seeded: bool,
    moment: float,
) -> Trial:
    """One trial, start to verdict (see the module docstring).

    ``seeded``: start from an existing workstation's state files (else from
    none); ``moment``: when to kill, as a fraction of the healthy run's length.
    """
    home = workdir / f"trial-{index:03d}"
    home.mkdir(parents=True)
    state = home / ".securedrop_updater"
    scenario = home / "scenario.toml"
    scenario.write_text(calibration.scenario)
    trial = Trial(
        index,
        calibration.name,
        power_cut,
        seeded=seeded,
        kill_at=round(moment * calibration.seconds, 3),
    )
    if trial.seeded:
        _seed_state(state)
    before = _read(state / "sdw-update-status")
    token = secrets.token_hex(8)
    env = _env(home, token)

    proc = subprocess.Popen(
        _updater("--cli", "--skip-delta", "0", "--simulate", str(scenario)),
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=trial.kill_at)
        trial.exited_before_kill = True
    except subprocess.TimeoutExpired:
        if power_cut:
            procs.power_cut(token)
        else:
            proc.kill()
    finally:
        proc.wait(timeout=30)
    # Orphaned tools end by themselves (a broken pipe) or are killed by the power cut.
    trial.orphans_killed = len(procs.wait_gone(token, 20))
    journal = state / "sim" / "journal.jsonl"
    killed = read_journal(journal)
    rebooted = power_cut and (state / "sim" / "bin" / "sudo").exists()
    if rebooted:  # (a cut before the simulator was even set up leaves nothing to reboot)
        subprocess.run(
            [str(state / "sim" / "bin" / "sudo"), "reboot"],
            env=env,
            capture_output=True,
            timeout=60,
            check=True,
        )
    _judge_kill(trial, calibration, killed, before, _read(state / "sdw-update-status"))
    trial.temp_files = len(list(state.glob(".sdw-update-status.*")))

    status_now = _read(state / "sdw-update-status")
    result = subprocess.run(
        _updater("--cli", "--simulate", str(scenario)),
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    procs.wait_gone(token, 10)
    trial.next_exit = result.returncode
    after = _calls(read_journal(journal))[len(killed) + (1 if rebooted else 0) :]
    exits = [r["exit"] for r in killed]
    _judge_next(
        trial, list(zip(_calls(killed), exits, strict=True)), status_now, after, result.stdout
    )
    return trial


def _judge_kill(
    trial: Trial,
    calibration: Calibration,
    killed: list[Entry],
    before: bytes | None,
    raw: bytes | None,
) -> None:
    """The state the kill left behind."""
    calls = _calls(killed)
    if killed:
        last = killed[-1]
        running = last["exit"] is None or last["exit"] in (141, -9, -15)
        trial.killed_in = f"{last['tool']}" if running else f"after {last['tool']}"
    else:
        trial.killed_in = "before the first call"
    progressed = len(calls) > 1  # the first call is the network check, which changes nothing
    n = len(calibration.updates)
    trial.finished = calls[:n] == calibration.updates and all(
        r["exit"] in (0, 100) for r in killed[:n]
    )
    if raw is None:
        trial.status_after_kill = "absent"
        if trial.seeded or progressed:
            trial.problems.append(
                "the status file is missing although it existed or a change began"
            )
        return
    record = parse_status(raw, time.time())
    if record is None:
        trial.status_after_kill = "unreadable"
        trial.problems.append(f"the status file does not parse: {raw[:200]!r}")
        return
    code = record.status.value
    unchanged = raw == before
    trial.status_after_kill = (
        code
        + (" +reboot" if record.reboot_requested_at is not None else "")
        + (" (previous run's)" if unchanged else "")
    )
    if code in ("0", "2"):
        if unchanged and progressed:
            trial.problems.append(f'status still "{code}" from before although a change began')
        if not unchanged and not trial.finished:
            trial.problems.append(f'status "{code}" for a run that did not finish its updates')
    elif code != "4":
        trial.problems.append(f'status "{code}" after a kill of a healthy run')
    if progressed and unchanged:
        trial.problems.append("a change began but nothing was recorded")


def _judge_next(
    trial: Trial,
    killed: list[tuple[Call, object]],
    status_raw: bytes | None,
    after: list[Call],
    stdout: str,
) -> None:
    """What the next launch did: update, ask for the reboot, or (only when fresh) start the client."""
    first_update = next((i for i, c in enumerate(after) if c[0] in UPDATE_TOOLS), None)
    first_client = next((i for i, c in enumerate(after) if _is_client(c)), None)
    if first_update is not None:
        trial.next_action = "updated"
    elif first_client is not None:
        trial.next_action = "client started"
    elif trial.next_exit == 3:
        trial.next_action = "reboot pending"
    else:
        trial.next_action = f"nothing (exit {trial.next_exit})"
    dom0_updated = not trial.power_cut and any(
        call == ("qubes-dom0-update", ["-y"]) and code == 0 for call, code in killed
    )
    record = parse_status(status_raw, time.time()) if status_raw else None
    fresh_finish = record is not None and trial.finished and record.status.value in ("0", "2")
    if trial.next_exit not in (0, 3):
        trial.problems.append(f"the next launch exited {trial.next_exit}: {stdout[-3000:]}")
    if first_client is not None and (first_update is None or first_client < first_update):
        if not fresh_finish:
            trial.problems.append("the next launch started the client without updating")
    if dom0_updated and first_client is not None:
        trial.problems.append(
            "dom0 was updated by the killed run and there was no reboot, "
            "yet the next launch started the client"
        )
    if not fresh_finish and trial.next_action not in ("updated", "reboot pending"):
        trial.problems.append(f"the next launch did not update: {trial.next_action}")


def run_trials(
    workdir: Path,
    count: int,
    seed: int,
    time_scale: float,
    *,
    scenarios: tuple[str, ...] = (),
    workers: int = 2,
) -> list[Trial]:
    """``count`` trials, alternating updater-only kills and power cuts, seeded.

    Every random choice is drawn up front, so the trials are the same for a
    seed however many run at once (each has its own HOME, lock and marker).
    """
    rng = random.Random(seed)
    names = scenarios or tuple(SCENARIOS)
    plans = [(index, rng.random() < 0.5, rng.random()) for index in range(count)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        calibrations = list(pool.map(lambda name: calibrate(workdir, name, time_scale), names))
        futures = [
            pool.submit(
                run_trial,
                workdir,
                index,
                calibrations[index % len(calibrations)],
                power_cut=index % 2 == 1,
                seeded=seeded,
                moment=moment,
            )
            for index, seeded, moment in plans
        ]
        return [future.result() for future in futures]


def summary(trials: list[Trial]) -> dict[str, object]:
    """Counts for BENCHMARKS.md: how many passed, where the kills landed, what was left."""
    return {
        "trials": len(trials),
        "passed": sum(t.ok for t in trials),
        "power_cuts": sum(t.power_cut for t in trials),
        "exited_before_kill": sum(t.exited_before_kill for t in trials),
        "killed_in": dict(Counter(t.killed_in for t in trials).most_common()),
        "status_after_kill": dict(Counter(t.status_after_kill for t in trials).most_common()),
        "next_action": dict(Counter(t.next_action for t in trials).most_common()),
        "orphans_killed": sum(t.orphans_killed for t in trials),
        "temp_files_left": sum(t.temp_files for t in trials),
        "problems": [f"trial {t.index} ({t.scenario}): {p}" for t in trials for p in t.problems],
    }


def main(argv: list[str] | None = None) -> int:
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--time-scale", type=float, default=0.002)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sdw-crash-") as tmp:
        trials = run_trials(Path(tmp), args.trials, args.seed, args.time_scale)
    print(json.dumps(summary(trials), indent=2))
    return 0 if all(t.ok for t in trials) else 1


if __name__ == "__main__":
    sys.exit(main())
