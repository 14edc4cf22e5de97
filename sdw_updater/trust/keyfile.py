"""C1, the SecureDrop key file: exactly the pinned key, alive and not revoked.

The key file (``/etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation``, or
``-test`` on staging and dev) is what dnf imports and what the UpdateVM
receives; a key substituted there is valid for every dom0 package once it
reaches the rpm database.  Also: how many days the pinned key has left, for
the warning and for ``sdw-updater --status``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sdw_updater.host import Host
from sdw_updater.trust.anchors import (
    CONFIG_LIMIT,
    CONFIG_PATH,
    EXPIRY_WARNING_DAYS,
    KEY_FILE_LIMIT,
    KEY_FILES,
    KEY_NAMES,
    KNOWN_UIDS,
    PINNED,
    PROD,
    REVOKED,
    TEST_FPR,
    day,
    key_name,
    read_environment,
)
from sdw_updater.trust.gpg import KeyInfo, KeyScanner, ScanError
from sdw_updater.trust.report import Code, TrustReport

DAY = 86400


def key_problems(key: KeyInfo, now: float, revoked: Iterable[str]) -> list[tuple[Code, str]]:
    """Why a key may not be trusted now (revoked or expired), in plain words."""
    problems = []
    if key.fingerprint in set(revoked):
        problems.append(
            (Code.KEY_REVOKED_LISTED, "has been revoked (it is on the updater's revocation list)")
        )
    if key.revoked:
        problems.append(
            (
                Code.KEY_REVOKED_CERTIFICATE,
                "has been revoked (the file carries its revocation certificate)",
            )
        )
    if key.expires is not None and key.expires <= now:
        problems.append((Code.KEY_EXPIRED, f"expired on {day(key.expires)}"))
    elif key.expired:
        problems.append((Code.KEY_EXPIRED, "has expired"))
    return problems


def check_key_file(
    data: bytes | None,
    env: str,
    scanner: KeyScanner,
    now: float,
    *,
    revoked: Iterable[str] = REVOKED,
    warn_days: int = EXPIRY_WARNING_DAYS,
) -> tuple[TrustReport, KeyInfo | None]:
    """The key file holds exactly the pinned key, alive and not revoked.

    Returns the report and the key when it is the pinned one.
    """
    path = KEY_FILES[env]
    report = TrustReport()
    where = f"the SecureDrop signing key file {path}"
    if data is None:
        report.fail(
            Code.KEY_FILE_UNREADABLE,
            f"{where} is missing, unreadable or larger than {KEY_FILE_LIMIT // 1024} KiB",
        )
        return report, None
    keys = scanner.scan(data)
    if not keys:
        report.fail(Code.KEY_FILE_NO_KEY, f"{where} holds no OpenPGP key")
        return report, None
    if len(keys) > 1:
        report.fail(
            Code.KEY_FILE_SEVERAL_KEYS,
            f"{where} holds {len(keys)} keys ({', '.join(k.describe() for k in keys)}); "
            "exactly one is allowed",
        )
        return report, None
    key = keys[0]
    pinned = PINNED[env]
    problems = key_problems(key, now, revoked)
    if key.fingerprint != pinned:
        code, why = wrong_key(key, env)
        report.fail(code, f"{where} {why}")
        for problem_code, problem in problems:
            report.fail(problem_code, f"that key {problem}")
        return report, None
    for problem_code, problem in problems:
        report.fail(problem_code, f"{where}: {key_name(pinned)} {problem}")
    if problems:
        return report, None
    warning = expiry_warning(key, now, warn_days)
    if warning is not None and key.expires is not None:
        report.warn(Code.KEY_EXPIRES_SOON, warning, int((key.expires - now) // DAY))
    return report, key


def wrong_key(key: KeyInfo, env: str) -> tuple[Code, str]:
    """Why a key that is not the pinned one is refused, in plain words."""
    pinned = PINNED[env]
    if env == PROD and key.fingerprint == TEST_FPR:
        return Code.KEY_FILE_TEST_KEY_ON_PROD, (
            f"holds the SecureDrop TEST key ({TEST_FPR}), which must never be trusted on a "
            "production workstation"
        )
    if key.fingerprint in KEY_NAMES:
        return Code.KEY_FILE_OTHER_ENVIRONMENT, (
            f"holds {key_name(key.fingerprint)} ({key.fingerprint}), but this workstation's "
            f"environment ({env}) requires {key_name(pinned)} ({pinned})"
        )
    unknown = f"holds an unknown key {key.describe()} instead of {key_name(pinned)} ({pinned})"
    if any(uid.strip() in KNOWN_UIDS.values() for uid in key.uids):
        return Code.KEY_FILE_IMPOSTOR, (
            f"{unknown}; it carries the user id of a real SecureDrop key, so it is an impostor"
        )
    return Code.KEY_FILE_UNKNOWN_KEY, unknown


def expiry_warning(key: KeyInfo, now: float, warn_days: int = EXPIRY_WARNING_DAYS) -> str | None:
    """A warning when the pinned key has fewer than ``warn_days`` days left."""
    if key.expires is None:
        return None
    left = key.expires - now
    if left >= warn_days * DAY:
        return None
    return (
        f"The SecureDrop signing key expires on {day(key.expires)} ({int(left // DAY)} days "
        "left). After that date the workstation can no longer install updates until a renewed "
        "key is installed; please tell your administrator."
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
    return int((keys[0].expires - now) // DAY)
