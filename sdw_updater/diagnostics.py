"""The text behind "Copy details": what an administrator needs about a run, nothing secret.

A pure function of the run's summary (``lastrun.LastRun``) and a few facts
about this workstation.  The window puts it on the clipboard; ``--cli``
prints it after a failure.  It holds: the updater's version, whether the
run was simulated (and the scenario file's name), dom0's Qubes release,
when the run ran and how it ended, every step with its result, every
template with its result and, for those that did not update, their last
output lines, the VMs restarted or not, the help for known failures, and
where the logs are.

Left out, and said so at the end of the text: keys, signatures,
fingerprints and key user ids, the contents of any file (the status files,
the scenario, the apt and dnf configuration), environment variables, and
any tool output beyond the last lines of the templates that failed.  The
engine's own words do name keys (a trust check's failure gives the key's
fingerprint and user id, which can name the newsroom when the text is
pasted somewhere public), and so do package managers' lines: every line
taken from the run goes through :func:`scrub`, which keeps a key's short
id (its last 8 hex digits) and drops user ids and e-mail addresses.
Output lines are untrusted: they were cleaned (no escapes or control
characters) and cut short before they got here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdw_updater.contract import DETAIL_LOG, UPDATER_LOG
from sdw_updater.lastrun import LastRun
from sdw_updater.status import format_time

if TYPE_CHECKING:
    from sdw_updater.context import Context

#: Said at the end of every copy, so whoever pastes it knows what it does not hold.
EXCLUDED = (
    "Not included: keys, signatures, fingerprints and key user ids (a key is named by its "
    "short id, the last 8 hex digits, at most); e-mail addresses; the contents of any file "
    "(state files, the scenario, repository configuration); environment variables; tool "
    "output beyond the last lines shown above."
)
#: What names a key in full: a fingerprint or long key id, with or without gpg's spaces.
_KEY_ID = r"\b(?:[0-9A-Fa-f]{4}\s{1,2}){3,9}[0-9A-Fa-f]{4}\b|\b[0-9A-Fa-f]{16,}\b"
#: A key followed by its user id, as the trust checks write it: FPR ("Name <mail>").
_KEY_WITH_UID = rf'(?P<key>{_KEY_ID})\s*\("[^\n]*?"\)'
#: gpg's status words before a key id; what follows the key id is its user id.
_STATUS_UID = (
    r"\b(?P<word>GOODSIG|EXPSIG|EXPKEYSIG|REVKEYSIG|BADSIG|ERRSIG|NO_PUBKEY|KEYEXPIRED|"
    r"KEYREVOKED)\s+(?P<key>[0-9A-Fa-f]{8,40})\b[^\n]*"
)
_EMAIL = r"<?[^\s<>\"'(),;]+@[^\s<>\"'(),;]+>?"
LEFT_OUT = "user id left out"
STATE_WORDS = {
    "done": "updated",
    "no_updates": "already up to date",
    "failed": "FAILED",
    "stalled": "STALLED (stopped: no progress)",
    "not_reached": "not reached",
}


@dataclass(frozen=True)
class Facts:
    """What the text says about this workstation besides the run."""

    simulated: bool
    scenario: str = ""  # the scenario file's name (never its contents); "" = built-in
    dom0_release: str | None = None
    log_paths: Sequence[str] = ()


def facts_for(ctx: Context) -> Facts:
    """The facts of this workstation, as the front ends' context knows them."""
    source = str(getattr(ctx.scenario, "source", None) or "") if ctx.simulated else ""
    home = os.environ.get("HOME")
    return Facts(
        simulated=ctx.simulated,
        scenario=Path(source).name if source else "",
        dom0_release=ctx.host.dom0_release(),
        log_paths=tuple(
            display_path(str(ctx.log_dir / name), home) for name in (UPDATER_LOG, DETAIL_LOG)
        ),
    )


def display_path(path: str, home: str | None) -> str:
    """A path under the home directory as ``~/...`` (the user's name is not the admin's business)."""
    if home and (path == home or path.startswith(home.rstrip("/") + "/")):
        return "~" + path[len(home.rstrip("/")) :]
    return path


def duration(seconds: float) -> str:
    """A run's length for admins: "42 s", "4 min 12 s", "1 h 03 min"."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def short_id(key: str) -> str:
    """A key's short id: the last 8 hex digits of its fingerprint or long id."""
    return re.sub(r"\s", "", key)[-8:].upper()


def scrub(line: str) -> str:
    """``line`` without fingerprints, long key ids, key user ids and e-mail addresses.

    Keys keep their short id, so an administrator can still tell them apart.
    """
    line = re.sub(_KEY_WITH_UID, lambda m: f"{short_id(m.group('key'))} ({LEFT_OUT})", line)
    line = re.sub(
        _STATUS_UID,
        lambda m: f"{m.group('word')} {short_id(m.group('key'))} ({LEFT_OUT})",
        line,
    )
    line = re.sub(_KEY_ID, lambda m: short_id(m.group(0)), line)
    return re.sub(_EMAIL, "(e-mail address left out)", line)


def template_line(name: str, result: str, retried: bool, kept: bool) -> str:
    words = STATE_WORDS.get(result, result)
    if retried:
        words += " (updated once more: the first failure looked transient)"
    if kept:
        words += " (from the earlier attempt)"
    return f"{name}: {words}"


def text(last: LastRun, facts: Facts) -> str:
    """The whole text, lines joined with newlines, ending with what was left out."""
    mode = "real dom0"
    if facts.simulated:
        mode = f"simulated ({facts.scenario or 'built-in scenario'})"
    lines = [
        "SecureDrop Workstation updater: details for an administrator",
        f"Version: sdw-updater {last.version or '?'}",
        f"Mode: {mode}",
        f"dom0 Qubes release: {facts.dom0_release or 'unknown'}",
        f"Run: {format_time(last.started_at)} to {format_time(last.finished_at)} "
        f"({duration(last.duration)}), attempt {last.attempt}",
        f"Outcome: {last.outcome.name} (exit code {int(last.outcome)})",
    ]
    if last.message:
        lines.append(f"Message: {scrub(last.message)}")
    if last.failed_step is not None:
        lines.append(f"Failed step: {last.failed_step.value}")
    if last.dom0_updated or last.reboot_owed:
        lines.append("A restart of dom0 is owed.")
    lines.append("Steps:")
    lines += [f"  {step.value}: {result}" for step, result in last.steps] or ["  (none ran)"]
    if last.templates:
        lines.append("Templates:")
        for group in ("workstation", "extras"):
            members = [t for t in last.templates if t.group == group]
            if group == "extras" and members:
                lines.append("  extra templates (sd-extras):")
            for t in members:
                lines.append("  " + template_line(t.name, t.result.value, t.retried, t.kept))
                if t.last_lines:
                    lines.append("    last output:")
                    lines += [f"      {scrub(line)}" for line in t.last_lines]
    lines.append(f"Restarted: {', '.join(last.restarted) or 'none'}")
    if last.not_restarted:
        lines.append(f"Did not start again: {', '.join(last.not_restarted)}")
    for advice in last.advice:
        lines.append(f"Help ({advice.where}): {scrub(advice.cause)}")
        lines.append(f"  Fix: {scrub(advice.fix)}")
        if advice.evidence:
            lines.append(f"  Seen: {scrub(advice.evidence)}")
    lines.append(f"Logs: {', '.join(facts.log_paths) or 'unknown'}")
    lines.append(EXCLUDED)
    return "\n".join(lines) + "\n"
