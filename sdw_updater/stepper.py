"""What every step of a run does besides its own work, and how a step stops the run.

The runner (``plan.py``) and the templates step (``templates.py``) share
one :class:`Stepper` per run: it tells the listener that a step started,
ended or was skipped, moves the progress bar (:class:`ProgressTracker`),
passes log lines and tool output on, keeps the help for known failures,
and writes each step's result and duration into the run's
:class:`~sdw_updater.result.RunResult`.

:class:`RunStopped` is the one way a run stops before its end: every step
that cannot go on (a failure, no network, Qubes being upgraded) raises it
with the outcome it means, and the runner records that outcome in one place.
"""

from __future__ import annotations

import logging
import math
import time

from sdw_updater import events as ev
from sdw_updater import process
from sdw_updater.advice import Advice
from sdw_updater.contract import ExitCode
from sdw_updater.history import History
from sdw_updater.logs import clean_line
from sdw_updater.process import Watch
from sdw_updater.result import RunResult
from sdw_updater.steps import STEPS, Step

log = logging.getLogger("sdw.plan")


class RunStopped(Exception):
    """The run cannot go on: it stops with ``outcome``, at ``step`` (None: before any)."""

    def __init__(
        self,
        outcome: ExitCode,
        step: Step | None,
        message: str,
        lines: list[str] | None = None,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.step = step
        self.message = message
        # The failed tool's last output lines and exit code, for the help.
        self.lines = lines or []
        self.exit_code = exit_code


class ProgressTracker:
    """Turns step fractions into an overall percentage that never goes backwards.

    Each step weighs what it is expected to take (this workstation's past
    runs, else the step table's default), so the bar moves with the clock.
    """

    def __init__(self, listener: ev.Listener, history: History) -> None:
        self.listener = listener
        self.weights: dict[Step, float] = {
            step: history.estimate(step) for step in Step if step is not Step.MIGRATION
        }
        self.fractions: dict[Step, float] = {}
        self.last = 0.0

    def add(self, step: Step, weight: float) -> None:
        self.weights[step] = weight

    def set(self, step: Step, fraction: float) -> None:
        fraction = min(1.0, max(0.0, fraction))
        if fraction <= self.fractions.get(step, 0.0):
            return
        self.fractions[step] = fraction
        total = sum(self.weights.values()) or 1.0
        done = sum(self.weights.get(s, 0.0) * f for s, f in self.fractions.items())
        value = min(100.0, 100.0 * done / total)
        if value > self.last + 0.05 or (value >= 100.0 > self.last):
            self.last = value
            self.listener(ev.OverallProgress(round(value, 1)))

    def finish(self) -> None:
        if self.last < 100.0:
            self.last = 100.0
            self.listener(ev.OverallProgress(100.0))


class Stepper:
    """The events, progress, log lines and help of one run (see the module docstring)."""

    def __init__(self, listener: ev.Listener, history: History, result: RunResult) -> None:
        self.listener = listener
        self.progress = ProgressTracker(listener, history)
        self.result = result

    def begin(self, step: Step, *, even_when_stopping: bool = False) -> float:
        """A step starts; when the updater is being stopped, none does but what must.

        ``even_when_stopping``: a step that puts the workstation back as
        the run found it (the VMs started again) runs even then.
        """
        if process.cancelled() and not even_when_stopping:
            raise RunStopped(ExitCode.FAILED, step, "The updater was asked to stop.")
        self.listener(
            ev.StepStarted(step.value, STEPS[step].label, self.progress.weights.get(step, 0.0))
        )
        return time.monotonic()

    def end(self, step: Step, began: float, ok: bool, detail: str = "") -> None:
        self.result.durations[step.value] = time.monotonic() - began
        self.result.steps[step.value] = "ok" if ok else "failed"
        self.progress.set(step, 1.0)
        self.listener(ev.StepFinished(step.value, ok, detail))

    def skip(self, step: Step, why: str) -> None:
        self.result.steps[step.value] = "skipped"
        self.progress.set(step, 1.0)
        self.listener(ev.StepFinished(step.value, True, why, skipped=True))

    def add_advice(self, advice: Advice | None) -> None:
        if advice is not None and advice not in self.result.advice:
            self.result.advice.append(advice)
            log.info(
                "Help for %s (%s): %s Fix: %s", advice.where, advice.kind, advice.cause, advice.fix
            )

    def log(self, text: str, level: str = "info") -> None:
        getattr(log, "info" if level == "output" else level)(text)
        self.listener(ev.LogLine(text, level))

    def watch(self, step: Step, began: float) -> Watch:
        """Tool output to the listener, and time-based progress for tools that print none."""
        expected = max(1.0, self.progress.weights.get(step, 60.0))

        def tick() -> None:
            elapsed = time.monotonic() - began
            self.progress.set(step, 0.95 * (1.0 - math.exp(-elapsed / expected)))

        return Watch(on_stdout=self.output, on_stderr=self.output, on_tick=tick)

    def output(self, line: bytes) -> None:
        self.listener(ev.LogLine(clean_line(line), "output"))
