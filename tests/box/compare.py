"""What a run of the product left behind, in a form both tiers can be compared on.

A run is judged as a user and an admin see it: the exit code, the status
file (and whether a reboot is recorded), whether last-updated was written,
whether the app was started, and the sequence of dom0 tool calls the
product made (the journal without the box's own plumbing: ``qubesadmin``
actions done by the real tools through qubesd, and ``qrexec-client``).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sdw_sim.journal import Entry, read_journal
from sdw_updater.contract import CLIENT_APP_ID, LAST_UPDATED_FILE, STATUS_FILE

from .dom0 import BIN

START_APP = f"qubes.StartApp+{CLIENT_APP_ID}"
PLUMBING = ("qubesadmin", "qrexec-client")

Call = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Outcome:
    exit: int | None
    status: str | None
    reboot_recorded: bool
    last_updated: bool
    client_started: bool
    calls: tuple[Call, ...]

    def differences(self, other: Outcome) -> list[str]:
        found = []
        for name in ("exit", "status", "reboot_recorded", "last_updated", "client_started"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                found.append(f"{name}: {mine!r} != {theirs!r}")
        if self.calls != other.calls:
            found.append(
                "calls:\n  "
                + "\n  ".join(map(str, self.calls))
                + "\n!=\n  "
                + "\n  ".join(map(str, other.calls))
            )
        return found


def calls(journal: list[Entry]) -> tuple[Call, ...]:
    """The product's dom0 tool calls, in the order they started."""
    return tuple(
        (str(r["tool"]), tuple(str(a) for a in r["argv"]))
        for r in journal
        if r["tool"] not in PLUMBING
    )


def outcome(home: Path, exit_code: int | None, since: int = 0) -> Outcome:
    """Read the state files and the journal (records from ``since`` on) of HOME."""
    state = home / ".securedrop_updater"
    status = None
    reboot = False
    try:
        data = json.loads((state / STATUS_FILE).read_text())
        status = str(data.get("status"))
        reboot = "reboot_requested_at" in data
    except (OSError, ValueError):
        pass
    journal = read_journal(state / "sim" / "journal.jsonl")[since:]
    return Outcome(
        exit=exit_code,
        status=status,
        reboot_recorded=reboot,
        last_updated=(state / LAST_UPDATED_FILE).exists(),
        client_started=any(
            (r["tool"] == "qvm-run" and START_APP in r["argv"])
            or (r["tool"] == "qrexec-client" and START_APP in " ".join(r["argv"]))
            for r in journal
        ),
        calls=calls(journal),
    )


def builtin_run(
    home: Path, args: list[str], scenario: Path, timeout: float = 180, marker: str = ""
) -> subprocess.CompletedProcess[str]:
    """``sdw-updater ARGS --simulate SCENARIO`` with this HOME (the built-in simulator)."""
    runtime = home.parent / "run-builtin"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime))
    if marker:
        env["SDW_BOX_RUN"] = marker
    return subprocess.run(
        [str(BIN / "sdw-updater"), *args, "--simulate", str(scenario)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=home,
        check=False,
    )
