"""``securedrop-updater-switch``: make SecureDrop Workstation's icon run this updater, or undo it.

Run in dom0 by an admin, as root (``sudo``). Installing the package changes
nothing of SecureDrop Workstation's own launcher; this command does, and
records what it did so that ``off`` undoes exactly that
(docs/dom0-install.md):

``on``
    links ``/usr/local/bin/sdw-updater``, ``sdw-notify`` and ``sdw-login``
    to this package's programs. ``/usr/local/bin`` comes before ``/usr/bin``
    in a session's ``PATH``, and SecureDrop Workstation's icon
    (``Exec=sdw-updater``) and its ``sdw-login`` find ``sdw-updater``
    through ``PATH``, so both run this updater, however often its Salt run
    rewrites those entries. It masks upstream's ``sdw-notify.timer`` and
    enables ``securedrop-updater-notify.timer``, for every user.
``off``
    removes the links it made (only while they still point at our
    programs), unmasks upstream's timer if it masked it, disables ours if it
    enabled it, and removes its record. Run by the package's ``%preun`` on
    removal, so ``dnf remove`` leaves upstream's launcher working.
``status``
    says what the switch did and what each user's icon and login autostart
    run now; exit 1 when the switch is on but something undid it.

The record is ``/var/lib/securedrop-updater/switch.json``, written
atomically *before* anything changes, so an interrupted ``on`` can still be
undone by ``off`` (which checks each item before undoing it).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TextIO

from sdw_updater import coexist
from sdw_updater.coexist import (
    LINK_DIR,
    OFF,
    ON,
    OUR_TIMER,
    OURS,
    PROGRAMS,
    STATE_FILE,
    UNKNOWN,
    UPSTREAM_TIMER,
    SwitchState,
)
from sdw_updater.status import atomic_write, sync_directory

PROG = "securedrop-updater-switch"
SYSTEMCTL_TIMEOUT = 60.0

# Exit codes.
DONE = 0
FAILED = 1  # something could not be done (or, for status: the switch is undone)
USAGE = 2
REFUSED = 3  # nothing was changed: not root, our programs missing, someone else's file in the way

#: What ``systemctl is-enabled`` prints (one word), systemd 251 to 257.
UNIT_STATES = frozenset(
    {
        "enabled",
        "enabled-runtime",
        "linked",
        "linked-runtime",
        "alias",
        "masked",
        "masked-runtime",
        "static",
        "indirect",
        "disabled",
        "generated",
        "transient",
        "bad",
        "not-found",
    }
)
MASKED = ("masked", "masked-runtime")
ENABLED = ("enabled", "enabled-runtime", "linked", "linked-runtime", "alias")

#: The group whose member is dom0's desktop user (SecureDrop Workstation's Salt
#: writes that user's icon and autostart entry: docs/dom0-install.md).
GUI_GROUP = "qubes"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Make SecureDrop Workstation's icon, login autostart and reminder run "
        "this updater (on), undo that exactly (off), or say which updater runs (status).",
    )
    parser.add_argument(
        "action",
        choices=("on", "off", "status"),
        help="on: switch to this updater; off: back to SecureDrop Workstation's own; "
        "status: what runs now",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only errors (for the package's scriptlets)"
    )
    return parser


#: ``man securedrop-updater-switch`` beyond what the parser says (launcher/manpage.py).
MANUAL: dict[str, tuple[tuple[str, str], ...]] = {
    "DESCRIPTION": (
        (
            "",
            "Installing the securedrop-updater package changes nothing of SecureDrop "
            "Workstation's own launcher. on links /usr/local/bin/sdw-updater, sdw-notify and "
            "sdw-login to this package's programs: /usr/local/bin comes before /usr/bin in a "
            "session's PATH, and SecureDrop Workstation's desktop icon and login autostart "
            "find sdw-updater through PATH, so they run this updater even after SecureDrop "
            "Workstation's Salt run rewrites them. It also masks sdw-notify.timer and enables "
            "securedrop-updater-notify.timer for every user; the timers change at each user's "
            "next login. It must be run as root.",
        ),
        (
            "",
            "Every change is recorded first, with what was there before, and off undoes exactly "
            "that: a link is removed only while it still points at this package's program, a "
            "timer that an admin had masked or enabled before stays so. Removing the package "
            "runs off.",
        ),
    ),
    "EXIT STATUS": (
        (str(DONE), "Done (for status: the switch is off, or on and nothing has undone it)."),
        (
            str(FAILED),
            "Something could not be done; the record keeps what was done, so off (or on again) "
            "can finish. For status: the switch is on but something undid it, or its record "
            "cannot be read.",
        ),
        (str(USAGE), "Usage error: a bad option."),
        (
            str(REFUSED),
            "Nothing was changed: not run as root, this package's programs are missing, a file "
            "that is not this package's link is in the way, or the record cannot be read.",
        ),
    ),
    "FILES": (
        (STATE_FILE, "What on changed, and what was there before."),
        (f"{LINK_DIR}/sdw-updater", "The link on makes (and sdw-notify, sdw-login beside it)."),
        (
            f"~/{coexist.ICON_ENTRY}",
            "SecureDrop Workstation's icon (Exec=sdw-updater), written by its Salt run.",
        ),
        (
            f"~/{coexist.AUTOSTART_ENTRY}",
            "Its login autostart entry (Exec=/usr/bin/sdw-login, which runs sdw-updater).",
        ),
    ),
    "SEE ALSO": (("", "sdw-updater(1), sdw-notify(1), sdw-login(1), systemctl(1)"),),
}


# ----- the edges: systemctl, links, the record ----------------------------------------


def systemctl(*args: str) -> tuple[int | None, str, str]:
    """``systemctl --global ARGS``: (exit code or None, first stdout line, last stderr line)."""
    from sdw_updater.process import run

    program = shutil.which("systemctl", path="/usr/bin:/bin") or "/usr/bin/systemctl"
    result = run([program, "--global", *args], SYSTEMCTL_TIMEOUT, log_output=False)
    first = result.stdout_lines[0].decode("utf-8", "replace").strip() if result.stdout_lines else ""
    last = result.tail[-1] if result.tail else result.describe()
    return result.exit, first[:200], last[:500]


def unit_state(unit: str) -> str | None:
    """``systemctl --global is-enabled UNIT``, one known word; None when it cannot be told."""
    code, word, err = systemctl("is-enabled", unit)
    if word in UNIT_STATES:
        return word
    if code not in (0, None) and not word and "No such file or directory" in err:
        return "not-found"
    return None


def link_state(name: str) -> str:
    """``/usr/local/bin/NAME``: absent, ours (a link to our program), or foreign."""
    path = coexist.link_path(name)
    try:
        target = os.readlink(path)
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "foreign"  # a file, a directory: someone else's
    return OURS if target == coexist.our_program(name) else "foreign"


def remove_record(path: str = STATE_FILE) -> None:
    os.unlink(path)
    sync_directory(path)


# ----- the actions -------------------------------------------------------------------


class Report:
    """What the command says: lines for the admin, errors on stderr."""

    def __init__(self, quiet: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.quiet = quiet
        self.out = out
        self.err = err
        self.failed = False

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.out)

    def error(self, text: str) -> None:
        self.failed = True
        print(f"{PROG}: {text}", file=self.err)


def refuse(report: Report, text: str) -> int:
    print(f"{PROG}: {text}; nothing was changed", file=report.err)
    return REFUSED


class Facts(NamedTuple):
    """What ``on`` looks at before it changes anything (gathered by :func:`gather`)."""

    switch: str  # on, off or unknown (the record)
    previous: SwitchState | None
    missing: list[str]  # our programs that are not there
    link_dir: bool  # /usr/local/bin is a directory
    links: dict[str, str]  # program -> absent, ours or foreign
    upstream: str | None  # systemctl is-enabled of upstream's timer (None: cannot tell)
    ours: str | None  # ... of ours


class Plan(NamedTuple):
    """What ``on`` does: the record to write first, then the links, the mask, the enable."""

    state: SwitchState
    to_link: list[str]
    mask: bool
    enable: bool


def refusal(facts: Facts) -> str | None:
    """Why ``on`` must change nothing, or None."""
    foreign = [coexist.link_path(n) for n, s in facts.links.items() if s == "foreign"]
    reasons = (
        (facts.switch == UNKNOWN, f"{STATE_FILE} cannot be read; run '{PROG} off' first"),
        (
            bool(facts.missing),
            "this package's programs are missing ("
            + ", ".join(coexist.our_program(n) for n in facts.missing)
            + ")",
        ),
        (not facts.link_dir, f"{LINK_DIR} is not a directory"),
        (
            bool(foreign),
            f"{', '.join(foreign)} exists and is not this package's link; move it away",
        ),
        (
            facts.upstream is None or facts.ours is None,
            "systemctl cannot tell whether the reminder timers are enabled",
        ),
        (facts.ours == "not-found", f"{OUR_TIMER} is not installed"),
    )
    return next((text for refused, text in reasons if refused), None)


def plan_on(facts: Facts, now: str) -> Plan:
    """What ``on`` changes: only what is not so already; the record keeps what was before.

    Run again while on, it repairs (a removed link, a lifted mask) and keeps
    the first run's record of what was there before.
    """
    previous = facts.previous
    to_link = [name for name, s in facts.links.items() if s == "absent"]
    links = dict(previous.links) if previous is not None else {}
    links.update({coexist.link_path(n): coexist.our_program(n) for n in to_link})
    mask = facts.upstream not in MASKED
    enable = facts.ours not in ENABLED
    state = SwitchState(
        previous.switched_on_at if previous is not None else now,
        links,
        mask or (previous is not None and previous.masked_upstream_timer),
        enable or (previous is not None and previous.enabled_our_timer),
    )
    return Plan(state, to_link, mask, enable)


def gather() -> Facts:
    switch, previous = coexist.read_state()
    return Facts(
        switch,
        previous,
        [n for n in PROGRAMS if not os.access(coexist.our_program(n), os.X_OK)],
        os.path.isdir(LINK_DIR),
        {name: link_state(name) for name in PROGRAMS},
        unit_state(UPSTREAM_TIMER),
        unit_state(OUR_TIMER),
    )


def run_systemctl(report: Report, verb: str, unit: str) -> None:
    code, _, err = systemctl(verb, unit)
    if code != 0:
        report.error(f"systemctl --global {verb} {unit} failed: {err}")


def switch_on(report: Report) -> int:
    facts = gather()
    reason = refusal(facts)
    if reason is not None:
        return refuse(report, reason)
    plan = plan_on(facts, time.strftime("%Y-%m-%d %H:%M:%S"))
    # The record first: whatever happens next, off knows what may have been done.
    try:
        atomic_write(Path(STATE_FILE), plan.state.to_json(), 0o644)
    except OSError as exc:
        return refuse(report, f"cannot write {STATE_FILE}: {exc}")
    for name in plan.to_link:
        try:
            os.symlink(coexist.our_program(name), coexist.link_path(name))
        except OSError as exc:
            report.error(f"cannot link {coexist.link_path(name)}: {exc}")
    if plan.mask:
        run_systemctl(report, "mask", UPSTREAM_TIMER)
    if plan.enable:
        run_systemctl(report, "enable", OUR_TIMER)
    if report.failed:
        report.error(f"not finished; '{PROG} on' again finishes it, '{PROG} off' undoes it")
        return FAILED
    if facts.previous is not None and not (plan.to_link or plan.mask or plan.enable):
        report.say("The switch was already on; nothing needed doing.")
        return DONE
    report.say(
        "Switched on: SecureDrop Workstation's icon, menu entry and login autostart run "
        f"this updater ({coexist.our_program('sdw-updater')}) from now on."
    )
    report.say(
        f"The reminder changes at each user's next login ({UPSTREAM_TIMER} masked, "
        f"{OUR_TIMER} enabled); a session running now keeps its old reminder until then."
    )
    return DONE


def undo(report: Report, state: SwitchState) -> None:
    """Undo what the record says ``on`` did, checking each item is still as it left it."""
    for link, target in sorted(state.links.items()):
        now = link_state(os.path.basename(link))
        if now == "foreign":
            report.say(f"Left {link} alone: it no longer points at {target}.")
        elif now == OURS:
            try:
                os.unlink(link)
            except OSError as exc:
                report.error(f"cannot remove {link}: {exc}")
    if state.masked_upstream_timer and coexist.upstream_timer_masked():
        run_systemctl(report, "unmask", UPSTREAM_TIMER)
    if state.enabled_our_timer and coexist.our_timer_enabled():
        run_systemctl(report, "disable", OUR_TIMER)


def switch_off(report: Report) -> int:
    switch, state = coexist.read_state()
    if switch == OFF:
        report.say("The switch is off; nothing to undo.")
        return DONE
    if state is None:  # an untrusted record: undo only what is ours beyond doubt
        report.error(
            f"{STATE_FILE} cannot be read: removing only this package's links and timer; "
            f"{UPSTREAM_TIMER} is left as it is (if it is masked and no admin masked it, run "
            f"'systemctl --global unmask {UPSTREAM_TIMER}')"
        )
        links = {coexist.link_path(n): coexist.our_program(n) for n in PROGRAMS}
        state = SwitchState("", links, False, True)
    undo(report, state)
    if report.failed and switch == ON:
        report.error(f"not finished; '{PROG} off' again finishes it")
        return FAILED
    try:
        remove_record()
    except FileNotFoundError:
        pass
    except OSError as exc:
        report.error(f"cannot remove {STATE_FILE}: {exc}")
    if report.failed:
        return FAILED
    report.say(
        "Switched off: SecureDrop Workstation's icon, menu entry and login autostart run its "
        f"own updater ({coexist.upstream_program('sdw-updater')}) again."
    )
    report.say(
        f"The reminder changes at each user's next login ({UPSTREAM_TIMER} back as it was, "
        f"{OUR_TIMER} disabled)."
    )
    return DONE


def desktop_users() -> list[tuple[str, Path]]:
    """(user, home) of dom0's desktop user(s): the members of ``qubes``, else uid >= 1000."""
    try:
        names = list(grp.getgrnam(GUI_GROUP).gr_mem)
    except KeyError:
        names = []
    users = []
    for entry in pwd.getpwall():
        wanted = entry.pw_name in names if names else 1000 <= entry.pw_uid < 65534
        if wanted and os.path.isdir(entry.pw_dir):
            users.append((entry.pw_name, Path(entry.pw_dir)))
    return sorted(users)


WHO = {
    coexist.OURS: "this updater",
    coexist.UPSTREAM: "SecureDrop Workstation's own updater",
    coexist.OTHER: "another program",
    coexist.MISSING: "nothing (no entry, or its program is not found)",
    coexist.DISABLED: "nothing (the entry is disabled)",
}


def show_status(report: Report, users: Callable[[], list[tuple[str, Path]]] = desktop_users) -> int:
    switch, state = coexist.read_state()
    if switch == ON and state is not None:
        report.say(f"switch: on, since {state.switched_on_at}")
    elif switch == OFF:
        report.say("switch: off")
    else:
        report.say(f"switch: unknown ({STATE_FILE} cannot be read)")
    for name in PROGRAMS:
        now = link_state(name)
        words = {"absent": "absent", OURS: "links to this updater", "foreign": "someone else's"}
        report.say(f"{coexist.link_path(name)}: {words[now]}")
    masked = coexist.upstream_timer_masked()
    report.say(f"{UPSTREAM_TIMER}: {'masked' if masked else 'not masked'} for every user")
    enabled = coexist.our_timer_enabled()
    report.say(f"{OUR_TIMER}: {'enabled' if enabled else 'not enabled'} for every user")
    path_env = coexist.SESSION_PATH
    undone = []
    for user, home in users():
        icon = coexist.icon_runs(home, path_env)
        autostart = coexist.autostart_runs(home, path_env)
        report.say(f"{user}: the SecureDrop icon runs {describe(icon)}")
        report.say(f"{user}: the login autostart runs {describe(autostart)}")
        undone += [
            f"{user}: {part}"
            for part in coexist.undone_parts(switch, icon.who, autostart.who, masked)
        ]
    report.say(f"(resolved through a login session's default PATH, {path_env})")
    if switch == UNKNOWN:
        return FAILED
    if undone:
        report.say("undone: " + "; ".join(sorted(set(undone))))
        return FAILED
    return DONE


def describe(runs: coexist.Runs) -> str:
    text = WHO[runs.who]
    return f"{text} ({runs.program})" if runs.program else text


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return USAGE if exc.code else DONE
    report = Report(args.quiet)
    if args.action == "status":
        return show_status(report)
    if os.geteuid() != 0:
        return refuse(report, f"'{args.action}' changes files of every user: run it with sudo")
    if args.action == "on":
        return switch_on(report)
    return switch_off(report)


if __name__ == "__main__":
    sys.exit(main())
