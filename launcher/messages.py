"""What each outcome screen says, composed from the flow and the engine's result (no Qt).

The window puts these texts on its pages; keeping their composition here
lets the tests read every sentence a screen would show without a display.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from launcher import strings as S
from launcher.flow import Flow, Origin, Screen
from sdw_updater import events as ev
from sdw_updater.lastrun import LastRun
from sdw_updater.result import RunResult


@dataclass(frozen=True)
class OutcomeText:
    """The body for the journalist, the technical message, and whether to name the log."""

    body: str
    technical: str = ""
    show_log: bool = False


def paragraphs(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


def what_failed(result: RunResult | None) -> str:
    """The failed step in plain words, and the templates that failed by name."""
    if result is None or result.failed_step is None:
        return S.tr(S.FAILED_STEP_UNKNOWN)
    step = S.tr(S.FAILED_STEP, step=S.step_words(result.failed_step.value))
    failed = sorted(
        name for name, state in result.templates.items() if state not in ev.UPDATED_STATES
    )
    return "\n".join([step, S.failed_templates(failed)] if failed else [step])


def outcome_text(
    flow: Flow,
    result: RunResult | None,
    previous_failed: bool = False,
    holder: str | None = None,
    lock_refusal: str | None = None,
) -> OutcomeText:
    """The texts of the flow's current outcome screen.

    ``holder`` names the other updater that holds the lock; ``lock_refusal``
    says what is wrong with a lock file that cannot be used, with its path
    (``Lock.refusal``): both are for the administrator's details.
    """
    screen = flow.screen
    message = result.message if result is not None else ""
    owed = S.tr(S.RESTART_OWED_TOO) if flow.restart_offered else ""
    if screen is Screen.COMPLETE:
        body = S.COMPLETE_BODY_FROM_NOTIFIER if flow.origin is Origin.NOTIFIER else S.COMPLETE_BODY
        return OutcomeText(S.tr(body))
    if screen is Screen.REBOOT:
        if flow.restart_pending_at_start:
            failed_too = S.tr(S.REBOOT_PENDING_FAILED) if previous_failed else ""
            body = paragraphs(S.tr(S.REBOOT_PENDING_BODY), failed_too, S.tr(S.REBOOT_SAVE_WORK))
            return OutcomeText(body)
        return OutcomeText(paragraphs(S.tr(S.REBOOT_BODY), S.tr(S.REBOOT_SAVE_WORK)))
    if screen is Screen.FAILED:
        body = paragraphs(what_failed(result), owed, S.tr(S.FAILED_NEXT))
        return OutcomeText(body, message, show_log=True)
    if screen is Screen.NETWORK:
        return OutcomeText(paragraphs(S.tr(S.NETWORK_BODY), owed), message)
    if screen is Screen.LOCKED:
        if flow.other_updater:
            named = S.tr(S.LOCKED_HOLDER, holder=holder or "?")
            return OutcomeText(S.tr(S.LOCKED_BODY_AT_START), named)
        return OutcomeText(paragraphs(S.tr(S.LOCKED_BODY), owed), message)
    if screen is Screen.LOCK_UNUSABLE:
        return OutcomeText(S.tr(S.LOCK_UNUSABLE_BODY), lock_refusal or message, show_log=True)
    if screen is Screen.DIST_UPGRADE:
        return OutcomeText(paragraphs(S.tr(S.DIST_UPGRADE_BODY), owed), message, show_log=True)
    if screen is Screen.TRUST:
        return OutcomeText(paragraphs(S.tr(S.TRUST_BODY), owed), message, show_log=True)
    return OutcomeText(S.tr(S.CLIENT_FAILED_BODY), message, show_log=True)


def notices(
    result: RunResult | None, warnings: Iterable[ev.Notice], notice_days: int
) -> tuple[list[str], list[str]]:
    """Notices for the administrator (all of them), and for the journalist.

    A journalist is told only of a signing key that expires within
    ``notice_days``; everything else (configuration hints, a key expiring
    later) is for the administrator's section and the logs.
    """
    admin = list(result.warnings) if result is not None else []
    journalist = []
    for warning in warnings:
        if warning.text not in admin:
            admin.append(warning.text)
        if warning.days_left is not None and warning.days_left <= notice_days:
            journalist.append(S.key_expiry(warning.days_left))
    return admin, journalist


@dataclass(frozen=True)
class SummaryText:
    """The summary of a run as the window shows it (no Qt): rows, counts, restarts, time."""

    rows: list[tuple[str, str, str]]  # (template, its result in words, its state value)
    extras: list[tuple[str, str, str]]  # the same for the extra templates (own group)
    counts: str
    restarted: str
    not_back: str
    time: str


def summary_text(last: LastRun | None) -> SummaryText | None:
    """The summary an outcome screen shows; None for a run that did not reach the templates."""
    if last is None or not last.reached_templates or not last.templates:
        return None
    rows: list[tuple[str, str, str]] = []
    extras: list[tuple[str, str, str]] = []
    for template in last.templates:
        words = S.template_state(template.result.value, 100.0)
        if template.retried:
            words = S.tr(S.SUMMARY_RETRIED, state=words)
        if template.kept:
            words = S.tr(S.SUMMARY_KEPT, state=words)
        if template.added:
            words = S.tr(S.SUMMARY_ADDED, state=words)
        row = (template.name, words, template.result.value)
        (extras if template.group == "extras" else rows).append(row)
    return SummaryText(
        rows,
        extras,
        S.summary_counts(last.counts()),
        S.tr(S.SUMMARY_RESTARTED, names=", ".join(last.restarted)) if last.restarted else "",
        S.tr(S.SUMMARY_NOT_BACK, names=", ".join(last.not_restarted)) if last.not_restarted else "",
        S.tr(S.SUMMARY_TIME, duration=S.duration(last.duration))
        if last.duration >= 60
        else S.tr(S.SUMMARY_TIME_SHORT),
    )


def help_text(last: LastRun | None) -> tuple[str, list[str]]:
    """What went wrong in plain words (for the journalist), and each fix (for the admin)."""
    if last is None or not last.advice:
        return "", []
    causes = paragraphs(*dict.fromkeys(a.cause for a in last.advice))
    fixes = [f"{a.where}: {a.fix}" for a in last.advice]
    return causes, fixes
