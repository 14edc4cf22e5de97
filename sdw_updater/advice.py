"""Help that fixes things: known failures, their cause in plain words, and the admin's fix.

A pure module: the last lines a tool printed, the step, the exit code and
where it happened (dom0 or a template) go in; an :class:`Advice` comes out,
or None when the failure is not one we know.  The lines are untrusted (a
VM may print anything): they are only matched, never executed or shown
beyond the one line quoted as evidence, cut short.

The cases are the ones journalists and admins keep meeting (securedrop-
workstation #428, #1034, #1273; qubes-issues #8742): a full disk, an
interrupted dpkg, no network (or Tor that cannot connect), a package
manager lock held by another run, a signing key that expired, and a Qubes
upgrade that is not finished.  Every fix names the command an admin runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sdw_updater.contract import ExitCode
from sdw_updater.steps import Step

DOM0 = "dom0"
#: What a quoted line may be (it goes into screens, logs and the copied details).
EVIDENCE_CHARS = 200
#: The update agent's exit code for a failed repository refresh (network, Tor, mirror).
AGENT_REFRESH_FAILED = 23

DISK_FULL = "disk_full"
DPKG_INTERRUPTED = "dpkg_interrupted"
KEY_EXPIRED = "key_expired"
LOCK_HELD = "lock_held"
NO_NETWORK = "no_network"
DIST_UPGRADE = "dist_upgrade"
STALLED = "stalled"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        DISK_FULL,
        re.compile(
            r"no space left on device|enough free space|more space needed|"
            r"needs? \S+ more space|"
            r"disk quota exceeded|insufficient (disk )?space|disk is full",
            re.IGNORECASE,
        ),
    ),
    (
        DPKG_INTERRUPTED,
        re.compile(r"dpkg was interrupted|dpkg --configure -a", re.IGNORECASE),
    ),
    (
        KEY_EXPIRED,
        re.compile(
            r"EXPKEYSIG|KEYEXPIRED|\bkey\b[^\n]{0,80}\b(has )?expired|expired[^\n]{0,40}\bkey\b|"
            r"signature[^\n]{0,40}expired",
            re.IGNORECASE,
        ),
    ),
    (
        LOCK_HELD,
        re.compile(
            r"could not get lock|unable to acquire the dpkg|waiting for cache lock|"
            r"another instance of [\w-]+ is already running|waiting for process with pid|"
            r"is locked by another process|\block\b[^\n]{0,40}\bheld\b|"
            r"transaction lock|another transaction is in progress",
            re.IGNORECASE,
        ),
    ),
    (
        NO_NETWORK,
        re.compile(
            r"temporary failure (resolving|in name resolution)|could not resolve|"
            r"couldn't resolve|network is unreachable|no route to host|failed to fetch|"
            r"cannot download repomd|failed to download metadata|curl error|"
            r"connection timed out|connection refused|could not connect|"
            r"unable to connect|\btor\b[^\n]{0,60}\b(not|fail|unable|refused)",
            re.IGNORECASE,
        ),
    ),
)


@dataclass(frozen=True)
class Advice:
    """A known failure: what it is, where, why in plain words, and the admin's fix."""

    kind: str
    where: str  # "dom0" or a template's name
    cause: str  # for the journalist: what went wrong, without jargon
    fix: str  # for the administrator: what to run
    evidence: str = ""  # the output line that told us (cut short), if any


def _kind_of(lines: Sequence[str]) -> tuple[str, str] | None:
    """The first known kind (in order of how much it explains) and the line showing it."""
    for kind, pattern in _PATTERNS:
        for line in reversed(lines):
            if pattern.search(line):
                return kind, line.strip()[:EVIDENCE_CHARS]
    return None


def _words(kind: str, where: str) -> tuple[str, str]:
    """(cause, fix) for one kind of failure in one place."""
    in_vm = where != DOM0
    if kind == DISK_FULL:
        if in_vm:
            return (
                f"The disk of {where} is full, so its updates could not be installed.",
                f"See what is full: `qvm-run -p -u root {where} 'df -h'`. Give it more room "
                f"(`qvm-volume extend {where}:root NEW_SIZE`) or free some, then run "
                "`sdw-updater --skip-delta 0`.",
            )
        return (
            "The disk of the core system is full, so its updates could not be installed.",
            "See what is full with `df -h` in a dom0 terminal, free some space (for example "
            "`sudo dnf clean all`), then run `sdw-updater --skip-delta 0`.",
        )
    if kind == DPKG_INTERRUPTED:
        return (
            f"An earlier software installation in {where} was interrupted and must be finished "
            "first.",
            f"Finish it: `qvm-run -p -u root {where} 'dpkg --configure -a'`, then run "
            "`sdw-updater --skip-delta 0`.",
        )
    if kind == KEY_EXPIRED:
        where_words = f"for {where}" if in_vm else "for the core system"
        check = (
            f"`qvm-run -p -u root {where} 'apt-get update'` names it"
            if in_vm
            else "`sudo qubes-dom0-update --check-only` names it"
        )
        return (
            f"A key that proves the updates {where_words} are genuine has expired, so they "
            "cannot be trusted.",
            f"Find the expired key ({check}) and install its current version from the "
            "project that signs the packages (for SecureDrop: "
            "`sudo qubes-dom0-update securedrop-workstation-keyring`). Never turn signature "
            "checks off. Then run `sdw-updater --skip-delta 0`.",
        )
    if kind == LOCK_HELD:
        if in_vm:
            return (
                f"Another installation was running in {where} at the same time.",
                f"Wait a few minutes and choose Try again. If it keeps happening, see what holds "
                f"the lock (`qvm-run -p -u root {where} 'ps -ef'`) or restart {where} "
                f"(`qvm-shutdown --wait {where}`).",
            )
        return (
            "Another update of the core system was running at the same time.",
            "Wait for it to finish (see it with `ps -ef | grep -e qubes-dom0-update -e dnf` "
            "in a dom0 terminal), then run `sdw-updater --skip-delta 0`.",
        )
    if kind == NO_NETWORK:
        return (
            "The updates could not be downloaded: the internet connection (or Tor) did not answer.",
            "Check that `qvm-run -p sys-net 'nmcli networking connectivity check'` prints "
            "`full`, and that sys-firewall and sys-whonix are running (`qvm-ls --running`). "
            "Then choose Try again.",
        )
    if kind == DIST_UPGRADE:
        return (
            "Qubes is being upgraded to a new release, and that upgrade is not finished.",
            "Finish the Qubes upgrade (the remaining stages of `qubes-dist-upgrade`) so that "
            "dom0 and every template are on the same release, then run "
            "`sdw-updater --skip-delta 0`.",
        )
    # STALLED
    return (
        f"The update of {where} stopped making progress and was stopped.",
        "This is often the network or Tor: check the connection as for a download failure "
        "(`qvm-run -p sys-net 'nmcli networking connectivity check'`), then choose Try "
        f"again. If {where} stalls again, start it (`qvm-start {where}`) and update it by "
        "hand to see where it waits.",
    )


def advise(
    lines: Sequence[str],
    step: Step | str | None,
    exit_code: int | None = None,
    where: str = DOM0,
    outcome: ExitCode | None = None,
) -> Advice | None:
    """The known failure behind ``lines`` (a tool's last output), or None.

    ``step`` and ``outcome`` settle the cases the output cannot: a failed
    network check is no network whatever sys-net printed, and a distribution
    upgrade is told by the releases, not by a tool.
    """
    step_value = None if step is None else str(step)
    if outcome is ExitCode.DIST_UPGRADE:
        cause, fix = _words(DIST_UPGRADE, where)
        return Advice(DIST_UPGRADE, where, cause, fix)
    if outcome is ExitCode.NETWORK or step_value == Step.NETCHECK.value:
        cause, fix = _words(NO_NETWORK, where)
        return Advice(NO_NETWORK, where, cause, fix)
    found = _kind_of(lines)
    if found is None:
        return None
    kind, evidence = found
    cause, fix = _words(kind, where)
    return Advice(kind, where, cause, fix, evidence)


def stalled(template: str, lines: Sequence[str], seconds: float) -> Advice:
    """A template the stall watchdog stopped: what its output says, else the stall itself."""
    known = advise(lines, Step.TEMPLATES, None, template)
    if known is not None:
        return known
    cause, fix = _words(STALLED, template)
    span = f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} seconds"
    quiet = f" (no progress and no output for {span})"
    last = lines[-1].strip()[:EVIDENCE_CHARS] if lines else ""
    return Advice(STALLED, template, cause.rstrip(".") + quiet + ".", fix, last)


def transient(lines: Sequence[str], exit_code: int | None, alone: bool) -> str | None:
    """Why a failed template update looks transient (worth one more try), or None.

    The network or Tor failing for a moment: its output says so, or the
    tool's exit code is the agent's "repository refresh failed" (23) and
    this template is the only one that failed (the tool's code is the
    largest over all templates, so it names a template only when one failed).
    A full disk, a lock, an expired key are not transient.
    """
    found = _kind_of(lines)
    if found is not None:
        kind, evidence = found
        return evidence or kind if kind == NO_NETWORK else None
    if alone and exit_code == AGENT_REFRESH_FAILED:
        return "the update agent could not refresh its package lists (exit code 23)"
    return None
