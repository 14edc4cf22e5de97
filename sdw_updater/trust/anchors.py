"""The compiled trust anchors and where SecureDrop keeps its own in dom0.

Pinned fingerprints, their names, the environments, the revocation list and
the dom0 paths of the SecureDrop key files, repository and configuration
(docs/keys.md, "The keys").  These constants ship inside the signed
updater package: they are what every check compares the workstation with.
"""

from __future__ import annotations

import json
import re
import time

PROD = "prod"
STAGING = "staging"
DEV = "dev"
ENVIRONMENTS = (PROD, STAGING, DEV)

RELEASE_FPR = "2359E6538C0613E652955E6C188EDD3B7B22E6A3"
TEST_FPR = "83127F68BABB04F3FE9A69AA545E94503FAB65AB"
#: The one key each environment trusts for SecureDrop packages.
PINNED = {PROD: RELEASE_FPR, STAGING: TEST_FPR, DEV: TEST_FPR}
KEY_NAMES = {
    RELEASE_FPR: "the SecureDrop release signing key",
    TEST_FPR: "the SecureDrop TEST key",
}
#: The user ids of the real keys: an unknown key carrying one is an impostor.
KNOWN_UIDS = {
    RELEASE_FPR: "SecureDrop Release Signing Key <securedrop-release-key-2021@freedom.press>",
    TEST_FPR: "SecureDrop TESTING key <securedrop@freedom.press>",
}
#: Fingerprints of revoked keys.  dom0 has no network, so it can only learn of
#: a revocation from the updater itself (docs/keys.md, "Checks the updater adds",
#: C7): a revoked key goes
#: here, in a signed release of the updater.
REVOKED: frozenset[str] = frozenset()
EXPIRY_WARNING_DAYS = 180

# ----- where things are in dom0 ---------------------------------------------------------

CONFIG_PATH = "/usr/share/securedrop-workstation-dom0-config/config.json"
CONFIG_LIMIT = 64 * 1024
KEY_DIR = "/etc/pki/rpm-gpg"
KEY_FILES = {
    PROD: f"{KEY_DIR}/RPM-GPG-KEY-securedrop-workstation",
    STAGING: f"{KEY_DIR}/RPM-GPG-KEY-securedrop-workstation-test",
    DEV: f"{KEY_DIR}/RPM-GPG-KEY-securedrop-workstation-test",
}
#: Qubes' own key files (the release key, RPM-GPG-KEY-qubes-<release>-primary,
#: and the QubesOS-contrib key through which SecureDrop's keyring arrives).
QUBES_KEY_PREFIX = f"{KEY_DIR}/RPM-GPG-KEY-qubes-"
KEY_FILE_LIMIT = 256 * 1024
SDW_REPO_FILE = "/etc/yum.repos.d/securedrop-workstation-dom0.repo"
SDW_REPO_ID = "securedrop-workstation-dom0"
SDW_REPO_HOSTS = {
    PROD: "yum.securedrop.org",
    STAGING: "yum-test.securedrop.org",
    DEV: "yum-test.securedrop.org",
}
APT_SOURCE = "/etc/apt/sources.list.d/apt_freedom_press.sources"

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: A SecureDrop test key file name, as it appears in a gpgkey= URL.
TEST_KEY_NAME = re.compile(r"securedrop[^/]*-test\b")


def clean(text: str, limit: int = 120) -> str:
    """Untrusted text (user ids, file contents) made safe for one message line."""
    text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[:limit] + "..."


def day(epoch: float) -> str:
    """A date as messages show it (UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def key_name(fingerprint: str) -> str:
    return KEY_NAMES.get(fingerprint, f"key {fingerprint}")


def read_environment(raw: bytes | None) -> tuple[str, str | None]:
    """The workstation's environment from config.json, and a problem if any.

    A missing or unreadable config fails closed: the production pins, the
    strictest (the test key is never trusted there), apply.
    """
    if raw is None:
        return PROD, f"{CONFIG_PATH} is missing or unreadable"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # "[[[[..." nests too deep
        return PROD, f"{CONFIG_PATH} is not valid JSON"
    value = data.get("environment") if isinstance(data, dict) else None
    if value not in ENVIRONMENTS:
        return PROD, f"{CONFIG_PATH} names no known environment ({clean(repr(value), 40)})"
    return str(value), None


def environment_warning(problem: str) -> str:
    return (
        f"Could not read the workstation's environment ({problem}); checking against the "
        "production signing key."
    )
