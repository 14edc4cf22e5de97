"""One run's summary (``sdw_updater.lastrun.LastRun``) with a result of every kind, to vary.

What the summary file, a retry's plan, the diagnostics text and the
window's summary are made from: five templates (updated, failed, stalled
as an extra template, up to date on a second try, not reached), a VM that
did not start again and the help for a full disk.
"""

from __future__ import annotations

import time

from sdw_updater import advice
from sdw_updater.contract import ExitCode
from sdw_updater.events import TemplateState as T
from sdw_updater.lastrun import LastRun, TemplateOutcome
from sdw_updater.steps import Step

NOW = time.time()


def sample(**changes: object) -> LastRun:
    base = LastRun(
        outcome=ExitCode.FAILED,
        started_at=NOW - 300,
        finished_at=NOW - 60,
        duration=240.0,
        version="9.9",
        failed_step=Step.TEMPLATES,
        steps=(
            (Step.NETCHECK, "ok"),
            (Step.DOM0_CHECK, "ok"),
            (Step.DOM0_STATE, "ok"),
            (Step.TEMPLATES, "failed"),
        ),
        templates=(
            TemplateOutcome("a", T.DONE),
            TemplateOutcome("b", T.FAILED, last_lines=("E: boom",)),
            TemplateOutcome("c", T.STALLED, "extras", last_lines=("Get:1",)),
            TemplateOutcome("d", T.NO_UPDATES, retried=True),
            TemplateOutcome("e", T.NOT_REACHED),
        ),
        restarted=("sys-net",),
        not_restarted=("sd-log",),
        running_before=("sd-log", "sys-net"),
        advice=(advice.Advice("disk_full", "b", "full", "`df`", "E: boom"),),
        message="These templates failed",
    )
    return base.__class__(**{**base.__dict__, **changes})
