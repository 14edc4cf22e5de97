"""The update plan and its runner.

One run, in order, failing early: dist-upgrade guard, network check, trust
checks, dom0 check, dom0 update (when needed), installed-signer check, dom0
Salt state, full apply (when a migration is pending), template source check,
template updates, restart of the VMs the template updates stopped.  Each step
reports events to a listener; the outcome is the worst of all steps, and a
failure is never hidden by a reboot that dom0 needs.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sdw_updater import events as ev
from sdw_updater.contract import (
    MIGRATION_DIR,
    SYS_VMS,
    UPDATER_LOCK,
    WORKSTATION_TAG,
    ExitCode,
    UpdateStatus,
)
from sdw_updater.events import TemplateState
from sdw_updater.history import History
from sdw_updater.host import Host, ToolResult, VMInfo
from sdw_updater.lock import Lock, lock_dir
from sdw_updater.logs import clean_line
from sdw_updater.progress import TemplateTracker, parse_connectivity
from sdw_updater.status import StatusStore

log = logging.getLogger("sdw.plan")

# Timeouts in seconds, sized for real updates on slow Tor-routed networks.
TIMEOUTS = {
    "netcheck": 90,
    "dom0_check": 900,
    "dom0_update": 3600,
    "dom0_state": 3600,
    "migration": 5400,
    "migration_clear": 60,
    "templates": 3 * 3600,
    "restart": 600,
}


class Step(enum.StrEnum):
    NETCHECK = "netcheck"
    TRUST = "trust"
    DOM0_CHECK = "dom0_check"
    DOM0_UPDATE = "dom0_update"
    TRUST_INSTALLED = "trust_installed"
    DOM0_STATE = "dom0_state"
    MIGRATION = "migration"
    TEMPLATE_SOURCES = "template_sources"
    TEMPLATES = "templates"
    RESTART = "restart"


STEP_LABELS = {
    Step.NETCHECK: "Checking the network connection",
    Step.TRUST: "Checking the workstation's signing keys",
    Step.DOM0_CHECK: "Checking for system (dom0) updates",
    Step.DOM0_UPDATE: "Installing system (dom0) updates",
    Step.TRUST_INSTALLED: "Checking the signatures of installed packages",
    Step.DOM0_STATE: "Applying the SecureDrop configuration",
    Step.MIGRATION: "Applying the full SecureDrop configuration (migration)",
    Step.TEMPLATE_SOURCES: "Checking the templates' package sources",
    Step.TEMPLATES: "Updating the templates",
    Step.RESTART: "Restarting the VMs that were updated",
}

# Share of the overall progress bar each step takes (estimates, normalised later).
WEIGHTS = {
    Step.NETCHECK: 1,
    Step.TRUST: 1,
    Step.DOM0_CHECK: 4,
    Step.DOM0_UPDATE: 20,
    Step.TRUST_INSTALLED: 1,
    Step.DOM0_STATE: 22,
    Step.MIGRATION: 0,  # added when a migration turns out to be pending
    Step.TEMPLATE_SOURCES: 1,
    Step.TEMPLATES: 45,
    Step.RESTART: 5,
}
MIGRATION_WEIGHT = 30


@dataclass
class TrustReport:
    """Result of one trust check: failures stop the run, warnings are shown."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Days left of a signing key about to expire, keyed by its warning.
    days_left: dict[str, int] = field(default_factory=dict)


class TrustChecks(Protocol):
    """The trust checks the runner calls at its three points."""

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
    warnings: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)


class _StepFailed(Exception):
    def __init__(self, outcome: ExitCode, step: Step, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.step = step
        self.message = message


def templates_to_update(vms: dict[str, VMInfo]) -> list[str]:
    """The TemplateVMs behind every ``sd-workstation`` VM and the sys VMs.

    Follows template chains (a disposable VM's template is itself an AppVM)
    and keeps only TemplateVMs, which are what ``qubes-vm-update`` updates.
    """
    roots = [vm for vm in vms.values() if WORKSTATION_TAG in vm.tags or vm.name in SYS_VMS]
    found: set[str] = set()
    for vm in roots:
        current: VMInfo | None = vm
        seen: set[str] = set()
        while current is not None and current.name not in seen:
            seen.add(current.name)
            if current.klass == "TemplateVM":
                found.add(current.name)
                break
            current = vms.get(current.template) if current.template else None
    return sorted(found)


def derived_from(vms: dict[str, VMInfo], template: str) -> set[str]:
    """Every VM whose template chain reaches ``template``."""
    result: set[str] = set()
    for vm in vms.values():
        current: VMInfo | None = vm
        seen: set[str] = set()
        while current is not None and current.template and current.name not in seen:
            seen.add(current.name)
            if current.template == template:
                result.add(vm.name)
                break
            current = vms.get(current.template)
    return result


def dist_upgrade_evidence(
    dom0_release: str | None, vms: dict[str, VMInfo], templates: list[str]
) -> list[str]:
    """Templates whose agent release differs from dom0's: evidence of a dist upgrade.

    A missing release on either side is not evidence.
    """
    if dom0_release is None:
        return []
    mismatched = []
    for name in templates:
        agent = vms[name].agent_version if name in vms else None
        if agent is not None and agent != dom0_release:
            mismatched.append(f"{name} ({agent})")
    return mismatched


class ProgressTracker:
    """Turns step fractions into an overall percentage that never goes backwards."""

    def __init__(self, listener: ev.Listener) -> None:
        self.listener = listener
        self.weights = {step: float(weight) for step, weight in WEIGHTS.items()}
        self.fractions: dict[Step, float] = {}
        self.last = 0.0

    def add_weight(self, step: Step, weight: float) -> None:
        self.weights[step] = weight

    def set(self, step: Step, fraction: float) -> None:
        fraction = min(1.0, max(0.0, fraction))
        if fraction <= self.fractions.get(step, 0.0):
            return
        self.fractions[step] = fraction
        total = sum(self.weights.values()) or 1.0
        done = sum(self.weights[s] * f for s, f in self.fractions.items())
        value = min(100.0, 100.0 * done / total)
        if value > self.last + 0.05 or (value >= 100.0 > self.last):
            self.last = value
            self.listener(ev.OverallProgress(round(value, 1)))

    def finish(self) -> None:
        if self.last < 100.0:
            self.last = 100.0
            self.listener(ev.OverallProgress(100.0))


class Runner:
    """Runs the plan once against a host, reporting to a listener."""

    def __init__(
        self,
        host: Host,
        store: StatusStore,
        listener: ev.Listener = ev.null_listener,
        skip_netcheck: bool = False,
        trust: TrustChecks | None = None,
        clock: Callable[[], float] = time.time,
        lock: Lock | None = None,
    ) -> None:
        self.host = host
        self.store = store
        self.listener = listener
        self.skip_netcheck = skip_netcheck
        self.trust = trust
        self.clock = clock
        # A front end that holds the updater lock for its whole life (the
        # window, from before its first screen) hands it over: POSIX locks
        # belong to the process, and closing a second descriptor of the same
        # file would silently release the front end's lock.
        self.held_lock = lock
        self.history = History(store.directory)
        self.progress = ProgressTracker(listener)
        self.result = RunResult(ExitCode.OK)

    # ----- public -----------------------------------------------------------

    def run(self) -> RunResult:
        """Take the lock and run the whole plan; never raises."""
        lock = self.held_lock or Lock(lock_dir(self.store.directory) / UPDATER_LOCK)
        if lock.fd is None and not lock.acquire():
            self.result = RunResult(ExitCode.LOCKED, "Another updater is already running.")
            self._log("Another updater is already running.", "error")
            return self.result
        started = time.monotonic()
        try:
            self._run_locked()
        except Exception as exc:  # a bug must end as "failed", never as "ok"
            log.exception("Unexpected error during the update")
            self._finish_failed(ExitCode.FAILED, None, f"Unexpected error: {exc}")
        finally:
            if lock is not self.held_lock:
                lock.release()
        self.result.durations["total"] = time.monotonic() - started
        if self.result.outcome in (ExitCode.OK, ExitCode.REBOOT_REQUIRED):
            self.history.record(self.result.durations)
        log.info("Run finished: %s. %s", self.result.outcome.name, self.result.message)
        return self.result

    # ----- plan -------------------------------------------------------------

    def _run_locked(self) -> None:
        vms = self.host.vms()
        templates = templates_to_update(vms)
        log.info("Templates to update: %s", ", ".join(templates) or "(none)")
        evidence = dist_upgrade_evidence(self.host.dom0_release(), vms, templates)
        if evidence:
            message = (
                "Qubes is in the middle of a distribution upgrade (dom0 is "
                f"{self.host.dom0_release()}, templates: {', '.join(evidence)}). "
                "Nothing was changed."
            )
            self.result = RunResult(ExitCode.DIST_UPGRADE, message)
            self._log(message, "error")
            return
        self.listener(ev.TemplatesPlanned(tuple(templates)))
        if not self.skip_netcheck:
            self._network_check()
            if self.result.outcome is ExitCode.NETWORK:
                return
        else:
            self._skip(Step.NETCHECK, "skipped (--skip-netcheck)")
        # From here on the workstation may change: record that a run is under
        # way, so a crash leaves "in progress" (meaning: run again), never "ok".
        self.store.write_status(UpdateStatus.IN_PROGRESS, self.clock())
        try:
            self._update(templates, vms)
        except _StepFailed as failure:
            self._finish_failed(failure.outcome, failure.step, failure.message)
            return
        self._finish_ok()

    def _update(self, templates: list[str], vms: dict[str, VMInfo]) -> None:
        self._trust_step(Step.TRUST, lambda t: t.before(self.host))
        needs_dom0 = self._dom0_check()
        if needs_dom0:
            self._tool_step(Step.DOM0_UPDATE, ["qubes-dom0-update", "-y"], sudo=True)
            self.result.dom0_updated = True
            # dom0 has changed: record the reboot now, not at the end, so a run
            # killed after this point (the next check finds nothing to install)
            # cannot lose it and start the client on the old dom0.
            now = self.clock()
            self.store.write_status(UpdateStatus.IN_PROGRESS, now, reboot_requested_at=now)
        else:
            self._skip(Step.DOM0_UPDATE, "no dom0 updates available")
        # Checked on every run, not only after an update: a package installed
        # outside the updater is just as much the journalist's problem.
        self._trust_step(Step.TRUST_INSTALLED, lambda t: t.after_dom0(self.host))
        self._tool_step(
            Step.DOM0_STATE, ["qubesctl", "--show-output", "state.highstate"], sudo=True
        )
        if self.host.migration_pending():
            self._log("Migration is required, will enforce full config during update", "info")
            self.progress.add_weight(Step.MIGRATION, MIGRATION_WEIGHT)
            self._tool_step(Step.MIGRATION, ["sdw-admin", "--apply"])
            cleared = self.host.run(
                ["rm", "-f", "--", MIGRATION_DIR], TIMEOUTS["migration_clear"], sudo=True
            )
            if not cleared.ok or self.host.migration_pending():
                raise _StepFailed(
                    ExitCode.FAILED, Step.MIGRATION, "The migration flag could not be cleared."
                )
        else:
            self._skip(Step.MIGRATION, "no migration pending")
        self._trust_step(Step.TEMPLATE_SOURCES, lambda t: t.templates(self.host, templates))
        running_before = {name for name, vm in vms.items() if vm.power not in ("Halted", "NA")}
        self._templates(templates)
        self._restart(templates, running_before)

    # ----- steps ------------------------------------------------------------

    def _begin(self, step: Step) -> float:
        self.listener(ev.StepStarted(step.value, STEP_LABELS[step]))
        return time.monotonic()

    def _end(self, step: Step, began: float, ok: bool, detail: str = "") -> None:
        self.result.durations[step.value] = time.monotonic() - began
        self.progress.set(step, 1.0)
        self.listener(ev.StepFinished(step.value, ok, detail))

    def _skip(self, step: Step, why: str) -> None:
        self.progress.set(step, 1.0)
        self.listener(ev.StepFinished(step.value, True, why, skipped=True))

    def _log(self, text: str, level: str = "info") -> None:
        getattr(log, "info" if level == "output" else level)(text)
        self.listener(ev.LogLine(text, level))

    def _creep(self, step: Step, began: float) -> Callable[[], None]:
        """Time-based progress for tools that print none: approaches 95 % of the step."""
        expected = max(1.0, self.history.estimate(step.value))

        def tick() -> None:
            elapsed = time.monotonic() - began
            self.progress.set(step, 0.95 * (1.0 - math.exp(-elapsed / expected)))

        return tick

    def _output(self, line: bytes) -> None:
        self.listener(ev.LogLine(clean_line(line), "output"))

    def _tool_step(self, step: Step, argv: list[str], sudo: bool = False) -> ToolResult:
        began = self._begin(step)
        result = self.host.run(
            argv,
            TIMEOUTS[step.value],
            sudo=sudo,
            on_stdout=self._output,
            on_stderr=self._output,
            on_tick=self._creep(step, began),
        )
        if not result.ok:
            self._end(step, began, False, result.describe())
            raise _StepFailed(
                ExitCode.FAILED, step, f"{STEP_LABELS[step]} failed: {result.describe()}."
            )
        self._end(step, began, True)
        return result

    def _network_check(self) -> None:
        step = Step.NETCHECK
        began = self._begin(step)
        result = self.host.run(
            ["qvm-run", "-p", "sys-net", "nmcli", "networking", "connectivity", "check"],
            TIMEOUTS["netcheck"],
        )
        answer = parse_connectivity(result.stdout_head) if result.ok else None
        if answer != "full":
            why = f"connectivity is {answer!r}" if answer else result.describe()
            self._end(step, began, False, why)
            self.result = RunResult(
                ExitCode.NETWORK,
                f"The network is not available ({why}). Nothing was changed.",
                failed_step=step,
            )
            self._log(self.result.message, "error")
            return
        self._end(step, began, True, "connected")

    def _dom0_check(self) -> bool:
        step = Step.DOM0_CHECK
        began = self._begin(step)
        result = self.host.run(
            ["qubes-dom0-update", "--check-only"],
            TIMEOUTS["dom0_check"],
            on_stdout=self._output,
            on_stderr=self._output,
            on_tick=self._creep(step, began),
        )
        if result.exit == 100:
            self._end(step, began, True, "updates available")
            self._log("dom0 updates are available", "info")
            return True
        if result.exit == 0:
            self._end(step, began, True, "no updates")
            self._log("No updates available for dom0", "info")
            return False
        self._end(step, began, False, result.describe())
        raise _StepFailed(
            ExitCode.FAILED, step, f"Could not check for dom0 updates: {result.describe()}."
        )

    def _trust_step(self, step: Step, check: Callable[[TrustChecks], TrustReport]) -> None:
        if self.trust is None:
            self._skip(step, "no trust checks configured")
            return
        began = self._begin(step)
        try:
            report = check(self.trust)
        except Exception as exc:  # a check that breaks has not passed
            log.exception("Trust check %s raised", step.value)
            report = TrustReport(failures=[f"the check could not be completed ({exc})"])
        for warning in report.warnings:
            self.result.warnings.append(warning)
            self.listener(ev.Warning_(warning, days_left=report.days_left.get(warning)))
            log.warning("%s", warning)
        if report.failures:
            detail = "; ".join(report.failures)
            self._end(step, began, False, detail)
            raise _StepFailed(ExitCode.TRUST, step, f"{STEP_LABELS[step]} failed: {detail}.")
        self._end(step, began, True)

    def _templates(self, templates: list[str]) -> None:
        step = Step.TEMPLATES
        began = self._begin(step)
        tracker = TemplateTracker(tuple(templates))
        for name in templates:
            self.listener(ev.TemplateProgress(name, TemplateState.WAITING, 0.0))
        if not templates:
            self._end(step, began, True, "no templates")
            return

        def on_stderr(line: bytes) -> None:
            ignored = tracker.ignored_lines
            parsed = tracker.feed(line)
            if parsed is None:
                # Snapshots repeat every qube's line; show only what the
                # tracker could not take as progress (it counts those).
                if tracker.ignored_lines > ignored:
                    self._output(line)
                return
            self.listener(
                ev.TemplateProgress(
                    parsed.name, tracker.states[parsed.name], tracker.percents[parsed.name]
                )
            )
            self.progress.set(step, tracker.fraction())

        argv = [
            "qubes-vm-update",
            "--apply-to-all",
            "--force-update",
            "--show-output",
            "--just-print-progress",
            "--targets",
            ",".join(templates),
        ]
        result = self.host.run(
            argv, TIMEOUTS["templates"], on_stdout=self._output, on_stderr=on_stderr
        )
        final = tracker.finish(result.exit)
        self.result.templates = final
        for name, state in final.items():
            self.listener(
                ev.TemplateProgress(
                    name,
                    state,
                    100.0 if state is not TemplateState.FAILED else tracker.percents[name],
                )
            )
        failed = [name for name, state in final.items() if state is TemplateState.FAILED]
        if tracker.ignored_lines:
            log.warning("Ignored %d malformed progress lines", tracker.ignored_lines)
        if failed:
            self._end(step, began, False, ", ".join(failed))
            raise _StepFailed(
                ExitCode.FAILED,
                step,
                f"These templates failed to update: {', '.join(failed)} ({result.describe()}).",
            )
        if not result.ok:
            self._end(step, began, False, result.describe())
            raise _StepFailed(
                ExitCode.FAILED, step, f"Updating the templates failed: {result.describe()}."
            )
        self._end(step, began, True)

    def _restart(self, templates: list[str], running_before: set[str]) -> None:
        """Start again the VMs that were running and were stopped to apply template updates."""
        step = Step.RESTART
        updated = [n for n, s in self.result.templates.items() if s is TemplateState.DONE]
        vms = self.host.vms()
        affected: set[str] = set()
        for template in updated:
            affected |= derived_from(vms, template)
        to_start = [
            name
            for name in sorted(affected & running_before, key=_start_order)
            if name in vms and vms[name].power == "Halted"
        ]
        if not to_start:
            self._skip(step, "no VMs to restart")
            return
        began = self._begin(step)
        self._log(f"Restarting {', '.join(to_start)}", "info")
        result = self.host.start_vms(to_start, TIMEOUTS["restart"])
        not_running = [name for name in to_start if self.host.power_state(name) != "Running"]
        self.result.restarted = [name for name in to_start if name not in not_running]
        if not result.ok or not_running:
            detail = f"{', '.join(not_running) or 'some VMs'} did not start ({result.describe()})"
            self._end(step, began, False, detail)
            raise _StepFailed(ExitCode.FAILED, step, f"Restarting the VMs failed: {detail}.")
        self._end(step, began, True, ", ".join(to_start))

    # ----- endings ----------------------------------------------------------

    def _finish_ok(self) -> None:
        now = self.clock()
        self.progress.finish()
        if self.result.dom0_updated:
            self.result.outcome = ExitCode.REBOOT_REQUIRED
            self.result.message = "Updates were installed. Restart the computer to finish."
            self.store.write_status(UpdateStatus.REBOOT_REQUIRED, now, reboot_requested_at=now)
        else:
            self.result.outcome = ExitCode.OK
            self.result.message = "All updates are complete."
            self.store.write_status(UpdateStatus.OK, now)
        self.store.write_last_updated(now)

    def _finish_failed(self, outcome: ExitCode, step: Step | None, message: str) -> None:
        now = self.clock()
        self.result.outcome = outcome
        self.result.failed_step = step
        self.result.message = message
        requested = now if self.result.dom0_updated else None
        self.store.write_status(UpdateStatus.FAILED, now, reboot_requested_at=requested)
        self._log(message, "error")


def _start_order(name: str) -> tuple[int, str]:
    """sys-net before sys-firewall before the VMs that use them."""
    order = {"sys-net": 0, "sys-firewall": 1, "sys-usb": 2, "sys-whonix": 3, "sd-whonix": 4}
    return order.get(name, 10), name
