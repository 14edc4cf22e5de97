"""Should the notifier nag? A pure function: facts in, decision out.

Everything here is data: the caller gathers the facts (clock, uptime, locks,
process names, the ``sdw-last-updated`` time) and this module only decides,
so the rules can be tested as a table and read in one place.

The rules, in the order they are applied:

1. Silence while something else owns the workstation: the updater holds its
   lock, another notifier holds its lock, or a provisioning tool is running
   (its exact process name is in ``PROVISIONING_PROCESSES``).  Nagging then
   would either duplicate a dialog or invite the user to start an update in
   the middle of a Salt run.
2. Otherwise warn when the last successful update is *more than*
   ``WARNING_THRESHOLD`` seconds old, or is unknown (missing or
   untrustworthy file: doubt means "update", docs/contract.md, "Files on
   disk"),
3. ...but only once dom0 has been up *more than* ``GRACE_PERIOD`` seconds:
   the login autostart already runs the updater, so a fresh boot needs no
   nag.  An unknown uptime counts as "grace period over": we cannot prove
   the machine just booted, and doubt must lead toward updating, never away
   from it.

Both comparisons are strict (``>``), as in the existing notifier, so a
timestamp exactly five days old, or an uptime of exactly 30 minutes, does
not warn yet; one second more does.
"""

# No ``from __future__ import annotations`` here: under it typing.NamedTuple compiles
# every field's annotation string (about 0.2 ms a field, on the launcher's fast path).

from collections.abc import Iterable
from typing import NamedTuple

WARNING_THRESHOLD = 432000  # 5 days, in seconds
GRACE_PERIOD = 1800  # 30 minutes of uptime, in seconds

# Exact command names (``/proc/<pid>/comm``) of provisioning tools.  Exact,
# never substrings: ``cmake`` or ``makeinfo`` must not silence the notifier.
# ``make`` is kept because the workstation's development and staging installs
# are driven by ``make`` targets in dom0, where nothing else runs make; the
# cost of a false match is at most one skipped reminder (two hours).
# All names are shorter than 16 characters, so the kernel's truncation of
# ``comm`` to 15 characters cannot hide them.
PROVISIONING_PROCESSES: frozenset[str] = frozenset(
    {"qubesctl", "sdw-admin", "salt-call", "salt-ssh", "make"}
)


class Decision(NamedTuple):
    """Whether to warn, a short machine-readable ``code`` and a human ``reason``.

    ``code`` is one of ``updater_running``, ``other_notifier``,
    ``provisioning``, ``fresh``, ``grace_period``, ``overdue`` and
    ``unknown_last_update``; only the last two warn.
    """

    warn: bool
    code: str
    reason: str
    age: float | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of ``sdw-notify --dry-run``."""
        return dict(self._asdict())


def conflicting(processes: Iterable[str]) -> list[str]:
    """The provisioning tools among ``processes`` (exact names), sorted."""
    return sorted(set(processes) & PROVISIONING_PROCESSES)


def decide(
    last_updated: float | None,
    now: float,
    uptime: float | None,
    *,
    updater_running: bool = False,
    other_notifier: bool = False,
    processes: Iterable[str] = (),
) -> Decision:
    """Apply the rules of the module docstring to one set of facts.

    ``last_updated`` is None when the time of the last successful update is
    missing or cannot be trusted.  ``processes`` may be every process name
    seen (only the provisioning tools among them count).
    """
    if updater_running:
        return Decision(False, "updater_running", "the updater is running")
    if other_notifier:
        return Decision(False, "other_notifier", "another notifier is running")
    found = conflicting(processes)
    if found:
        return Decision(
            False, "provisioning", f"a provisioning tool is running: {', '.join(found)}"
        )
    age = None if last_updated is None else now - last_updated
    if age is not None and not age > WARNING_THRESHOLD:
        return Decision(
            False,
            "fresh",
            f"last update {_span(age)} ago, within the {_span(WARNING_THRESHOLD)} threshold",
            age,
        )
    if uptime is not None and not uptime > GRACE_PERIOD:
        return Decision(
            False,
            "grace_period",
            f"dom0 has been up {_span(uptime)}, within the {_span(GRACE_PERIOD)} grace period",
            age,
        )
    up = "unknown uptime" if uptime is None else f"up {_span(uptime)}"
    if age is None:
        return Decision(
            True,
            "unknown_last_update",
            f"no trustworthy record of the last successful update ({up})",
        )
    return Decision(
        True,
        "overdue",
        f"last update {_span(age)} ago, over the {_span(WARNING_THRESHOLD)} threshold ({up})",
        age,
    )


def _span(seconds: float) -> str:
    """A duration for log lines: exact seconds plus a readable unit."""
    whole = int(seconds)
    if abs(whole) >= 86400:
        return f"{whole} s ({whole / 86400:.1f} d)"
    if abs(whole) >= 3600:
        return f"{whole} s ({whole / 3600:.1f} h)"
    return f"{whole} s"
