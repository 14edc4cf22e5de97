"""What a trust check found: typed findings, in one report type.

Every finding carries a :class:`Code` (what kind of problem, for callers,
logs and tests, which never match English text) and the plain-words text a
journalist or an administrator reads.  A failure stops the run (exit 6); a
warning is shown and logged and the run goes on.

This module imports nothing but the standard library: the runner imports it
to build its own findings even when the checks themselves cannot be loaded
(a missing dependency must fail the run, never skip the checks).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Code(enum.Enum):
    """The kinds of findings; the value is what the log shows in brackets."""

    # ----- the checks themselves ----------------------------------------------------
    CHECKS_NOT_LOADED = "checks-not-loaded"  # the trust package could not be imported
    CHECK_BROKE = "check-broke"  # a check raised: it has not passed
    GPG_UNAVAILABLE = "gpg-unavailable"  # GnuPG or python-gnupg cannot be run
    DNF_UNAVAILABLE = "dnf-unavailable"  # dnf's own parser cannot be run
    ENVIRONMENT_UNKNOWN = "environment-unknown"  # warning: config.json unreadable, prod assumed

    # ----- C1: the SecureDrop key file ----------------------------------------------
    KEY_FILE_UNREADABLE = "key-file-unreadable"
    KEY_FILE_NO_KEY = "key-file-no-key"
    KEY_FILE_SEVERAL_KEYS = "key-file-several-keys"
    KEY_FILE_TEST_KEY_ON_PROD = "key-file-test-key-on-prod"
    KEY_FILE_OTHER_ENVIRONMENT = "key-file-other-environment"
    KEY_FILE_UNKNOWN_KEY = "key-file-unknown-key"
    KEY_FILE_IMPOSTOR = "key-file-impostor"  # an unknown key with a real SecureDrop user id
    KEY_REVOKED_LISTED = "key-revoked-listed"  # on the compiled revocation list
    KEY_REVOKED_CERTIFICATE = "key-revoked-certificate"  # the data carries its revocation
    KEY_EXPIRED = "key-expired"
    KEY_EXPIRES_SOON = "key-expires-soon"  # warning

    # ----- C1: the rpm database -----------------------------------------------------
    RPMDB_UNREADABLE = "rpmdb-unreadable"
    RPMDB_EMPTY = "rpmdb-empty"
    RPMDB_ENTRY_NOT_ONE_KEY = "rpmdb-entry-not-one-key"
    RPMDB_REVOKED_KEY = "rpmdb-revoked-key"
    RPMDB_TEST_KEY_ON_PROD = "rpmdb-test-key-on-prod"
    RPMDB_PINNED_EXPIRED = "rpmdb-pinned-expired"
    RPMDB_PINNED_MISSING = "rpmdb-pinned-missing"
    RPMDB_UNLISTED_KEY = "rpmdb-unlisted-key"  # no enabled repository uses it
    RPMDB_STALE_COPY = "rpmdb-stale-copy"  # warning: another expiry than the key file's

    # ----- C2: dnf's repository configuration -----------------------------------------
    DNF_CONFIG_UNREADABLE = "dnf-config-unreadable"  # a file dnf reads is refused or broken
    DNF_OVERRIDE = "dnf-override"  # a dnf5 repository override file (refused)
    REPO_DUPLICATE_ID = "repo-duplicate-id"
    REPO_SIGNATURES_OFF = "repo-signatures-off"
    REPO_AMBIGUOUS = "repo-ambiguous"  # an unreadable or contradictory gpgcheck
    REPO_TEST_KEY_ON_PROD = "repo-test-key-on-prod"
    SDW_REPO_MISSING = "sdw-repo-missing"
    SDW_REPO_EMPTY = "sdw-repo-empty"
    SDW_REPO_ELSEWHERE = "sdw-repo-elsewhere"  # SecureDrop's repository id defined elsewhere
    SDW_REPO_DISABLED = "sdw-repo-disabled"
    SDW_REPO_UNSIGNED = "sdw-repo-unsigned"
    SDW_REPO_TEST_KEY = "sdw-repo-test-key"
    SDW_REPO_WRONG_KEY = "sdw-repo-wrong-key"
    SDW_REPO_WRONG_URL = "sdw-repo-wrong-url"
    SDW_REPO_REDIRECT = "sdw-repo-redirect"  # metalink or mirrorlist

    # ----- C5: installed signers ----------------------------------------------------
    SIGNERS_UNREADABLE = "signers-unreadable"
    PACKAGE_NOT_INSTALLED = "package-not-installed"
    PACKAGE_UNSIGNED = "package-unsigned"
    SIGNER_UNKNOWN = "signer-unknown"  # a key id no rpm database key has
    SIGNER_AMBIGUOUS = "signer-ambiguous"  # a key id several rpm database keys share
    SIGNER_NOT_ALLOWED = "signer-not-allowed"

    # ----- the templates' apt sources -------------------------------------------------
    NO_SDW_TEMPLATE = "no-sdw-template"
    SOURCE_UNREADABLE = "source-unreadable"
    SOURCE_UNPARSEABLE = "source-unparseable"
    SOURCE_NO_ENTRY = "source-no-entry"
    SOURCE_BAD_ENABLED = "source-bad-enabled"
    SOURCE_INSECURE = "source-insecure"  # Trusted, Allow-Insecure, Allow-Weak, ...
    SOURCE_NOT_FRESH = "source-not-fresh"  # Check-Valid-Until or Check-Date off
    SOURCE_NO_SIGNED_BY = "source-no-signed-by"
    SOURCE_BAD_SIGNED_BY = "source-bad-signed-by"  # names no readable key
    SOURCE_OTHER_KEY = "source-other-key"
    SOURCE_REVOKED_KEY = "source-revoked-key"
    SOURCE_EXPIRED_KEY = "source-expired-key"
    SOURCE_PIN_MISSING = "source-pin-missing"
    TEMPLATE_NOT_SHUT_DOWN = "template-not-shut-down"  # warning


@dataclass(frozen=True)
class Finding:
    """One problem: its kind and its plain words (and, for an expiring key, days left)."""

    code: Code
    text: str
    days_left: int | None = None

    def __str__(self) -> str:
        return self.text


@dataclass
class TrustReport:
    """Result of one trust check: failures stop the run, warnings are shown."""

    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def fail(self, code: Code, text: str) -> None:
        self.failures.append(Finding(code, text))

    def warn(self, code: Code, text: str, days_left: int | None = None) -> None:
        self.warnings.append(Finding(code, text, days_left))

    def add(self, other: TrustReport) -> TrustReport:
        """Take another report's findings in (returns self, for chaining)."""
        self.failures.extend(other.failures)
        self.warnings.extend(other.warnings)
        return self

    @property
    def codes(self) -> list[Code]:
        """The failures' codes, in order (what callers and tests compare)."""
        return [f.code for f in self.failures]

    @property
    def warning_codes(self) -> list[Code]:
        return [w.code for w in self.warnings]

    @property
    def days_left(self) -> dict[str, int]:
        """Days left of a signing key about to expire, keyed by its warning's text."""
        return {w.text: w.days_left for w in self.warnings if w.days_left is not None}


def merge(*reports: TrustReport) -> TrustReport:
    """One report holding every finding of ``reports``, in order."""
    merged = TrustReport()
    for report in reports:
        merged.add(report)
    return merged
