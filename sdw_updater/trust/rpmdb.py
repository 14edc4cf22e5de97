"""dom0's rpm database: the keys it trusts (C1) and who signed SecureDrop's packages (C5).

Any key in the rpm database is valid for every dom0 package (docs/keys.md, "How
the keys are pinned today"),
so every one must be the pin or allowlisted.  rpm reports a package's
signer only by key id; the id is resolved to a full fingerprint through the
keys of the rpm database, which C1 has just checked.

Everything rpm prints is parsed strictly and bounded (the seam caps its
output); anything unexpected fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sdw_updater.host import Host
from sdw_updater.trust.anchors import PINNED, PROD, REVOKED, TEST_FPR, clean, day, key_name
from sdw_updater.trust.gpg import KeyInfo, KeyScanner
from sdw_updater.trust.report import Code, TrustReport

MAX_RPMDB_KEYS = 64

_RPMDB_HEADER = re.compile(rb"gpg-pubkey-[0-9a-f]{8}-[0-9a-f]{8}")


# ----- C1: the keys ----------------------------------------------------------------------


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


def read_rpmdb(
    host: Host, scanner: KeyScanner
) -> tuple[list[tuple[str, list[KeyInfo]]], TrustReport]:
    """Every ``gpg-pubkey`` entry with the keys gpg finds in it; or why it cannot be read."""
    report = TrustReport()
    result = host.rpm_keys()
    if result.stdout_overflow:
        report.fail(
            Code.RPMDB_UNREADABLE, "the list of keys in the rpm database is too large to check"
        )
        return [], report
    if not result.ok:
        if any(b"is not installed" in line for line in result.stdout_lines):
            report.fail(
                Code.RPMDB_EMPTY,
                "the rpm database holds no keys at all, so nothing can be verified",
            )
        else:
            report.fail(
                Code.RPMDB_UNREADABLE,
                f"the keys in the rpm database could not be listed ({result.describe()})",
            )
        return [], report
    try:
        parsed = parse_rpmdb_keys(result.stdout_lines)
    except ValueError as exc:
        report.fail(
            Code.RPMDB_UNREADABLE, f"the keys in the rpm database could not be read ({exc})"
        )
        return [], report
    return [(name, scanner.scan(armored)) for name, armored in parsed], report


def check_rpmdb(
    entries: list[tuple[str, list[KeyInfo]]],
    allowlist: dict[str, str] | None,
    env: str,
    file_key: KeyInfo | None,
    *,
    now: float,
    revoked: Iterable[str] = REVOKED,
) -> TrustReport:
    """Every key in the rpm database is allowlisted (any of them is valid for
    every dom0 package), none is revoked or the test key on prod, and the
    pinned key is there, alive.

    ``allowlist`` maps fingerprints to why they are allowed (besides the pin);
    None when it is not known (dnf's configuration could not be read, which
    fails on its own), and then no other key is judged.
    """
    report = TrustReport()
    pinned = PINNED[env]
    denied = set(revoked)
    pinned_seen = False
    for name, keys in entries:
        where = f"the rpm database entry {name}"
        if len(keys) != 1:
            report.fail(
                Code.RPMDB_ENTRY_NOT_ONE_KEY,
                f"{where} holds {len(keys)} keys instead of one; it cannot be verified",
            )
            continue
        key = keys[0]
        if key.fingerprint in denied or key.revoked:
            report.fail(Code.RPMDB_REVOKED_KEY, f"{where} is a revoked key {key.describe()}")
        elif env == PROD and key.fingerprint == TEST_FPR:
            report.fail(
                Code.RPMDB_TEST_KEY_ON_PROD,
                f"the rpm database trusts the SecureDrop TEST key ({TEST_FPR}) on a production "
                "workstation",
            )
        elif key.fingerprint == pinned:
            pinned_seen = True
            _check_pinned_copy(report, name, key, file_key, now)
        elif allowlist is not None and key.fingerprint not in allowlist:
            report.fail(
                Code.RPMDB_UNLISTED_KEY,
                f"the rpm database trusts a key that no enabled repository uses: "
                f"{key.describe()} ({name}); any package signed by it would be installed in dom0",
            )
    if not pinned_seen:
        report.fail(
            Code.RPMDB_PINNED_MISSING,
            f"{key_name(pinned)} ({pinned}) is not in the rpm database, so SecureDrop packages "
            "cannot be verified",
        )
    return report


def _check_pinned_copy(
    report: TrustReport, name: str, key: KeyInfo, file_key: KeyInfo | None, now: float
) -> None:
    """The rpm database's copy of the pin is alive, and as fresh as the key file (SDW#953)."""
    if key.expires is not None and key.expires <= now:
        report.fail(
            Code.RPMDB_PINNED_EXPIRED,
            f"the copy of {key_name(key.fingerprint)} in the rpm database ({name}) expired on "
            f"{day(key.expires)}; dnf will refuse SecureDrop updates until it is refreshed",
        )
    elif file_key is not None and key.expires != file_key.expires:
        report.warn(
            Code.RPMDB_STALE_COPY,
            f"The copy of the SecureDrop signing key in the rpm database ({name}) expires "
            f"on {day(key.expires) if key.expires else 'never'}, the key file's on "
            f"{day(file_key.expires) if file_key.expires else 'never'}: the rpm database "
            "copy is stale and should be re-imported.",
        )


# ----- C5: installed signers --------------------------------------------------------------


@dataclass(frozen=True)
class PackagePolicy:
    """One SecureDrop dom0 package and who may sign it.

    The keyring can legitimately arrive signed by a Qubes key (trust is
    bootstrapped through QubesOS-contrib: docs/keys.md), so it also accepts
    Qubes' own keys; never the key of any other repository.
    """

    name: str
    required: bool
    qubes_key_ok: bool = False


PACKAGES = (
    PackagePolicy("securedrop-workstation-dom0-config", required=True),
    PackagePolicy("securedrop-workstation-keyring", required=True, qubes_key_ok=True),
    PackagePolicy("securedrop-updater", required=False),
)

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
                problems.append(f"rpm answered about an unexpected package ({clean(line, 80)})")
            missing.add(absent.group(1))
            continue
        match = _SIG_LINE.fullmatch(line)
        if not match or match.group(1) not in names:
            problems.append(f"unexpected rpm output: {clean(line, 100)}")
            continue
        signature, problem = _signature(match.group(1), match.group(2), match.group(3))
        if problem:
            problems.append(problem)
        elif signature:
            signatures.append(signature)
    answered = {s.package for s in signatures} | missing
    problems.extend(f"rpm said nothing about {name}" for name in names if name not in answered)
    return signatures, missing, problems


def _signature(package: str, *sigs: str) -> tuple[Signature | None, str | None]:
    key_ids = []
    for sig in sigs:
        if sig == "(none)":
            continue
        pgp = _PGPSIG.fullmatch(sig)
        if pgp is None:
            return None, f"unreadable signature of {package}: {clean(sig, 100)}"
        key_ids.append(pgp.group(1).upper())
    return Signature(package, tuple(key_ids)), None


def read_signers(
    host: Host, packages: tuple[PackagePolicy, ...] = PACKAGES
) -> tuple[list[Signature], set[str], TrustReport]:
    """The signatures of the SecureDrop packages, as rpm reports them; or why not."""
    names = [p.name for p in packages]
    report = TrustReport()
    result = host.rpm_signers(names)
    if result.exit is None or result.exit < 0 or result.stdout_overflow:
        report.fail(
            Code.SIGNERS_UNREADABLE,
            f"the signatures of the SecureDrop packages could not be read ({result.describe()})",
        )
        return [], set(), report
    signatures, missing, problems = parse_signers(result.stdout_lines, names)
    if result.exit != 0 and not missing:
        problems.append(f"rpm failed ({result.describe()})")
    for problem in problems:
        report.fail(
            Code.SIGNERS_UNREADABLE,
            f"the signatures of the SecureDrop packages could not be read: {problem}",
        )
    return signatures, missing, report


def check_signers(
    signatures: list[Signature],
    missing: set[str],
    rpmdb_keys: list[KeyInfo],
    env: str,
    *,
    qubes_keys: set[str],
    packages: tuple[PackagePolicy, ...] = PACKAGES,
) -> TrustReport:
    """Each SecureDrop package is signed by the pinned key (the keyring: or by a Qubes key).

    ``qubes_keys`` are the fingerprints of Qubes' own keys (the release and
    contrib key files), never those of other repositories.  rpm reports only
    a 64-bit key id, so the id is resolved to a full fingerprint through the
    rpm database; an id that matches no key, or several, fails.
    """
    report = TrustReport()
    pinned = PINNED[env]
    policies = {p.name: p for p in packages}
    for policy in packages:
        if policy.required and policy.name in missing:
            report.fail(
                Code.PACKAGE_NOT_INSTALLED,
                f"the SecureDrop package {policy.name} is not installed",
            )
    for sig in signatures:
        policy = policies[sig.package]
        if not sig.key_ids:
            report.fail(Code.PACKAGE_UNSIGNED, f"the installed package {sig.package} is not signed")
            continue
        allowed = {pinned} | (qubes_keys if policy.qubes_key_ok else set())
        for key_id in sig.key_ids:
            refusal = _signer_refusal(sig.package, key_id, rpmdb_keys, allowed, pinned)
            if refusal is not None:
                report.fail(*refusal)
    return report


def _signer_refusal(
    package: str, key_id: str, rpmdb_keys: list[KeyInfo], allowed: set[str], pinned: str
) -> tuple[Code, str] | None:
    """Resolve one signature's key id to a fingerprint; why it is refused, if it is."""
    matches = [k for k in rpmdb_keys if key_id in k.ids]
    if not matches:
        return Code.SIGNER_UNKNOWN, (
            f"the installed package {package} is signed by key ID {key_id}, not by "
            f"{key_name(pinned)} (key ID {pinned[-16:]}), and by no key in the rpm database"
        )
    if len(matches) > 1:
        return Code.SIGNER_AMBIGUOUS, (
            f"the installed package {package} is signed by key ID {key_id}, which "
            f"{len(matches)} keys in the rpm database share, so its signer is ambiguous"
        )
    if matches[0].fingerprint not in allowed:
        return Code.SIGNER_NOT_ALLOWED, (
            f"the installed package {package} is signed by {matches[0].describe()}, not by "
            f"{key_name(pinned)}"
        )
    return None
