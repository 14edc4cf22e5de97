"""The update plan and its runner.

One run, in order, failing early: read the VMs, in-place-upgrade guard,
network check, trust checks, dom0 check, dom0 update (when needed),
installed-signer check, dom0 Salt state, full apply (when a migration is
pending, then the VMs are read again), template source check, template
updates, and the VMs that were running before are started again, whatever
failed.  Each step reports events to a listener; the outcome is the worst
of all steps, and neither a failure nor an owed restart is ever hidden.

After the run (issue 16): a stall watchdog stops ``qubes-vm-update`` when
an updating template shows no progress and prints nothing for the
administrator's ``stall_minutes`` (``settings.py``); a template whose
failure looks transient (the network, Tor) is updated once more at once;
known failures get their help (``advice.py``); and the run's summary is
kept in ``sdw-last-run.json`` (``lastrun.py``).  A retry (``Runner(...,
retry=...)``) updates only what failed, or starts again at the failed
step, with every check of a full run, under the same lock.

What the runner records, and when (``sdw-update-status``):

* "in progress" before anything changes; if that cannot be written the run
  changes nothing and fails: a state that cannot be recorded cannot be
  trusted afterwards.
* an owed restart as soon as dom0 may have changed (right after the dom0
  update, even a failed one that installed packages), with dom0's boot id.
* the outcome at the end; a restart owed by an earlier run is carried on.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sdw_updater import advice as advising
from sdw_updater import events as ev
from sdw_updater import lastrun, process
from sdw_updater import settings as admin_settings
from sdw_updater.advice import Advice
from sdw_updater.contract import UPDATER_LOCK, ExitCode, UpdateStatus
from sdw_updater.events import UPDATED_STATES, TemplateState
from sdw_updater.facts import parse_connectivity
from sdw_updater.freshness import reboot_done
from sdw_updater.history import History
from sdw_updater.host import Host, HostError, VMInfo
from sdw_updater.inventory import (
    dist_upgrade_evidence,
    extra_templates,
    other_release,
    start_order,
    templates_to_update,
)
from sdw_updater.lastrun import Retry
from sdw_updater.lock import Lock, lock_dir
from sdw_updater.logs import clean_line
from sdw_updater.process import ToolResult, Watch
from sdw_updater.progress import Activity, TemplateTracker
from sdw_updater.settings import Settings
from sdw_updater.status import StatusStore
from sdw_updater.steps import STEPS, Step
from sdw_updater.trust.report import Code, TrustReport
from sdw_updater.version import __version__

log = logging.getLogger("sdw.plan")

#: Output lines that mean a tool wanted an answer (stdin is at EOF or says "no").
QUESTION = re.compile(r"\[y/n\]|\(y/n\)|\?\s*$|press enter|continue\?", re.IGNORECASE)
#: Seconds between two ``TemplateActivity`` events of one template.
ACTIVITY_EVERY = 1.0
#: Output of a dom0 check that exited 0 but did not check (dnf's errors, qubes' own).
CHECK_ERROR = re.compile(r"\berror\b|\bfailed\b|cannot|could not|curl", re.IGNORECASE)


class TrustChecks(Protocol):
    """The trust checks the runner calls at its three points.

    ``sdw_updater.trust.checks.CheckPoints`` is the implementation.
    """

    def before(self, host: Host) -> TrustReport: ...

    def after_dom0(self, host: Host) -> TrustReport: ...

    def templates(self, host: Host, templates: list[str]) -> TrustReport: ...


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
    # The VMs that ran before the run: what must run after it (a retry starts
    # those that did not come back).
    running_before: list[str] = field(default_factory=list)
    # Help for the known failures (advice.py), one per place that failed.
    advice: list[Advice] = field(default_factory=list)
    started_at: float = 0.0  # dom0's wall clock
    finished_at: float = 0.0
    attempt: int = 1  # 2 and more: a retry
    version: str = __version__


class _StepFailed(Exception):
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


def _trust_failure(step: Step, code: Code, text: str) -> TrustReport:
    """A failure the runner finds itself (the checks log their own findings)."""
    log.error("Trust check (%s) failed [%s]: %s", step.value, code.value, text)
    report = TrustReport()
    report.fail(code, text)
    return report


class Runner:
    """Runs the plan once against a host, reporting to a listener."""

    def __init__(
        self,
        host: Host,
        store: StatusStore,
        listener: ev.Listener = ev.null_listener,
        *,
        skip_netcheck: bool = False,
        trust: TrustChecks | None = None,
        lock: Lock | None = None,
        retry: Retry | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.host = host
        self.store = store
        self.listener = listener
        self.skip_netcheck = skip_netcheck
        self.trust = trust
        # A front end that holds the updater lock for its whole life (the
        # window, from before its first screen) hands it over: POSIX locks
        # belong to the process, and closing a second descriptor of the same
        # file would silently release the front end's lock.
        self.held_lock = lock
        self.history = History(store.directory)
        self.progress = ProgressTracker(listener, self.history)
        self.result = RunResult(ExitCode.OK)
        # The restart owed when this run began or since: (requested at, boot id).
        self.owed: tuple[float, str | None] | None = None
        # "Try again": what the earlier run left to do (None: a full run).
        self.retry = retry
        self.settings = settings if settings is not None else admin_settings.load(store.directory)
        # The run got past the network check: its summary is recorded.
        self.attempted = False

    # ----- public -----------------------------------------------------------

    def run(self) -> RunResult:
        """Take the lock and run the whole plan; never raises."""
        lock = self.held_lock or Lock(lock_dir(self.store.directory) / UPDATER_LOCK)
        if lock.fd is None and not lock.acquire():
            self.result = RunResult(ExitCode.LOCKED, lock.refusal())
            self._log(self.result.message, "error")
            return self.result
        started = time.monotonic()
        self.result.started_at = self.host.now()
        try:
            self._run_locked()
        except _StepFailed as failure:
            self._finish_failed(failure)
        except Exception as exc:  # a bug must end as "failed", never as "ok"
            log.exception("Unexpected error during the update")
            self._finish_failed(_StepFailed(ExitCode.FAILED, None, f"Unexpected error: {exc}"))
        finally:
            if lock is not self.held_lock:
                lock.release()
        self.result.durations["total"] = time.monotonic() - started
        if not self.result.finished_at:
            self.result.finished_at = self.host.now()
        self.result.reboot_owed = self.owed is not None
        if self.retry is not None:
            self.result.attempt = self.retry.attempt
        if self.result.outcome in (ExitCode.OK, ExitCode.REBOOT_REQUIRED):
            if self.retry is None:  # a retry's durations are not a whole run's
                self.history.record(self.result.durations)
        if self.attempted:
            lastrun.write(self.store.directory, lastrun.summarize(self.result))
        log.info("Run finished: %s. %s", self.result.outcome.name, self.result.message)
        return self.result

    # ----- plan -------------------------------------------------------------

    def _run_locked(self) -> None:
        self._carry_owed_restart()
        if self.retry is not None:
            self._log(f"Try again: {self.retry.describe()}", "info")
        vms = self._read_vms()
        templates = self._plan_templates(vms)
        log.info("Templates to update: %s", ", ".join(templates) or "(none)")
        release = self.host.dom0_release()
        evidence = dist_upgrade_evidence(release, vms, templates)
        if evidence:
            message = (
                f"Qubes is in the middle of a distribution upgrade (dom0 is {release}, "
                f"templates: {', '.join(evidence)}). Nothing was changed."
            )
            self.result.outcome, self.result.message = ExitCode.DIST_UPGRADE, message
            self._add_advice(advising.advise([], None, outcome=ExitCode.DIST_UPGRADE))
            self._log(message, "error")
            return
        self._announce_templates(templates)
        if not self.skip_netcheck:
            self._network_check()
            if self.result.outcome is ExitCode.NETWORK:
                self._add_advice(advising.advise([], Step.NETCHECK, outcome=ExitCode.NETWORK))
                return
        else:
            self._skip(Step.NETCHECK, "skipped (--skip-netcheck)")
        # From here on the workstation may change: record that a run is under
        # way, so a crash leaves "in progress" (meaning: run again), never "ok".
        self._record(UpdateStatus.IN_PROGRESS, before_changes=True)
        self.attempted = True
        self._update(vms, templates)
        self._finish_ok()

    def _plan_templates(self, vms: dict[str, VMInfo]) -> list[str]:
        """The templates to update, each in its group (extras only when an admin asked)."""
        templates = templates_to_update(vms, self._updatevm())
        extras = extra_templates(vms, templates) if self.settings.update_extras else []
        extras = self._skip_other_release(vms, extras)
        self.result.groups = {name: "workstation" for name in templates}
        self.result.groups.update({name: "extras" for name in extras})
        if extras:
            log.info("Extra templates (sd-extras), updated too: %s", ", ".join(extras))
        return templates + extras

    def _skip_other_release(self, vms: dict[str, VMInfo], extras: list[str]) -> list[str]:
        """Extra templates on another Qubes release are not updated, and said so.

        Never evidence of an in-place upgrade (an organisation's template may
        lag a release): only that template waits, the workstation does not.
        """
        release = self.host.dom0_release()
        lagging = other_release(release, vms, extras)
        for name, agent in lagging.items():
            text = (
                f"{name} (sd-extras) runs the Qubes {agent} agent while dom0 runs Qubes "
                f"{release}: it was not updated."
            )
            if text in self.result.warnings:
                continue
            self.result.warnings.append(text)
            self.listener(ev.Notice(text))
            self._log(text, "warning")
            self._add_advice(
                Advice(
                    "other_release",
                    name,
                    f"{name} is on another Qubes release ({agent}, dom0: {release}), "
                    "so it was not updated.",
                    f"Upgrade {name} to Qubes {release}, or take the sd-extras tag off the "
                    "VMs that use it; then run the updater again.",
                )
            )
        return [name for name in extras if name not in lagging]

    def _announce_templates(self, templates: list[str]) -> None:
        extras = tuple(t for t in templates if self.result.groups.get(t) == "extras")
        self.listener(ev.TemplatesPlanned(tuple(templates), extras))

    def _skip_done(self, step: Step) -> bool:
        """A retry does not do again what succeeded in the run it retries."""
        if self.retry is None or step not in self.retry.skip:
            return False
        self._skip(step, "done in the earlier attempt")
        return True

    def _update(self, vms: dict[str, VMInfo], templates: list[str]) -> None:
        running_before = _running(vms)
        if self.retry is not None:
            # VMs the failed run stopped and could not start again are still owed.
            running_before |= {name for name in self.retry.restart if name in vms}
        self.result.running_before = sorted(running_before)
        self._trust_step(Step.TRUST, lambda t: t.before(self.host))
        if not self._skip_done(Step.DOM0_CHECK):
            if self._dom0_check():
                self._dom0_update()
            else:
                self._skip(Step.DOM0_UPDATE, "no dom0 updates available")
        else:
            self._skip(Step.DOM0_UPDATE, "done in the earlier attempt")
        # Checked on every run, not only after an update: a package installed
        # outside the updater is just as much the journalist's problem.
        self._trust_step(Step.TRUST_INSTALLED, lambda t: t.after_dom0(self.host))
        if not self._skip_done(Step.DOM0_STATE):
            self._tool_step(Step.DOM0_STATE, self.host.highstate)
        if self.host.migration_pending():
            # Never skipped, not even by a retry: a pending migration must run first.
            templates = self._migration()
        else:
            self._skip(Step.MIGRATION, "no migration pending")
        # The sources of every template are checked, also when a retry updates
        # only some: the check is what makes any of them safe to update.
        self._trust_step(Step.TEMPLATE_SOURCES, lambda t: t.templates(self.host, templates))
        failure: _StepFailed | None = None
        try:
            self._templates(templates)
        except _StepFailed as failed:
            failure = failed
        # Whatever failed: VMs that ran before the run must run after it.
        self._restart(running_before, must_succeed=failure is None)
        if failure is not None:
            raise failure

    # ----- steps ------------------------------------------------------------

    def _begin(self, step: Step) -> float:
        if process.cancelled():
            raise _StepFailed(ExitCode.FAILED, step, "The updater was asked to stop.")
        self.listener(
            ev.StepStarted(step.value, STEPS[step].label, self.progress.weights.get(step, 0.0))
        )
        return time.monotonic()

    def _end(self, step: Step, began: float, ok: bool, detail: str = "") -> None:
        self.result.durations[step.value] = time.monotonic() - began
        self.result.steps[step.value] = "ok" if ok else "failed"
        self.progress.set(step, 1.0)
        self.listener(ev.StepFinished(step.value, ok, detail))

    def _skip(self, step: Step, why: str) -> None:
        self.result.steps[step.value] = "skipped"
        self.progress.set(step, 1.0)
        self.listener(ev.StepFinished(step.value, True, why, skipped=True))

    def _add_advice(self, advice: Advice | None) -> None:
        if advice is not None and advice not in self.result.advice:
            self.result.advice.append(advice)
            log.info(
                "Help for %s (%s): %s Fix: %s", advice.where, advice.kind, advice.cause, advice.fix
            )

    def _log(self, text: str, level: str = "info") -> None:
        getattr(log, "info" if level == "output" else level)(text)
        self.listener(ev.LogLine(text, level))

    def _watch(self, step: Step, began: float) -> Watch:
        """Tool output to the listener, and time-based progress for tools that print none."""
        expected = max(1.0, self.progress.weights.get(step, 60.0))

        def tick() -> None:
            elapsed = time.monotonic() - began
            self.progress.set(step, 0.95 * (1.0 - math.exp(-elapsed / expected)))

        return Watch(on_stdout=self._output, on_stderr=self._output, on_tick=tick)

    def _output(self, line: bytes) -> None:
        self.listener(ev.LogLine(clean_line(line), "output"))

    def _tool_step(self, step: Step, call: Callable[[Watch], ToolResult]) -> ToolResult:
        began = self._begin(step)
        result = call(self._watch(step, began))
        if not result.ok:
            self._end(step, began, False, result.describe())
            raise _StepFailed(
                ExitCode.FAILED, step, _failure_message(step, result), result.tail, result.exit
            )
        self._end(step, began, True)
        return result

    def _read_vms(self, refresh: bool = False) -> dict[str, VMInfo]:
        """Every VM, or a failed run: a VM that cannot be read must not be left out."""
        try:
            return self.host.vms(refresh=refresh)
        except HostError as exc:
            raise self._host_failure(exc) from exc

    def _updatevm(self) -> str | None:
        """dom0's UpdateVM, or a failed run: its template must not be left out silently."""
        try:
            return self.host.updatevm()
        except HostError as exc:
            raise self._host_failure(exc) from exc

    @staticmethod
    def _host_failure(exc: HostError) -> _StepFailed:
        return _StepFailed(
            ExitCode.FAILED,
            None,
            f"Qubes did not answer {exc.call} for {exc.vm} ({exc.reason}); without it the "
            "updater cannot tell what to update. Nothing was left out silently: the run stopped.",
        )

    def _network_check(self) -> None:
        step = Step.NETCHECK
        began = self._begin(step)
        result = self.host.check_network()
        answer = parse_connectivity(result.stdout_head) if result.ok else None
        if answer != "full":
            why = f"connectivity is {answer!r}" if answer else result.describe()
            if result.ok and answer is None:
                why = "sys-net gave an answer that is not a connectivity state"
            self._end(step, began, False, why)
            self.result.outcome = ExitCode.NETWORK
            self.result.message = f"The network is not available ({why}). Nothing was changed."
            self.result.failed_step = step
            self._log(self.result.message, "error")
            return
        self._end(step, began, True, "connected")

    def _dom0_check(self) -> bool:
        """True when dom0 has updates; a check that did not really check fails the run.

        ``--check-only`` exits 0 for most dnf failures too (qubes-contract
        §8.2), so a 0 counts as "no updates" only when nothing in its output
        says something went wrong and dom0's own ``updates-available``
        feature does not say the opposite.
        """
        step = Step.DOM0_CHECK
        began = self._begin(step)
        result = self.host.dom0_check(self._watch(step, began))
        if result.exit == 100:
            self._end(step, began, True, "updates available")
            self._log("dom0 updates are available", "info")
            return True
        problem = None
        if result.exit == 0:
            problem = self._doubt_no_updates(result)
            if problem is None:
                self._end(step, began, True, "no updates")
                self._log("No updates available for dom0", "info")
                return False
        why = problem or result.describe()
        self._end(step, began, False, why)
        raise _StepFailed(
            ExitCode.FAILED,
            step,
            f"Could not check for dom0 updates: {why}.",
            result.tail,
            result.exit,
        )

    def _doubt_no_updates(self, result: ToolResult) -> str | None:
        """Why an exit 0 of the dom0 check cannot be believed, or None."""
        errors = [line for line in result.tail if CHECK_ERROR.search(line)]
        if errors:
            return f"it exited 0 but reported an error ({errors[-1][:200]})"
        try:
            flag = self.host.feature("dom0", "updates-available")
        except HostError as exc:
            return f"dom0's updates-available feature could not be read ({exc.reason})"
        if flag not in (None, ""):
            return "it found no updates, but dom0 says updates are available"
        return None

    def _dom0_update(self) -> None:
        """Install dom0's updates; from the first byte installed, a restart is owed."""
        step = Step.DOM0_UPDATE
        began = self._begin(step)
        before = self.host.rpmdb_stamp()
        result = self.host.dom0_update(self._watch(step, began))
        if result.ok or before is None or self.host.rpmdb_stamp() != before:
            # dom0 has (or may have) changed: record the restart now, not at
            # the end, so a run killed after this point cannot lose it.
            self.result.dom0_updated = True
            self.owed = (self.host.now(), self.host.boot().boot_id)
            self._record(UpdateStatus.IN_PROGRESS)
        if not result.ok:
            self._end(step, began, False, result.describe())
            raise _StepFailed(
                ExitCode.FAILED, step, _failure_message(step, result), result.tail, result.exit
            )
        self._end(step, began, True)

    def _migration(self) -> list[str]:
        """The full apply a migration needs; then the VMs and templates are read again."""
        self._log("Migration is required, will enforce full config during update", "info")
        self.progress.add(Step.MIGRATION, self.history.estimate(Step.MIGRATION))
        self._tool_step(Step.MIGRATION, self.host.apply_migration)
        cleared = self.host.clear_migration()
        if not cleared.ok or self.host.migration_pending():
            raise _StepFailed(
                ExitCode.FAILED,
                Step.MIGRATION,
                f"The migration flag could not be cleared ({cleared.describe()}).",
            )
        # sdw-admin --apply may have created or removed VMs (qubesadmin caches the list).
        vms = self._read_vms(refresh=True)
        templates = self._plan_templates(vms)
        log.info("Templates to update after the migration: %s", ", ".join(templates) or "(none)")
        self._announce_templates(templates)
        return templates

    def _trust_step(self, step: Step, check: Callable[[TrustChecks], TrustReport]) -> None:
        began = self._begin(step)
        if self.trust is None:
            # Never skipped: checks that cannot even be loaded have not passed.
            report = _trust_failure(
                step, Code.CHECKS_NOT_LOADED, "the trust checks could not be loaded"
            )
        else:
            try:
                report = check(self.trust)
            except HostError as exc:  # Qubes did not answer: a failed run, not a trust verdict
                self._end(step, began, False, str(exc))
                raise self._host_failure(exc) from exc
            except Exception as exc:  # a check that breaks has not passed
                log.exception("Trust check %s raised", step.value)
                report = _trust_failure(
                    step, Code.CHECK_BROKE, f"the check could not be completed ({exc})"
                )
        for warning in report.warnings:
            self.result.warnings.append(warning.text)
            self.listener(ev.Notice(warning.text, days_left=warning.days_left))
            log.warning("%s", warning.text)
        if report.failures:
            detail = "; ".join(f.text for f in report.failures)
            self._end(step, began, False, detail)
            raise _StepFailed(
                ExitCode.TRUST,
                step,
                f"{STEPS[step].label} failed: {detail}.",
                [f.text for f in report.failures],
            )
        self._end(step, began, True)

    def _templates(self, templates: list[str]) -> None:
        """Update the templates; a retry only those that did not update before."""
        step = Step.TEMPLATES
        kept: dict[str, TemplateState] = {}
        to_update = templates
        if self.retry is not None and self.retry.templates is not None:
            wanted = set(self.retry.templates)
            to_update = [name for name in templates if name in wanted]
            kept = {n: s for n, s in self.retry.kept.items() if n in templates and n not in wanted}
            if not to_update:
                self.result.templates = dict(kept)
                self.result.kept = sorted(kept)
                for name, state in kept.items():
                    self.listener(ev.TemplateProgress(name, state, 100.0))
                self._skip(step, "no template left to update")
                return
        began = self._begin(step)
        for name in templates:
            if name in kept:
                self.listener(ev.TemplateProgress(name, kept[name], 100.0))
            else:
                self.listener(ev.TemplateProgress(name, TemplateState.WAITING, 0.0))
        self.result.kept = sorted(kept)
        if not to_update:
            self._end(step, began, True, "no templates")
            return
        final, result, activity = self._vm_update(to_update, step)
        lines = {name: list(activity.lines[name]) for name in to_update}
        again = self._transient_failures(final, result, lines)
        if again:
            self.result.retried = sorted(again)
            for name, why in again.items():
                self._log(
                    f"{name} failed in a way that looks transient ({why}); updating it once more",
                    "warning",
                )
            first = result
            second, result, activity = self._vm_update(sorted(again), step)
            final.update(second)
            if any(final[name] not in UPDATED_STATES for name in final if name not in again):
                result = first  # the failures left are the first call's: its exit tells
            lines.update({name: list(activity.lines[name]) for name in again})
        self.result.templates = {**kept, **final}
        self.result.template_lines = {
            name: lines[name] for name, state in final.items() if state not in UPDATED_STATES
        }
        failed = [name for name, state in final.items() if state not in UPDATED_STATES]
        if failed:
            self._end(step, began, False, ", ".join(failed))
            words = [_template_words(name, final[name], lines[name]) for name in failed]
            raise _StepFailed(
                ExitCode.FAILED,
                step,
                f"These templates failed to update: {'; '.join(words)} ({result.describe()}).",
                exit_code=result.exit,
            )
        if not result.ok:
            self._end(step, began, False, result.describe())
            raise _StepFailed(
                ExitCode.FAILED,
                step,
                f"Updating the templates failed: {result.describe()}.",
                result.tail,
                result.exit,
            )
        self._end(step, began, True)

    def _vm_update(
        self, names: list[str], step: Step
    ) -> tuple[dict[str, TemplateState], ToolResult, Activity]:
        """One ``qubes-vm-update`` for ``names``, with per-template progress and the watchdog.

        The stall watchdog: a template that is updating and shows neither
        progress nor output for the administrator's ``stall_minutes``
        (scaled like every timeout) stops the tool, which runs every
        template in one process.  Templates that already printed ``done``
        keep their result; the one that stalled is reported with its last
        output line; the step's own timeout stays the outer bound.
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
                    self._output(line)
                return
            name = parsed.name
            state, percent = tracker.states[name], tracker.percents[name]
            before = last_seen.get(name)
            if before != (state, percent):
                last_seen[name] = (state, percent)
                activity.alive(name, time.monotonic())
                self.listener(ev.TemplateProgress(name, state, percent))
            self.progress.set(step, tracker.fraction())

        def on_stdout(line: bytes) -> None:
            self._output(line)
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
            if not stalled:
                stuck = activity.stalled(updating, now, limit)
                for name in stuck:
                    last = activity.last_line(name) or "(none)"
                    self._log(
                        f"{name} made no progress and printed nothing for {limit:.0f} s: "
                        f"stopping qubes-vm-update (last output: {last})",
                        "error",
                    )
                stalled.extend(stuck)

        watch = Watch(
            on_stdout=on_stdout, on_stderr=on_stderr, on_tick=tick, stop=lambda: bool(stalled)
        )
        result = self.host.update_templates(names, watch)
        final = tracker.finish(result.exit, stalled)
        for name, state in final.items():
            percent = 100.0 if state in UPDATED_STATES else tracker.percents[name]
            self.listener(ev.TemplateProgress(name, state, percent))
        if tracker.ignored_lines:
            log.warning("Ignored %d malformed progress lines", tracker.ignored_lines)
        for name in stalled:
            self._add_advice(advising.stalled(name, list(activity.lines[name]), limit))
        return final, result, activity

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

    def _restart(self, running_before: set[str], must_succeed: bool) -> None:
        """Start again every VM that ran before the run and is halted now.

        ``qubes-vm-update -R`` shuts down the VMs of the templates it
        updated and restarts only service VMs; when another template fails,
        the rest stay halted.  Runs whatever failed before it; its own
        failure fails the run only when nothing else did.
        """
        step = Step.RESTART
        try:
            vms = self.host.vms(refresh=True)
        except HostError as exc:
            vms = {}
            log.error("Could not read the VMs to restart them: %s", exc)
        to_start = sorted(
            (n for n in running_before if n in vms and vms[n].power == "Halted"),
            key=start_order,
        )
        if not to_start:
            self._skip(step, "no VMs to restart")
            return
        began = self._begin(step)
        self._log(f"Restarting {', '.join(to_start)}", "info")
        result = self.host.start_vms(to_start)
        not_running = [name for name in to_start if self.host.power_state(name) != "Running"]
        self.result.restarted = [name for name in to_start if name not in not_running]
        self.result.not_restarted = not_running
        if self.result.restarted:
            log.info("Restarted: %s", ", ".join(self.result.restarted))
        if not result.ok or not_running:
            detail = f"{', '.join(not_running) or 'some VMs'} did not start ({result.describe()})"
            self._end(step, began, False, detail)
            if must_succeed:
                raise _StepFailed(ExitCode.FAILED, step, f"Restarting the VMs failed: {detail}.")
            self._log(f"Restarting the VMs failed too: {detail}.", "error")
            return
        self._end(step, began, True, ", ".join(to_start))

    # ----- what is recorded -----------------------------------------------------

    def _carry_owed_restart(self) -> None:
        """A restart an earlier run asked for, and that has not happened, stays owed."""
        record = self.store.read_status(self.host.now())
        if record is not None and record.reboot_requested_at is not None:
            if not reboot_done(record, self.host.boot()):
                self.owed = (record.reboot_requested_at, record.reboot_boot_id)
                log.info("A restart asked for earlier has not happened yet; it stays owed")

    def _record(
        self, status: UpdateStatus, before_changes: bool = False, now: float | None = None
    ) -> None:
        """Write the status file, or stop: a run whose state cannot be kept is not trusted."""
        requested, boot_id = self.owed if self.owed is not None else (None, None)
        if self.store.write_status(
            status,
            self.host.now() if now is None else now,
            reboot_requested_at=requested,
            reboot_boot_id=boot_id,
        ):
            return
        where = self.store.status_path
        if before_changes:
            raise _StepFailed(
                ExitCode.FAILED,
                None,
                f"The updater could not record its state in {where}, so it changed nothing. "
                "Check that the disk is not full and the folder is writable.",
            )
        raise _StepFailed(
            ExitCode.FAILED,
            None,
            f"The updater could not record its state in {where} and stopped. Check that the "
            "disk is not full and the folder is writable, then run the updater again.",
        )

    # ----- endings ----------------------------------------------------------

    def _finish_ok(self) -> None:
        self.progress.finish()
        status = UpdateStatus.REBOOT_REQUIRED if self.owed else UpdateStatus.OK
        # The summary's end is the status file's time: --retry-failed ties the two.
        self.result.finished_at = self.host.now()
        try:
            self._record(status, now=self.result.finished_at)
        except _StepFailed as failure:
            self._finish_failed(failure)
            return
        if self.owed is not None:
            self.result.outcome = ExitCode.REBOOT_REQUIRED
            self.result.message = (
                "Updates were installed. Restart the computer to finish."
                if self.result.dom0_updated
                else "All updates are complete, but a restart asked for earlier is still needed."
            )
        else:
            self.result.outcome = ExitCode.OK
            self.result.message = "All updates are complete."
        if not self.store.write_last_updated(self.host.now()):
            self.result.warnings.append(
                "The time of this update could not be recorded; the reminder may appear again."
            )
        log.info("Run finished with status %s", status.name)

    def _finish_failed(self, failure: _StepFailed) -> None:
        self.result.outcome = failure.outcome
        self.result.failed_step = failure.step
        self.result.message = failure.message
        if process.cancelled():
            self.result.message = f"The update was stopped ({failure.message})"
        self._help_for(failure)
        self.result.finished_at = self.host.now()
        if failure.outcome is not ExitCode.NETWORK:
            requested, boot_id = self.owed if self.owed is not None else (None, None)
            if not self.store.write_status(
                UpdateStatus.FAILED,
                self.result.finished_at,
                reboot_requested_at=requested,
                reboot_boot_id=boot_id,
            ):
                self.result.message += (
                    " The result could not be recorded either: the next launch will update again."
                )
        self._log(self.result.message, "error")

    def _help_for(self, failure: _StepFailed) -> None:
        """The help for what failed: each template that did not update, or the failed step."""
        if failure.step is Step.TEMPLATES and self.result.template_lines is not None:
            helped = {advice.where for advice in self.result.advice}
            for name, state in sorted(self.result.templates.items()):
                if state in UPDATED_STATES or name in helped:
                    continue
                lines = self.result.template_lines.get(name, [])
                self._add_advice(advising.advise(lines, Step.TEMPLATES, None, name))
            if self.result.advice:
                return
        lines = failure.lines or [failure.message]
        self._add_advice(advising.advise(lines, failure.step, failure.exit_code))


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


def _running(vms: dict[str, VMInfo]) -> set[str]:
    """The VMs up now (dom0 aside): what must be up again after the run."""
    return {
        name
        for name, vm in vms.items()
        if vm.klass != "AdminVM" and vm.power not in ("Halted", "NA")
    }


def _failure_message(step: Step, result: ToolResult) -> str:
    """A failed tool in words an admin can act on (a question it asked, /boot ...)."""
    message = f"{STEPS[step].label} failed: {result.describe()}."
    questions = [line for line in result.tail if QUESTION.search(line)]
    boot = [line for line in result.tail if "/boot" in line]
    if step is Step.DOM0_UPDATE and boot:
        message += (
            f' It says: "{boot[-1][:200]}". Mount /boot, then run `sudo qubes-dom0-update` '
            "in a dom0 terminal."
        )
    elif questions:
        command = "sudo qubes-dom0-update" if step is Step.DOM0_UPDATE else None
        if step is Step.MIGRATION:
            command = "sdw-admin --apply"
        if step is Step.DOM0_STATE:
            command = "sudo qubesctl --show-output state.highstate"
        asked = questions[-1][:200]
        message += f' It asked a question that the updater does not answer: "{asked}".'
        if command:
            message += f" Run `{command}` in a dom0 terminal and answer it there."
    return message
