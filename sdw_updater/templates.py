"""The templates step: one batch of ``qubes-vm-update``, watched, and retried when worth it.

``qubes-vm-update`` updates every template of the run in one process.
This module runs it and follows it: each template's progress (its own
``done`` line decides its result, ``progress.TemplateTracker``), the stall
watchdog (a template that shows no progress and prints nothing for the
administrator's ``stall_minutes`` stops the tool), and the automatic retry
of a template whose failure looks transient (the network, Tor).  The
step's timeout bounds the whole step: the automatic retry gets what is
left of it, not a timeout of its own, and starts only when that is at least
the time a clean stop takes (``STOP_GRACE``).

The tool is never cut off first.  The watchdog, the timeout and the
updater's SIGTERM all stop it gracefully (``process.Interrupt``): SIGINT
to the tool alone, so the templates already updating finish by
themselves and the others end cancelled (not reached), then a bounded
wait, and only then its process group is killed.  The log says which
templates finished, were cancelled, stalled or were cut off, and the
templates a killed tool left running are shut down, also when something
else killed it (the OOM killer, say), but never while processes it started
outlive it: its workers may still be updating them.

A retry ("Try again", ``--retry-failed``) keeps the recent results of
the templates that succeeded before and updates every other template of
today's plan (:func:`select`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

from sdw_updater import advice as advising
from sdw_updater import events as ev
from sdw_updater import process
from sdw_updater.contract import ExitCode
from sdw_updater.events import UPDATED_STATES, TemplateState
from sdw_updater.host import Host
from sdw_updater.lastrun import Retry, recent
from sdw_updater.process import Interrupt, ToolResult, Watch
from sdw_updater.progress import Activity, TemplateTracker
from sdw_updater.settings import Settings
from sdw_updater.stepper import RunStopped, Stepper
from sdw_updater.steps import STEPS, Step

log = logging.getLogger("sdw.templates")

#: Seconds between two ``TemplateActivity`` events of one template.
ACTIVITY_EVERY = 1.0
#: Seconds (scaled like every timeout) ``qubes-vm-update`` gets to stop cleanly after
#: SIGINT at its timeout or the updater's SIGTERM (``process.Interrupt``): updates under
#: way finish, nothing new starts; after that its process group is killed.  At the
#: timeout the SIGINT comes this long before it, so the step's bound holds.
STOP_GRACE = 300.0
#: States only a template's own done line gives.
DONE_LINE_STATES = frozenset({TemplateState.DONE, TemplateState.NO_UPDATES, TemplateState.FAILED})


class TemplatesStep:
    """Updates the templates of one run (see the module docstring)."""

    def __init__(
        self,
        host: Host,
        stepper: Stepper,
        settings: Settings,
        retry: Retry | None,
        running_before: Collection[str] = (),
    ) -> None:
        self.host = host
        # The VMs that ran before the run: a template among them is not shut down.
        self.running_before = running_before
        self.stepper = stepper
        self.settings = settings
        self.retry = retry
        self.result = stepper.result
        self.listener = stepper.listener
        # When the step's time is up (time.monotonic()): set when the step begins.
        self.deadline = float("inf")

    def run(self, templates: list[str]) -> None:
        """Update today's templates; a retry those whose earlier results it does not keep."""
        step = Step.TEMPLATES
        choice = select(templates, self.retry, self.result.groups, self.host.now())
        self.result.added = dict(choice.added)
        kept_at = self.retry.kept_at if self.retry is not None else {}
        self.result.results_at = {
            name: kept_at[name] if name in choice.kept else self.result.started_at
            for name in templates
        }
        for name, why in choice.added.items():
            self.stepper.log(f"This retry also updates {name}: {why}", "info")
        self.result.kept = sorted(choice.kept)
        if self.retry is not None and self.retry.templates is not None and not choice.update:
            self.result.templates = dict(choice.kept)
            for name, state in choice.kept.items():
                self.listener(ev.TemplateProgress(name, state, 100.0))
            self.stepper.skip(step, "no template left to update")
            return
        began = self.stepper.begin(step)
        # The step's timeout bounds the whole step: an automatic retry gets what is left.
        self.deadline = began + max(1.0, STEPS[step].timeout * self.host.timeout_scale)
        for name in templates:
            if name in choice.kept:
                self.listener(ev.TemplateProgress(name, choice.kept[name], 100.0))
            else:
                self.listener(ev.TemplateProgress(name, TemplateState.WAITING, 0.0))
        if not choice.update:
            self.stepper.end(step, began, True, "no templates")
            return
        final, result, lines = self._update(choice.update, step)
        self.result.templates = {**choice.kept, **final}
        self.result.template_lines = {
            name: lines[name] for name, state in final.items() if state not in UPDATED_STATES
        }
        stop = verdict(templates, self.result.templates, result, lines)
        if stop is not None:
            detail, failure = stop
            self.stepper.end(step, began, False, detail)
            raise failure
        self.stepper.end(step, began, True)

    def _update(
        self, names: list[str], step: Step
    ) -> tuple[dict[str, TemplateState], ToolResult, dict[str, list[str]]]:
        """``names`` updated, and those whose failure looks transient once more at once.

        Returns each template's result, the tool result that explains the
        failures left, and each template's last output lines.
        """
        final, result, activity = self._vm_update(names, step)
        lines = {name: list(activity.lines[name]) for name in names}
        again = self._transient_failures(final, result, lines)
        if again:
            grace = STOP_GRACE * self.host.timeout_scale
            refused = second_try_refused(self.deadline - time.monotonic(), grace)
            if refused is not None:
                self.stepper.log(
                    f"{', '.join(sorted(again))}: not tried again: {refused}", "warning"
                )
                again = {}
        if not again:
            return final, result, lines
        self.result.retried = sorted(again)
        for name, why in again.items():
            self.stepper.log(
                f"{name} failed in a way that looks transient ({why}); updating it once more",
                "warning",
            )
        first = result
        second, result, activity = self._vm_update(sorted(again), step)
        final.update(second)
        if any(final[name] not in UPDATED_STATES for name in final if name not in again):
            result = first  # the failures left are the first call's: its exit tells
        lines.update({name: list(activity.lines[name]) for name in again})
        return final, result, lines

    def _vm_update(
        self, names: list[str], step: Step
    ) -> tuple[dict[str, TemplateState], ToolResult, Activity]:
        """One ``qubes-vm-update`` for ``names``, with per-template progress and the watchdog.

        The stall watchdog: a template that is updating and shows neither
        progress nor output for the administrator's ``stall_minutes``
        (scaled like every timeout) stops the tool, which runs every
        template in one process, gracefully: the others updating go on to
        their own ``done`` (and are watched for stalls too), and the tool is
        killed once only stalled templates are left, or at the step's
        deadline.  Templates that printed ``done`` keep their result; a
        stalled one is reported with its last output line.
        """
        tracker = TemplateTracker(tuple(names))
        activity = Activity(tuple(names))
        # Scaled as every timeout is (the simulator shrinks them), never below a second.
        limit = max(1.0, self.settings.stall_seconds * self.host.timeout_scale)
        reported: dict[str, float] = {}
        stalled: list[str] = []

        last_seen: dict[str, tuple[TemplateState, float]] = {}

        def on_stderr(line: bytes) -> None:
            ignored = tracker.ignored_lines
            parsed = tracker.feed(line)
            if parsed is None:
                # Snapshots repeat every qube's line; show only what the
                # tracker could not take as progress (it counts those).
                if tracker.ignored_lines > ignored:
                    self.stepper.output(line)
                return
            name = parsed.name
            state, percent = tracker.states[name], tracker.percents[name]
            before = last_seen.get(name)
            if before != (state, percent):
                last_seen[name] = (state, percent)
                activity.alive(name, time.monotonic())
                self.listener(ev.TemplateProgress(name, state, percent))
            self.stepper.progress.set(step, tracker.fraction())

        def on_stdout(line: bytes) -> None:
            self.stepper.output(line)
            activity.output(line, time.monotonic())

        def tick() -> None:
            now = time.monotonic()
            updating = [n for n in names if tracker.states[n] is TemplateState.UPDATING]
            for name in updating:
                if now - reported.get(name, -1.0) >= ACTIVITY_EVERY:
                    reported[name] = now
                    quiet = activity.quiet(name, now)
                    self.listener(
                        ev.TemplateActivity(name, round(quiet, 1), limit, activity.last_line(name))
                    )
            # Watched to the end: while the others finish after a stall, another may stall.
            stuck = activity.stalled([n for n in updating if n not in stalled], now, limit)
            for name in stuck:
                last = activity.last_line(name) or "(none)"
                then = "stopping qubes-vm-update" if not stalled else "it is stalled too"
                self.stepper.log(
                    f"{name} made no progress and printed nothing for {limit:.0f} s: "
                    f"{then} (last output: {last})",
                    "error",
                )
                stalled.append(name)

        def settled() -> bool:
            # Only stalled templates left updating: the tool waits for what never ends.
            return bool(stalled) and all(
                tracker.states[n] is not TemplateState.UPDATING or n in stalled for n in names
            )

        watch = Watch(
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            on_tick=tick,
            stop=lambda: bool(stalled),
            deadline=self.deadline,
            interrupt=Interrupt(STOP_GRACE * self.host.timeout_scale, settled),
        )
        result = self.host.update_templates(names, watch)
        final = tracker.finish(result.exit, stalled)
        if result.interrupted:
            final = self._after_stop(tracker, final, result, stalled)
        elif did_not_exit(result):
            # Killed without being asked to stop (the OOM killer, say): the tool shut
            # nothing down, so the templates it had started would run on for nothing.
            self.stepper.log(f"{result.describe()} before it could finish", "warning")
            self._shut_down_left_running(list(final), result)
        for name, state in final.items():
            percent = 100.0 if state in UPDATED_STATES else tracker.percents[name]
            self.listener(ev.TemplateProgress(name, state, percent))
        if tracker.ignored_lines:
            log.warning("Ignored %d malformed progress lines", tracker.ignored_lines)
        for name in stalled:
            self.stepper.add_advice(advising.stalled(name, list(activity.lines[name]), limit))
        return final, result, activity

    def _after_stop(
        self,
        tracker: TemplateTracker,
        final: dict[str, TemplateState],
        result: ToolResult,
        stalled: list[str],
    ) -> dict[str, TemplateState]:
        """After a stop: which templates finished, were cancelled or cut; what is left running.

        Templates the tool never started (``done cancelled``, or no line at
        all) were not reached.  When the tool had to be killed in the end,
        the templates it had started stay running: they are shut down.
        """
        report = stop_report(tracker, final, stalled)
        final = {**final, **dict.fromkeys(report.cancelled, TemplateState.NOT_REACHED)}
        why = "it did not finish in time" if result.timed_out else "the updater was stopped"
        if result.stopped:
            why = "a template stalled"
        ended = "ended by itself" if result.exit is not None else "was killed after waiting"
        self.stepper.log(
            f"qubes-vm-update was asked to stop cleanly ({why}) and {ended}: {report.words()}",
            "warning",
        )
        if did_not_exit(result):
            self._shut_down_left_running(list(final), result)
        return final

    def _shut_down_left_running(self, names: list[str], result: ToolResult) -> None:
        """Shut down the templates a killed ``qubes-vm-update`` had started and left running.

        The tool shuts down a template it started once that update ends
        (docs/qubes-tools.md, "qubes-vm-update: the order it updates in");
        killed, it leaves the templates it had started running (the same
        file, "qubes-vm-update stops gracefully on SIGINT").  Which ones it
        had started no line says for sure, so every planned template running
        now that did not run before the run is taken as its; one that ran
        before is never shut down, whether its update started or not.

        Only when the tool's whole process group is gone, though.  When its
        main process alone was killed (the OOM killer picks the largest), its
        workers live on, keep its pipes open (``pipes_abandoned``), finish the
        updates under way and each shut its own template down: shutting one
        down now would cut a package transaction half way.  Those are left
        to the workers, and the log says which.
        """
        left = [
            name
            for name in names
            if name not in self.running_before and self.host.power_state(name) == "Running"
        ]
        if not left:
            return
        if left_to_workers(result):
            self.stepper.log(
                "Not shutting down what qubes-vm-update left running: processes it started "
                "outlived it, and its workers may still be updating: "
                f"{', '.join(left)}; each shuts its template down when its update ends",
                "warning",
            )
            return
        self.stepper.log(f"Shutting down what qubes-vm-update left running: {', '.join(left)}")
        with process.cleanup():
            shutdown = self.host.shutdown_vms(left)
        if not shutdown.ok:
            self.stepper.log(
                f"{', '.join(left)} could not be shut down ({shutdown.describe()})", "error"
            )

    def _transient_failures(
        self, final: dict[str, TemplateState], result: ToolResult, lines: dict[str, list[str]]
    ) -> dict[str, str]:
        """The failed templates worth one more try at once, with why (advice.transient)."""
        if process.cancelled():
            return {}
        failed = [name for name, state in final.items() if state is TemplateState.FAILED]
        found = {}
        for name in failed:
            why = advising.transient(lines[name], result.exit, alone=len(failed) == 1)
            if why is not None:
                found[name] = why
        return found


def second_try_refused(left: float, grace: float) -> str | None:
    """Why a template whose failure looks transient is not updated once more now, or None.

    ``left``: seconds left in the templates step; ``grace``: what a clean
    stop of ``qubes-vm-update`` takes (``STOP_GRACE``, scaled).  A second
    call with less than that left would get its SIGINT at once, or be cut
    off before a template could finish: it could only leave a template
    half updated, so it is not started.
    """
    if left >= grace:
        return None
    return (
        f"{max(left, 0.0):.0f} s are left in the step, less than the {grace:.0f} s "
        "qubes-vm-update needs to stop cleanly"
    )


def did_not_exit(result: ToolResult) -> bool:
    """Whether the tool ran but did not exit by itself: it ended by a signal or was killed.

    Such a tool may have left behind what it would have cleaned up at its
    own end.  A tool that could not be started at all (no exit, and neither
    a timeout nor a stop) left nothing behind.
    """
    if result.exit is not None:
        return result.exit < 0
    return result.timed_out or result.stopped or result.interrupted


def left_to_workers(result: ToolResult) -> bool:
    """Whether a dead tool's children may still be at work, so what it started is theirs.

    The tool exited (or was killed) while something it started kept its
    output open: its process group was not killed, and may still be
    updating.  When the updater killed the group, or the pipes closed,
    nothing of the tool is left.
    """
    return result.pipes_abandoned


@dataclass(frozen=True)
class StopReport:
    """The templates of a ``qubes-vm-update`` that was asked to stop, by how each ended."""

    finished: list[str]  # with their own done line (success, no updates, or error)
    cancelled: list[str]  # never started: done cancelled, or no line at all
    stalled: list[str]
    cut: list[str]  # updating when the tool was killed

    def words(self) -> str:
        parts = [
            f"{what}: {', '.join(names)}"
            for what, names in (
                ("finished", self.finished),
                ("cancelled before they started", self.cancelled),
                ("stalled", self.stalled),
                ("cut off while updating", self.cut),
            )
            if names
        ]
        return "; ".join(parts) or "no template"


def stop_report(
    tracker: TemplateTracker, final: dict[str, TemplateState], stalled: list[str]
) -> StopReport:
    """How each template of a stopped ``qubes-vm-update`` ended (its own lines decide)."""
    names = list(tracker.expected)
    own = [n for n in names if n not in tracker.cancelled and n not in stalled]
    return StopReport(
        finished=[n for n in own if tracker.states[n] in DONE_LINE_STATES],
        cancelled=[
            n
            for n in names
            if n in tracker.cancelled
            or (tracker.states[n] is TemplateState.WAITING and n not in stalled)
        ],
        stalled=[n for n in names if n in stalled],
        cut=[
            n
            for n in own
            if tracker.states[n] is TemplateState.UPDATING and final[n] is TemplateState.FAILED
        ],
    )


@dataclass(frozen=True)
class Choice:
    """What one attempt does with each template of today's plan."""

    update: list[str]  # updated now, in the plan's order
    kept: dict[str, TemplateState]  # results of the attempt before, kept
    added: dict[str, str]  # updated by a retry although that attempt did not fail them: why


def select(templates: list[str], retry: Retry | None, groups: dict[str, str], now: float) -> Choice:
    """Which of today's ``templates`` a retry keeps, and which it updates.

    Kept: a template that succeeded in the attempt before, is still in
    today's plan, and whose result comes from an attempt that began less
    than a day before ``now`` (``lastrun.recent``: a kept result keeps the
    time of the attempt that produced it, however many retries kept it
    since).  Every other template of today's plan is updated: those that
    failed, and the others, which the retry names with why: results too
    old, or not planned by the attempt before (created by a migration
    since, an extra template after ``update_extras`` was turned on, one
    that replaced a failed one; ``groups``: today's group of each).
    Without a retry of templates everything is updated.
    """
    if retry is None or retry.templates is None:
        return Choice(list(templates), {}, {})
    failed = set(retry.templates)
    kept: dict[str, TemplateState] = {}
    added: dict[str, str] = {}
    for name in templates:
        if name in retry.kept and recent(retry.kept_at.get(name), now):
            kept[name] = retry.kept[name]
        elif name in retry.kept and name in retry.kept_at:
            added[name] = "its result is from an attempt more than a day ago"
        elif name in retry.kept:
            added[name] = "the time of its result is not known"
        elif name not in failed:
            extra = " (an extra template, sd-extras)" if groups.get(name) == "extras" else ""
            added[name] = "not in the earlier attempt" + extra
    return Choice([name for name in templates if name not in kept], kept, added)


def verdict(
    templates: list[str],
    results: dict[str, TemplateState],
    tool: ToolResult,
    lines: dict[str, list[str]],
) -> tuple[str, RunStopped] | None:
    """Why the step failed (the step's detail and the stop), or None when it did not.

    A template of today's plan that ends without an updated result fails
    the step, whatever decided what to update: never a wrong "ok".
    """
    step = Step.TEMPLATES
    failed = [name for name in templates if results.get(name) not in UPDATED_STATES]
    untouched = [name for name in failed if name not in results]
    if untouched:
        words = ", ".join(untouched)
        return words, RunStopped(
            ExitCode.FAILED, step, f"These templates were planned but not updated: {words}."
        )
    if failed:
        words = "; ".join(_template_words(n, results[n], lines.get(n, [])) for n in failed)
        return ", ".join(failed), RunStopped(
            ExitCode.FAILED,
            step,
            f"These templates failed to update: {words} ({tool.describe()}).",
            exit_code=tool.exit,
        )
    if not tool.ok:
        return tool.describe(), RunStopped(
            ExitCode.FAILED,
            step,
            f"Updating the templates failed: {tool.describe()}.",
            tool.tail,
            tool.exit,
        )
    return None


def _template_words(name: str, state: TemplateState, lines: list[str]) -> str:
    """One failed template for the engine's message: its name, how it ended, its last line."""
    how = {
        TemplateState.STALLED: "stalled",
        TemplateState.NOT_REACHED: "not reached",
    }.get(state, "failed")
    last = (
        f', last output: "{lines[-1][:160]}"'
        if lines and state is not TemplateState.NOT_REACHED
        else ""
    )
    return f"{name} ({how}{last})"
