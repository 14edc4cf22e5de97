"""The fault matrix's rows and expected cells, shared by the end-to-end and box tiers.

Rows are the plan's steps (the trust checks' tool calls included, plus
``sudo``, which three steps go through); columns are the faults of
``[faults."TOOL"]`` (docs/simulator.md) and a healthy control run.  The
expected value of every cell is written out here (``EXPECTED``) and follows
from the contract (docs/contract.md, "Exit codes" and "Files on disk").
``tests/e2e/test_fault_matrix.py`` runs each cell against the simulator,
``tests/box/test_box_fault_matrix.py`` the cells of the tools the box plays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from helpers import NO_DOM0, stamp, state_files

MODES = ("exit", "hang", "crash", "garbage", "missing")
COLUMNS = ("none", *MODES)
# Instant simulated time; every engine timeout at its 1 s floor, so a hang costs ~1 s.
TIMING = "[sim]\ntime_scale = 0.0\ntimeout_scale = 0.00001\n"
MIGRATION = "[dom0]\nupdates = false\nmigration = true\n"
STALE = time.time() - 10 * 86400  # the state files a cell starts from: ten days old

Call = tuple[str, list[str]]


@dataclass(frozen=True)
class Row:
    """One step of the plan and how a fault is aimed at it."""

    key: str
    label: str
    tool: str
    match: str | None
    base: str = ""
    journaled: bool = True  # sudo is never journaled (docs/simulator.md)
    # Other calls of the same step that may still follow the faulty one.
    step: tuple[tuple[str, str | None], ...] = ()

    def selects(self, call: Call) -> bool:
        """Is this the call the row's fault is aimed at?"""
        return call[0] == self.tool and (self.match is None or self.match in call[1])

    def in_step(self, call: Call) -> bool:
        return self.selects(call) or any(
            call[0] == tool and (match is None or match in call[1]) for tool, match in self.step
        )


ROWS = (
    Row("netcheck", "network check (`qvm-run -p sys-net nmcli ...`)", "qvm-run", "nmcli"),
    Row(
        "trust_keys",
        "trust: dom0 keys (`rpm -q gpg-pubkey`)",
        "rpm",
        "gpg-pubkey",
        NO_DOM0,
    ),
    Row(
        "dom0_check",
        "dom0 check (`qubes-dom0-update --check-only`)",
        "qubes-dom0-update",
        "--check-only",
    ),
    Row("dom0_update", "dom0 update (`sudo qubes-dom0-update -y`)", "qubes-dom0-update", "-y"),
    Row(
        "trust_signers",
        "trust: installed signers (`rpm -q --qf ... securedrop-*`)",
        "rpm",
        "securedrop-workstation-dom0-config",
        NO_DOM0,
    ),
    Row(
        "dom0_state",
        "dom0 state (`sudo qubesctl ... state.highstate`)",
        "qubesctl",
        None,
        NO_DOM0,
    ),
    Row("migration", "migration (`sdw-admin --apply`)", "sdw-admin", None, MIGRATION),
    Row(
        "migration_clear",
        "migration flag (`sudo rm -f -- /tmp/sdw-migrations`)",
        "rm",
        "/tmp/sdw-migrations",
        MIGRATION,
    ),
    Row(
        "template_sources",
        "trust: template sources (`qvm-run ... cat -- ...sources`)",
        "qvm-run",
        "cat",
        NO_DOM0,
        step=(("qvm-shutdown", "--wait"),),
    ),
    Row(
        "template_shutdown",
        "trust: templates shut down after reading (`qvm-shutdown --wait`)",
        "qvm-shutdown",
        None,
        NO_DOM0,
    ),
    Row("templates", "template updates (`qubes-vm-update`)", "qubes-vm-update", None, NO_DOM0),
    Row("restart", "VM restarts (`qvm-start ... sd-log`)", "qvm-start", "sd-log", NO_DOM0),
    Row(
        "client_app",
        "app start: `qrexec-client -d sd-app -e ... qubes.StartApp+...SecureDropApp`",
        "qrexec-client",
        "sd-app",  # the only qrexec call to sd-app from dom0: the app's start
        NO_DOM0,
    ),
    Row(
        "sudo",
        "`sudo` itself (dom0 update, dom0 state, flag removal)",
        "sudo",
        None,
        journaled=False,
    ),
)


ROW_BY_KEY = {row.key: row for row in ROWS}


@dataclass(frozen=True)
class Expect:
    """One cell: exit code, status code written (None: files untouched), reboot recorded."""

    exit: int
    status: str | None
    reboot: bool = False

    @property
    def client(self) -> str:
        """Was the client started: yes (exit 0), tried and failed (8), or not at all."""
        return {0: "yes", 8: "failed"}.get(self.exit, "no")

    @property
    def run_completed(self) -> bool:
        """Did the update run end well (so last-updated must be written)?"""
        return self.exit in (0, 3, 8)


NETWORK = Expect(4, None)
FAILED = Expect(1, "3")
TRUST = Expect(6, "3")
OK = Expect(0, "0")
REBOOT = Expect(3, "2", reboot=True)
CLIENT_FAILED = Expect(8, "0")


def _row(none: Expect, default: Expect, **overrides: Expect) -> dict[str, Expect]:
    cells = {"none": none, **dict.fromkeys(MODES, default)}
    cells.update(overrides)
    return cells


EXPECTED: dict[str, dict[str, Expect]] = {
    "netcheck": _row(REBOOT, NETWORK),
    "trust_keys": _row(OK, TRUST),
    "dom0_check": _row(REBOOT, FAILED),
    "dom0_update": _row(REBOOT, FAILED, garbage=REBOOT),
    "trust_signers": _row(OK, TRUST),
    "dom0_state": _row(OK, FAILED, garbage=OK),
    "migration": _row(OK, FAILED, garbage=OK),
    "migration_clear": _row(OK, FAILED),
    "template_sources": _row(OK, TRUST, missing=NETWORK),
    "template_shutdown": _row(OK, OK),
    "templates": _row(OK, FAILED),
    "restart": _row(OK, FAILED),
    "client_app": _row(OK, CLIENT_FAILED, garbage=OK),
    "sudo": _row(REBOOT, FAILED, garbage=REBOOT),
}


def scenario_for(row: Row, mode: str) -> str:
    """The row's base scenario, plus the fault of this column."""
    text = TIMING + row.base
    if mode != "none":
        text += f'[faults."{row.tool}"]\nmode = "{mode}"\n'
        if row.match is not None and mode != "missing":
            text += f'match = "{row.match}"\n'
    return text


def seed_state(home: Path) -> dict[str, bytes]:
    """Stale but trusted state files, as an existing workstation has them."""
    directory = home / ".securedrop_updater"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sdw-update-status").write_text(
        f'{{"last_status_update": "{stamp(STALE)}", "status": "0"}}'
    )
    (directory / "sdw-last-updated").write_text(stamp(STALE))
    return state_files(home)
