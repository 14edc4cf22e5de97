"""The text front end (``sdw-updater --cli``).

Prints the runner's events: a one-line progress bar on a terminal, plain
timestamped lines otherwise (logs, CI, ssh), then the outcome in words and
the run's summary (each template's result, counts, VMs restarted, time
taken).  After a failure it prints the help for known failures and the
details an administrator can copy (``diagnostics.py``).  On success it
starts the client, as the window's Continue button does.

``--retry-failed`` (an extension) retries the last recorded run: only the
templates that failed, or from the failed step (``lastrun.retry_plan``);
without such a run it is a normal run.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, ClassVar, TextIO

from sdw_updater import diagnostics, lastrun, process
from sdw_updater import events as ev
from sdw_updater.context import Context
from sdw_updater.contract import ExitCode
from sdw_updater.freshness import Action, Decision
from sdw_updater.lastrun import LastRun, Retry
from sdw_updater.plan import Runner
from sdw_updater.result import RunResult

TEMPLATE_WORDS = {
    ev.TemplateState.WAITING: "waiting",
    ev.TemplateState.UPDATING: "updating",
    ev.TemplateState.DONE: "updated",
    ev.TemplateState.NO_UPDATES: "no updates",
    ev.TemplateState.FAILED: "FAILED",
    ev.TemplateState.STALLED: "STALLED",
    ev.TemplateState.NOT_REACHED: "not reached",
}
#: How a template ended, in the summary.
SUMMARY_WORDS = {
    "done": "updated",
    "no_updates": "already up to date",
    "failed": "FAILED",
    "stalled": "STALLED (no progress, stopped)",
    "not_reached": "not reached",
}
#: Seconds of quiet after which a template's silence is printed (then every minute).
QUIET_SHOWN = 60.0


class Printer:
    """A listener that renders events on a stream."""

    def __init__(self, stream: TextIO, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.percent = 0.0
        self.label = ""
        self.templates: dict[str, tuple[ev.TemplateState, float]] = {}
        self.last_plain_percent = -10.0
        self.started = time.monotonic()
        self.bar_shown = False
        self.bar_drawn_at = 0.0
        self.extras: tuple[str, ...] = ()
        self.quiet_said: dict[str, int] = {}

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.LogLine) and event.level == "output":
            # Tool output is not shown here, and a VM may print millions of
            # lines: redraw the bar's clock a few times a second, not per line.
            if self.tty and time.monotonic() - self.bar_drawn_at >= 0.2:
                self._bar()
            return
        render = self._renderers.get(type(event))
        text = render(self, event) if render is not None else None
        if text is not None:
            self._line(text)
        if self.tty:
            self._bar()

    # One renderer per event type: the line it prints, or None.

    def _step_started(self, event: ev.StepStarted) -> str | None:
        self.label = event.label
        return f"{event.label}..."

    def _step_finished(self, event: ev.StepFinished) -> str | None:
        if event.skipped:
            return None
        word = "done" if event.ok else "FAILED"
        return f"  {word}" + (f": {event.detail}" if event.detail else "")

    def _overall(self, event: ev.OverallProgress) -> str | None:
        self.percent = event.percent
        if self.tty or event.percent - self.last_plain_percent < 10:
            return None
        self.last_plain_percent = event.percent
        return f"  progress {event.percent:.0f}%"

    def _template(self, event: ev.TemplateProgress) -> str | None:
        previous = self.templates.get(event.name)
        self.templates[event.name] = (event.state, event.percent)
        changed = previous is None or previous[0] is not event.state
        if not changed or event.state is ev.TemplateState.WAITING:
            return None
        return f"  {event.name}: {TEMPLATE_WORDS[event.state]}"

    def _planned(self, event: ev.TemplatesPlanned) -> str | None:
        self.extras = event.extras
        if not event.extras:
            return None
        return f"Extra templates (sd-extras), updated too: {', '.join(event.extras)}"

    def _activity(self, event: ev.TemplateActivity) -> str | None:
        """A quiet template is said once a minute, with how long and its last line."""
        minutes = int(event.quiet // 60)
        if event.quiet < QUIET_SHOWN or self.quiet_said.get(event.name) == minutes:
            return None
        self.quiet_said[event.name] = minutes
        last = f" (last output: {event.last_line[:120]})" if event.last_line else ""
        return (
            f"  {event.name}: no progress for {minutes} min; stopped after "
            f"{event.limit / 60:.0f} min{last}"
        )

    def _notice(self, event: ev.Notice) -> str | None:
        return f"WARNING: {event.text}"

    def _log(self, event: ev.LogLine) -> str | None:
        if event.level not in ("warning", "error"):
            return None
        return f"{event.level.upper()}: {event.text}"

    _renderers: ClassVar[dict[type, Callable[[Printer, Any], str | None]]] = {
        ev.StepStarted: _step_started,
        ev.StepFinished: _step_finished,
        ev.OverallProgress: _overall,
        ev.TemplateProgress: _template,
        ev.TemplatesPlanned: _planned,
        ev.TemplateActivity: _activity,
        ev.Notice: _notice,
        ev.LogLine: _log,
    }

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text + "\n")
        else:
            stamp = time.strftime("%H:%M:%S")
            self.stream.write(f"{stamp} {text}\n")
        self.stream.flush()

    def _bar(self) -> None:
        width = max(20, min(40, shutil.get_terminal_size((80, 20)).columns - 40))
        filled = int(width * self.percent / 100)
        elapsed = int(time.monotonic() - self.started)
        bar = "#" * filled + "-" * (width - filled)
        text = f"[{bar}] {self.percent:5.1f}%  {elapsed // 60:02d}:{elapsed % 60:02d}  {self.label}"
        self.stream.write("\r\x1b[K" + text[: shutil.get_terminal_size((80, 20)).columns - 1])
        self.stream.flush()
        self.bar_shown = True
        self.bar_drawn_at = time.monotonic()

    def close(self) -> None:
        if self.tty and self.bar_shown:
            self.stream.write("\n")
            self.stream.flush()


def summary(result: RunResult) -> list[str]:
    """The outcome in plain words, then the run's summary, one line each."""
    lines = [result.message]
    last = lastrun.summarize(result)
    lines += summary_lines(last)
    for warning in result.warnings:
        lines.append(f"Warning: {warning}")
    return lines


def summary_lines(last: LastRun) -> list[str]:
    """The summary of a run that reached the templates (nothing for one that did not)."""
    if not last.templates and not last.restarted and not last.not_restarted:
        return []
    lines = ["Summary:"]
    width = max((len(t.name) for t in last.templates), default=0)
    for group, heading in (("workstation", ""), ("extras", "Extra templates (sd-extras):")):
        members = [t for t in last.templates if t.group == group]
        if members and heading:
            lines.append(f"  {heading}")
        for t in members:
            words = SUMMARY_WORDS.get(t.result.value, t.result.value)
            if t.retried:
                words += " (tried twice: the first failure looked transient)"
            if t.kept:
                words += " (earlier attempt)"
            if t.added:
                words += f" (added to this retry: {t.added})"
            lines.append(f"  {t.name.ljust(width)}  {words}")
    counts = last.counts()
    said = [
        f"{counts[state]} {SUMMARY_WORDS[state].split(' (')[0].lower()}"
        for state in SUMMARY_WORDS
        if counts.get(state)
    ]
    if said:
        lines.append("  " + ", ".join(said))
    lines.append(f"  Restarted: {', '.join(last.restarted) or 'none'}")
    if last.not_restarted:
        lines.append(f"  Did not start again: {', '.join(last.not_restarted)}")
    lines.append(f"  Time taken: {diagnostics.duration(last.duration)}")
    return lines


def help_lines(last: LastRun) -> list[str]:
    """The help for each known failure: the cause, and what an administrator runs."""
    lines = []
    for advice in last.advice:
        lines.append(f"What went wrong ({advice.where}): {advice.cause}")
        lines.append(f"  What to do: {advice.fix}")
    return lines


def details(ctx: Context, last: LastRun) -> str:
    """The diagnostics text (what the window's "Copy details" copies)."""
    return diagnostics.text(last, diagnostics.facts_for(ctx))


def _stop_tools(signum: int, _frame: object) -> None:
    """SIGTERM during a run: stop the running tool's whole process group.

    The runner then fails the step, records the status (an owed restart
    included) and releases the lock; the process exits 1.  Without this
    the tools, in sessions of their own, would run on as orphans.
    """
    count = process.stop_all()
    logging.getLogger("sdw.cli").warning("Signal %d: stopping (%d tools running)", signum, count)


def retry_of_last_run(ctx: Context) -> tuple[Retry | None, str]:
    """``--retry-failed``: what the last recorded run left to retry (None: a normal run)."""
    now = ctx.host.now()
    return lastrun.retry_from_disk(
        lastrun.read(ctx.store.directory, now), ctx.store.read_status(now), now
    )


def run_cli(
    ctx: Context,
    decision: Decision,
    skip_netcheck: bool,
    stream: TextIO | None = None,
    retry_failed: bool = False,
) -> int:
    """Run the flow without a window; return its exit code (docs/contract.md, "Exit codes")."""
    out = stream or sys.stdout
    if decision.action is Action.REBOOT_PENDING:
        if decision.previous_failed:
            out.write("The last update failed, and it also installed system updates.\n")
        out.write(
            "A restart is required to finish the updates installed earlier.\n"
            "Restart the computer (for example with `sudo reboot`); the SecureDrop app will not start until then.\n"
        )
        return int(ExitCode.REBOOT_REQUIRED)
    printer = Printer(out, tty=out.isatty())
    retry: Retry | None = None
    if retry_failed:
        retry, why = retry_of_last_run(ctx)
        out.write(f"--retry-failed: {why}\n")
    runner = Runner(
        ctx.host,
        ctx.store,
        printer,
        skip_netcheck=skip_netcheck,
        trust=ctx.make_trust(),
        retry=retry,
    )
    previous = signal.signal(signal.SIGTERM, _stop_tools)
    try:
        result = runner.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    printer.close()
    for line in summary(result):
        out.write(line + "\n")
    last = lastrun.summarize(result)
    for line in help_lines(last):
        out.write(line + "\n")
    if process.cancelled():
        return ExitCode.FAILED
    if result.outcome is not ExitCode.OK:
        if result.outcome is ExitCode.FAILED or result.outcome is ExitCode.TRUST:
            out.write(f"Details: {ctx.log_dir / 'updater.log'} and updater-detail.log\n")
            out.write("\n--- Details for your administrator (copy from here) ---\n")
            out.write(details(ctx, last))
            out.write("--- end of details ---\n")
            if result.outcome is ExitCode.FAILED and not result.reboot_owed:
                out.write("To retry only what failed: sdw-updater --cli --retry-failed\n")
        return int(result.outcome)
    return ctx.start_client(out)
