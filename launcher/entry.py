"""``sdw-updater``: start the client at once, or update first.

The command line is a stable contract (docs/contract.md, "Command line"):
admins, the notifier, the desktop entry and other people's tests rely on its
flags and exit codes.
"""

# No ``from __future__ import annotations`` here: under it typing.NamedTuple compiles
# every field's annotation string (about 0.2 ms a field, on the launcher's fast path).

import gc
import logging
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

from sdw_updater import contract, logs
from sdw_updater.context import Context, UsageError, open_context
from sdw_updater.contract import ExitCode
from sdw_updater.freshness import DEFAULT_SKIP_DELTA, Action
from sdw_updater.version import __version__

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("sdw.launcher")


def non_negative_int(text: str) -> int:
    import argparse

    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def build_parser() -> "argparse.ArgumentParser":
    import argparse

    parser = argparse.ArgumentParser(
        prog="sdw-updater",
        description="Update SecureDrop Workstation if needed, then start the SecureDrop app.",
    )
    parser.add_argument(
        "--skip-delta",
        type=non_negative_int,
        default=DEFAULT_SKIP_DELTA,
        metavar="SECONDS",
        help="run the updater when the last status is older than this (default %(default)s; 0 forces a run)",
    )
    parser.add_argument(
        "--skip-netcheck", action="store_true", help="do not check connectivity first"
    )
    parser.add_argument("--cli", action="store_true", help="no window: progress on the terminal")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="retry only what the last run failed (its failed templates, or from its failed "
        "step); a normal run when the last run did not fail",
    )
    parser.add_argument(
        "--status", action="store_true", help="print the current state as JSON and exit"
    )
    parser.add_argument(
        "--simulate",
        nargs="?",
        const="",
        default=None,
        metavar="SCENARIO",
        help="run against the simulated Qubes (built-in healthy scenario without a file)",
    )
    parser.add_argument("--version", action="version", version=f"sdw-updater {__version__}")
    return parser


_STATE = f"~/{contract.STATE_DIR_NAME}"

#: ``man sdw-updater`` beyond what the parser says (rendered by launcher/manpage.py).
MANUAL: dict[str, tuple[tuple[str, str], ...]] = {
    "DESCRIPTION": (
        (
            "",
            f"When the workstation is up to date it starts the SecureDrop app in "
            f"{contract.CLIENT_VM} at once. Otherwise a window (a terminal with --cli) "
            "updates dom0 and every template the workstation depends on, restarts the VMs "
            "that need it, and then starts the app; when dom0 was updated it asks for a "
            "reboot instead.",
        ),
        (
            "",
            "A reboot asked for earlier and not yet done is never answered by updating "
            "again, whatever --skip-delta says. Admins force a run with --skip-delta 0 "
            "and read the logs listed under FILES.",
        ),
    ),
    "EXIT STATUS": tuple(
        (str(int(code)), text)
        for code, text in (
            (ExitCode.OK, "Up to date (fresh, or updated now); the app was started."),
            (ExitCode.FAILED, "Updates failed; the app was not started."),
            (ExitCode.USAGE, "Usage error: a bad option or scenario file."),
            (
                ExitCode.REBOOT_REQUIRED,
                "Reboot required (dom0 was updated now, or a reboot asked for earlier has "
                "not happened); the app was not started.",
            ),
            (
                ExitCode.NETWORK,
                "Network unavailable; nothing was attempted and the state files are unchanged.",
            ),
            (
                ExitCode.LOCKED,
                "Another updater is running, or the updater's lock file cannot be used "
                "(the message names it and says what is wrong).",
            ),
            (
                ExitCode.TRUST,
                "A trust check failed (key, signature, repository configuration); nothing "
                "was applied after it.",
            ),
            (
                ExitCode.DIST_UPGRADE,
                "Qubes is in the middle of a distribution upgrade; nothing was attempted.",
            ),
            (ExitCode.CLIENT_FAILED, "Updates are fine but the app could not be started."),
        )
    ),
    "FILES": (
        (f"{_STATE}/{contract.STATUS_FILE}", "The last recorded status (JSON)."),
        (f"{_STATE}/{contract.LAST_UPDATED_FILE}", "The time of the last successful run."),
        (
            f"{_STATE}/{contract.LOG_DIR_NAME}/{contract.UPDATER_LOG}",
            "What ran and why.",
        ),
        (
            f"{_STATE}/{contract.LOG_DIR_NAME}/{contract.DETAIL_LOG}",
            "The output of every tool the updater ran.",
        ),
        (
            f"$XDG_RUNTIME_DIR/{contract.UPDATER_LOCK}",
            "Held while an updater runs (else in /run/user/UID, else in the state directory).",
        ),
    ),
    "SEE ALSO": (("", "sdw-notify(1), sdw-login(1), securedrop-updater-switch(8)"),),
}


class NoArguments(NamedTuple):
    """What ``build_parser().parse_args([])`` gives (tests/launcher/test_entry.py holds them equal)."""

    skip_delta: int = DEFAULT_SKIP_DELTA
    skip_netcheck: bool = False
    cli: bool = False
    status: bool = False
    simulate: str | None = None
    retry_failed: bool = False


def parse_arguments(argv: list[str] | None) -> Any:
    """The command line.  The desktop icon passes none: then argparse is not even imported."""
    if not (sys.argv[1:] if argv is None else argv):
        return NoArguments()
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        ctx = open_context(args.simulate is not None, args.simulate or None, readonly=args.status)
    except UsageError as exc:
        print(f"sdw-updater: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if args.status:
        import json

        report = ctx.status_report(args.skip_delta, own_program())
        print(json.dumps(report, sort_keys=True))
        return 0
    # A few lines, unless an update runs: then launch() sets up the rotating logs.
    logs.configure_plain(ctx.log_dir)
    note_switch_undone(ctx)
    return launch(
        ctx, args.skip_delta, args.skip_netcheck, args.cli, retry_failed=args.retry_failed
    )


def own_program() -> str | None:
    """This program's path, as started (the icon's, the notifier's or an admin's)."""
    return sys.argv[0] if sys.argv and sys.argv[0].startswith("/") else None


def note_switch_undone(ctx: Context) -> None:
    """Log it when ``securedrop-updater-switch`` is on but the icon no longer runs us.

    On the fast path: with the switch off (no state file) this is one
    ``lstat``; only when it is on is the check imported and run, a few
    reads and ``stat`` calls (docs/dom0-install.md, "Checking which updater runs").
    """
    import os

    try:
        os.lstat(contract.SWITCH_STATE_FILE)
    except OSError:
        return
    from sdw_updater import coexist

    home = ctx.store.directory.parent
    notice = coexist.start_notice(home, os.environ.get("PATH", ""), own_program())
    if notice is not None:
        log.warning("%s", notice)


def console() -> int:
    """The console script: ``main()`` on the process's own arguments, then exit.

    ``gc.freeze()`` before the exit spares the interpreter's teardown a full
    collection over every object the imports made (6-7 ms of the 47 ms a
    click took, see BENCHMARKS.md); the process ends right after, so nothing
    frozen is ever needed again.  Tests call ``main()``, which freezes nothing.
    """
    code = main()
    gc.freeze()
    return code


def launch(
    ctx: Context,
    skip_delta: int,
    skip_netcheck: bool,
    cli: bool,
    *,
    from_notifier: bool = False,
    retry_failed: bool = False,
) -> int:
    """Decide, then start the client, run the text flow, or open the window.

    ``from_notifier``: the journalist chose "Check for updates" in the
    reminder; the window then starts the updates without asking again.
    """
    decision, record = ctx.decide(skip_delta)
    log.info("Launch decision: %s (%s)", decision.action.value, decision.reason)
    if decision.record_ok and record is not None:
        ctx.record_reboot_done(record)
    if decision.action is Action.START_CLIENT:
        # As SecureDrop Workstation does on every launch: never start the app
        # in the middle of a Qubes in-place upgrade.
        upgrade = ctx.upgrade_in_progress()
        if upgrade is None:
            return ctx.start_client(sys.stdout)
        log.error("%s", upgrade)
        print(upgrade, file=sys.stderr)
        if cli:
            return ExitCode.DIST_UPGRADE
        # The journalist clicked the icon: say so in the window, not only in a log.
        from launcher.wizard import show_outcome
        from sdw_updater.result import RunResult

        return show_outcome(ctx, decision, RunResult(ExitCode.DIST_UPGRADE, upgrade))
    logs.configure(ctx.log_dir)  # an update may run: the rotating logs, the tools' detail log
    if cli:
        from sdw_updater.cli import run_cli

        return run_cli(ctx, decision, skip_netcheck, retry_failed=retry_failed)
    from launcher.flow import Origin
    from launcher.wizard import run_wizard

    origin = Origin.NOTIFIER if from_notifier else Origin.ICON
    return run_wizard(ctx, decision, skip_netcheck, origin, retry_failed=retry_failed)


if __name__ == "__main__":
    sys.exit(main())
