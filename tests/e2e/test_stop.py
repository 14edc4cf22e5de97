"""A stop end to end: SIGTERM to ``sdw-updater`` (a logout, ``kill``), and what it leaves owed.

During any step, SIGTERM stops the running tool's whole process group,
records the status and frees the lock.  ``qubes-vm-update -R`` shuts down
the running VMs of the templates it updated, and the runner's last step
starts again every VM that ran before the run: a stop that arrives after
``-R`` shut VMs down starts them again before it exits when it can, and
otherwise keeps them owed in its summary until a later run starts them.
The installed console script runs as a user runs it; the simulator's
journal tells when ``-R`` shut VMs down (it journals them as qubesd
journals the real tool's).

A stop nobody asked for ends the same way: ``qubes-vm-update`` killed by a
signal half way (the OOM killer) shuts nothing down, so the templates it
had started are shut down by the updater, and a template that ran before
the run is never touched.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from helpers import (
    client_started,
    last_run_file,
    quick_steps,
    read_journal,
    read_status,
    run_updater,
    stop_updater,
    template,
    tools,
)

from benchmarks import procs
from sdw_sim.journal import Entry
from sdw_updater.contract import UPDATER_LOCK, ExitCode
from sdw_updater.lock import is_locked
from sdw_updater.templates import STOP_GRACE

TEMPLATES = ("fedora-43-xfce", "sd-inbox-debian-13", "sd-viewer-debian-13", "whonix-gateway-17")
FEDORA, INBOX, VIEWER = TEMPLATES[:3]


# Updates of a second; starting a VM takes 2 s, so -R's restarts of the service VMs
# (and the runner's own) take long enough to be caught in the middle.
SLOW_STARTS = (
    "[sim]\ntime_scale = 0.05\nvm_start_duration = 40\nvm_shutdown_duration = 0\n"
    "[network]\ncheck_duration = 0\n"
    "[dom0]\nupdates = false\ncheck_duration = 0\nhighstate_duration = 0\n"
    "[client]\nstart_duration = 0\n" + "".join(template(t, duration=20) for t in TEMPLATES)
)
RAN_BEFORE = ("sd-log", "sys-firewall", "sys-net", "sys-usb", "sys-whonix")


def powers(home: Path) -> dict[str, str]:
    state = json.loads((home / ".securedrop_updater" / "sim" / "state.json").read_text())
    return dict(state["power"])


def halted(home: Path, names: tuple[str, ...] = RAN_BEFORE) -> list[str]:
    return [name for name in names if powers(home)[name] != "Running"]


def r_shut_down_a_vm(journal: list[Entry]) -> bool:
    """``qubes-vm-update -R`` has shut a VM down (the first service VM it restarts)."""
    return any(r["tool"] == "qubesadmin" and r["argv"][:1] == ["shutdown"] for r in journal)


def the_runner_restarts(journal: list[Entry]) -> bool:
    """The runner's restart step is starting the VMs again (``qvm-start``, still running)."""
    return any(r["tool"] == "qvm-start" and r["exit"] is None for r in journal)


def test_a_stop_after_r_shut_vms_down_starts_them_again_before_it_exits(home: Path) -> None:
    run = stop_updater(home, SLOW_STARTS, r_shut_down_a_vm)
    assert run.returncode == ExitCode.FAILED, run.stdout
    assert "The update was stopped" in run.stdout
    assert halted(home) == [], run.stdout
    data = last_run_file(home)
    assert data["not_restarted"] == []
    assert {"sys-net", "sys-firewall", "sys-usb"} <= set(data["restarted"]), data["restarted"]
    assert read_status(home)["status"] == "3"


def test_a_stop_that_cuts_the_restart_keeps_it_owed_until_a_retry_starts_it(home: Path) -> None:
    """A second SIGTERM cuts the restart short: the VMs stay owed, and --retry-failed starts them."""
    run = stop_updater(home, SLOW_STARTS, r_shut_down_a_vm, the_runner_restarts)
    assert run.returncode == ExitCode.FAILED, run.stdout
    owed = halted(home)
    assert owed, "the second stop came too late to leave anything owed"
    data = last_run_file(home)
    assert set(owed) <= set(data["not_restarted"]), data
    assert set(RAN_BEFORE) <= set(data["running_before"])
    again = run_updater(home, "--cli", "--retry-failed", scenario=SLOW_STARTS)
    assert "retrying" in again.stdout, again.stdout
    assert halted(home) == [], again.stdout
    assert again.returncode == ExitCode.OK, again.stdout


# ----- SIGTERM stops the tools too ------------------------------------------------------------


def test_sigterm_stops_the_running_tool_records_the_status_and_frees_the_lock(
    home: Path,
) -> None:
    """`kill -TERM` during the Salt step: no `qubesctl` left behind, status recorded."""
    scenario = ("[sim]\ntime_scale = 0.05\n[dom0]\nupdate_duration = 1\n"
                "check_duration = 1\nhighstate_duration = 2000\n")  # fmt: skip
    marker = secrets.token_hex(8)
    run = stop_updater(
        home,
        scenario,
        lambda journal: "qubesctl" in tools(journal),
        env={procs.MARKER: marker},
    )
    assert run.returncode == 1, run.stdout
    status = read_status(home)
    assert status["status"] == "3"
    assert "reboot_requested_at" in status  # dom0 was updated before the signal
    assert not client_started(read_journal(home))
    salt = next(r for r in read_journal(home) if r["tool"] == "qubesctl")
    assert salt["exit"] == -15  # stopped, not left running
    assert procs.marked(marker) == []
    assert not is_locked(Path(os.environ["XDG_RUNTIME_DIR"]) / UPDATER_LOCK)


# ----- qubes-vm-update killed from outside ----------------------------------------------------


def shutdowns(journal: list[Entry]) -> list[str]:
    """The VMs the run asked to shut down or kill, in journal order (any tool or API)."""
    names: list[str] = []
    for r in journal:
        argv = [str(a) for a in r["argv"]]
        if r["tool"] in ("qvm-shutdown", "qvm-kill"):
            names += [a for a in argv if not a.startswith("-")]
        elif r["tool"] == "qubesadmin" and argv[:1] in (["shutdown"], ["kill"]):
            names += argv[1:2]
    return names


def test_templates_a_killed_qubes_vm_update_left_running_are_shut_down(home: Path) -> None:
    """SIGKILL half way: the two it started are shut down; the one that ran before keeps running.

    The tool updates two templates at a time: fedora-43-xfce (its update kills
    the tool half way) and sd-inbox-debian-13, both started by it;
    sd-viewer-debian-13 ran before the run and waits for its turn, which never comes.
    """
    scenario = (
        "[sim]\ntime_scale = 0.0\ntimeout_scale = 0.001\ncpus = 2\n[dom0]\nupdates = false\n"
        + template(FEDORA, result="crash", duration=20)
        + template(INBOX, duration=100)
        + f'[vms."{VIEWER}"]\npower = "Running"\n'
    )
    run = run_updater(home, "--cli", "--skip-delta", "0", scenario=scenario)
    assert run.returncode == ExitCode.FAILED, run.stdout
    journal = read_journal(home)
    update = next(r for r in journal if r["tool"] == "qubes-vm-update")
    assert update["exit"] == -9, update
    results = {t["name"]: t["result"] for t in last_run_file(home)["templates"]}
    assert results == {FEDORA: "failed", INBOX: "failed", VIEWER: "not_reached"}, results
    now = powers(home)
    assert (now[FEDORA], now[INBOX], now[VIEWER]) == ("Halted", "Halted", "Running"), now
    after = journal[journal.index(update) + 1 :]
    assert {FEDORA, INBOX} <= set(shutdowns(after)), after
    assert VIEWER not in shutdowns(journal), journal
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert f"left running: {FEDORA}, {INBOX}" in log, log
    assert read_status(home)["status"] == "3"


# Only the tool's main process dies (the OOM killer picks it), 1.5 s in; its workers live
# on.  At time_scale 0.05 sd-inbox-debian-13's update takes 10 real seconds: its worker
# holds the tool's pipes open longer than the updater waits for them (process.PIPE_GRACE).
MAIN_KILLED = (
    quick_steps(0.001)
    + template(FEDORA, result="crash_main", duration=60)
    + template(INBOX, duration=200)
    + f'[vms."{VIEWER}"]\npower = "Running"\n'
)


def after_vm_update(home: Path) -> list[Entry]:
    """The journal from the first ``qubes-vm-update`` call on."""
    journal = read_journal(home)
    return journal[next(i for i, r in enumerate(journal) if r["tool"] == "qubes-vm-update") :]


def updated(home: Path, name: str) -> bool:
    """Whether the simulated workstation records ``name``'s update as done."""
    state = json.loads((home / ".securedrop_updater" / "sim" / "state.json").read_text())
    return bool(state.get("features", {}).get(name, {}).get("last-update"))


def test_a_template_the_killed_tools_worker_still_updates_is_left_to_it(home: Path) -> None:
    """The tool's main process killed, a worker still updating: its template is never cut.

    The updater stops waiting for the pipes the worker holds open and fails
    the run (it cannot know how that update ends), but shuts nothing down:
    the worker finishes sd-inbox-debian-13 and shuts it down itself.
    """
    (home / ".securedrop_updater").mkdir()
    # The stall watchdog stays out of it (600 minutes scaled are 36 s).
    (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(
        '{"stall_minutes": 600}'
    )
    run = run_updater(home, "--cli", "--skip-delta", "0", scenario=MAIN_KILLED)
    assert run.returncode == ExitCode.FAILED, run.stdout
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert "kept its output open" in log, log  # the worker outlived the updater's wait
    assert not updated(home, INBOX), "the worker ended before the updater gave up"
    assert INBOX not in shutdowns(after_vm_update(home)), log  # not while the worker updates it
    deadline = time.monotonic() + 60
    while not updated(home, INBOX):
        assert time.monotonic() < deadline, "the worker never finished its update"
        time.sleep(0.1)
    assert powers(home)[INBOX] == "Halted"  # by its worker
    assert INBOX not in shutdowns(after_vm_update(home))
    results = {t["name"]: t["result"] for t in last_run_file(home)["templates"]}
    assert results[INBOX] == "failed", results  # never claimed updated
    assert results[VIEWER] == "not_reached", results
    assert f"may still be updating: {INBOX}" in log, log
    assert read_status(home)["status"] == "3"


# ----- SIGTERM after the stall watchdog asked qubes-vm-update to stop ------------------------

# Timeouts scaled by 0.01: STOP_GRACE is 3 s, the stall watchdog's 10 minutes 6 s and the
# templates step's 3 hours 108 s.  fedora-43-xfce hangs half way; sd-inbox-debian-13 shows
# progress every 4 s for 52 s, so it never stalls and is still updating at the stop.
STALL_THEN_SIGTERM = (
    quick_steps(0.01)
    + template(FEDORA, result="hang", duration=20)
    + template(INBOX, duration=1040)
)
SCALED_STOP_GRACE = STOP_GRACE * 0.01


def test_sigterm_after_a_stall_still_ends_the_run_within_the_stop_grace(home: Path) -> None:
    """The watchdog's stop may wait for the templates updating; a later SIGTERM may not.

    The stall stops qubes-vm-update gracefully and would wait for
    sd-inbox-debian-13's own end (45 s more); the SIGTERM that follows
    (a logout) caps that wait at STOP_GRACE: the tool is killed, the
    templates it left running are shut down, the status is recorded and the
    lock freed.
    """
    state = home / ".securedrop_updater"
    state.mkdir()
    (state / "sdw-updater-settings.json").write_text('{"stall_minutes": 10}')
    seen: list[float] = []

    def stalled(_: list[Entry]) -> bool:
        log = state / "logs" / "updater.log"
        if log.exists() and "made no progress" in log.read_text():
            seen.append(time.monotonic())
        return bool(seen)

    run = stop_updater(home, STALL_THEN_SIGTERM, stalled)
    took = time.monotonic() - seen[0]
    assert run.returncode == ExitCode.FAILED, run.stdout
    assert took < SCALED_STOP_GRACE + 15, took  # not the 45 s sd-inbox-debian-13 needs
    log = (state / "logs" / "updater.log").read_text()
    assert log.index("made no progress") < log.index("to stop cleanly (stopped: SIGINT)"), log
    results = {t["name"]: t["result"] for t in last_run_file(home)["templates"]}
    assert results[FEDORA] == "stalled" and results[INBOX] == "failed", results
    update = next(r for r in read_journal(home) if r["tool"] == "qubes-vm-update")
    assert update["exit"] is None or update["exit"] < 0, update  # killed, not its own end
    assert (powers(home)[FEDORA], powers(home)[INBOX]) == ("Halted", "Halted")
    assert read_status(home)["status"] == "3"
    assert not is_locked(Path(os.environ["XDG_RUNTIME_DIR"]) / UPDATER_LOCK)
