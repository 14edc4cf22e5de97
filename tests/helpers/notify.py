"""The notifier (``sdw-notify``) as the timer runs it, and what it leaves: for its tests.

``run_notify`` starts the installed console script (offscreen: a dialog, if
one came, would need no display); ``dry_run`` its ``--dry-run``, which
prints one JSON object.  ``holding`` is a real second process holding one
of the locks, as an updater or another notifier would.  The HOME is the
``home`` fixture's (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import BIN
from sdw_updater.status import format_time

TIMEOUT = 60
UPDATE_TOOLS = {"qubes-dom0-update", "qubesctl", "sdw-admin", "qubes-vm-update"}
DAY = 86400


def state_of(home: Path) -> Path:
    return home / ".securedrop_updater"


def set_last_updated(home: Path, age: float | None, raw: bytes | None = None) -> None:
    state = state_of(home)
    state.mkdir(parents=True, exist_ok=True)
    data = raw if raw is not None else format_time(time.time() - (age or 0)).encode()
    (state / "sdw-last-updated").write_bytes(data)


def scenario_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"scenario-{abs(hash(text))}.toml"
    path.write_text(text)
    return str(path)


def journal(home: Path) -> list[dict]:
    path = state_of(home) / "sim" / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def update_tools_run(home: Path) -> list[str]:
    return [call["tool"] for call in journal(home) if call.get("tool") in UPDATE_TOOLS]


def notify_log(home: Path) -> str:
    path = state_of(home) / "logs" / "sdw-notify.log"
    return path.read_text() if path.exists() else ""


def run_notify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [str(BIN / "sdw-notify"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )


def dry_run(*args: str) -> dict:
    result = run_notify("--dry-run", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # exactly one JSON object
    return json.loads(lines[0])


@contextmanager
def holding(lock_name: str) -> Iterator[subprocess.Popen[str]]:
    """A real second process holding one of our locks until the block ends."""
    code = (
        "import sys, time, os\n"
        "from pathlib import Path\n"
        "from sdw_updater.lock import Lock, lock_dir\n"
        "from sdw_updater.status import state_dir\n"
        f"lock = Lock(lock_dir(state_dir()) / {lock_name!r})\n"
        "assert lock.acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
