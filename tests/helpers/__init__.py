"""What many tests share: the installed programs run as users run them, and what they leave.

A test gives each program its own ``HOME`` (the ``home`` fixture of
``tests/conftest.py``); these helpers write the state files a workstation
would have, run the console scripts against the simulator, and read back
what an admin or a reviewer reads: the state files, ``sdw-last-run.json``
and the simulator's journal of every tool call.  Focused helpers live beside
this one (``helpers.wizard``, ``helpers.needs``, ``helpers.rpmkit`` ...).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdw_sim.journal import Entry
from sdw_sim.journal import read_journal as sim_read_journal
from sdw_updater.contract import CLIENT_APP_ID

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
CLIENT_SERVICE = f"qubes.StartApp+{CLIENT_APP_ID}"
#: What an admin types to force a run in a terminal: ``sdw-updater --cli --skip-delta 0``.
FORCE = ("--cli", "--skip-delta", "0")
#: Scenario pieces: no simulated time passes; dom0 has nothing to update.
INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = "[dom0]\nupdates = false\n"


def stamp(epoch: float) -> str:
    return time.strftime(DATE_FORMAT, time.localtime(epoch))


def write_status(home: Path, status: str, epoch: float | None = None, **extra: object) -> None:
    directory = home / ".securedrop_updater"
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, object] = {
        "status": status,
        "last_status_update": stamp(time.time() if epoch is None else epoch),
    }
    data.update(extra)
    (directory / "sdw-update-status").write_text(json.dumps(data))


def read_status(home: Path) -> dict[str, object]:
    return json.loads((home / ".securedrop_updater" / "sdw-update-status").read_text())


def state_files(home: Path) -> dict[str, bytes]:
    """The bytes of the two state files that exist (to prove "unchanged")."""
    directory = home / ".securedrop_updater"
    return {
        name: (directory / name).read_bytes()
        for name in ("sdw-update-status", "sdw-last-updated")
        if (directory / name).exists()
    }


def read_journal(home: Path) -> list[Entry]:
    """The simulator's journal of this HOME (tool calls and qubesadmin actions, in order)."""
    return sim_read_journal(home / ".securedrop_updater" / "sim" / "journal.jsonl")


def tools(journal: list[Entry]) -> list[str]:
    return [r["tool"] for r in journal]


def run_updater(
    home: Path, *args: str, scenario: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would, against the simulator."""
    argv = [str(BIN / "sdw-updater"), *args]
    if scenario is not None:
        path = home / "scenario.toml"
        path.write_text(scenario)
        argv += ["--simulate", str(path)]
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=home, check=False
    )


def changed_dom0(journal: list[Entry]) -> bool:
    """Did the run change anything in dom0 or the templates?"""
    names = tools(journal)
    return (
        any(r["tool"] == "qubes-dom0-update" and "-y" in r["argv"] for r in journal)
        or "qubesctl" in names
        or "qubes-vm-update" in names
    )


def client_records(journal: list[Entry]) -> list[Entry]:
    """The journal records that started the SecureDrop app in sd-app (any tier's shape)."""
    return [
        r for r in journal if "sd-app" in r["argv"] and any(CLIENT_SERVICE in a for a in r["argv"])
    ]


def client_started(journal: list[Entry]) -> bool:
    """Whether the app was started, and its start call did not fail."""
    return any(r["exit"] == 0 for r in client_records(journal))


def vm_starts(journal: list[Entry]) -> list[str]:
    """The VMs a run started, in journal order (qubesadmin start or qvm-start)."""
    names: list[str] = []
    for r in journal:
        argv = r["argv"]
        if r["tool"] == "qubesadmin" and argv[:1] == ["start"]:
            names += argv[1:2]
        elif r["tool"] == "qvm-start":
            names += [a for a in argv if not a.startswith("-")]
    return names


def quick_steps(timeout_scale: float) -> str:
    """A simulated workstation where only the templates take time: two at a time, 20x faster.

    The engine's timeouts are scaled by ``timeout_scale``; every other
    step (network check, dom0, Salt, VM starts, the app) takes none.
    """
    return (
        f"[sim]\ntime_scale = 0.05\ntimeout_scale = {timeout_scale}\ncpus = 2\n"
        "vm_start_duration = 0\nvm_shutdown_duration = 0\n[network]\ncheck_duration = 0\n"
        "[dom0]\nupdates = false\ncheck_duration = 0\nhighstate_duration = 0\n"
        "[client]\nstart_duration = 0\n"
    )


def template(name: str, **keys: object) -> str:
    """A scenario's ``[templates."NAME"]`` table with ``keys``."""
    body = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    return f'[templates."{name}"]\n{body}'


def vm_updates(journal: list[Entry]) -> list[list[str]]:
    """The --targets of every qubes-vm-update call, in order."""
    found = []
    for record in journal:
        if record["tool"] == "qubes-vm-update":
            argv = record["argv"]
            found.append(argv[argv.index("--targets") + 1].split(","))
    return found


def template_results(data: dict[str, Any]) -> dict[str, str]:
    """Each template's result in ``sdw-last-run.json`` (read with ``last_run_file``)."""
    return {t["name"]: t["result"] for t in data["templates"]}


def last_run_file(home: Path) -> dict[str, Any]:
    """The run's summary as written to ``sdw-last-run.json``."""
    data: dict[str, Any] = json.loads(
        (home / ".securedrop_updater" / "sdw-last-run.json").read_text()
    )
    return data


def stop_updater(
    home: Path,
    scenario: str,
    *moments: Callable[[list[Entry]], bool],
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``sdw-updater --cli --skip-delta 0``, sent SIGTERM at each moment its journal shows.

    As a logout or ``kill`` stops it; each moment is waited for (at most a
    minute), then the signal is sent.  Output is stdout and stderr together.
    """
    path = home / "scenario.toml"
    path.write_text(scenario)
    proc = subprocess.Popen(
        [str(BIN / "sdw-updater"), "--cli", "--skip-delta", "0", "--simulate", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, HOME=str(home), **(env or {})),
        cwd=home,
    )
    try:
        for moment in moments:
            deadline = time.monotonic() + 60
            while not moment(read_journal(home)):
                assert proc.poll() is None, "the run ended before the moment came"
                assert time.monotonic() < deadline, "the moment never came"
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, output, "")
