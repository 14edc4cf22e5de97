"""The templates step (``sdw_updater/templates.py``): what a retry updates, how old a kept result may be.

The choice is a pure function: a retry keeps what succeeded in the attempt
before and is still planned, and updates every other template of today's
plan, saying why.  The engine runs in-process on the simulated workstation,
as the window's Try again starts it, with a clock the test moves: no result
older than a day is kept, and the automatic retry of a transient failure
gets only what is left of the step's time.  The same through the console
script: tests/e2e/test_retry.py and tests/e2e/test_stall.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers import INSTANT, NO_DOM0, read_journal, template, vm_updates
from helpers.engine import Clock, attempt, workstation

from sdw_updater import events as ev
from sdw_updater import lastrun
from sdw_updater.contract import ExitCode
from sdw_updater.events import TemplateState
from sdw_updater.history import History
from sdw_updater.lastrun import Retry
from sdw_updater.process import ToolResult
from sdw_updater.result import RunResult
from sdw_updater.settings import Settings
from sdw_updater.stepper import Stepper
from sdw_updater.steps import Step
from sdw_updater.templates import (
    STOP_GRACE,
    Choice,
    TemplatesStep,
    did_not_exit,
    left_to_workers,
    second_try_refused,
    select,
    verdict,
)

VIEWER = "sd-viewer-debian-13"
INBOX = "sd-inbox-debian-13"
FEDORA = "fedora-43-xfce"
HOUR = 3600.0


def test_what_a_retry_keeps_and_what_it_updates() -> None:
    """Kept: succeeded before and still planned; everything else planned is updated."""
    done, failed = TemplateState.DONE, TemplateState.FAILED
    now = 1_800_000_000.0
    retry = Retry(
        templates=("b",),
        kept={"a": done, "gone": done, "old": done, "unknown": done},
        kept_at={"a": now - 23 * HOUR, "gone": now, "old": now - 25 * HOUR},
    )
    today = ["a", "b", "new", "extra", "old", "unknown"]
    choice = select(today, retry, {"extra": "extras"}, now)
    assert choice.kept == {"a": done}
    assert choice.update == ["b", "new", "extra", "old", "unknown"]
    assert choice.added == {
        "new": "not in the earlier attempt",
        "extra": "not in the earlier attempt (an extra template, sd-extras)",
        "old": "its result is from an attempt more than a day ago",
        "unknown": "the time of its result is not known",
    }
    assert select(today, None, {}, now) == Choice(today, {}, {})
    # Whatever chose: a planned template without an updated result fails the step.
    ok = ToolResult(["qubes-vm-update"], 0)
    assert verdict(["a", "b"], {"a": done, "b": done}, ok, {}) is None
    detail, stop = verdict(["a", "b"], {"a": done}, ok, {}) or ("", None)
    assert detail == "b" and stop is not None and "planned but not updated: b" in stop.message
    detail, stop = verdict(["a", "b"], {"a": done, "b": failed}, ok, {}) or ("", None)
    assert detail == "b" and stop is not None and stop.step is Step.TEMPLATES


def test_which_ends_of_the_tool_may_have_left_templates_running() -> None:
    """Killed by a signal or by the updater: what it started may run on; never started: nothing."""
    argv = ["qubes-vm-update"]
    killed = (
        ToolResult(argv, -9),  # the OOM killer
        ToolResult(argv, -2),  # SIGINT during its propagation
        ToolResult(argv, None, timed_out=True),  # killed at the timeout, never asked to stop
        ToolResult(argv, None, stopped=True, interrupted=True),
    )
    assert all(did_not_exit(result) for result in killed)
    exited = (
        ToolResult(argv, 0),
        ToolResult(argv, 1),
        ToolResult(argv, 130, interrupted=True),  # stopped cleanly, shut down its own
        ToolResult(argv, None),  # could not be started (the updater was being stopped)
        ToolResult(argv, None, missing=True),
    )
    assert not any(did_not_exit(result) for result in exited)
    # Only a group that is gone left its templates to the updater: a dead tool whose
    # children still hold its output may still be updating them.
    assert left_to_workers(ToolResult(argv, -9, pipes_abandoned=True))
    assert not any(left_to_workers(result) for result in killed)


# ----- how old a kept result may be ---------------------------------------------------------


class StepClock:
    """A listener that times each step as the window sees it (started, finished)."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.took: dict[str, float] = {}

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted):
            self.started[event.step] = time.monotonic()
        elif isinstance(event, ev.StepFinished) and event.step in self.started:
            self.took[event.step] = time.monotonic() - self.started[event.step]


def test_try_again_keeps_no_result_older_than_a_day(home: Path) -> None:
    """A window left open: Try again after 10 h (fails again), then after 30 h.

    The templates that succeeded in the first attempt are 30 hours old by
    the third: they are updated again, said so, not kept.
    """
    clock = Clock()
    host, store = workstation(home, INSTANT + NO_DOM0 + template(VIEWER, fail_first=2), clock)
    first = attempt(host, store, None)
    assert first.outcome is ExitCode.FAILED
    clock.offset = 10 * HOUR
    second = attempt(host, store, lastrun.retry_plan(lastrun.summarize(first)))
    assert second.outcome is ExitCode.FAILED and FEDORA in second.kept
    clock.offset = 30 * HOUR
    before = len(read_journal(home))
    third = attempt(host, store, lastrun.retry_plan(lastrun.summarize(second)))
    assert third.outcome is ExitCode.OK, third.message
    updated = [name for targets in vm_updates(read_journal(home)[before:]) for name in targets]
    assert FEDORA in updated and INBOX in updated, updated
    assert third.kept == []
    assert "more than a day ago" in third.added[FEDORA]


# ----- the automatic retry gets what is left of the step's time ------------------------------

# Timeouts cut a thousandfold: the templates step's three hours are 10.8 s.  At
# time_scale 0.05 an update of 140 simulated seconds takes 7 real seconds, so a
# first call and an automatic retry of a full step's time would take 14 s.
SLOW_UPDATES = (
    "[sim]\ntime_scale = 0.05\ntimeout_scale = 0.001\nvm_start_duration = 0\n"
    "vm_shutdown_duration = 0\n[network]\ncheck_duration = 0\n"
    "[dom0]\nupdates = false\ncheck_duration = 0\nhighstate_duration = 0\n"
    "[client]\nstart_duration = 0\n"
    + "".join(template(name, duration=140) for name in (VIEWER, INBOX, "whonix-gateway-17"))
    + template(FEDORA, duration=140, fail_first=1, failure="network")
)
STEP_BOUND = 3 * 3600 * 0.001


def test_the_automatic_retry_gets_what_is_left_of_the_steps_time(home: Path) -> None:
    """A transient failure after 7 s: the retry may use the 3.8 s left, not 10.8 s more."""
    (home / ".securedrop_updater").mkdir()
    # The stall watchdog stays out of it (600 minutes scaled are 36 s).
    (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(
        '{"stall_minutes": 600}'
    )
    host, store = workstation(home, SLOW_UPDATES, Clock())
    steps = StepClock()
    result = attempt(host, store, None, steps)
    assert len(vm_updates(read_journal(home))) == 2, result.message  # it was retried
    assert result.retried == [FEDORA]
    assert result.outcome is ExitCode.FAILED
    assert result.templates[FEDORA] is not TemplateState.DONE
    assert steps.took["templates"] <= STEP_BOUND + 2.0, steps.took
    assert "did not finish in time" in result.message


# ----- no second try without the time to stop it cleanly ------------------------------------


def test_a_second_try_needs_the_time_to_stop_cleanly() -> None:
    """Tried again only with at least the clean stop's grace left; otherwise said why not."""
    assert second_try_refused(left=301.0, grace=300.0) is None
    assert second_try_refused(left=300.0, grace=300.0) is None
    for left in (299.0, 1.0, 0.0, -5.0):
        why = second_try_refused(left=left, grace=300.0)
        assert why is not None and "300 s" in why, (left, why)


def test_no_second_try_starts_in_the_last_moments_of_the_step(home: Path) -> None:
    """A transient failure with 20 s of the step left, the clean stop's grace being 30 s.

    The in-process engine's templates step on the simulated workstation,
    its step's end set by the test: one qubes-vm-update only, the template
    left failed, and the log says why it was not tried again.
    """
    scenario = (
        "[sim]\ntime_scale = 0.0\ntimeout_scale = 0.1\n"
        + NO_DOM0
        + template(FEDORA, fail_first=1, failure="network")
    )
    host, store = workstation(home, scenario, Clock())
    logged: list[str] = []

    def listener(event: ev.Event) -> None:
        if isinstance(event, ev.LogLine):
            logged.append(event.text)

    stepper = Stepper(listener, History(store.directory), RunResult(ExitCode.OK))
    step = TemplatesStep(host, stepper, Settings(), None)
    assert STOP_GRACE * host.timeout_scale == 30.0
    step.deadline = time.monotonic() + 20.0
    final, _, _ = step._update([FEDORA], Step.TEMPLATES)
    assert len(vm_updates(read_journal(home))) == 1
    assert final[FEDORA] is TemplateState.FAILED
    assert any(f"{FEDORA}: not tried again" in line for line in logged), logged
