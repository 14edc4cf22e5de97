"""What a run ends with: the data every front end and the summary read.

Its own module so that what reads a run's end (``lastrun.py``'s summary,
the window, ``--cli``) depends on this data, never on the runner that
produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sdw_updater.advice import Advice
from sdw_updater.contract import ExitCode
from sdw_updater.events import TemplateState
from sdw_updater.steps import Step
from sdw_updater.version import __version__


@dataclass
class RunResult:
    """Everything the front ends need to tell the user what happened."""

    outcome: ExitCode
    message: str = ""
    failed_step: Step | None = None
    templates: dict[str, TemplateState] = field(default_factory=dict)
    dom0_updated: bool = False
    # A restart of dom0 is owed: asked for by this run or by an earlier one
    # that has not happened yet.  A failure screen must still offer it.
    reboot_owed: bool = False
    restarted: list[str] = field(default_factory=list)
    not_restarted: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    # For the summary (lastrun.py): each step's result ("ok", "failed",
    # "skipped"), in the order they ran; each template's group ("workstation",
    # or "extras" for templates an admin added); the last output lines of
    # the templates that did not update; the templates updated a second time
    # because their failure looked transient, and those whose results a
    # retry kept from the attempt before.
    steps: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    template_lines: dict[str, list[str]] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    # The templates a retry updates although the attempt it retries did not
    # fail them, each with why (not in that attempt's plan, ...).
    added: dict[str, str] = field(default_factory=dict)
    # When the attempt that produced each template's result began (dom0's
    # clock): this run's start, or the earlier attempt's for a kept result.
    results_at: dict[str, float] = field(default_factory=dict)
    # The VMs that ran before the run: what must run after it (a retry starts
    # those that did not come back).
    running_before: list[str] = field(default_factory=list)
    # Help for the known failures (advice.py), one per place that failed.
    advice: list[Advice] = field(default_factory=list)
    started_at: float = 0.0  # dom0's wall clock
    finished_at: float = 0.0
    attempt: int = 1  # 2 and more: a retry
    version: str = __version__
