"""Every word the wizard shows, in one place, ready for translation.

The people reading these are journalists under time pressure, not Qubes
admins: the text says what is happening, how long it takes and what to do
next, and avoids "dom0", "template" and "VM" where plain words work.

Translation uses gettext (domain ``sdw-updater``): source strings are
marked with :func:`N_` (extract with ``xgettext -kN_ -ktr -kntr:1,2``)
and translated when shown, through :func:`tr`, so a locale installed after
import still applies.  This module does not import Qt: it is plain text,
and the tests can read it without a display.
"""

from __future__ import annotations

import gettext
import math
from functools import cache

DOMAIN = "sdw-updater"
LOCALE_DIR = "/usr/share/locale"


def N_(text: str) -> str:
    """Mark ``text`` for extraction; it is translated later, when shown."""
    return text


@cache
def _catalog() -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, fallback=True)


def tr(text: str, **values: object) -> str:
    """Translate a marked string, then fill its ``{placeholders}``."""
    translated = _catalog().gettext(text)
    return translated.format(**values) if values else translated


def ntr(singular: str, plural: str, count: int, **values: object) -> str:
    """Translate a string whose wording depends on a number (``{n}`` is filled)."""
    translated = _catalog().ngettext(singular, plural, count)
    return translated.format(n=count, **values)


# ----- window -----------------------------------------------------------------

WINDOW_TITLE = N_("SecureDrop Workstation updates")

# ----- introduction -----------------------------------------------------------

INTRO_TITLE = N_("Security updates are needed")
INTRO_WHY = N_(
    "Before SecureDrop starts, this computer must install the latest security "
    "updates. They protect you and your sources."
)
INTRO_LAST_NEVER = N_("No successful update has been recorded on this computer yet.")
INTRO_POINTS = (
    N_(
        "You cannot use SecureDrop while the updates run. SecureDrop windows that are open may close."
    ),
    N_(
        "Do not turn off or restart the computer until the updates are finished: that could break the workstation."
    ),
    N_("You may see many Qubes notifications appear and disappear. That is normal."),
)
INTRO_CANCEL_NOTE = N_("If you cancel, SecureDrop will not start.")
ALREADY_OPEN = N_(
    "SecureDrop updates were opened again. They are in this window: there is no need to "
    "open them twice."
)
BUTTON_START = N_("&Start updates")
BUTTON_CANCEL = N_("&Cancel")


def intro_last_updated(seconds_ago: float | None) -> str:
    """When the last successful update happened, in plain words."""
    if seconds_ago is None:
        return tr(INTRO_LAST_NEVER)
    return tr(N_("The last successful update was {ago}."), ago=ago(seconds_ago))


def intro_duration(seconds: float) -> str:
    return tr(N_("This usually takes {duration}."), duration=about(seconds))


# ----- progress ---------------------------------------------------------------

PROGRESS_TITLE = N_("Updating the workstation")
PROGRESS_STARTING = N_("Getting ready")
PROGRESS_NOTICE = N_(
    "Do not close this window or restart the computer until the updates are finished."
)
PROGRESS_CLOSE_REFUSED = N_(
    "The updates are still running, so this window cannot be closed yet. "
    "Closing it or restarting the computer now could break the workstation. "
    "Please wait: this window will tell you when it is finished."
)
BUSY_CLOSE_REFUSED = N_("Please wait a moment: this window will close when it is finished.")
PROGRESS_FROM_NOTIFIER = N_(
    "You chose to check for updates. SecureDrop windows that are open may close while "
    "the updates are installed; this window tells you when you can use SecureDrop again."
)
TEMPLATES_HEADING = N_("Parts of the workstation (templates)")
OVERALL_BAR_NAME = N_("Overall progress of the updates")
DETAILS_SHOW = N_("Show &details")
DETAILS_HIDE = N_("Hide &details")
# A disclosure button's accessible description: what a screen reader says of its state.
DISCLOSURE_EXPANDED = N_("expanded")
DISCLOSURE_COLLAPSED = N_("collapsed")
DETAILS_BOX_NAME = N_("Output of the update tools")
DETAILS_SKIPPED = N_("[{n} lines not shown here; the full output is in {path}]")
DETAILS_STEP_FAILED = N_("Failed: {detail}")
ESTIMATING = N_("Estimating the time left")
LESS_THAN_A_MINUTE_LEFT = N_("Less than a minute left")
LONGER_THAN_USUAL = N_("Taking longer than usual, please wait")


def elapsed(seconds: float) -> str:
    """The running time, as a clock (04:12 or 1:04:12), so it visibly ticks."""
    return tr(N_("Time elapsed: {clock}"), clock=clock(seconds))


def time_left(seconds: float | None) -> str:
    """The estimate of the time left; deliberately coarse, so it does not flicker."""
    if seconds is None:
        return tr(ESTIMATING)
    if seconds <= 0:
        return tr(LONGER_THAN_USUAL)
    if seconds < 60:
        return tr(LESS_THAN_A_MINUTE_LEFT)
    return tr(N_("About {duration} left"), duration=duration(seconds))


# Plain words for each step of the plan, keyed by ``plan.Step`` values.
STEP_WORDS: dict[str, str] = {
    "netcheck": N_("Checking the internet connection"),
    "trust": N_("Checking that the updates really come from SecureDrop"),
    "dom0_check": N_("Looking for updates to the core system"),
    "dom0_update": N_("Installing updates to the core system"),
    "trust_installed": N_("Checking that the installed updates are genuine"),
    "dom0_state": N_("Applying the SecureDrop settings"),
    "migration": N_("Upgrading the SecureDrop setup"),
    "template_sources": N_("Checking where the updates come from"),
    "templates": N_("Updating the parts of the workstation"),
    "restart": N_("Restarting the parts of the workstation that were updated"),
}

# A second line for the slow steps, so a slow bar is not read as a frozen one.
STEP_HINTS: dict[str, str] = {
    "dom0_check": N_("This can take a few minutes."),
    "dom0_update": N_("This can take several minutes."),
    "dom0_state": N_(
        "This can take 10 minutes or more, and the progress bar moves slowly. That is normal."
    ),
    "migration": N_(
        "This happens after a SecureDrop upgrade and can take 20 minutes or more. That is normal."
    ),
    "templates": N_("This usually takes the longest. Each part is listed below."),
    "restart": N_("SecureDrop windows that were open may close and reopen."),
}


def step_words(step: str | None, fallback: str = "") -> str:
    """The plain words for a step; the engine's own label for steps added later."""
    if step is not None and step in STEP_WORDS:
        return tr(STEP_WORDS[step])
    return fallback or tr(N_("Working"))


def step_hint(step: str | None) -> str:
    return tr(STEP_HINTS[step]) if step in STEP_HINTS else ""


def template_bar_name(name: str) -> str:
    """What a template's bar measures, for screen readers."""
    return tr(N_("Update progress of {name}"), name=name)


def percent(value: float) -> str:
    return tr(N_("{percent}%"), percent=int(max(0.0, min(100.0, value))))


TEMPLATE_WAITING = N_("Waiting")
TEMPLATE_DONE = N_("Updated")
TEMPLATE_NO_UPDATES = N_("Already up to date")
TEMPLATE_FAILED = N_("Failed")
TEMPLATE_STALLED = N_("Stopped: no progress")
TEMPLATE_NOT_REACHED = N_("Not reached")
EXTRAS_HEADING = N_("Extra templates (added by your organisation)")


def template_quiet(seconds: float) -> str:
    """A template that has shown no progress for a while (the stall display)."""
    return tr(N_("No progress for {clock}"), clock=clock(seconds))


def template_last_line(line: str) -> str:
    return tr(N_("Last output: {line}"), line=line)


# ----- a step that reports no progress of its own -------------------------------------

STEP_WORKING = N_("Working for {clock} (usually about {usual})")
STEP_SLOW = N_("Taking longer than usual: {clock} so far (usually about {usual}). Please wait.")


def step_time(elapsed: float, expected: float) -> str:
    """How long the current step has been working, against how long it usually takes."""
    usual = duration(expected)
    if expected > 0 and elapsed > expected:
        return tr(STEP_SLOW, clock=clock(elapsed), usual=usual)
    return tr(STEP_WORKING, clock=clock(elapsed), usual=usual)


def clock(seconds: float) -> str:
    """A running time as a clock: 04:12, or 1:04:12."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def template_state(state: str, percent: float) -> str:
    """One template's state, from ``events.TemplateState`` values."""
    if state == "updating":
        return tr(N_("Updating: {percent}%"), percent=int(max(0.0, min(100.0, percent))))
    words = {
        "waiting": TEMPLATE_WAITING,
        "done": TEMPLATE_DONE,
        "no_updates": TEMPLATE_NO_UPDATES,
        "failed": TEMPLATE_FAILED,
        "stalled": TEMPLATE_STALLED,
        "not_reached": TEMPLATE_NOT_REACHED,
    }
    return tr(words.get(state, TEMPLATE_WAITING))


# ----- outcomes ---------------------------------------------------------------

BUTTON_CONTINUE = N_("C&ontinue")
BUTTON_REBOOT = N_("&Restart now")
BUTTON_LATER = N_("&Later")
BUTTON_RETRY = N_("&Try again")
BUTTON_CLOSE = N_("C&lose")

LOG_LABEL = N_("Log file:")
TECHNICAL_LABEL = N_("What the updater reported:")
ADMIN_SHOW = N_("Show details for your &administrator")
ADMIN_HIDE = N_("Hide details for your &administrator")
ADMIN_NOTICES = N_("Notices:")
RESTART_OWED_TOO = N_(
    "Updates to the core system were installed, so the computer also needs a restart. "
    "SecureDrop will not start until it has restarted."
)

COMPLETE_TITLE = N_("All updates are complete")
COMPLETE_BODY = N_("The workstation is up to date. Choose Continue to start SecureDrop.")
COMPLETE_BODY_FROM_NOTIFIER = N_(
    "The workstation is up to date. Choose Continue to open SecureDrop again."
)
COMPLETE_STARTING = N_("Starting SecureDrop. This can take a minute.")

CLIENT_FAILED_TITLE = N_("SecureDrop could not start")
CLIENT_FAILED_BODY = N_(
    "The updates are complete, but SecureDrop did not start. Choose Try again. "
    "If it still does not start, restart the computer, or contact your administrator."
)

REBOOT_TITLE = N_("Restart the computer to finish the updates")
REBOOT_BODY = N_(
    "Updates were installed that only take effect after the computer restarts. "
    "SecureDrop will not start until you restart the computer."
)
REBOOT_PENDING_BODY = N_(
    "Updates installed earlier only take effect after the computer restarts, and it "
    "has not restarted since. SecureDrop will not start until you restart the computer."
)
REBOOT_PENDING_FAILED = N_(
    "The last update also did not finish. After the restart, SecureDrop will check "
    "for updates again."
)
REBOOT_SAVE_WORK = N_("Save your work in any other open windows before you restart.")
REBOOT_STARTING = N_("Restarting the computer")
REBOOT_FAILED = N_(
    "The computer could not be restarted from here ({reason}). "
    "Please restart it from the Qubes menu."
)

FAILED_TITLE = N_("The updates did not finish")
FAILED_STEP = N_("The step that failed: {step}.")
FAILED_STEP_UNKNOWN = N_("An unexpected error stopped the updates.")
FAILED_NEXT = N_(
    "SecureDrop will not start until the updates succeed. Choose Try again. If it fails "
    "again, contact your administrator."
)

NETWORK_TITLE = N_("No internet connection")
NETWORK_BODY = N_(
    "The updates need the internet, but this computer is not connected. Nothing was "
    "changed. Connect to the network (with the network icon at the top right of the "
    "screen), then choose Try again."
)

LOCKED_TITLE = N_("Another update is already running")
LOCKED_BODY_AT_START = N_(
    "The updates are already running in another program on this computer, so they "
    "cannot start here. Wait for it to finish, then open SecureDrop again."
)
LOCKED_HOLDER = N_("Running now: {holder}")
LOCKED_BODY = N_(
    "The updates are already running in another window. Wait for that window to "
    "finish. If you cannot find it, wait a few minutes and choose Try again."
)

LOCK_UNUSABLE_TITLE = N_("The updater cannot start")
LOCK_UNUSABLE_BODY = N_(
    "A file the updater needs on this computer is not as it should be, so the updates "
    "cannot run. Nothing was changed. SecureDrop will not start until the updates have "
    "run. Trying again does not help: contact your administrator and give them the "
    "details below."
)

DIST_UPGRADE_TITLE = N_("Qubes is being upgraded")
DIST_UPGRADE_BODY = N_(
    "An upgrade of the Qubes operating system is in progress on this computer, so the "
    "updates cannot run now. Nothing was changed. Contact your administrator."
)

TRUST_TITLE = N_("A security check failed")
TRUST_BODY = N_(
    "The updater could not confirm that the updates come from SecureDrop. To keep the "
    "workstation safe, nothing more was installed. Do not try again: contact your "
    "administrator and give them the details below."
)


def key_expiry(days: int) -> str:
    """The signing key is about to expire: shown to journalists only when close."""
    return ntr(
        "The key that proves updates come from SecureDrop expires in {n} day. Tell your "
        "administrator today: after that, this computer cannot install updates.",
        "The key that proves updates come from SecureDrop expires in {n} days. Tell your "
        "administrator soon: after that, this computer cannot install updates.",
        max(0, days),
    )


def failed_templates(names: list[str]) -> str:
    return ntr(
        "This part could not be updated: {names}.",
        "These parts could not be updated: {names}.",
        len(names),
        names=", ".join(names),
    )


# ----- the summary of a run ------------------------------------------------------

SUMMARY_HEADING = N_("What was updated")
SUMMARY_RETRIED = N_("{state} (on a second try)")
SUMMARY_KEPT = N_("{state} (earlier)")
# A retry updated it although the attempt it retried did not fail it (new in today's
# plan, or a result too old to keep).
SUMMARY_ADDED = N_("{state} (added to this retry)")
SUMMARY_TIME = N_("Time taken: {duration}")
SUMMARY_TIME_SHORT = N_("Time taken: less than a minute")
SUMMARY_RESTARTED = N_("Restarted: {names}")
SUMMARY_NOT_BACK = N_("Did not start again: {names}. Restarting the computer starts them.")
HELP_HEADING = N_("What went wrong")
HELP_FIX_LABEL = N_("What your administrator can do:")
COPY_DETAILS = N_("Cop&y details")
COPIED = N_(
    "The details are copied. Paste them into a message to your administrator. They hold "
    "nothing secret: no keys, no passwords, no file contents."
)
RETRY_ONLY_FAILED = N_("Try again updates only the parts that did not finish.")


def summary_counts(counts: dict[str, int]) -> str:
    """ "3 updated, 1 already up to date, 1 failed" (only the states that occurred)."""
    parts = []
    if counts.get("done"):
        parts.append(ntr("{n} updated", "{n} updated", counts["done"]))
    if counts.get("no_updates"):
        parts.append(ntr("{n} already up to date", "{n} already up to date", counts["no_updates"]))
    if counts.get("failed"):
        parts.append(ntr("{n} failed", "{n} failed", counts["failed"]))
    if counts.get("stalled"):
        parts.append(
            ntr("{n} stopped (no progress)", "{n} stopped (no progress)", counts["stalled"])
        )
    if counts.get("not_reached"):
        parts.append(ntr("{n} not reached", "{n} not reached", counts["not_reached"]))
    return ", ".join(parts)


# ----- durations --------------------------------------------------------------


def duration(seconds: float) -> str:
    """A coarse duration: "3 minutes", "25 minutes", "1 hour 10 minutes"."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes > 10:
        minutes = 5 * round(minutes / 5)
    if minutes < 60:
        return ntr("{n} minute", "{n} minutes", minutes)
    hours, rest = divmod(minutes, 60)
    text = ntr("{n} hour", "{n} hours", hours)
    if rest:
        text = tr(
            N_("{hours} {minutes}"), hours=text, minutes=ntr("{n} minute", "{n} minutes", rest)
        )
    return text


def about(seconds: float) -> str:
    return tr(N_("about {duration}"), duration=duration(seconds))


def ago(seconds: float) -> str:
    """How long ago, coarse: "2 hours ago", "3 days ago"."""
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return ntr("{n} minute ago", "{n} minutes ago", max(1, int(seconds // 60)))
    if seconds < 2 * 86400:
        return ntr("{n} hour ago", "{n} hours ago", int(seconds // 3600))
    return ntr("{n} day ago", "{n} days ago", int(seconds // 86400))
