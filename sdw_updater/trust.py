"""Trust checks: pinned keys, enforced signatures, verified signers.

Qubes and dnf already verify RPM signatures, but any key in dom0's rpm
database is trusted for every dom0 package, nothing stops a repository file
from turning ``gpgcheck`` off, and nothing warns before the SecureDrop
release key expires.  The updater is the last program that runs before the
journalist opens sources' documents, so it refuses to go on when the
workstation's trust anchors are not what they must be (docs/trust.md,
reference/signatures.md §2):

- C1 pinned-key inventory (``before``, again in ``after_dom0``): the
  SecureDrop key file holds exactly one primary key, the one pinned for the
  workstation's environment, not expired, not revoked; every ``gpg-pubkey``
  in the rpm database is allowlisted.
- C2 signature enforcement (same points): the SecureDrop repository has
  ``gpgcheck=1`` and the pinned key file; no enabled repository turns
  ``gpgcheck`` off.
- C5 installed signers (``after_dom0``): the SecureDrop packages in dom0 are
  signed by the pinned key (resolved through the rpm database to a full
  fingerprint).
- Template sources (``templates``): the SecureDrop apt source in each
  SecureDrop template trusts only the pinned key.

Every decision is made on a key's primary fingerprint, as GnuPG lists it
from a fresh, empty, throwaway keyring; never on gpg's exit code, a status
string, a key id alone or a user id.  Everything is read through the host
seam, bounded in size and time, and anything unreadable fails closed.

Nothing here runs on the launcher's fast path: ``Context.make_trust``
imports this module only when a run starts, and GnuPG (python-gnupg) is
imported only when a key is first read.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import json
import logging
import os
import posixpath
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sdw_updater.contract import WORKSTATION_TAG
from sdw_updater.host import Host
from sdw_updater.plan import TrustReport

log = logging.getLogger("sdw.trust")

# ----- compiled trust anchors -------------------------------------------------

PROD = "prod"
STAGING = "staging"
DEV = "dev"
ENVIRONMENTS = (PROD, STAGING, DEV)

RELEASE_FPR = "2359E6538C0613E652955E6C188EDD3B7B22E6A3"
TEST_FPR = "83127F68BABB04F3FE9A69AA545E94503FAB65AB"
PINNED = {PROD: RELEASE_FPR, STAGING: TEST_FPR, DEV: TEST_FPR}
KEY_NAMES = {
    RELEASE_FPR: "the SecureDrop release signing key",
    TEST_FPR: "the SecureDrop TEST key",
}
KNOWN_UIDS = {
    RELEASE_FPR: "SecureDrop Release Signing Key <securedrop-release-key-2021@freedom.press>",
    TEST_FPR: "SecureDrop TESTING key <securedrop@freedom.press>",
}
# Fingerprints of revoked keys.  dom0 has no network, so it can only learn
# of a revocation from the updater itself (reference §2 C7): a revoked key
# goes here, in a signed release of the updater.
REVOKED: frozenset[str] = frozenset()
EXPIRY_WARNING_DAYS = 180

# ----- where things are in dom0 -----------------------------------------------

CONFIG_PATH = "/usr/share/securedrop-workstation-dom0-config/config.json"
KEY_DIR = "/etc/pki/rpm-gpg"
KEY_FILES = {
    PROD: f"{KEY_DIR}/RPM-GPG-KEY-securedrop-workstation",
    STAGING: f"{KEY_DIR}/RPM-GPG-KEY-securedrop-workstation-test",
    DEV: f"{KEY_DIR}/RPM-GPG-KEY-securedrop-workstation-test",
}
SDW_REPO_FILE = "/etc/yum.repos.d/securedrop-workstation-dom0.repo"
SDW_REPO_HOSTS = {
    PROD: "yum.securedrop.org",
    STAGING: "yum-test.securedrop.org",
    DEV: "yum-test.securedrop.org",
}
# dom0 sends /etc/yum.repos.d to the UpdateVM; its own dnf installs from
# /etc/yum.real.repos.d (qubes-cached.repo).  Both must enforce signatures.
REPO_DIRS = ("/etc/yum.repos.d", "/etc/yum.real.repos.d")
DNF_CONF = "/etc/dnf/dnf.conf"
APT_SOURCE = "/etc/apt/sources.list.d/apt_freedom_press.sources"
BASEARCH = "x86_64"

CONFIG_LIMIT = 64 * 1024
KEY_FILE_LIMIT = 256 * 1024
REPO_FILE_LIMIT = 256 * 1024
MAX_REPO_FILES = 200
RPM_OUTPUT_LIMIT = 2 * 1024 * 1024
MAX_RPMDB_KEYS = 64
VM_FILE_LIMIT = 256 * 1024

# Seconds for gpg (the host's tools have their timeouts in the seam, qubes.py).
GPG_TIMEOUT = 30


@dataclass(frozen=True)
class PackagePolicy:
    """One SecureDrop dom0 package and who may sign it.

    The keyring can legitimately arrive signed by a Qubes key (trust is
    bootstrapped through QubesOS-contrib, reference §1), so it also accepts
    the keys that enabled Qubes repositories reference.
    """

    name: str
    required: bool
    qubes_key_ok: bool = False


PACKAGES = (
    PackagePolicy("securedrop-workstation-dom0-config", required=True),
    PackagePolicy("securedrop-workstation-keyring", required=True, qubes_key_ok=True),
    PackagePolicy("securedrop-updater", required=False),
)

GPG_CANDIDATES = ("/usr/bin/gpg", "/usr/bin/gpg2", "/bin/gpg")

_HEX40 = re.compile(r"[0-9A-F]{40}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(text: str, limit: int = 120) -> str:
    """Untrusted text (user ids, file contents) made safe for one message line."""
    text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[:limit] + "..."


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def key_name(fingerprint: str) -> str:
    return KEY_NAMES.get(fingerprint, f"key {fingerprint}")


def merge(*reports: TrustReport) -> TrustReport:
    merged = TrustReport()
    for report in reports:
        merged.failures.extend(report.failures)
        merged.warnings.extend(report.warnings)
        merged.days_left.update(report.days_left)
    return merged


# ----- GnuPG --------------------------------------------------------------------


class ScanError(Exception):
    """GnuPG could not be run: every check that needed it fails."""


@dataclass(frozen=True)
class KeyInfo:
    """One primary key as GnuPG lists it (python-gnupg ``scan_keys_mem``)."""

    fingerprint: str
    ids: frozenset[str]  # 16-hex key ids and 40-hex fingerprints of the primary and subkeys
    uids: tuple[str, ...]
    created: int | None
    expires: int | None
    revoked: bool  # gpg's validity 'r': a revocation signature is in the data
    expired: bool  # gpg's validity 'e', by the real clock

    @property
    def uid(self) -> str:
        return _clean(self.uids[0]) if self.uids else "(no user id)"

    def describe(self) -> str:
        return f'{self.fingerprint} ("{self.uid}")'


UNREADABLE_KEY = KeyInfo("?" * 40, frozenset(), ("(unreadable key)",), None, None, False, False)


def _epoch(value: Any) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


def _key_info(raw: dict[str, Any]) -> KeyInfo | None:
    fingerprint = str(raw.get("fingerprint") or "").upper()
    if not _HEX40.fullmatch(fingerprint):
        return None
    ids = {fingerprint, fingerprint[-16:]}
    for sub in raw.get("subkeys") or []:
        for part in sub[:3] if isinstance(sub, list | tuple) else []:
            if isinstance(part, str) and re.fullmatch(r"[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40}", part):
                ids.add(part.upper())
    trust = str(raw.get("trust") or "")
    return KeyInfo(
        fingerprint=fingerprint,
        ids=frozenset(ids),
        uids=tuple(str(u) for u in raw.get("uids") or []),
        created=_epoch(raw.get("date")),
        expires=_epoch(raw.get("expires")),
        revoked=trust == "r",
        expired=trust == "e",
    )


class KeyScanner:
    """Lists the keys in some bytes with a fresh, empty GnuPG home.

    ``scan_keys_mem`` is a dry-run import on GnuPG >= 2.1: the keyring stays
    empty, so nothing read earlier can vouch for anything read later, and
    ``--no-autostart`` keeps gpg-agent (and its sockets) out of it.  Each gpg
    process is killed if it runs longer than ``GPG_TIMEOUT``; the scan then
    finds nothing, which fails closed.
    """

    def __init__(self, gpg_binary: str | None = None, timeout: float = GPG_TIMEOUT) -> None:
        self.gpg_binary = gpg_binary
        self.timeout = timeout
        self._gpg: Any = None
        self._home: str | None = None
        self._timers: list[threading.Timer] = []

    def __enter__(self) -> KeyScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._cancel_timers()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
        self._gpg = None

    def _binary(self) -> str:
        if self.gpg_binary is not None:
            return self.gpg_binary
        for candidate in GPG_CANDIDATES:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        raise ScanError("GnuPG (gpg) is not installed")

    def _open(self) -> Any:
        if self._gpg is not None:
            return self._gpg
        try:
            import gnupg
        except ImportError as exc:
            raise ScanError("python-gnupg is not installed") from exc
        logging.getLogger("gnupg").addHandler(logging.NullHandler())
        timeout = self.timeout
        timers = self._timers

        class BoundedGPG(gnupg.GPG):
            """python-gnupg has no timeouts: kill any gpg that runs too long."""

            def _open_subprocess(self, *args: Any, **kwargs: Any) -> Any:
                proc = super()._open_subprocess(*args, **kwargs)
                timer = threading.Timer(timeout, _kill_if_running, [proc])
                timer.daemon = True
                timer.start()
                timers.append(timer)
                return proc

        # Short and private (0700): gpg's socket paths are limited to ~107 bytes.
        self._home = tempfile.mkdtemp(prefix="g")
        try:
            gpg = BoundedGPG(
                gpgbinary=self._binary(), gnupghome=self._home, options=["--no-autostart"]
            )
        except (OSError, ValueError, RuntimeError) as exc:
            self.close()
            raise ScanError(f"GnuPG could not be run ({exc})") from exc
        finally:
            self._cancel_timers()
        if tuple(gpg.version or (0,)) < (2, 1):
            self.close()
            raise ScanError("GnuPG 2.1 or later is required")
        self._gpg = gpg
        return gpg

    def scan(self, data: bytes) -> list[KeyInfo]:
        """The primary keys in ``data`` (armored or binary); garbage gives []."""
        gpg = self._open()
        try:
            found = gpg.scan_keys_mem(data)
        except (OSError, ValueError, UnicodeError) as exc:
            raise ScanError(f"GnuPG failed ({exc})") from exc
        finally:
            self._cancel_timers()
        keys = []
        for raw in found:
            if raw.get("type") not in ("pub", "sec"):
                continue
            # An entry without a readable fingerprint still counts as a key,
            # so "exactly one key" and "only the pinned key" fail on it.
            keys.append(_key_info(raw) or UNREADABLE_KEY)
        return keys

    def _cancel_timers(self) -> None:
        while self._timers:
            self._timers.pop().cancel()


def _kill_if_running(proc: Any) -> None:
    if proc.poll() is None:
        log.error("gpg ran longer than %d s and was killed", GPG_TIMEOUT)
        proc.kill()


# ----- environment ----------------------------------------------------------------


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
        return PROD, f"{CONFIG_PATH} names no known environment ({_clean(repr(value), 40)})"
    return str(value), None


# ----- C1: the SecureDrop key file --------------------------------------------------


def check_key_file(
    data: bytes | None,
    env: str,
    scanner: KeyScanner,
    now: float,
    revoked: Iterable[str] = REVOKED,
    warn_days: int = EXPIRY_WARNING_DAYS,
) -> tuple[TrustReport, KeyInfo | None]:
    """C1: the key file holds exactly the pinned key, alive and not revoked.

    Returns the report and the key when it is the pinned one.
    """
    path = KEY_FILES[env]
    report = TrustReport()
    where = f"the SecureDrop signing key file {path}"
    if data is None:
        report.failures.append(
            f"{where} is missing, unreadable or larger than {KEY_FILE_LIMIT // 1024} KiB"
        )
        return report, None
    keys = scanner.scan(data)
    if not keys:
        report.failures.append(f"{where} holds no OpenPGP key")
        return report, None
    if len(keys) > 1:
        report.failures.append(
            f"{where} holds {len(keys)} keys ({', '.join(k.describe() for k in keys)}); "
            "exactly one is allowed"
        )
        return report, None
    key = keys[0]
    pinned = PINNED[env]
    problems = _key_problems(key, now, set(revoked))
    if key.fingerprint != pinned:
        report.failures.append(f"{where} {_wrong_key(key, env)}")
        for problem in problems:
            report.failures.append(f"that key {problem}")
        return report, None
    for problem in problems:
        report.failures.append(f"{where}: {key_name(pinned)} {problem}")
    if problems:
        return report, None
    warning = expiry_warning(key, now, warn_days)
    if warning and key.expires is not None:
        report.warnings.append(warning)
        report.days_left[warning] = int((key.expires - now) // 86400)
    return report, key


def _wrong_key(key: KeyInfo, env: str) -> str:
    """Why a key that is not the pinned one is refused, in plain words."""
    pinned = PINNED[env]
    if env == PROD and key.fingerprint == TEST_FPR:
        return (
            f"holds the SecureDrop TEST key ({TEST_FPR}), which must never be trusted on a "
            "production workstation"
        )
    if key.fingerprint in KEY_NAMES:
        return (
            f"holds {key_name(key.fingerprint)} ({key.fingerprint}), but this workstation's "
            f"environment ({env}) requires {key_name(pinned)} ({pinned})"
        )
    lookalike = any(uid.strip() in KNOWN_UIDS.values() for uid in key.uids)
    return f"holds an unknown key {key.describe()} instead of {key_name(pinned)} ({pinned})" + (
        "; it carries the user id of a real SecureDrop key, so it is an impostor"
        if lookalike
        else ""
    )


def _key_problems(key: KeyInfo, now: float, revoked: set[str]) -> list[str]:
    problems = []
    if key.fingerprint in revoked:
        problems.append("has been revoked (it is on the updater's revocation list)")
    if key.revoked:
        problems.append("has been revoked (the file carries its revocation certificate)")
    if key.expires is not None and key.expires <= now:
        problems.append(f"expired on {_day(key.expires)}")
    elif key.expired:
        problems.append("has expired")
    return problems


def expiry_warning(key: KeyInfo, now: float, warn_days: int = EXPIRY_WARNING_DAYS) -> str | None:
    """A warning when the pinned key has fewer than ``warn_days`` days left."""
    if key.expires is None:
        return None
    left = key.expires - now
    if left >= warn_days * 86400:
        return None
    days = int(left // 86400)
    return (
        f"The SecureDrop signing key expires on {_day(key.expires)} ({days} days left). "
        "After that date the workstation can no longer install updates until a renewed key "
        "is installed; please tell your administrator."
    )


def pinned_key_days_left(host: Host, now: float, gpg_binary: str | None = None) -> int | None:
    """Whole days before this workstation's pinned signing key expires (``--status``).

    None when it never expires or cannot be read as exactly that key: the
    run's trust checks are what judge the key; this only reports the date.
    """
    env, _problem = read_environment(host.read_file(CONFIG_PATH, CONFIG_LIMIT))
    data = host.read_file(KEY_FILES[env], KEY_FILE_LIMIT)
    if data is None:
        return None
    try:
        with KeyScanner(gpg_binary) as scanner:
            keys = scanner.scan(data)
    except ScanError:
        return None
    if len(keys) != 1 or keys[0].fingerprint != PINNED[env] or keys[0].expires is None:
        return None
    return int((keys[0].expires - now) // 86400)


# ----- C2: repository configuration ----------------------------------------------------

_TRUE = frozenset({"1", "yes", "true", "on"})
_FALSE = frozenset({"0", "no", "false", "off"})
_NO_DEFAULT = "\x00no-default-section"


def parse_bool(value: str) -> bool | None:
    """dnf's booleans; anything else is None (unreadable, fails closed)."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


@dataclass(frozen=True)
class Repo:
    """One ``[section]`` of a .repo file."""

    file: str
    section: str
    options: dict[str, str]

    @property
    def label(self) -> str:
        return f"'{_clean(self.section, 60)}' in {self.file}"


def parse_ini(path: str, data: bytes | None) -> tuple[list[Repo], str | None]:
    """Parse a dnf ini file strictly; (sections, problem).

    Duplicate sections or keys, text outside a section, non-UTF-8 bytes and
    anything configparser cannot read are problems: dnf would pick one of
    two values, and we must not guess which.
    """
    if data is None:
        return [], f"{path} is unreadable or larger than {REPO_FILE_LIMIT // 1024} KiB"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], f"{path} is not UTF-8 text"
    parser = configparser.ConfigParser(
        interpolation=None,
        strict=True,
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=None,
        empty_lines_in_values=False,
        default_section=_NO_DEFAULT,
    )
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [], f"{path} cannot be parsed ({_clean(first, 160)})"
    repos = [
        Repo(path, section, {k: (v or "").strip() for k, v in parser.items(section)})
        for section in parser.sections()
    ]
    return repos, None


def _gpgcheck(options: dict[str, str]) -> tuple[bool | None, str | None]:
    """The gpgcheck a section sets: (value or None when unset, problem)."""
    values = [(name, options[name]) for name in ("gpgcheck", "pkg_gpgcheck") if name in options]
    parsed = [(name, parse_bool(raw), raw) for name, raw in values]
    for name, value, raw in parsed:
        if value is None:
            return None, f"{name}={_clean(raw, 40)} is not a yes/no value"
    settled = {value for _, value, _ in parsed}
    if len(settled) > 1:
        return None, "gpgcheck and pkg_gpgcheck disagree"
    return (settled.pop() if settled else None), None


@dataclass
class RepoScan:
    """What C2 found: its report and the key files enabled repositories reference."""

    report: TrustReport = field(default_factory=TrustReport)
    key_paths: dict[str, str] = field(default_factory=dict)  # path -> repo label


def _expand(value: str, releasever: str) -> str:
    for name, replacement in (
        ("releasever", releasever),
        ("basearch", BASEARCH),
        ("arch", BASEARCH),
    ):
        value = value.replace("${" + name + "}", replacement).replace("$" + name, replacement)
    return value


def _split_list(value: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", value) if part]


def check_repos(
    files: dict[str, bytes | None], dnf_conf: bytes | None, env: str, releasever: str
) -> RepoScan:
    """C2: the SecureDrop repository enforces signatures with the pinned key file,
    and no enabled repository (in either repo directory) turns ``gpgcheck`` off.

    ``files`` maps each .repo path to its bytes (None: unreadable).  Also
    returns the key files that enabled, signature-checking repositories
    other than SecureDrop's reference: the rpm database allowlist (C1).
    """
    scan = RepoScan()
    failures = scan.report.failures
    main_default: bool | None = None
    if dnf_conf is not None:
        sections, problem = parse_ini(DNF_CONF, dnf_conf)
        if problem:
            failures.append(f"the dnf configuration {problem.removeprefix(DNF_CONF + ' ')}")
        for section in sections:
            if section.section == "main":
                main_default, problem = _gpgcheck(section.options)
                if problem:
                    failures.append(f"the dnf configuration {DNF_CONF}: {problem}")
    sdw_seen = False
    for path, data in sorted(files.items()):
        repos, problem = parse_ini(path, data)
        if problem:
            failures.append(f"the repository file {problem}")
            if path == SDW_REPO_FILE:
                sdw_seen = True
            continue
        if path == SDW_REPO_FILE:
            # Its own, stricter rules; its key file is the pin, never an allowlist entry.
            sdw_seen = True
            failures.extend(_check_sdw_repo(repos, env))
            continue
        for repo in repos:
            enabled_raw = repo.options.get("enabled", "1")
            enabled = parse_bool(enabled_raw)
            if enabled is None:
                failures.append(
                    f"repository {repo.label} has an unreadable enabled={_clean(enabled_raw, 40)}"
                )
                enabled = True  # check it as if enabled
            if not enabled:
                continue
            value, problem = _gpgcheck(repo.options)
            if problem:
                failures.append(f"repository {repo.label}: {problem}")
                continue
            effective = value if value is not None else main_default
            if effective is not True:
                if value is False:
                    how = "gpgcheck=0"
                elif main_default is False:
                    how = f"gpgcheck=0 in {DNF_CONF}"
                else:
                    how = "gpgcheck is not set, and dnf's default is off"
                failures.append(
                    f"repository {repo.label} turns package signature checking off ({how})"
                )
                continue
            keys = [_expand(v, releasever) for v in _split_list(repo.options.get("gpgkey", ""))]
            if env == PROD:
                for key in keys:
                    if re.search(r"securedrop[^/]*-test\b", key):
                        failures.append(
                            f"repository {repo.label} uses the SecureDrop TEST key ({_clean(key, 100)}) "
                            "on a production workstation"
                        )
            for key in keys:
                local = _local_key_path(key)
                if local is None or local in KEY_FILES.values():
                    log.info("Not allowlisting %s (repository %s)", _clean(key, 200), repo.label)
                    continue
                scan.key_paths.setdefault(local, repo.label)
    if not sdw_seen:
        failures.append(f"the SecureDrop repository file {SDW_REPO_FILE} is missing")
    return scan


def _local_key_path(url: str) -> str | None:
    """A ``file://`` key under /etc/pki/rpm-gpg, normalised; anything else is None."""
    if not url.startswith("file://"):
        return None
    path = posixpath.normpath(url[len("file://") :])
    if not path.startswith(KEY_DIR + "/") or "\x00" in path:
        return None
    return path


def _check_sdw_repo(repos: list[Repo], env: str) -> list[str]:
    """The SecureDrop repository's own lines, as the keyring package writes them."""
    where = f"the SecureDrop repository ({SDW_REPO_FILE})"
    if not repos:
        return [f"{where} defines no repository"]
    failures = []
    expected_key = f"file://{KEY_FILES[env]}"
    host = SDW_REPO_HOSTS[env]
    for repo in repos:
        name = f"{where}, section '{_clean(repo.section, 60)}',"
        options = repo.options
        if parse_bool(options.get("enabled", "1")) is not True:
            failures.append(f"{name} is disabled, so the workstation gets no SecureDrop updates")
        value, problem = _gpgcheck(options)
        if problem or value is not True:
            failures.append(f"{name} does not enforce package signatures (gpgcheck=1 is required)")
        keys = _split_list(options.get("gpgkey", ""))
        if env == PROD and any(re.search(r"securedrop[^/]*-test\b", key) for key in keys):
            failures.append(f"{name} uses the SecureDrop TEST key on a production workstation")
        if keys != [expected_key]:
            shown = ", ".join(_clean(k, 100) for k in keys) or "nothing"
            failures.append(
                f"{name} points at {shown} instead of the pinned key file {expected_key}"
            )
        urls = _split_list(options.get("baseurl", ""))
        if not urls or any(not url.startswith(f"https://{host}/") for url in urls):
            shown = ", ".join(_clean(u, 100) for u in urls) or "nothing"
            failures.append(
                f"{name} downloads from {shown}; the {env} repository is https://{host}/"
            )
        for other in ("metalink", "mirrorlist"):
            if options.get(other):
                failures.append(f"{name} sets {other}, which can send dnf elsewhere")
    return failures


def collect_repo_files(host: Host) -> tuple[dict[str, bytes | None], list[str]]:
    """Every .repo file of both repository directories, read bounded."""
    files: dict[str, bytes | None] = {}
    problems = []
    for directory in REPO_DIRS:
        names = [n for n in host.list_dir(directory) if n.endswith(".repo")]
        if len(names) > MAX_REPO_FILES:
            problems.append(f"{directory} holds more than {MAX_REPO_FILES} repository files")
            names = names[:MAX_REPO_FILES]
        for name in names:
            path = f"{directory}/{name}"
            files[path] = host.read_file(path, REPO_FILE_LIMIT)
    return files, problems


# ----- C1: the rpm database ------------------------------------------------------------

_RPMDB_HEADER = re.compile(rb"gpg-pubkey-[0-9a-f]{8}-[0-9a-f]{8}")


def parse_rpmdb_keys(lines: list[bytes]) -> list[tuple[str, bytes]]:
    """Split ``rpm -q gpg-pubkey --qf '%{NAME}-%{VERSION}-%{RELEASE}\\n%{DESCRIPTION}\\n'``.

    Each entry starts with its package name line, followed by its armored
    key.  Text before the first entry is not rpm's output: ValueError.
    """
    entries: list[tuple[str, list[bytes]]] = []
    for line in lines:
        stripped = line.strip()
        if _RPMDB_HEADER.fullmatch(stripped):
            entries.append((stripped.decode("ascii"), []))
        elif entries:
            entries[-1][1].append(line)
        elif stripped:
            raise ValueError("unexpected output before the first key")
    if len(entries) > MAX_RPMDB_KEYS:
        raise ValueError(f"more than {MAX_RPMDB_KEYS} keys")
    return [(name, b"\n".join(body) + b"\n") for name, body in entries]


def check_rpmdb(
    entries: list[tuple[str, list[KeyInfo]]],
    allowlist: dict[str, str],
    env: str,
    file_key: KeyInfo | None,
    now: float,
    revoked: Iterable[str] = REVOKED,
) -> TrustReport:
    """C1: every key in the rpm database is allowlisted (any of them is valid
    for every dom0 package), none is revoked or the test key on prod, and the
    pinned key is there, alive.

    ``allowlist`` maps fingerprints to why they are allowed (besides the pin).
    """
    report = TrustReport()
    pinned = PINNED[env]
    denied = set(revoked)
    pinned_seen = False
    for name, keys in entries:
        where = f"the rpm database entry {name}"
        if len(keys) != 1:
            report.failures.append(
                f"{where} holds {len(keys)} keys instead of one; it cannot be verified"
            )
            continue
        key = keys[0]
        if key.fingerprint in denied or key.revoked:
            report.failures.append(f"{where} is a revoked key {key.describe()}")
        elif env == PROD and key.fingerprint == TEST_FPR:
            report.failures.append(
                f"the rpm database trusts the SecureDrop TEST key ({TEST_FPR}) on a production "
                "workstation"
            )
        elif key.fingerprint == pinned:
            pinned_seen = True
            if key.expires is not None and key.expires <= now:
                report.failures.append(
                    f"the copy of {key_name(pinned)} in the rpm database ({name}) expired on "
                    f"{_day(key.expires)}; dnf will refuse SecureDrop updates until it is refreshed"
                )
            elif file_key is not None and key.expires != file_key.expires:
                report.warnings.append(
                    f"The copy of the SecureDrop signing key in the rpm database ({name}) expires "
                    f"on {_day(key.expires) if key.expires else 'never'}, the key file's on "
                    f"{_day(file_key.expires) if file_key.expires else 'never'}: the rpm database "
                    "copy is stale and should be re-imported."
                )
        elif key.fingerprint not in allowlist:
            report.failures.append(
                f"the rpm database trusts a key that no enabled repository uses: {key.describe()} "
                f"({name}); any package signed by it would be installed in dom0"
            )
    if not pinned_seen:
        report.failures.append(
            f"{key_name(pinned)} ({pinned}) is not in the rpm database, so SecureDrop packages "
            "cannot be verified"
        )
    return report


# ----- C5: installed signers --------------------------------------------------------

_NOT_INSTALLED = re.compile(r"package (\S{1,200}) is not installed")
_SIG_LINE = re.compile(r"([A-Za-z0-9._+-]{1,200})\|([^|]{1,300})\|([^|]{1,300})")
_PGPSIG = re.compile(
    r"[A-Za-z0-9]{1,16}/[A-Za-z0-9-]{1,16}, [^,]{1,64}, Key ID ([0-9a-fA-F]{16}|[0-9a-fA-F]{40})"
)


@dataclass(frozen=True)
class Signature:
    """One installed package's header signatures; no key ids means unsigned."""

    package: str
    key_ids: tuple[str, ...]


def parse_signers(
    lines: list[bytes], names: list[str]
) -> tuple[list[Signature], set[str], list[str]]:
    """Parse ``rpm -q --qf SIGNER_FORMAT NAMES`` (``NAME|RSA sig|DSA sig``), strictly.

    Returns the signatures, the packages rpm says are not installed, and
    problems (any line that is not one of rpm's two answers about a package
    that was asked for).
    """
    signatures: list[Signature] = []
    missing: set[str] = set()
    problems: list[str] = []
    for raw in lines:
        try:
            line = raw.decode("ascii").rstrip("\r")
        except UnicodeDecodeError:
            problems.append("rpm printed non-ASCII output")
            continue
        if not line.strip():
            continue
        absent = _NOT_INSTALLED.fullmatch(line)
        if absent:
            if absent.group(1) not in names:
                problems.append(f"rpm answered about an unexpected package ({_clean(line, 80)})")
            missing.add(absent.group(1))
            continue
        match = _SIG_LINE.fullmatch(line)
        if not match or match.group(1) not in names:
            problems.append(f"unexpected rpm output: {_clean(line, 100)}")
            continue
        package, *sigs = match.groups()
        key_ids = []
        for sig in sigs:
            if sig == "(none)":
                continue
            pgp = _PGPSIG.fullmatch(sig)
            if pgp is None:
                problems.append(f"unreadable signature of {package}: {_clean(sig, 100)}")
                break
            key_ids.append(pgp.group(1).upper())
        else:
            signatures.append(Signature(package, tuple(key_ids)))
    answered = {s.package for s in signatures} | missing
    for name in names:
        if name not in answered:
            problems.append(f"rpm said nothing about {name}")
    return signatures, missing, problems


def check_signers(
    signatures: list[Signature],
    missing: set[str],
    rpmdb_keys: list[KeyInfo],
    env: str,
    qubes_keys: set[str],
    packages: tuple[PackagePolicy, ...] = PACKAGES,
) -> TrustReport:
    """C5: each SecureDrop package is signed by the pinned key.

    rpm reports only a 64-bit key id, so the id is resolved to a full
    fingerprint through the rpm database (the keys rpm verified it with,
    themselves checked by C1); an id that matches no key, or several, fails.
    """
    report = TrustReport()
    pinned = PINNED[env]
    policies = {p.name: p for p in packages}
    for policy in packages:
        if policy.required and policy.name in missing:
            report.failures.append(f"the SecureDrop package {policy.name} is not installed")
    for sig in signatures:
        policy = policies[sig.package]
        if not sig.key_ids:
            report.failures.append(f"the installed package {sig.package} is not signed")
            continue
        allowed = {pinned} | (qubes_keys if policy.qubes_key_ok else set())
        for key_id in sig.key_ids:
            failure = _signer_failure(sig.package, key_id, rpmdb_keys, allowed, pinned)
            if failure:
                report.failures.append(failure)
    return report


def _signer_failure(
    package: str, key_id: str, rpmdb_keys: list[KeyInfo], allowed: set[str], pinned: str
) -> str | None:
    """Resolve one signature's key id to a fingerprint; why it is refused, if it is."""
    matches = [k for k in rpmdb_keys if key_id in k.ids]
    if not matches:
        return (
            f"the installed package {package} is signed by key ID {key_id}, not by "
            f"{key_name(pinned)} (key ID {pinned[-16:]}), and by no key in the rpm database"
        )
    if len(matches) > 1:
        return (
            f"the installed package {package} is signed by key ID {key_id}, which "
            f"{len(matches)} keys in the rpm database share, so its signer is ambiguous"
        )
    if matches[0].fingerprint not in allowed:
        return (
            f"the installed package {package} is signed by {matches[0].describe()}, not by "
            f"{key_name(pinned)}"
        )
    return None


# ----- template apt sources -----------------------------------------------------------------

_DEB822_FIELD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_APT_TRUE = frozenset({"yes", "true", "with", "on", "enable", "1"})
_APT_FALSE = frozenset({"no", "false", "without", "off", "disable", "0"})
_ARMOR = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Parse a deb822 ``.sources`` file strictly (ValueError on anything odd).

    Field names are case-insensitive (kept lower case); a continuation line
    ``.`` is an empty line, as in an inline ``Signed-By`` key.
    """
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t":
            if last is None:
                raise ValueError(f"line {number}: a continuation line without a field")
            piece = line.strip()
            current[last] += "\n" + ("" if piece == "." else piece)
            continue
        name, colon, value = line.partition(":")
        if not colon or not _DEB822_FIELD.fullmatch(name):
            raise ValueError(f"line {number}: not a 'Field: value' line")
        key = name.lower()
        if key in current:
            raise ValueError(f"line {number}: {name} appears twice in one entry")
        current[key] = value.strip()
        last = key
    if current:
        stanzas.append(current)
    return stanzas


def check_apt_source(
    template: str,
    data: bytes | None,
    env: str,
    scanner: KeyScanner,
    read_key: Callable[[str], bytes | None],
    now: float,
    revoked: Iterable[str] = REVOKED,
) -> TrustReport:
    """The SecureDrop apt source of one template trusts only the pinned key.

    Every enabled entry needs ``Signed-By`` (an inline key, key file paths
    read through ``read_key``, or fingerprints) resolving to exactly the
    pinned fingerprint, and none of the options that make apt accept
    unsigned, weakly signed or stale data.
    """
    report = TrustReport()
    failures = report.failures
    where = f"the SecureDrop package source of {template} ({APT_SOURCE})"
    pinned = PINNED[env]
    if data is None:
        failures.append(f"{where} is missing, unreadable or too large")
        return report
    try:
        stanzas = parse_deb822(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        failures.append(f"{where} cannot be parsed ({_clean(str(exc), 120)})")
        return report
    enabled = []
    for stanza in stanzas:
        flag = stanza.get("enabled", "yes").strip().lower()
        if flag in _APT_FALSE:
            continue
        if flag not in _APT_TRUE:
            failures.append(f"{where} has an unreadable Enabled value")
        enabled.append(stanza)
    if not enabled:
        failures.append(f"{where} has no enabled entry")
    denied = set(revoked)
    for stanza in enabled:
        for option, meaning in (
            ("trusted", "accepts unsigned data (Trusted)"),
            ("allow-insecure", "accepts unsigned repositories (Allow-Insecure)"),
            ("allow-weak", "accepts weak signatures (Allow-Weak)"),
            ("allow-downgrade-to-insecure", "accepts unsigned data (Allow-Downgrade-To-Insecure)"),
        ):
            if option in stanza and stanza[option].strip().lower() not in _APT_FALSE:
                failures.append(f"{where} {meaning}")
        for option in ("check-valid-until", "check-date"):
            if option in stanza and stanza[option].strip().lower() not in _APT_TRUE:
                failures.append(f"{where} turns off apt's freshness check ({option})")
        signed_by = stanza.get("signed-by", "").strip()
        if not signed_by:
            failures.append(
                f"{where} has no Signed-By, so apt trusts every key installed in the template"
            )
            continue
        fingerprints, problems = _signers_of(signed_by, scanner, read_key)
        failures.extend(f"{where} {p}" for p in problems)
        for key in fingerprints:
            if key.fingerprint != pinned:
                failures.append(f"{where} also trusts another key, {key.describe()}")
            elif key.fingerprint in denied or key.revoked:
                failures.append(f"{where} trusts {key_name(pinned)}, which has been revoked")
            elif key.expires is not None and key.expires <= now:
                failures.append(f"{where} holds a copy of {key_name(pinned)} that has expired")
        if not problems and pinned not in {k.fingerprint for k in fingerprints}:
            failures.append(f"{where} does not trust {key_name(pinned)} ({pinned})")
    return report


def _signers_of(
    value: str, scanner: KeyScanner, read_key: Callable[[str], bytes | None]
) -> tuple[list[KeyInfo], list[str]]:
    """The keys a ``Signed-By`` value names: inline key, key files or fingerprints."""
    if _ARMOR in value:
        inline = scanner.scan(value.encode("utf-8"))
        return inline, [] if inline else ["has an inline Signed-By key that holds no key"]
    keys: list[KeyInfo] = []
    problems = []
    for token in _split_list(value):
        bare = token.rstrip("!").upper()
        if _HEX40.fullmatch(bare):
            keys.append(
                KeyInfo(
                    bare, frozenset({bare}), ("named by fingerprint",), None, None, False, False
                )
            )
        elif token.startswith("/"):
            data = read_key(token)
            found = scanner.scan(data) if data is not None else []
            if not found:
                problems.append(
                    f"names the key file {_clean(token, 100)}, which holds no readable key"
                )
            keys.extend(found)
        else:
            problems.append(
                f"has a Signed-By entry that is neither a key nor a key file: {_clean(token, 60)}"
            )
    return keys, problems


# ----- the checks the runner calls ---------------------------------------------------


@dataclass
class _Inventory:
    env: str
    report: TrustReport
    rpmdb_keys: list[KeyInfo]
    qubes_keys: set[str]


class TrustChecks:
    """The three trust checks of one run (``plan.TrustChecks``).

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

    # ----- the runner's three points ---------------------------------------------

    def before(self, host: Host) -> TrustReport:
        """C1 and C2, before anything is applied."""
        with KeyScanner(self.gpg_binary) as scanner:
            return self._finish("before", self._inventory(host, scanner).report)

    def after_dom0(self, host: Host) -> TrustReport:
        """C5, and C1/C2 again: the dom0 update may have changed keys or repositories."""
        with KeyScanner(self.gpg_binary) as scanner:
            inventory = self._inventory(host, scanner)
            signers = self._signers(host, inventory)
        return self._finish("after_dom0", merge(inventory.report, signers))

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
            report.warnings.append(_env_warning(problem))
        if not targets:
            report.failures.append(
                f"no SecureDrop template to check: none of the templates to update carries the "
                f"{WORKSTATION_TAG} tag"
            )
            return self._finish("templates", report)
        started = [t for t in targets if vms[t].power == "Halted"]
        now = self.clock()
        try:
            with KeyScanner(self.gpg_binary) as scanner:
                for template in targets:
                    data, failure = read_vm_file(host, template, APT_SOURCE)
                    if failure:
                        report.failures.append(
                            f"the SecureDrop package source of {template} could not be read "
                            f"({failure})"
                        )
                        continue

                    def read_key(path: str, template: str = template) -> bytes | None:
                        found, why = read_vm_file(host, template, path, binary=True)
                        if why:
                            log.error("Could not read %s in %s: %s", path, template, why)
                        return found

                    found = check_apt_source(
                        template, data, env, scanner, read_key, now, self.revoked
                    )
                    report = merge(report, found)
                    if not found.failures:
                        log.info(
                            "%s: the SecureDrop package source trusts only the pinned key", template
                        )
        except ScanError as exc:
            report.failures.append(f"the templates' signing keys could not be examined: {exc}")
        finally:
            if started:
                done = host.shutdown_vms(started)
                if not done.ok:
                    report.warnings.append(
                        f"Could not shut down {', '.join(started)} after reading their package "
                        f"sources ({done.describe()})."
                    )
        return self._finish("templates", report)

    # ----- parts --------------------------------------------------------------------

    def _finish(self, point: str, report: TrustReport) -> TrustReport:
        """Log in full for the admin; show each warning once per run."""
        for failure in report.failures:
            log.error("Trust check (%s) failed: %s", point, failure)
        fresh = [w for w in report.warnings if w not in self._shown]
        self._shown.update(fresh)
        for warning in fresh:
            log.warning("Trust check (%s): %s", point, warning)
        if not report.failures:
            log.info("Trust check (%s) passed", point)
        days = {text: left for text, left in report.days_left.items() if text in fresh}
        return TrustReport(list(report.failures), fresh, days)

    def _inventory(self, host: Host, scanner: KeyScanner) -> _Inventory:
        now = self.clock()
        env, problem = read_environment(host.read_file(CONFIG_PATH, CONFIG_LIMIT))
        report = TrustReport()
        if problem:
            report.warnings.append(_env_warning(problem))
        log.info("Environment: %s; pinned key %s", env, PINNED[env])
        try:
            key_report, file_key = check_key_file(
                host.read_file(KEY_FILES[env], KEY_FILE_LIMIT),
                env,
                scanner,
                now,
                self.revoked,
                self.warn_days,
            )
            report = merge(report, key_report)
            files, problems = collect_repo_files(host)
            report.failures.extend(problems)
            release = host.dom0_release() or ""
            repos = check_repos(files, host.read_file(DNF_CONF, REPO_FILE_LIMIT), env, release)
            report = merge(report, repos.report)
            allowlist = self._allowlist(host, scanner, repos.key_paths, env)
            entries, rpm_failure = self._rpmdb(host, scanner)
            if rpm_failure:
                report.failures.append(rpm_failure)
                return _Inventory(env, report, [], set(allowlist))
            report = merge(
                report, check_rpmdb(entries, allowlist, env, file_key, now, self.revoked)
            )
            keys = [key for _, found in entries for key in found]
            log.info("rpm database keys: %s", ", ".join(k.describe() for k in keys) or "(none)")
            return _Inventory(env, report, keys, set(allowlist))
        except ScanError as exc:
            report.failures.append(f"the signing keys could not be examined: {exc}")
            return _Inventory(env, report, [], set())

    def _allowlist(
        self, host: Host, scanner: KeyScanner, key_paths: dict[str, str], env: str
    ) -> dict[str, str]:
        """Fingerprints of the key files enabled repositories (not SecureDrop's) reference.

        The pinned key is handled on its own; the test key on prod and revoked
        keys are never allowlisted, whoever references them.
        """
        allowlist: dict[str, str] = {}
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
                allowlist.setdefault(key.fingerprint, f"{path} (repository {label})")
        for fingerprint, why in allowlist.items():
            log.info("Allowlisted %s: %s", fingerprint, why)
        return allowlist

    def _rpmdb(
        self, host: Host, scanner: KeyScanner
    ) -> tuple[list[tuple[str, list[KeyInfo]]], str | None]:
        result = host.rpm_keys()
        if result.stdout_overflow:
            return [], "the list of keys in the rpm database is too large to check"
        if not result.ok:
            if any(b"is not installed" in line for line in result.stdout_lines):
                return [], "the rpm database holds no keys at all, so nothing can be verified"
            return [], f"the keys in the rpm database could not be listed ({result.describe()})"
        try:
            parsed = parse_rpmdb_keys(result.stdout_lines)
        except ValueError as exc:
            return [], f"the keys in the rpm database could not be read ({exc})"
        return [(name, scanner.scan(armored)) for name, armored in parsed], None

    def _signers(self, host: Host, inventory: _Inventory) -> TrustReport:
        names = [p.name for p in PACKAGES]
        result = host.rpm_signers(names)
        report = TrustReport()
        if result.exit is None or result.exit < 0 or result.stdout_overflow:
            report.failures.append(
                f"the signatures of the SecureDrop packages could not be read ({result.describe()})"
            )
            return report
        signatures, missing, problems = parse_signers(result.stdout_lines, names)
        if result.exit != 0 and not missing:
            problems.append(f"rpm failed ({result.describe()})")
        report.failures.extend(
            f"the signatures of the SecureDrop packages could not be read: {p}" for p in problems
        )
        for sig in signatures:
            log.info(
                "Package %s: signed by key ID %s", sig.package, ", ".join(sig.key_ids) or "(none)"
            )
        return merge(
            report,
            check_signers(
                signatures, missing, inventory.rpmdb_keys, inventory.env, inventory.qubes_keys
            ),
        )


def _env_warning(problem: str) -> str:
    return (
        f"Could not read the workstation's environment ({problem}); checking against the "
        "production signing key."
    )


def read_vm_file(
    host: Host, vm: str, path: str, binary: bool = False
) -> tuple[bytes | None, str | None]:
    """Read a file in a VM through ``qvm-run``: untrusted, bounded in size and time.

    Text is read with ``cat``; key files, which may be binary, with
    ``base64`` (line-based output, decoded strictly here).  Returns the
    bytes or a reason.
    """
    result = host.read_vm_file(vm, path, VM_FILE_LIMIT, binary=binary)
    if result.stdout_overflow:
        return None, f"larger than {VM_FILE_LIMIT // 1024} KiB"
    if not result.ok:
        return None, result.describe()
    if not binary:
        return result.stdout_head, None
    try:
        return base64.b64decode(b"".join(result.stdout_lines), validate=True), None
    except (binascii.Error, ValueError):
        return None, "not base64"


def checks_for(host: Host) -> TrustChecks:
    """The trust checks for this host (``Context.make_trust``).

    The same checks run in dom0 and under simulation: everything they read
    comes through ``host``.
    """
    return TrustChecks()
