"""Wiring: the host (real or simulated), the status store, and the decision.

The launcher, the CLI, the wizard and the notifier all start here, so each
sees the same state through the same seam.  Nothing heavy is imported: this
module is on the fast path (fresh workstation, client started at once).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdw_updater.contract import LOG_DIR_NAME, ExitCode, UpdateStatus
from sdw_updater.host import Host, HostError
from sdw_updater.qubes import QubesHost
from sdw_updater.status import StatusRecord, StatusStore, format_time, state_dir

if TYPE_CHECKING:
    from typing import TextIO

    from sdw_updater import freshness

log = logging.getLogger("sdw.context")


class UsageError(Exception):
    """A bad command line or scenario: exit code 2."""


class Context:
    """What every front end works with: the host, the state files, and whether it is simulated."""

    def __init__(
        self, host: Host, store: StatusStore, simulated: bool, scenario: Any = None
    ) -> None:
        self.host = host
        self.store = store
        self.simulated = simulated
        self.scenario = scenario

    @property
    def log_dir(self) -> Path:
        return self.store.directory / LOG_DIR_NAME

    def decide(self, skip_delta: int) -> tuple[freshness.Decision, StatusRecord | None]:
        from sdw_updater import freshness  # not for the notifier, which decides otherwise

        now = self.host.now()
        record = self.store.read_status(now)
        boot = self.host.boot() if record is not None and record.reboot_requested_at else None
        return freshness.decide(record, now, boot, skip_delta), record

    def status_report(self, skip_delta: int, own: str | None = None) -> dict[str, object]:
        """The ``--status`` JSON: reads only, writes nothing.

        ``own``: the running program's path, so that ``launcher`` can tell
        whether the icon runs this very program (docs/dom0-install.md).
        """
        import os

        from sdw_updater import coexist, freshness

        now = self.host.now()
        record = self.store.read_status(now)
        last = self.store.read_last_updated(now)
        decision = freshness.decide(record, now, self.host.boot(), skip_delta)
        status = record.status if record else None
        return {
            "status": status.value if status else None,
            "status_name": status.name if status else "UNKNOWN",
            "last_status_update": format_time(record.timestamp) if record else None,
            "last_updated": format_time(last) if last is not None else None,
            "reboot_pending": decision.action is freshness.Action.REBOOT_PENDING,
            "due": decision.action is freshness.Action.RUN_UPDATER,
            "decision": decision.action.value,
            "reason": decision.reason,
            "simulated": self.simulated,
            "key_expires_in_days": self.key_days_left(now),
            "last_run": self.last_run(now),
            "launcher": coexist.report(
                self.store.directory.parent, os.environ.get("PATH", ""), own
            ),
        }

    def last_run(self, now: float) -> dict[str, object] | None:
        """The last run's summary (``sdw-last-run.json``), or None when there is none to trust."""
        from sdw_updater import lastrun

        last = lastrun.read(self.store.directory, now)
        return None if last is None else lastrun.to_json(last)

    def upgrade_in_progress(self) -> str | None:
        """Why Qubes looks mid in-place upgrade (checked on every launch), else None.

        A VM list that cannot be read is not evidence of an upgrade; the
        updater, which needs that list, will then stop and say why.  Only
        a template whose agent release differs from dom0's can be evidence,
        so the templates' agent versions are read first (a few Admin API
        calls); the whole VM list, to tell which templates the workstation
        uses, only when one differs.  The answer is the same either way.
        """
        release = self.host.dom0_release()
        if release is None:
            return None
        try:
            agents = self.host.template_agents()
            if all(agent is None or agent == release for agent in agents.values()):
                return None
            vms = self.host.vms()
            updatevm = self.host.updatevm()
        except HostError:
            return None
        from sdw_updater.inventory import dist_upgrade_evidence, templates_to_update

        evidence = dist_upgrade_evidence(release, vms, templates_to_update(vms, updatevm))
        if not evidence:
            return None
        return (
            f"Qubes is in the middle of a distribution upgrade (dom0 is {release}, "
            f"templates: {', '.join(evidence)}). Nothing was started."
        )

    def key_days_left(self, now: float) -> int | None:
        """Days before the pinned signing key expires (always reported to admins)."""
        try:
            from sdw_updater.trust.keyfile import pinned_key_days_left
        except ImportError:
            return None
        return pinned_key_days_left(self.host, now)

    def record_reboot_done(self, record: StatusRecord) -> None:
        """A requested reboot happened: status back to ok, original timestamp kept."""
        self.store.write_status(
            UpdateStatus.OK,
            record.timestamp,
            extra={"reboot_done_at": format_time(self.host.now())},
        )

    def start_client(self, out: TextIO) -> ExitCode:
        """Start the client and say so; exit code 0, or 8 when it did not start."""
        started = self.host.start_client()
        if started.ok:
            out.write("Started the SecureDrop app.\n")
            return ExitCode.OK
        out.write(
            f"Updates are fine, but the SecureDrop app could not be started: {started.message}\n"
        )
        return ExitCode.CLIENT_FAILED

    def make_trust(self) -> Any:
        """The trust checks for this host (imported only when a run starts).

        A missing dependency (python-gnupg, say) is no reason to skip them:
        the runner takes None as checks that could not be loaded, and the
        trust step fails (exit 6) instead of passing silently.
        """
        try:
            from sdw_updater.trust.checks import checks_for
        except ImportError as exc:
            log.error("The trust checks could not be loaded: %s", exc)
            return None
        return checks_for(self.host)


def open_context(
    simulate: bool, scenario: str | None, home: Path | None = None, readonly: bool = False
) -> Context:
    """Build the context; raises UsageError for a bad scenario."""
    directory = state_dir(home)
    store = StatusStore(directory)
    if not simulate:
        return Context(QubesHost(), store, simulated=False)
    try:
        import sdw_sim as sim
    except ImportError as exc:
        raise UsageError(
            "the simulator is not installed (it is for development and never part of dom0)"
        ) from exc
    try:
        env = sim.setup(Path(scenario) if scenario else None, directory)
    except sim.ScenarioError as exc:
        raise UsageError(f"bad scenario: {exc}") from exc
    host = QubesHost(
        root=env.root,
        bin_dirs=[env.bin_dir],
        app_factory=lambda: env.app,
        timeout_scale=env.timeout_scale,
        clock=env.now,
    )
    return Context(host, store, simulated=True, scenario=env.scenario)
