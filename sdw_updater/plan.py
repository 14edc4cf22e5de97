"""The runner: the steps of one update run, in order.

One run, in order, failing early: read the VMs, in-place-upgrade guard,
network check, trust checks, dom0 check, dom0 update (when needed),
installed-signer check, dom0 Salt state, full apply (when a migration is
pending, then the VMs are read again), template source check, template
updates (``templates.py``), and the VMs that were running before are
started again, whatever failed.  Each step reports events to a listener
(``stepper.py``); the outcome is the worst of all steps, and neither a
failure nor an owed restart is ever hidden.  Known failures get their help
(``advice.py``), and the run's summary is kept in ``sdw-last-run.json``
(``lastrun.py``).  A retry (``Runner(..., retry=...)``) updates only what
failed, or starts again at the failed step, with every check of a full
run, under the same lock.

What the runner records, and when (``sdw-update-status``):

* "in progress" before anything changes; if that cannot be written the run
  changes nothing and fails: a state that cannot be recorded cannot be
  trusted afterwards.
* an owed restart as soon as dom0 may have changed (right after the dom0
  update, even a failed one that installed packages), with dom0's boot id.
* the outcome at the end; a restart owed by an earlier run is carried on.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable
from typing import Protocol

from sdw_updater import advice as advising
from sdw_updater import events as ev
from sdw_updater import lastrun, process
from sdw_updater import settings as admin_settings
from sdw_updater.advice import Advice
from sdw_updater.contract import UPDATER_LOCK, ExitCode, UpdateStatus
from sdw_updater.events import UPDATED_STATES
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
from sdw_updater.process import ToolResult, Watch
from sdw_updater.result import RunResult
from sdw_updater.settings import Settings
from sdw_updater.status import StatusStore
from sdw_updater.stepper import RunStopped, Stepper
from sdw_updater.steps import STEPS, Step
from sdw_updater.templates import TemplatesStep
from sdw_updater.trust.report import Code, TrustReport

log = logging.getLogger("sdw.plan")

#: Output lines that mean a tool wanted an answer (stdin is at EOF or says "no").
QUESTION = re.compile(r"\[y/n\]|\(y/n\)|\?\s*$|press enter|continue\?", re.IGNORECASE)
#: Output of a dom0 check that exited 0 but did not check (dnf's errors, qubes' own).
CHECK_ERROR = re.compile(r"\berror\b|\bfailed\b|cannot|could not|curl", re.IGNORECASE)
#: Outcomes of a run that stopped before it attempted anything: the state files stay as
#: they were (README, "Exit codes").
NOTHING_ATTEMPTED = frozenset({ExitCode.NETWORK, ExitCode.DIST_UPGRADE})


class TrustChecks(Protocol):
    """The trust checks the runner calls at its three points.

    ``sdw_updater.trust.checks.CheckPoints`` is the implementation.
    """

    def before(self, host: Host) -> TrustReport: ...

    def after_dom0(self, host: Host) -> TrustReport: ...

    def templates(self, host: Host, templates: list[str]) -> TrustReport: ...


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
        self.result = RunResult(ExitCode.OK)
        self.stepper = Stepper(listener, self.history, self.result)
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
            self.result.outcome = ExitCode.LOCKED
            self.result.message = lock.refusal()
            self.stepper.log(self.result.message, "error")
            return self.result
        started = time.monotonic()
        self.result.started_at = self.host.now()
        try:
            self._run_locked()
        except RunStopped as failure:
            self._finish_failed(failure)
        except Exception as exc:  # a bug must end as "failed", never as "ok"
            log.exception("Unexpected error during the update")
            self._finish_failed(RunStopped(ExitCode.FAILED, None, f"Unexpected error: {exc}"))
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
        if self.retry is not None and not lastrun.recent(self.retry.failed_at, self.host.now()):
            # A window left open for days: dom0 may have changed since that failure.
            self.stepper.log("Try again: the failed run is more than a day old: a full run", "info")
            self.retry = None
        if self.retry is not None:
            self.stepper.log(f"Try again: {self.retry.describe()}", "info")
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
            raise RunStopped(ExitCode.DIST_UPGRADE, None, message)
        self._announce_templates(templates)
        if not self.skip_netcheck:
            self._network_check()
        else:
            self.stepper.skip(Step.NETCHECK, "skipped (--skip-netcheck)")
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
            self.stepper.log(text, "warning")
            self.stepper.add_advice(
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
        self.stepper.skip(step, "done in the earlier attempt")
        return True

    def _update(self, vms: dict[str, VMInfo], templates: list[str]) -> None:
        owed = {name for name in self._vms_owed() if name in vms}
        running_before = _running(vms) | owed
        self.result.running_before = sorted(running_before)
        # Owed until this run's restart step starts them (a stop before it keeps them so).
        self.result.not_restarted = sorted(n for n in owed if vms[n].power == "Halted")
        self._trust_step(Step.TRUST, lambda t: t.before(self.host))
        if not self._skip_done(Step.DOM0_CHECK):
            if self._dom0_check():
                self._dom0_update()
            else:
                self.stepper.skip(Step.DOM0_UPDATE, "no dom0 updates available")
        else:
            self.stepper.skip(Step.DOM0_UPDATE, "done in the earlier attempt")
        # Checked on every run, not only after an update: a package installed
        # outside the updater is just as much the journalist's problem.
        self._trust_step(Step.TRUST_INSTALLED, lambda t: t.after_dom0(self.host))
        if not self._skip_done(Step.DOM0_STATE):
            self._tool_step(Step.DOM0_STATE, self.host.highstate)
        if self.host.migration_pending():
            # Never skipped, not even by a retry: a pending migration must run first.
            templates = self._migration()
        else:
            self.stepper.skip(Step.MIGRATION, "no migration pending")
        # The sources of every template are checked, also when a retry updates
        # only some: the check is what makes any of them safe to update.
        self._trust_step(Step.TEMPLATE_SOURCES, lambda t: t.templates(self.host, templates))
        # From here qubes-vm-update -R may shut VMs down: until the restart step has
        # started them again, every VM that ran before is owed, and recorded so, in
        # case the run is killed before its end.
        self.result.not_restarted = sorted(running_before)
        self._record_summary_so_far()
        failure: RunStopped | None = None
        try:
            TemplatesStep(self.host, self.stepper, self.settings, self.retry, running_before).run(
                templates
            )
        except RunStopped as failed:
            failure = failed
        # Whatever failed: VMs that ran before the run must run after it.
        self._restart(running_before, must_succeed=failure is None)
        if failure is not None:
            raise failure

    # ----- steps ------------------------------------------------------------

    def _tool_step(self, step: Step, call: Callable[[Watch], ToolResult]) -> ToolResult:
        began = self.stepper.begin(step)
        result = call(self.stepper.watch(step, began))
        if not result.ok:
            self.stepper.end(step, began, False, result.describe())
            raise RunStopped(
                ExitCode.FAILED, step, _failure_message(step, result), result.tail, result.exit
            )
        self.stepper.end(step, began, True)
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
    def _host_failure(exc: HostError) -> RunStopped:
        return RunStopped(
            ExitCode.FAILED,
            None,
            f"Qubes did not answer {exc.call} for {exc.vm} ({exc.reason}); without it the "
            "updater cannot tell what to update. Nothing was left out silently: the run stopped.",
        )

    def _network_check(self) -> None:
        step = Step.NETCHECK
        began = self.stepper.begin(step)
        result = self.host.check_network()
        answer = parse_connectivity(result.stdout_head) if result.ok else None
        if answer != "full":
            why = f"connectivity is {answer!r}" if answer else result.describe()
            if result.ok and answer is None:
                why = "sys-net gave an answer that is not a connectivity state"
            self.stepper.end(step, began, False, why)
            raise RunStopped(
                ExitCode.NETWORK,
                step,
                f"The network is not available ({why}). Nothing was changed.",
            )
        self.stepper.end(step, began, True, "connected")

    def _dom0_check(self) -> bool:
        """True when dom0 has updates; a check that did not really check fails the run.

        ``--check-only`` exits 0 for most dnf failures too (docs/qubes-tools.md,
        "qubes-dom0-update --check-only exits 0 for most dnf failures"), so a 0
        counts as "no updates" only when nothing in its output
        says something went wrong and dom0's own ``updates-available``
        feature does not say the opposite.
        """
        step = Step.DOM0_CHECK
        began = self.stepper.begin(step)
        result = self.host.dom0_check(self.stepper.watch(step, began))
        if result.exit == 100:
            self.stepper.end(step, began, True, "updates available")
            self.stepper.log("dom0 updates are available", "info")
            return True
        problem = None
        if result.exit == 0:
            problem = self._doubt_no_updates(result)
            if problem is None:
                self.stepper.end(step, began, True, "no updates")
                self.stepper.log("No updates available for dom0", "info")
                return False
        why = problem or result.describe()
        self.stepper.end(step, began, False, why)
        raise RunStopped(
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
        began = self.stepper.begin(step)
        before = self.host.rpmdb_stamp()
        result = self.host.dom0_update(self.stepper.watch(step, began))
        if result.ok or before is None or self.host.rpmdb_stamp() != before:
            # dom0 has (or may have) changed: record the restart now, not at
            # the end, so a run killed after this point cannot lose it.
            self.result.dom0_updated = True
            self.owed = (self.host.now(), self.host.boot().boot_id)
            self._record(UpdateStatus.IN_PROGRESS)
        if not result.ok:
            self.stepper.end(step, began, False, result.describe())
            raise RunStopped(
                ExitCode.FAILED, step, _failure_message(step, result), result.tail, result.exit
            )
        self.stepper.end(step, began, True)

    def _migration(self) -> list[str]:
        """The full apply a migration needs; then the VMs and templates are read again."""
        self.stepper.log("Migration is required, will enforce full config during update", "info")
        self.stepper.progress.add(Step.MIGRATION, self.history.estimate(Step.MIGRATION))
        self._tool_step(Step.MIGRATION, self.host.apply_migration)
        cleared = self.host.clear_migration()
        if not cleared.ok or self.host.migration_pending():
            raise RunStopped(
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
        began = self.stepper.begin(step)
        if self.trust is None:
            # Never skipped: checks that cannot even be loaded have not passed.
            report = _trust_failure(
                step, Code.CHECKS_NOT_LOADED, "the trust checks could not be loaded"
            )
        else:
            try:
                report = check(self.trust)
            except HostError as exc:  # Qubes did not answer: a failed run, not a trust verdict
                self.stepper.end(step, began, False, str(exc))
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
            self.stepper.end(step, began, False, detail)
            raise RunStopped(
                ExitCode.TRUST,
                step,
                f"{STEPS[step].label} failed: {detail}.",
                [f.text for f in report.failures],
            )
        self.stepper.end(step, began, True)

    def _restart(self, running_before: set[str], must_succeed: bool) -> None:
        """Start again every VM that ran before the run and is halted now.

        ``qubes-vm-update -R`` shuts down the VMs of the templates it
        updated and restarts only service VMs; when another template fails,
        the rest stay halted.  Runs whatever failed before it; its own
        failure fails the run only when nothing else did.
        """
        step = Step.RESTART
        # Until this step knows what did not start, every VM that ran before
        # stays owed (not_restarted, as recorded before the templates): a
        # failure or an exception from here on leaves them owed to a later run.
        try:
            vms = self.host.vms(refresh=True)
        except HostError as exc:
            # Which VMs are halted cannot be told, so this step has not succeeded.
            began = self.stepper.begin(step, even_when_stopping=True)
            self._restart_failed(began, f"the VMs could not be read ({exc})", must_succeed)
            return
        to_start = sorted(
            (n for n in running_before if n in vms and vms[n].power == "Halted"),
            key=start_order,
        )
        if not to_start:
            self.result.not_restarted = []
            self.stepper.skip(step, "no VMs to restart")
            return
        # Also when the updater is being stopped: a stop must not leave halted
        # what ran before the run (a second stop still cuts it short).
        began = self.stepper.begin(step, even_when_stopping=True)
        self.stepper.log(f"Restarting {', '.join(to_start)}", "info")
        with process.cleanup():
            result = self.host.start_vms(to_start)
        not_running = [name for name in to_start if self.host.power_state(name) != "Running"]
        self.result.restarted = [name for name in to_start if name not in not_running]
        self.result.not_restarted = not_running
        if self.result.restarted:
            log.info("Restarted: %s", ", ".join(self.result.restarted))
        if not result.ok or not_running:
            detail = f"{', '.join(not_running) or 'some VMs'} did not start ({result.describe()})"
            self._restart_failed(began, detail, must_succeed)
            return
        self.stepper.end(step, began, True, ", ".join(to_start))

    def _restart_failed(self, began: float, detail: str, must_succeed: bool) -> None:
        """The restart step failed: the run fails, unless something failed before it."""
        self.stepper.end(Step.RESTART, began, False, detail)
        if must_succeed:
            raise RunStopped(ExitCode.FAILED, Step.RESTART, f"Restarting the VMs failed: {detail}.")
        self.stepper.log(f"Restarting the VMs failed too: {detail}.", "error")

    # ----- what is recorded -----------------------------------------------------

    def _vms_owed(self) -> set[str]:
        """VMs an earlier run owes: they ran before it and it did not start them again.

        A retry has them from the run it retries (every VM that ran before
        it); any other run from the last summary on disk (those it did not
        start again), so they stay owed until a run starts them.
        """
        if self.retry is not None:
            return set(self.retry.restart)
        last = lastrun.read(self.store.directory, self.host.now())
        owed = set(last.not_restarted) if last is not None else set()
        if owed:
            log.info("VMs an earlier run did not start again: %s", ", ".join(sorted(owed)))
        return owed

    def _record_summary_so_far(self) -> None:
        """The summary as it stands, as a failure: what a run killed from here leaves."""
        so_far = dataclasses.replace(
            self.result,
            outcome=ExitCode.FAILED,
            failed_step=Step.TEMPLATES,
            message="The run did not finish (it was stopped while updating the templates).",
            finished_at=self.host.now(),
            steps=dict(self.result.steps),
        )
        lastrun.write(self.store.directory, lastrun.summarize(so_far))

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
            raise RunStopped(
                ExitCode.FAILED,
                None,
                f"The updater could not record its state in {where}, so it changed nothing. "
                "Check that the disk is not full and the folder is writable.",
            )
        raise RunStopped(
            ExitCode.FAILED,
            None,
            f"The updater could not record its state in {where} and stopped. Check that the "
            "disk is not full and the folder is writable, then run the updater again.",
        )

    # ----- endings ----------------------------------------------------------

    def _finish_ok(self) -> None:
        self.stepper.progress.finish()
        status = UpdateStatus.REBOOT_REQUIRED if self.owed else UpdateStatus.OK
        # The summary's end is the status file's time: --retry-failed ties the two.
        self.result.finished_at = self.host.now()
        try:
            self._record(status, now=self.result.finished_at)
        except RunStopped as failure:
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

    def _finish_failed(self, failure: RunStopped) -> None:
        self.result.outcome = failure.outcome
        self.result.failed_step = failure.step
        self.result.message = failure.message
        if process.cancelled():
            self.result.message = f"The update was stopped ({failure.message})"
        self._help_for(failure)
        self.result.finished_at = self.host.now()
        if failure.outcome not in NOTHING_ATTEMPTED:
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
        self.stepper.log(self.result.message, "error")

    def _help_for(self, failure: RunStopped) -> None:
        """The help for what failed: each template that did not update, or the failed step."""
        if failure.step is Step.TEMPLATES:
            helped = {advice.where for advice in self.result.advice}
            for name, state in sorted(self.result.templates.items()):
                if state in UPDATED_STATES or name in helped:
                    continue
                lines = self.result.template_lines.get(name, [])
                self.stepper.add_advice(advising.advise(lines, Step.TEMPLATES, None, name))
            if self.result.advice:
                return
        lines = failure.lines or [failure.message]
        self.stepper.add_advice(
            advising.advise(lines, failure.step, failure.exit_code, outcome=failure.outcome)
        )


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
