"""``sdw-notify``: remind the journalist to update, when (and only when) due.

Started every two hours by ``securedrop-updater-notify.timer``.  It gathers the facts
through the engine (the same status store and host seam as the updater, so
``--simulate`` works unchanged), lets the pure ``decision`` module decide,
logs the decision with its reason, and only then, if it must warn, imports
Qt and shows the dialog.  ``--dry-run`` stops before the dialog and prints
the decision as one JSON object; it never imports Qt, so it stays fast.

"Check for updates" hands over to ``launcher.entry.launch`` in this process
after the notify lock is released: the very code path of ``sdw-updater``
(its window takes the single-instance updater lock first: when another
updater runs, that one's window comes to the front and this ends with exit
code 5, changing nothing), except that the update starts at once: the
journalist has just chosen it.
"""

# No ``from __future__ import annotations`` here: under it typing.NamedTuple compiles
# every field's annotation string (about 0.2 ms a field, on the launcher's fast path).

import gc
import json
import logging
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

from sdw_notify import decision as rules
from sdw_updater import contract, logs
from sdw_updater.context import Context, UsageError, open_context
from sdw_updater.contract import NOTIFY_LOCK, UPDATER_LOCK, ExitCode
from sdw_updater.lock import Lock, is_locked, lock_dir
from sdw_updater.status import format_time

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("sdw.notify")

LOG_NAME = "sdw-notify.log"


class Facts(NamedTuple):
    """What the decision was made from; logged and printed by ``--dry-run``."""

    now: float
    last_updated: float | None
    uptime: float | None
    updater_running: bool
    other_notifier: bool
    processes: frozenset[str]

    def decide(self) -> rules.Decision:
        return rules.decide(
            self.last_updated,
            self.now,
            self.uptime,
            updater_running=self.updater_running,
            other_notifier=self.other_notifier,
            processes=self.processes,
        )


def build_parser() -> "argparse.ArgumentParser":
    import argparse

    parser = argparse.ArgumentParser(
        prog="sdw-notify",
        description="Remind the user to update SecureDrop Workstation when it is overdue.",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="make every check, show nothing, print the decision as JSON and exit 0",
    )
    parser.add_argument(
        "--simulate",
        nargs="?",
        const="",
        default=None,
        metavar="SCENARIO",
        help="run against the simulated Qubes (built-in healthy scenario without a file)",
    )
    return parser


_STATE = f"~/{contract.STATE_DIR_NAME}"

#: ``man sdw-notify`` beyond what the parser says (rendered by launcher/manpage.py).
MANUAL: dict[str, tuple[tuple[str, str], ...]] = {
    "DESCRIPTION": (
        (
            "",
            "Started every two hours by the systemd user timer securedrop-updater-notify.timer "
            "(enabled for every user by securedrop-updater-switch on). It warns "
            f"when the last successful update is more than {rules.WARNING_THRESHOLD // 86400} "
            f"days old and dom0 has been up for more than {rules.GRACE_PERIOD // 60} minutes, "
            "unless an updater, another notifier or a provisioning run is active. A missing "
            "or untrustworthy record of the last update counts as overdue.",
        ),
        (
            "",
            '"Check for updates" runs the updater in this process, as sdw-updater '
            '--skip-delta 0 would; "Remind me later" exits. Every decision is logged with '
            "its reason.",
        ),
    ),
    "EXIT STATUS": (
        (
            str(int(ExitCode.OK)),
            'No warning was due, the user chose "Remind me later", or --dry-run.',
        ),
        (str(int(ExitCode.FAILED)), "The notifier failed; the log says why."),
        (str(int(ExitCode.USAGE)), "Usage error: a bad option or scenario file."),
        (
            "",
            'After "Check for updates" the exit status is that of the updater; see sdw-updater(1).',
        ),
    ),
    "FILES": (
        (f"{_STATE}/{contract.LAST_UPDATED_FILE}", "The time of the last successful update."),
        (
            f"{_STATE}/{contract.LOG_DIR_NAME}/{contract.NOTIFY_LOG}",
            "Every decision and its reason.",
        ),
        (
            f"$XDG_RUNTIME_DIR/{contract.NOTIFY_LOCK}",
            "Held while a notifier runs, so two reminders never show at once.",
        ),
    ),
    "SEE ALSO": (
        ("", "sdw-updater(1), sdw-login(1), securedrop-updater-switch(8), systemd.timer(5)"),
    ),
}


def gather(ctx: Context, other_notifier: bool) -> Facts:
    """Collect the facts through the engine's seams (untrusted input stays there)."""
    now = ctx.host.now()
    return Facts(
        now=now,
        last_updated=ctx.store.read_last_updated(now),
        uptime=ctx.host.uptime(),
        updater_running=is_locked(lock_dir(ctx.store.directory) / UPDATER_LOCK),
        other_notifier=other_notifier,
        processes=frozenset(ctx.host.running_processes()),
    )


def report(facts: Facts, decision: rules.Decision, ctx: Context) -> dict[str, object]:
    """The ``--dry-run`` JSON: the decision plus the facts behind it."""
    data = decision.as_dict()
    data.update(
        {
            "last_updated": (
                format_time(facts.last_updated) if facts.last_updated is not None else None
            ),
            "uptime": facts.uptime,
            "conflicting_processes": rules.conflicting(facts.processes),
            "simulated": ctx.simulated,
        }
    )
    return data


class PlainArguments(NamedTuple):
    """What ``build_parser()`` gives for no argument or only ``--dry-run`` (the timer's,
    the admin's); tests/notify/test_entry.py holds them equal."""

    dry_run: bool = False
    simulate: str | None = None


def parse_arguments(argv: list[str] | None) -> Any:
    """The command line; argparse only for more than ``--dry-run`` (it costs the timer's run)."""
    given = sys.argv[1:] if argv is None else argv
    if all(arg == "--dry-run" for arg in given):
        return PlainArguments(dry_run=bool(given))
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        ctx = open_context(args.simulate is not None, args.simulate or None)
    except UsageError as exc:
        print(f"sdw-notify: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    logs.configure_plain(ctx.log_dir, main_name=LOG_NAME)
    try:
        return dry_run(ctx) if args.dry_run else notify(ctx)
    except Exception:
        # Seen by admins in the log, not only in the systemd journal.
        log.exception("sdw-notify failed")
        return 1


def console() -> int:
    """The console script: ``main()`` on the process's own arguments, then exit.

    ``gc.freeze()`` before the exit spares the interpreter's teardown a full
    collection over every object the imports made (3-4 ms of the 28 ms a
    timer run took, see BENCHMARKS.md); the process ends right after, so nothing
    frozen is ever needed again.  Tests call ``main()``, which freezes nothing.
    """
    code = main()
    gc.freeze()
    return code


def dry_run(ctx: Context) -> int:
    """Decide and print; take no lock (a probe only), show nothing."""
    notify_path = lock_dir(ctx.store.directory) / NOTIFY_LOCK
    facts = gather(ctx, other_notifier=is_locked(notify_path))
    decision = facts.decide()
    log.info("Dry run: %s (%s)", "warn" if decision.warn else "no warning", decision.reason)
    print(json.dumps(report(facts, decision, ctx), sort_keys=True))
    return 0


def notify(ctx: Context) -> int:
    """Decide under the notify lock; warn if due; hand over if the user asks."""
    notify_lock = Lock(lock_dir(ctx.store.directory) / NOTIFY_LOCK)
    # Probe first: a held lock is the normal "timer fired while a dialog is
    # still open" case, which must not log an error through Lock.acquire.
    busy = is_locked(notify_lock.path)
    if not busy and not notify_lock.acquire():
        # Held by a notifier that started meanwhile; a lock file that cannot
        # be used (``problem``) holds nobody back: doubt means a reminder.
        busy = notify_lock.problem is None
    try:
        facts = gather(ctx, other_notifier=busy)
        decision = facts.decide()
        if not decision.warn:
            log.info("No warning: %s", decision.reason)
            return 0
        log.warning("Warning the user: %s", decision.reason)
        check = ask_user(ctx, decision)
    finally:
        notify_lock.release()
    return hand_over(ctx) if check else 0


def ask_user(ctx: Context, decision: rules.Decision) -> bool:
    """Show the dialog (Qt is imported only here); True for "Check for updates"."""
    from launcher.estimate import usual_duration
    from sdw_notify import dialog

    sd_app_running = ctx.host.power_state(dialog.CLIENT_VM) != "Halted"
    choice = dialog.ask(decision, sd_app_running, usual_duration(ctx.store.directory))
    log.info("User chose: %s", choice.value)
    return choice is dialog.Choice.CHECK


def hand_over(ctx: Context) -> int:
    """Run the updater as ``sdw-updater --skip-delta 0`` would, in this process.

    The notify lock is already released.  ``launch`` decides again (a reboot
    still pending is honoured, not answered with another run); the window
    takes the updater lock before anything else (a concurrent updater means
    exit code 5, its window brought to the front) and, since the journalist
    has just chosen to update, starts without a second confirmation.
    """
    from launcher import entry as launcher_entry

    log.info("Handing over to the updater")
    logs.configure(ctx.log_dir)  # from here on, the updater's own logs
    code = launcher_entry.launch(ctx, 0, skip_netcheck=False, cli=False, from_notifier=True)
    log.info("Updater finished with exit code %s", code)
    return code


if __name__ == "__main__":
    sys.exit(main())
