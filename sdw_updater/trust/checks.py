"""The three trust check points the runner calls, and what each one reads.

- ``before`` (before ``qubes-dom0-update --check-only``, so before anything
  is applied): C1 the key file and the rpm database, C2 the repositories.
- ``after_dom0`` (after the dom0 step, on every run): C1 and C2 again, since
  the update may have changed keys or repository files, and C5 the signers
  of the installed SecureDrop packages.
- ``templates`` (before ``qubes-vm-update``): the SecureDrop apt source of
  each SecureDrop template.

Every read goes through the host seam, so the same checks run in dom0 and
under simulation.  Each point logs every finding for the administrator
(with its code) and returns a :class:`TrustReport`; a warning is shown once
per run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sdw_updater.contract import WORKSTATION_TAG
from sdw_updater.host import Host
from sdw_updater.trust.anchors import (
    APT_SOURCE,
    CONFIG_LIMIT,
    CONFIG_PATH,
    EXPIRY_WARNING_DAYS,
    KEY_FILE_LIMIT,
    KEY_FILES,
    PINNED,
    PROD,
    QUBES_KEY_PREFIX,
    REVOKED,
    TEST_FPR,
    environment_warning,
    read_environment,
)
from sdw_updater.trust.apt import check_apt_source, key_reader, read_vm_file
from sdw_updater.trust.dnf import check_repos, read_dnf_config
from sdw_updater.trust.gpg import KeyInfo, KeyScanner, ScanError
from sdw_updater.trust.keyfile import check_key_file
from sdw_updater.trust.report import Code, TrustReport
from sdw_updater.trust.rpmdb import check_rpmdb, check_signers, read_rpmdb, read_signers

log = logging.getLogger("sdw.trust")


@dataclass
class Allowlist:
    """Keys dom0's rpm database may hold besides the pin, and why.

    ``why`` maps each fingerprint to the key file and repository that
    reference it; ``qubes`` are those found in Qubes' own key files, the
    only ones (with the pin) that may sign SecureDrop's keyring package.
    """

    why: dict[str, str] = field(default_factory=dict)
    qubes: set[str] = field(default_factory=set)


@dataclass
class Inventory:
    """What C1 and C2 found, for C5 to resolve signers with."""

    env: str
    report: TrustReport
    rpmdb_keys: list[KeyInfo]
    allowlist: Allowlist


class CheckPoints:
    """The trust checks of one run (what ``plan.TrustChecks`` describes).

    ``clock`` and ``revoked`` are parameters so tests can move time and
    revoke keys; ``gpg_binary`` overrides the search for gpg.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        revoked: Iterable[str] = REVOKED,
        gpg_binary: str | None = None,
        warn_days: int = EXPIRY_WARNING_DAYS,
    ) -> None:
        self.clock = clock
        self.revoked = frozenset(revoked)
        self.gpg_binary = gpg_binary
        self.warn_days = warn_days
        self._shown: set[str] = set()

    # ----- the runner's three points ---------------------------------------------------

    def before(self, host: Host) -> TrustReport:
        """C1 and C2, before anything is applied."""
        with KeyScanner(self.gpg_binary) as scanner:
            return self.finish("before", self.inventory(host, scanner).report)

    def after_dom0(self, host: Host) -> TrustReport:
        """C5, and C1/C2 again: the dom0 update may have changed keys or repositories."""
        with KeyScanner(self.gpg_binary) as scanner:
            inventory = self.inventory(host, scanner)
        report = TrustReport().add(inventory.report).add(self.signers(host, inventory))
        return self.finish("after_dom0", report)

    def templates(self, host: Host, templates: list[str]) -> TrustReport:
        """The SecureDrop apt source of each template tagged ``sd-workstation``.

        Other templates (Fedora, Whonix) have no SecureDrop source.  A halted
        template is started to read the file (qvm-run autostarts it) and shut
        down again afterwards, so qubes-vm-update finds it as it was.
        """
        vms = host.vms()
        targets = [t for t in templates if t in vms and WORKSTATION_TAG in vms[t].tags]
        report = TrustReport()
        env, problem = read_environment(host.read_file(CONFIG_PATH, CONFIG_LIMIT))
        if problem:
            report.warn(Code.ENVIRONMENT_UNKNOWN, environment_warning(problem))
        if not targets:
            report.fail(
                Code.NO_SDW_TEMPLATE,
                "no SecureDrop template to check: none of the templates to update carries the "
                f"{WORKSTATION_TAG} tag",
            )
            return self.finish("templates", report)
        started = [t for t in targets if vms[t].power == "Halted"]
        try:
            with KeyScanner(self.gpg_binary) as scanner:
                for template in targets:
                    report.add(self._template_source(host, template, env, scanner))
        except ScanError as exc:
            report.fail(
                Code.GPG_UNAVAILABLE, f"the templates' signing keys could not be examined: {exc}"
            )
        finally:
            if started:
                done = host.shutdown_vms(started)
                if not done.ok:
                    report.warn(
                        Code.TEMPLATE_NOT_SHUT_DOWN,
                        f"Could not shut down {', '.join(started)} after reading their package "
                        f"sources ({done.describe()}).",
                    )
        return self.finish("templates", report)

    # ----- parts ----------------------------------------------------------------------------

    def finish(self, point: str, report: TrustReport) -> TrustReport:
        """Log every finding for the admin; keep only warnings not shown yet this run."""
        for failure in report.failures:
            log.error("Trust check (%s) failed [%s]: %s", point, failure.code.value, failure.text)
        fresh = [w for w in report.warnings if w.text not in self._shown]
        self._shown.update(w.text for w in fresh)
        for warning in fresh:
            log.warning("Trust check (%s) [%s]: %s", point, warning.code.value, warning.text)
        if not report.failures:
            log.info("Trust check (%s) passed", point)
        return TrustReport(list(report.failures), fresh)

    def inventory(self, host: Host, scanner: KeyScanner) -> Inventory:
        """C1 (key file, rpm database) and C2 (repositories), in one pass."""
        now = self.clock()
        env, problem = read_environment(host.read_file(CONFIG_PATH, CONFIG_LIMIT))
        report = TrustReport()
        if problem:
            report.warn(Code.ENVIRONMENT_UNKNOWN, environment_warning(problem))
        log.info("Environment: %s; pinned key %s", env, PINNED[env])
        allowlist = Allowlist()
        try:
            key_report, file_key = check_key_file(
                host.read_file(KEY_FILES[env], KEY_FILE_LIMIT),
                env,
                scanner,
                now,
                revoked=self.revoked,
                warn_days=self.warn_days,
            )
            report.add(key_report)
            config, dnf_report = read_dnf_config(host)
            report.add(dnf_report)
            if config is not None:
                scan = check_repos(config, env)
                report.add(scan.report)
                allowlist = self.allowlist(host, scanner, scan.key_paths, env)
            entries, rpm_report = read_rpmdb(host, scanner)
            report.add(rpm_report)
            if rpm_report.failures:
                return Inventory(env, report, [], allowlist)
            # Without dnf's answer no key can be allowlisted, and "no enabled repository
            # uses it" would be a guess: the run fails on dnf already.
            known = allowlist.why if config is not None else None
            report.add(check_rpmdb(entries, known, env, file_key, now=now, revoked=self.revoked))
            keys = [key for _, found in entries for key in found]
            log.info("rpm database keys: %s", ", ".join(k.describe() for k in keys) or "(none)")
            return Inventory(env, report, keys, allowlist)
        except ScanError as exc:
            report.fail(Code.GPG_UNAVAILABLE, f"the signing keys could not be examined: {exc}")
            return Inventory(env, report, [], allowlist)

    def allowlist(
        self, host: Host, scanner: KeyScanner, key_paths: dict[str, str], env: str
    ) -> Allowlist:
        """Fingerprints of the key files enabled repositories (not SecureDrop's) reference.

        The pinned key is handled on its own; the test key on prod and revoked
        keys are never allowlisted, whoever references them.
        """
        allowlist = Allowlist()
        for path, label in sorted(key_paths.items()):
            data = host.read_file(path, KEY_FILE_LIMIT)
            keys = scanner.scan(data) if data is not None else []
            if not keys:
                log.warning("Key file %s (repository %s) holds no readable key", path, label)
            for key in keys:
                if key.fingerprint in self.revoked or key.revoked:
                    continue
                if env == PROD and key.fingerprint == TEST_FPR:
                    continue
                allowlist.why.setdefault(key.fingerprint, f"{path} (repository {label})")
                if path.startswith(QUBES_KEY_PREFIX):
                    allowlist.qubes.add(key.fingerprint)
        for fingerprint, why in allowlist.why.items():
            qubes = " (a Qubes key)" if fingerprint in allowlist.qubes else ""
            log.info("Allowlisted %s%s: %s", fingerprint, qubes, why)
        return allowlist

    def signers(self, host: Host, inventory: Inventory) -> TrustReport:
        """C5: who signed the installed SecureDrop packages."""
        signatures, missing, report = read_signers(host)
        for sig in signatures:
            log.info(
                "Package %s: signed by key ID %s", sig.package, ", ".join(sig.key_ids) or "(none)"
            )
        return report.add(
            check_signers(
                signatures,
                missing,
                inventory.rpmdb_keys,
                inventory.env,
                qubes_keys=inventory.allowlist.qubes,
            )
        )

    def _template_source(
        self, host: Host, template: str, env: str, scanner: KeyScanner
    ) -> TrustReport:
        data, failure = read_vm_file(host, template, APT_SOURCE)
        if failure:
            report = TrustReport()
            report.fail(
                Code.SOURCE_UNREADABLE,
                f"the SecureDrop package source of {template} could not be read ({failure})",
            )
            return report
        found = check_apt_source(
            template,
            data,
            env,
            scanner,
            read_key=key_reader(host, template),
            now=self.clock(),
            revoked=self.revoked,
        )
        if not found.failures:
            log.info("%s: the SecureDrop package source trusts only the pinned key", template)
        return found


def checks_for(host: Host) -> CheckPoints:
    """The trust checks for this host (``Context.make_trust``).

    The same checks run in dom0 and under simulation: everything they read
    comes through ``host``.
    """
    return CheckPoints()
