"""Never a wrong "fresh": the hostile review's findings (issue 13), each as a user meets it.

Every test runs the installed console scripts against the simulator, or the
engine against real processes and the real filesystem, and asserts what the
journalist or the admin would see: the exit code, what is recorded, what ran.
Each failed before its fix (the number is the issue's item).  The clock
(#2), the owed restart after a failed dom0 update (#4) and the real dom0's
prompts are in tests/test_real_dom0_e2e.py; #6 and #7 in the trust tests;
#13 and #14 in tests/test_progress.py and tests/test_hostile_input.py.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from helpers import (
    BIN,
    client_started,
    read_journal,
    read_status,
    run_updater,
    stop_updater,
    tools,
    write_status,
)

from benchmarks import procs
from sdw_sim.journal import Entry
from sdw_updater.contract import NOTIFY_LOCK, UPDATER_LOCK
from sdw_updater.lock import is_locked

FORCE = ("--cli", "--skip-delta", "0")
INSTANT = "[sim]\ntime_scale = 0.0\n"
STATE = ".securedrop_updater"


def changed_dom0(journal: list[Entry]) -> bool:
    """Did the run change anything in dom0 or the templates?"""
    names = tools(journal)
    return (
        any(r["tool"] == "qubes-dom0-update" and "-y" in r["argv"] for r in journal)
        or "qubesctl" in names
        or "qubes-vm-update" in names
    )


# ----- 1: a state that cannot be written -------------------------------------------------


def test_1_a_run_that_cannot_record_in_progress_changes_nothing(home: Path) -> None:
    """The status file cannot be written (here: a directory stands in its place)."""
    (home / STATE / "sdw-update-status").mkdir(parents=True)
    result = run_updater(home, *FORCE, scenario=INSTANT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "could not record its state" in result.stdout
    assert "changed nothing" in result.stdout
    journal = read_journal(home)
    assert not changed_dom0(journal)
    assert not client_started(journal)


# ----- 3: a timestamp a little ahead does not defeat --skip-delta 0 -----------------------


def test_3_skip_delta_0_runs_even_when_the_status_is_dated_ahead(home: Path) -> None:
    write_status(home, "0", time.time() + 120)  # within the clock-skew allowance
    result = run_updater(home, *FORCE, scenario=INSTANT)
    assert result.returncode == 3, result.stdout + result.stderr
    journal = read_journal(home)
    assert changed_dom0(journal)
    assert not client_started(journal)


# ----- 5: trust checks cannot be switched off by a missing module --------------------------


def test_5_a_missing_trust_dependency_is_a_trust_failure(home: Path) -> None:
    scenario = home / "s.toml"
    scenario.write_text(INSTANT)
    probe = (
        "import sys\n"
        "sys.modules['gnupg'] = None  # python-gnupg not installed\n"
        "from launcher.entry import main\n"
        f"sys.exit(main(['--cli', '--skip-delta', '0', '--simulate', {str(scenario)!r}]))\n"
    )
    env = dict(os.environ, HOME=str(home))
    result = subprocess.run(
        [str(BIN / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=home,
        check=False,
    )
    assert result.returncode == 6, result.stdout + result.stderr
    assert "Checking the workstation's signing keys failed" in result.stdout
    journal = read_journal(home)
    assert not changed_dom0(journal)
    assert read_status(home)["status"] == "3"


# ----- 8: a damaged history (estimates only) never fails a run ------------------------------


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000 + b"]" * 100_000, b'{"runs": [{"total": 1e999}]}', b"\xff\xfe\x00"],
    ids=["deeply-nested", "overflow", "binary"],
)
def test_8_a_damaged_history_file_means_no_estimates(home: Path, content: bytes) -> None:
    (home / STATE).mkdir(parents=True)
    (home / STATE / "sdw-run-history.json").write_bytes(content)
    result = run_updater(home, *FORCE, scenario=INSTANT)
    assert result.returncode == 3, result.stdout + result.stderr
    assert read_status(home)["status"] == "2"


# ----- 9 and 10: symlinks and FIFOs at the lock and log paths ---------------------------------


def plant(path: Path, kind: str, victim: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        path.symlink_to(victim)
    else:
        os.mkfifo(path)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_9_10_the_updater_lock_path_is_never_followed_nor_blocked_on(home: Path, kind: str) -> None:
    victim = home / "victim"
    victim.write_text("keep me\n")
    plant(Path(os.environ["XDG_RUNTIME_DIR"]) / UPDATER_LOCK, kind, victim)
    result = run_updater(home, *FORCE, scenario=INSTANT, timeout=60)
    assert result.returncode == 5, result.stdout + result.stderr
    assert victim.read_text() == "keep me\n"
    assert not changed_dom0(read_journal(home))


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_9_10_log_files_are_never_followed_nor_blocked_on(home: Path, kind: str) -> None:
    victim = home / "victim"
    victim.write_text("keep me\n")
    plant(home / STATE / "logs" / "updater.log", kind, victim)
    plant(home / STATE / "logs" / "updater-detail.log", kind, victim)
    result = run_updater(home, *FORCE, scenario=INSTANT, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_9_10_the_notifier_lock_and_log_are_never_followed_nor_blocked_on(
    home: Path, kind: str
) -> None:
    victim = home / "victim"
    victim.write_text("keep me\n")
    plant(home / STATE / "logs" / "sdw-notify.log", kind, victim)
    plant(Path(os.environ["XDG_RUNTIME_DIR"]) / NOTIFY_LOCK, kind, victim)
    result = subprocess.run(
        [str(BIN / "sdw-notify"), "--dry-run", "--simulate"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, HOME=str(home)),
        cwd=home,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert victim.read_text() == "keep me\n"


# ----- 11: SIGTERM stops the tools too --------------------------------------------------------


def test_11_sigterm_stops_the_running_tool_records_the_status_and_frees_the_lock(
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
