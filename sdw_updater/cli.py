"""The text front end (``sdw-updater --cli``).

Prints the runner's events: a one-line progress bar on a terminal, plain
timestamped lines otherwise (logs, CI, ssh), then the outcome in words.  On
success it starts the client, as the window's Continue button does.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import time
from typing import TextIO

from sdw_updater import events as ev
from sdw_updater import process
from sdw_updater.context import Context
from sdw_updater.contract import ExitCode
from sdw_updater.freshness import Action, Decision
from sdw_updater.plan import Runner, RunResult

TEMPLATE_WORDS = {
    ev.TemplateState.WAITING: "waiting",
    ev.TemplateState.UPDATING: "updating",
    ev.TemplateState.DONE: "updated",
    ev.TemplateState.NO_UPDATES: "no updates",
    ev.TemplateState.FAILED: "FAILED",
}


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

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.LogLine) and event.level == "output":
            # Tool output is not shown here, and a VM may print millions of
            # lines: redraw the bar's clock a few times a second, not per line.
            if self.tty and time.monotonic() - self.bar_drawn_at >= 0.2:
                self._bar()
            return
        if isinstance(event, ev.StepStarted):
            self.label = event.label
            self._line(f"{event.label}...")
        elif isinstance(event, ev.StepFinished):
            if event.skipped:
                return
            word = "done" if event.ok else "FAILED"
            self._line(f"  {word}" + (f": {event.detail}" if event.detail else ""))
        elif isinstance(event, ev.OverallProgress):
            self.percent = event.percent
            if not self.tty and event.percent - self.last_plain_percent >= 10:
                self.last_plain_percent = event.percent
                self._line(f"  progress {event.percent:.0f}%")
        elif isinstance(event, ev.TemplateProgress):
            previous = self.templates.get(event.name)
            self.templates[event.name] = (event.state, event.percent)
            if previous is None or previous[0] is not event.state:
                if event.state is not ev.TemplateState.WAITING:
                    self._line(f"  {event.name}: {TEMPLATE_WORDS[event.state]}")
        elif isinstance(event, ev.Notice):
            self._line(f"WARNING: {event.text}")
        elif isinstance(event, ev.LogLine) and event.level in ("warning", "error"):
            self._line(f"{event.level.upper()}: {event.text}")
        if self.tty:
            self._bar()

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
    """The outcome in plain words, one line each."""
    lines = [result.message]
    if result.templates:
        for name, state in sorted(result.templates.items()):
            lines.append(f"  {name}: {TEMPLATE_WORDS[state]}")
    if result.restarted:
        lines.append(f"Restarted: {', '.join(result.restarted)}")
    if result.not_restarted:
        lines.append(f"Did not start again: {', '.join(result.not_restarted)}")
    for warning in result.warnings:
        lines.append(f"Warning: {warning}")
    return lines


def _stop_tools(signum: int, _frame: object) -> None:
    """SIGTERM during a run: stop the running tool's whole process group.

    The runner then fails the step, records the status (an owed restart
    included) and releases the lock; the process exits 1.  Without this
    the tools, in sessions of their own, would run on as orphans.
    """
    count = process.stop_all()
    logging.getLogger("sdw.cli").warning("Signal %d: stopping (%d tools running)", signum, count)


def run_cli(
    ctx: Context, decision: Decision, skip_netcheck: bool, stream: TextIO | None = None
) -> int:
    """Run the flow without a window; return the design's exit code."""
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
    runner = Runner(
        ctx.host, ctx.store, printer, skip_netcheck=skip_netcheck, trust=ctx.make_trust()
    )
    previous = signal.signal(signal.SIGTERM, _stop_tools)
    try:
        result = runner.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    printer.close()
    for line in summary(result):
        out.write(line + "\n")
    if process.cancelled():
        return ExitCode.FAILED
    if result.outcome is not ExitCode.OK:
        if result.outcome is ExitCode.FAILED or result.outcome is ExitCode.TRUST:
            out.write(f"Details: {ctx.log_dir / 'updater.log'} and updater-detail.log\n")
        return int(result.outcome)
    return ctx.start_client(out)
