"""The trust checks' parts (sdw_updater.trust), with real GnuPG, rpm and rpmsign.

Keys are made here, once per session, with the real ``gpg`` in a short
throwaway home (gpg-agent's socket path limit), and the agent is killed at
the end.  The real public release and test keys come from
``sdw_updater/keys/``.  Nothing about gpg is mocked: every key is read by
``KeyScanner`` (python-gnupg, a fresh empty keyring).  Findings are matched
by their codes, never by their words.  The repositories (C2, through dnf's
own parser) are in test_trust_dnf.py; end-to-end runs through the console
script in test_trust_e2e.py.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import needs
import pytest

from sdw_updater.host import VMInfo
from sdw_updater.process import ToolResult
from sdw_updater.qubes import RPMDB_QUERY, SIGNER_FORMAT, QubesHost
from sdw_updater.trust import anchors
from sdw_updater.trust.anchors import (
    APT_SOURCE,
    CONFIG_PATH,
    KEY_FILE_LIMIT,
    KEY_FILES,
    PROD,
    RELEASE_FPR,
    REVOKED,
    TEST_FPR,
    read_environment,
)
from sdw_updater.trust.apt import check_apt_source, parse_deb822, read_vm_file
from sdw_updater.trust.checks import CheckPoints, checks_for
from sdw_updater.trust.gpg import KeyInfo, KeyScanner, ScanError
from sdw_updater.trust.keyfile import check_key_file, pinned_key_days_left
from sdw_updater.trust.report import Code, TrustReport
from sdw_updater.trust.rpmdb import (
    MAX_RPMDB_KEYS,
    PACKAGES,
    PackagePolicy,
    Signature,
    check_rpmdb,
    check_signers,
    parse_rpmdb_keys,
    parse_signers,
)

KEYS = Path(__file__).resolve().parent.parent / "sdw_updater" / "keys"
RELEASE = (KEYS / "securedrop-release-signing-pubkey-2021.asc").read_bytes()
TESTKEY = (KEYS / "securedrop-test-key.asc").read_bytes()
QUBES = (KEYS.parent.parent / "sdw_sim" / "keys" / "sim-qubes-release-standin.asc").read_bytes()
QUBES_FPR = "C616D22E83B45D9E47ADD467711AE65C7A0C25BA"
RELEASE_EXPIRES = 1811164763  # 2027-05-24 13:19:23 UTC
NOW = 1780000000  # 2026-05-28: more than 180 days before the release key expires
DAY = 86400
RELEASE_UID = "SecureDrop Release Signing Key <securedrop-release-key-2021@freedom.press>"


# ----- throwaway keys -----------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    fingerprint: str
    armored: bytes
    revocation: bytes  # the armored revocation certificate gpg made with the key

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:]


class Keyring:
    """A throwaway GnuPG home that makes keys with the real gpg."""

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="g", dir="/tmp")

    def gpg(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["gpg", "--homedir", self.home, "--batch", "--no-tty", "--yes", *args],
            capture_output=True,
            timeout=60,
            check=True,
        )

    def make(
        self, uid: str, algo: str = "ed25519", expiry: str = "never", faked: str | None = None
    ) -> Key:
        fake = ["--faked-system-time", faked] if faked else []
        made = self.gpg(
            *fake,
            "--status-fd",
            "1",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algo,
            "sign",
            expiry,
        )
        created = [line for line in made.stdout.decode().splitlines() if "KEY_CREATED" in line]
        fingerprint = created[-1].split()[-1]
        armored = self.gpg("--armor", "--export", fingerprint).stdout
        rev = (Path(self.home) / "openpgp-revocs.d" / f"{fingerprint}.rev").read_text()
        # gpg prefixes the BEGIN line with ':' so the file cannot be imported by mistake.
        revocation = rev[rev.index(":-----BEGIN") + 1 :].encode()
        return Key(fingerprint, armored, revocation)

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass(frozen=True)
class Keys:
    ring: Keyring
    pinned: Key  # plays the pinned key (tests pin its fingerprint)
    impostor: Key  # same user id as the release key, another key
    expired: Key  # created in 2019, expired a day later
    revoked: Key
    other: Key


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    ring = Keyring()
    try:
        yield Keys(
            ring=ring,
            pinned=ring.make(RELEASE_UID),
            impostor=ring.make(RELEASE_UID),
            expired=ring.make(RELEASE_UID, expiry="1d", faked="20190101T000000!"),
            revoked=ring.make("Revoked <revoked@example.invalid>"),
            other=ring.make("Other <other@example.invalid>"),
        )
    finally:
        ring.close()


@pytest.fixture
def scanner() -> Iterator[KeyScanner]:
    with KeyScanner() as scanner:
        yield scanner


@pytest.fixture
def pin(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Pin a throwaway key for an environment (the real pins are compiled in)."""

    def pin(env: str, fingerprint: str) -> None:
        monkeypatch.setitem(anchors.PINNED, env, fingerprint)

    return pin


# ----- scanner ---------------------------------------------------------------------------


def test_scanner_reads_fingerprints_and_leaves_no_keyring(scanner: KeyScanner) -> None:
    [key] = scanner.scan(RELEASE)
    assert key.fingerprint == RELEASE_FPR
    assert key.expires == RELEASE_EXPIRES
    assert "188EDD3B7B22E6A3" in key.ids and "6275A4BA4C71447A" in key.ids  # primary, subkey
    assert key.uid == RELEASE_UID
    home = scanner.home
    assert home is not None
    scanner.close()
    assert not Path(home).exists()


def test_scanner_without_gpg_fails_closed() -> None:
    with KeyScanner(gpg_binary="/nonexistent/gpg") as scanner, pytest.raises(ScanError):
        scanner.scan(RELEASE)


def test_a_gpg_that_hangs_is_stopped(tmp_path: Path) -> None:
    """python-gnupg has no timeout: every gpg runs under coreutils' timeout."""
    hanging = tmp_path / "gpg"
    hanging.write_text("#!/bin/sh\nexec sleep 3600\n")
    hanging.chmod(0o755)
    with KeyScanner(gpg_binary=str(hanging), timeout=1) as scanner, pytest.raises(ScanError):
        scanner.scan(RELEASE)


# ----- environment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "env", "problem"),
    [
        (b'{"environment": "prod"}', "prod", False),
        (b'{"environment": "staging", "hidserv": {}}', "staging", False),
        (b'{"environment": "dev"}', "dev", False),
        (None, "prod", True),
        (b"", "prod", True),
        (b"\xff\xfe garbage", "prod", True),
        (b'["environment", "dev"]', "prod", True),
        (b'{"environment": "Staging"}', "prod", True),
        (b'{"environment": ["dev"]}', "prod", True),
    ],
)
def test_environment_fails_closed_to_prod(raw: bytes | None, env: str, problem: bool) -> None:
    found, why = read_environment(raw)
    assert found == env
    assert (why is not None) == problem


# ----- C1: the key file ------------------------------------------------------------------------


def test_release_key_passes_on_prod(scanner: KeyScanner) -> None:
    report, key = check_key_file(RELEASE, "prod", scanner, NOW)
    assert report.failures == [] and report.warnings == []
    assert key is not None and key.fingerprint == RELEASE_FPR


def test_expiry_warning_below_180_days(scanner: KeyScanner) -> None:
    report, key = check_key_file(RELEASE, "prod", scanner, RELEASE_EXPIRES - 30 * DAY - 60)
    assert report.failures == [] and key is not None
    [warning] = report.warnings
    assert warning.code is Code.KEY_EXPIRES_SOON and warning.days_left == 30
    assert report.days_left == {warning.text: 30}
    # 180 days and more: no warning
    report, _ = check_key_file(RELEASE, "prod", scanner, RELEASE_EXPIRES - 181 * DAY)
    assert report.warnings == []


def test_expired_release_key_fails(scanner: KeyScanner) -> None:
    report, key = check_key_file(RELEASE, "prod", scanner, RELEASE_EXPIRES + DAY)
    assert key is None and report.codes == [Code.KEY_EXPIRED]


def test_test_key_on_prod_fails(scanner: KeyScanner) -> None:
    report, key = check_key_file(TESTKEY, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_TEST_KEY_ON_PROD]


@pytest.mark.parametrize("env", ["staging", "dev"])
def test_test_key_is_pinned_on_staging_and_dev(scanner: KeyScanner, env: str) -> None:
    report, key = check_key_file(TESTKEY, env, scanner, NOW)
    assert report.failures == [] and key is not None and key.fingerprint == TEST_FPR
    report, key = check_key_file(RELEASE, env, scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_OTHER_ENVIRONMENT]


def test_right_throwaway_key_passes(scanner: KeyScanner, keys: Keys, pin) -> None:
    pin("prod", keys.pinned.fingerprint)
    report, key = check_key_file(keys.pinned.armored, "prod", scanner, NOW)
    assert report.failures == [] and key is not None


def test_same_user_id_other_key_fails(scanner: KeyScanner, keys: Keys, pin) -> None:
    pin("prod", keys.pinned.fingerprint)
    report, key = check_key_file(keys.impostor.armored, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_IMPOSTOR]
    assert keys.impostor.fingerprint in report.failures[0].text


def test_look_alike_of_the_release_key_fails(scanner: KeyScanner, keys: Keys) -> None:
    report, key = check_key_file(keys.impostor.armored, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_IMPOSTOR]
    other, _ = check_key_file(keys.other.armored, "prod", scanner, NOW)
    assert other.codes == [Code.KEY_FILE_UNKNOWN_KEY]


def test_two_keys_in_one_file_fail(scanner: KeyScanner, keys: Keys, pin) -> None:
    pin("prod", keys.pinned.fingerprint)
    both = keys.pinned.armored + keys.impostor.armored
    report, key = check_key_file(both, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_SEVERAL_KEYS]
    report, key = check_key_file(RELEASE + keys.impostor.armored, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_SEVERAL_KEYS]


def test_expired_key_fails(scanner: KeyScanner, keys: Keys, pin) -> None:
    pin("prod", keys.expired.fingerprint)
    report, key = check_key_file(keys.expired.armored, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_EXPIRED]
    assert "2019-01-02" in report.failures[0].text


def test_revocation_certificate_in_the_file_fails(scanner: KeyScanner, keys: Keys, pin) -> None:
    pin("prod", keys.revoked.fingerprint)
    report, key = check_key_file(keys.revoked.armored, "prod", scanner, NOW)
    assert report.failures == [] and key is not None  # not revoked yet
    revoked = keys.revoked.armored + keys.revoked.revocation
    report, key = check_key_file(revoked, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_REVOKED_CERTIFICATE]


def test_compiled_revocation_list(scanner: KeyScanner, keys: Keys, pin) -> None:
    pin("prod", keys.pinned.fingerprint)
    report, key = check_key_file(
        keys.pinned.armored, "prod", scanner, NOW, revoked={keys.pinned.fingerprint}
    )
    assert key is None and report.codes == [Code.KEY_REVOKED_LISTED]


def test_compiled_revocation_list_covers_the_release_key(scanner: KeyScanner) -> None:
    report, key = check_key_file(RELEASE, "prod", scanner, NOW, revoked={RELEASE_FPR})
    assert key is None and report.codes == [Code.KEY_REVOKED_LISTED]
    assert REVOKED == frozenset()  # nothing is revoked today
    assert check_key_file(RELEASE, "prod", scanner, NOW)[1] is not None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff" * 1000,
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
        RELEASE[: len(RELEASE) // 2],
        "Ünïcödé".encode() * 50,
    ],
)
def test_garbage_key_file_fails(scanner: KeyScanner, data: bytes) -> None:
    report, key = check_key_file(data, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_NO_KEY]


def test_huge_or_missing_key_file_fails(tmp_path: Path, scanner: KeyScanner) -> None:
    host = QubesHost(root=tmp_path)
    path = host.path(KEY_FILES["prod"])
    path.parent.mkdir(parents=True)
    path.write_bytes(RELEASE + b"#" * (2 * 1024 * 1024))
    data = host.read_file(KEY_FILES["prod"], KEY_FILE_LIMIT)
    assert data is None  # the seam refuses more than the limit
    report, key = check_key_file(data, "prod", scanner, NOW)
    assert key is None and report.codes == [Code.KEY_FILE_UNREADABLE]
    path.unlink()
    report, _ = check_key_file(host.read_file(KEY_FILES["prod"]), "prod", scanner, NOW)
    assert report.codes == [Code.KEY_FILE_UNREADABLE]


def test_days_left_of_the_pinned_key(tmp_path: Path) -> None:
    """What --status reports: days left of exactly the pinned key, else nothing."""
    host = QubesHost(root=tmp_path)
    assert pinned_key_days_left(host, NOW) is None  # no key file
    path = host.path(KEY_FILES["prod"])
    path.parent.mkdir(parents=True)
    path.write_bytes(RELEASE)
    assert pinned_key_days_left(host, NOW) == (RELEASE_EXPIRES - NOW) // DAY
    path.write_bytes(TESTKEY)
    assert pinned_key_days_left(host, NOW) is None  # not the prod pin


# ----- C1: the rpm database ------------------------------------------------------------------


def rpm_output(*armored: bytes, names: list[str] | None = None) -> list[bytes]:
    lines: list[bytes] = []
    for index, block in enumerate(armored):
        name = names[index] if names else f"gpg-pubkey-{index:08x}-{index:08x}"
        lines.append(name.encode())
        lines.extend(block.strip().split(b"\n"))
    return lines


def entries_of(scanner: KeyScanner, lines: list[bytes]) -> list[tuple[str, list[KeyInfo]]]:
    return [(name, scanner.scan(data)) for name, data in parse_rpmdb_keys(lines)]


def test_rpmdb_with_pinned_and_allowlisted_keys_passes(scanner: KeyScanner) -> None:
    entries = entries_of(scanner, rpm_output(RELEASE, QUBES))
    report = check_rpmdb(entries, {QUBES_FPR: "qubes"}, "prod", None, now=NOW)
    assert report.failures == [] and report.warnings == []


def test_real_rpm_output_parses(tmp_path: Path, scanner: KeyScanner) -> None:
    """The exact output of rpm 4.18 for keys it imported (a private rpm database)."""
    needs.tool("rpm")
    db = str(tmp_path / "rpmdb")
    for path in (
        KEYS / "securedrop-release-signing-pubkey-2021.asc",
        KEYS.parent.parent / "sdw_sim" / "keys" / "sim-qubes-release-standin.asc",
    ):
        subprocess.run(["rpm", "--dbpath", db, "--import", str(path)], check=True, timeout=60)
    out = subprocess.run(
        ["rpm", "--dbpath", db, *RPMDB_QUERY[1:]], capture_output=True, check=True, timeout=60
    ).stdout
    entries = entries_of(scanner, out.split(b"\n"))
    assert [name for name, _ in entries] == [
        "gpg-pubkey-7b22e6a3-609966ad",
        "gpg-pubkey-7a0c25ba-6b02720e",
    ]
    assert [keys[0].fingerprint for _, keys in entries] == [RELEASE_FPR, QUBES_FPR]


def test_unallowlisted_rpmdb_key_fails(scanner: KeyScanner, keys: Keys) -> None:
    entries = entries_of(scanner, rpm_output(RELEASE, keys.other.armored))
    report = check_rpmdb(entries, {}, "prod", None, now=NOW)
    assert report.codes == [Code.RPMDB_UNLISTED_KEY]
    assert keys.other.fingerprint in report.failures[0].text
    allowed = check_rpmdb(entries, {keys.other.fingerprint: "repo"}, "prod", None, now=NOW)
    assert allowed.failures == []
    # dnf's answer unknown: no key is judged against an allowlist nobody could build
    assert check_rpmdb(entries, None, "prod", None, now=NOW).failures == []


def test_test_key_in_prod_rpmdb_fails_even_if_referenced(scanner: KeyScanner) -> None:
    entries = entries_of(scanner, rpm_output(RELEASE, TESTKEY))
    report = check_rpmdb(entries, {TEST_FPR: "a repo"}, "prod", None, now=NOW)
    assert report.codes == [Code.RPMDB_TEST_KEY_ON_PROD]
    staging = check_rpmdb(entries_of(scanner, rpm_output(TESTKEY)), {}, "staging", None, now=NOW)
    assert staging.failures == []


def test_pinned_key_missing_or_expired_in_rpmdb_fails(scanner: KeyScanner) -> None:
    entries = entries_of(scanner, rpm_output(QUBES))
    assert check_rpmdb(entries, {QUBES_FPR: "q"}, "prod", None, now=NOW).codes == [
        Code.RPMDB_PINNED_MISSING
    ]
    entries = entries_of(scanner, rpm_output(RELEASE))
    report = check_rpmdb(entries, {}, "prod", None, now=RELEASE_EXPIRES + 1)
    assert report.codes == [Code.RPMDB_PINNED_EXPIRED]


def test_stale_rpmdb_copy_warns(scanner: KeyScanner) -> None:
    [file_key] = scanner.scan(RELEASE)
    assert file_key.expires is not None
    renewed = KeyInfo(
        file_key.fingerprint,
        file_key.ids,
        file_key.uids,
        file_key.created,
        file_key.expires + 365 * DAY,
        False,
        False,
    )
    entries = entries_of(scanner, rpm_output(RELEASE))
    report = check_rpmdb(entries, {}, "prod", renewed, now=NOW)
    assert report.failures == [] and report.warning_codes == [Code.RPMDB_STALE_COPY]


def test_revoked_rpmdb_key_fails(scanner: KeyScanner, keys: Keys) -> None:
    lines = rpm_output(RELEASE, keys.other.armored, keys.revoked.armored + keys.revoked.revocation)
    entries = entries_of(scanner, lines)
    allow = {keys.other.fingerprint: "x", keys.revoked.fingerprint: "y"}
    report = check_rpmdb(entries, allow, "prod", None, now=NOW, revoked={keys.other.fingerprint})
    assert report.codes == [Code.RPMDB_REVOKED_KEY, Code.RPMDB_REVOKED_KEY]


def test_rpmdb_entry_with_two_or_no_keys_fails(scanner: KeyScanner, keys: Keys) -> None:
    lines = rpm_output(RELEASE, keys.other.armored + keys.impostor.armored, b"garbage")
    entries = entries_of(scanner, lines)
    allow = {keys.other.fingerprint: "x", keys.impostor.fingerprint: "y"}
    report = check_rpmdb(entries, allow, "prod", None, now=NOW)
    assert report.codes == [Code.RPMDB_ENTRY_NOT_ONE_KEY, Code.RPMDB_ENTRY_NOT_ONE_KEY]


@pytest.mark.parametrize(
    "lines",
    [
        [b"Version: rpm", b"gpg-pubkey-00000000-00000000"],
        [b"gpg-pubkey-%08x-00000000" % i for i in range(MAX_RPMDB_KEYS + 1)],
    ],
)
def test_rpmdb_output_garbage_is_an_error(lines: list[bytes]) -> None:
    with pytest.raises(ValueError):
        parse_rpmdb_keys(lines)


# ----- C5: installed signers --------------------------------------------------------------

NAMES = [p.name for p in PACKAGES]
ONLY_CONFIG = (PackagePolicy(NAMES[0], required=True),)


def sig_line(name: str, rsa: str = "(none)", dsa: str = "(none)") -> bytes:
    return f"{name}|{rsa}|{dsa}".encode()


def rsa_sig(key_id: str) -> str:
    return f"RSA/SHA512, Tue Nov 21 18:09:42 2023, Key ID {key_id.lower()}"


def test_parse_signers_is_strict() -> None:
    lines = [
        sig_line(NAMES[0], rsa_sig(RELEASE_FPR[-16:])),
        sig_line(NAMES[1], dsa="EdDSA/SHA256, Sun Nov 22 04:46:50 2026, Key ID 2fc68448f98361fa"),
        b"package securedrop-updater is not installed",
    ]
    sigs, missing, problems = parse_signers(lines, NAMES)
    assert problems == [] and missing == {"securedrop-updater"}
    assert sigs == [
        Signature(NAMES[0], ("188EDD3B7B22E6A3",)),
        Signature(NAMES[1], ("2FC68448F98361FA",)),
    ]
    for bad in (
        [b"evil-package|(none)|(none)"],
        [sig_line(NAMES[0], "RSA/SHA512, date, Key ID 188edd3b")],  # 32-bit id
        [sig_line(NAMES[0], "signed by the release key")],
        [NAMES[0].encode() + b" (none)"],
        ["securedrop-updater|(none)|(none) \u00e9".encode()],
        [b"package something-else is not installed"],
        [],
    ):
        assert parse_signers(bad, NAMES)[2], bad


def test_signers_resolved_through_the_rpm_database(scanner: KeyScanner) -> None:
    rpmdb = scanner.scan(RELEASE) + scanner.scan(QUBES)
    qubes = {QUBES_FPR}
    ok = [Signature(n, (RELEASE_FPR[-16:],)) for n in NAMES]
    assert check_signers(ok, set(), rpmdb, "prod", qubes_keys=qubes).failures == []
    # the keyring may come signed by a Qubes key, the others may not
    by_qubes = [Signature(n, ("711AE65C7A0C25BA",)) for n in NAMES]
    report = check_signers(by_qubes, set(), rpmdb, "prod", qubes_keys=qubes)
    assert report.codes == [Code.SIGNER_NOT_ALLOWED, Code.SIGNER_NOT_ALLOWED]
    assert not any("securedrop-workstation-keyring" in f.text for f in report.failures)
    # a subkey's id resolves to its primary key's fingerprint
    by_subkey = [Signature(NAMES[0], ("6275A4BA4C71447A",))]
    assert (
        check_signers(
            by_subkey, set(), rpmdb, "prod", qubes_keys=qubes, packages=ONLY_CONFIG
        ).failures
        == []
    )


def test_keyring_signed_by_another_repositorys_key_fails(scanner: KeyScanner, keys: Keys) -> None:
    """Issue 13.7: a key dom0 trusts for some other repository may not sign the keyring."""
    rpmdb = scanner.scan(RELEASE) + scanner.scan(QUBES) + scanner.scan(keys.other.armored)
    keyring = [Signature(NAMES[1], (keys.other.key_id,))]
    only_keyring = (PACKAGES[1],)
    report = check_signers(
        keyring, set(), rpmdb, "prod", qubes_keys={QUBES_FPR}, packages=only_keyring
    )
    assert report.codes == [Code.SIGNER_NOT_ALLOWED]


def test_only_qubes_key_files_make_qubes_keys(
    tmp_path: Path, scanner: KeyScanner, keys: Keys
) -> None:
    """The allowlist says why each key is there; only Qubes' own key files make Qubes keys."""
    host = QubesHost(root=tmp_path)
    key_dir = host.path("/etc/pki/rpm-gpg")
    key_dir.mkdir(parents=True)
    (key_dir / "RPM-GPG-KEY-qubes-4.3-primary").write_bytes(QUBES)
    (key_dir / "RPM-GPG-KEY-third-party").write_bytes(keys.other.armored)
    paths = {
        "/etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-4.3-primary": "'qubes-dom0-current' in q.repo",
        "/etc/pki/rpm-gpg/RPM-GPG-KEY-third-party": "'third' in t.repo",
    }
    allowlist = CheckPoints().allowlist(host, scanner, paths, PROD)
    assert set(allowlist.why) == {QUBES_FPR, keys.other.fingerprint}
    assert allowlist.qubes == {QUBES_FPR}


def test_unsigned_wrongly_signed_or_missing_packages_fail(scanner: KeyScanner, keys: Keys) -> None:
    rpmdb = scanner.scan(RELEASE) + scanner.scan(keys.other.armored)
    unsigned = check_signers(
        [Signature(NAMES[0], ())], {NAMES[1], NAMES[2]}, rpmdb, "prod", qubes_keys=set()
    )
    # the updater is optional; the keyring is not
    assert unsigned.codes == [Code.PACKAGE_NOT_INSTALLED, Code.PACKAGE_UNSIGNED]
    assert NAMES[1] in unsigned.failures[0].text
    wrong = check_signers(
        [Signature(NAMES[0], (keys.other.key_id,))], {NAMES[2]}, rpmdb, "prod", qubes_keys=set()
    )
    assert wrong.codes == [Code.SIGNER_NOT_ALLOWED]
    unknown = check_signers(
        [Signature(NAMES[0], ("0123456789ABCDEF",))], {NAMES[2]}, rpmdb, "prod", qubes_keys=set()
    )
    assert unknown.codes == [Code.SIGNER_UNKNOWN]
    # one good and one bad signature: bad
    mixed = [Signature(NAMES[0], (RELEASE_FPR[-16:], keys.other.key_id))]
    assert check_signers(
        mixed, {NAMES[2]}, rpmdb, "prod", qubes_keys=set(), packages=ONLY_CONFIG
    ).codes == [Code.SIGNER_NOT_ALLOWED]


def test_ambiguous_key_id_fails(scanner: KeyScanner) -> None:
    """Two rpm database keys answering one 64-bit id: refuse rather than pick one."""
    [release] = scanner.scan(RELEASE)
    twin = KeyInfo(
        "F" * 24 + RELEASE_FPR[-16:], frozenset({RELEASE_FPR[-16:]}), (), None, None, False, False
    )
    report = check_signers(
        [Signature(NAMES[0], (RELEASE_FPR[-16:],))], set(), [release, twin], "prod", qubes_keys=set(),
        packages=ONLY_CONFIG,
    )  # fmt: skip
    assert report.codes == [Code.SIGNER_AMBIGUOUS]


@pytest.fixture(scope="session")
def signed_rpms(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny noarch RPM, built and signed with the real rpmbuild and rpmsign."""
    needs.tool("rpmbuild")
    needs.tool("rpmsign")
    top = tmp_path_factory.mktemp("rpm")
    spec = top / "t.spec"
    spec.write_text(
        f"Name: {NAMES[0]}\nVersion: 1.8.0\nRelease: 1\nSummary: t\nLicense: MIT\n"
        "BuildArch: noarch\n%description\nt\n%files\n"
    )
    subprocess.run(
        ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(spec)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [built] = (top / "RPMS" / "noarch").glob("*.rpm")
    rsa_pinned = keys.ring.make("RSA pinned <rsa@example.invalid>", algo="rsa2048")
    rsa_other = keys.ring.make("RSA other <rsa-other@example.invalid>", algo="rsa2048")
    made = {"unsigned": built}
    for label, key in (("rsa", rsa_pinned), ("other", rsa_other), ("ed25519", keys.pinned)):
        target = top / f"{label}.rpm"
        shutil.copy(built, target)
        subprocess.run(
            [
                "rpmsign", "--addsign",
                "--define", f"_gpg_name {key.fingerprint}",
                "--define", f"_gpg_path {keys.ring.home}",
                "--define", "__gpg /usr/bin/gpg",
                str(target),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        made[label] = target
        (top / f"{label}.fpr").write_text(key.fingerprint)
        (top / f"{label}.asc").write_bytes(key.armored)
    return made


@pytest.mark.parametrize(
    ("label", "codes"),
    [
        ("rsa", []),
        ("ed25519", []),  # EdDSA signatures live in DSAHEADER
        ("other", [Code.SIGNER_NOT_ALLOWED]),
        ("unsigned", [Code.PACKAGE_UNSIGNED]),
    ],
)
def test_real_rpm_signatures(
    signed_rpms: dict[str, Path], scanner: KeyScanner, pin, label: str, codes: list[Code]
) -> None:
    folder = signed_rpms["rsa"].parent
    pinned = (folder / ("ed25519.fpr" if label == "ed25519" else "rsa.fpr")).read_text()
    pin("prod", pinned)
    rpmdb = [
        k
        for name in ("rsa", "other", "ed25519")
        for k in scanner.scan((folder / f"{name}.asc").read_bytes())
    ]
    out = subprocess.run(
        ["rpm", "-qp", "--qf", SIGNER_FORMAT.replace("\\n", "\n"), str(signed_rpms[label])],
        capture_output=True,
        check=True,
        timeout=60,
        env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
    ).stdout
    sigs, missing, problems = parse_signers(out.split(b"\n"), [NAMES[0]])
    assert problems == [], out
    assert missing == set()
    assert (
        check_signers(sigs, set(), rpmdb, "prod", qubes_keys=set(), packages=ONLY_CONFIG).codes
        == codes
    )


# ----- template apt sources ---------------------------------------------------------------


def deb822_key(armored: bytes) -> str:
    return "\n".join(
        " " + (line if line.strip() else ".") for line in armored.decode().strip().split("\n")
    )


def source(*blocks: bytes, extra: str = "", signed_by: str | None = None) -> bytes:
    value = (
        "\n" + "\n".join(deb822_key(b) for b in blocks) if signed_by is None else " " + signed_by
    )
    return (
        "# managed by SecureDrop\nTypes: deb\nURIs: https://apt.freedom.press\n"
        f"Suites: bookworm\nComponents: main\n{extra}Signed-By:{value}\n"
    ).encode()


def no_files(path: str) -> bytes | None:
    return None


def test_pinned_inline_source_passes(scanner: KeyScanner) -> None:
    report = check_apt_source("t", source(RELEASE), "prod", scanner, read_key=no_files, now=NOW)
    assert report.failures == []
    staging = check_apt_source("t", source(TESTKEY), "staging", scanner, read_key=no_files, now=NOW)
    assert staging.failures == []


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda k: source(RELEASE, k.other.armored), Code.SOURCE_OTHER_KEY),
        (lambda k: source(RELEASE + k.other.armored), Code.SOURCE_OTHER_KEY),
        (lambda k: source(RELEASE, extra="Trusted: yes\n"), Code.SOURCE_INSECURE),
        (lambda k: source(RELEASE, extra="trusted: YES\n"), Code.SOURCE_INSECURE),
        (lambda k: source(RELEASE, extra="Allow-Insecure: yes\n"), Code.SOURCE_INSECURE),
        (lambda k: source(RELEASE, extra="Allow-Weak: yes\n"), Code.SOURCE_INSECURE),
        (lambda k: source(RELEASE, extra="Check-Valid-Until: no\n"), Code.SOURCE_NOT_FRESH),
        (lambda k: source(TESTKEY), Code.SOURCE_PIN_MISSING),
        (lambda k: source(k.impostor.armored), Code.SOURCE_OTHER_KEY),
        (
            lambda k: b"Types: deb\nURIs: https://apt.freedom.press\nSuites: bookworm\n",
            Code.SOURCE_NO_SIGNED_BY,
        ),
        (
            lambda k: source(RELEASE, signed_by=f"{RELEASE_FPR} {k.other.fingerprint}"),
            Code.SOURCE_OTHER_KEY,
        ),
        (
            lambda k: source(RELEASE, signed_by="/usr/share/keyrings/missing.gpg"),
            Code.SOURCE_BAD_SIGNED_BY,
        ),
        (lambda k: source(RELEASE, signed_by="relative.gpg"), Code.SOURCE_BAD_SIGNED_BY),
        (lambda k: source(RELEASE, extra="Enabled: no\n"), Code.SOURCE_NO_ENTRY),
        (lambda k: source(RELEASE, extra="Enabled: maybe\n"), Code.SOURCE_BAD_ENABLED),
        (lambda k: source(RELEASE) + b"Types: deb\nTypes: deb-src\n", Code.SOURCE_UNPARSEABLE),
        (lambda k: b" continuation first\n", Code.SOURCE_UNPARSEABLE),
        (lambda k: b"\xff\xfe\x00garbage", Code.SOURCE_UNPARSEABLE),
        (lambda k: b"just some text\n", Code.SOURCE_UNPARSEABLE),
        (lambda k: None, Code.SOURCE_UNREADABLE),
    ],
)
def test_template_source_problems_fail(
    scanner: KeyScanner, keys: Keys, build: Callable[[Keys], bytes | None], code: Code
) -> None:
    report = check_apt_source("sd-small", build(keys), "prod", scanner, read_key=no_files, now=NOW)
    assert code in report.codes, report.failures


def test_signed_by_key_files_and_fingerprints(scanner: KeyScanner) -> None:
    binary = subprocess.run(
        ["gpg", "--dearmor"], input=RELEASE, capture_output=True, check=True, timeout=30
    ).stdout
    files = {"/usr/share/keyrings/securedrop-keyring.gpg": binary}
    ok = source(signed_by="/usr/share/keyrings/securedrop-keyring.gpg")
    assert check_apt_source("t", ok, "prod", scanner, read_key=files.get, now=NOW).failures == []
    by_fpr = source(signed_by=RELEASE_FPR + "!")
    assert check_apt_source("t", by_fpr, "prod", scanner, read_key=no_files, now=NOW).failures == []
    stale = check_apt_source(
        "t", source(RELEASE), "prod", scanner, read_key=no_files, now=RELEASE_EXPIRES + 1
    )
    assert stale.codes == [Code.SOURCE_EXPIRED_KEY]
    revoked = check_apt_source(
        "t", source(RELEASE), "prod", scanner, read_key=no_files, now=NOW, revoked={RELEASE_FPR}
    )
    assert revoked.codes == [Code.SOURCE_REVOKED_KEY]


def test_deb822_parsing() -> None:
    stanzas = parse_deb822("# c\nTypes: deb\nSigned-By:\n a\n .\n b\n\nTypes: deb-src\n")
    assert stanzas == [{"types": "deb", "signed-by": "\na\n\nb"}, {"types": "deb-src"}]


# ----- the checks through a host ------------------------------------------------------------


class FakeHost:
    """Plays the host seam for the template check: VMs, and qvm-run/qvm-shutdown."""

    def __init__(
        self, files: dict[tuple[str, str], bytes], halted: set[str], config: bytes | None = None
    ) -> None:
        self.files = files
        self.config = b'{"environment": "prod"}' if config is None else config
        self.calls: list[list[str]] = []
        tags = frozenset({"sd-workstation"})
        self._vms = {
            name: VMInfo(name, "TemplateVM", None, tags if name.startswith("sd-") else frozenset(),
                         "Halted" if name in halted else "Running", "4.2")
            for name in ("sd-small", "sd-large", "fedora-40-xfce")
        }  # fmt: skip

    def vms(self) -> dict[str, VMInfo]:
        return self._vms

    def read_file(self, path: str, limit: int = 0) -> bytes | None:
        return self.config if path == CONFIG_PATH and self.config != b"missing" else None

    def shutdown_vms(self, names: list[str]) -> ToolResult:
        argv = ["qvm-shutdown", "--wait", *names]
        self.calls.append(argv)
        return ToolResult(argv, 0)

    def read_vm_file(self, vm: str, path: str, limit: int, binary: bool = False) -> ToolResult:
        program = "base64" if binary else "cat"
        argv = ["qvm-run", "-p", "--no-gui", vm, program, "--", path]
        self.calls.append(argv)
        stdout_limit = limit * (2 if binary else 1)
        data = self.files.get((vm, path))
        if data is None:
            return ToolResult(list(argv), 1)
        if program == "base64":
            data = base64.encodebytes(data)
        lines = data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")
        head = b"".join(line + b"\n" for line in lines)
        if len(head) > stdout_limit:  # as Host.run keeps whole lines up to the limit
            return ToolResult(list(argv), 0, stdout_overflow=True)
        return ToolResult(list(argv), 0, stdout_head=head, stdout_lines=lines)


def test_templates_check_reads_sd_templates_and_shuts_down_what_it_started() -> None:
    files = {("sd-small", APT_SOURCE): source(RELEASE), ("sd-large", APT_SOURCE): source(RELEASE)}
    host = FakeHost(files, halted={"sd-small", "fedora-40-xfce"})
    report = CheckPoints(clock=lambda: NOW).templates(
        host,  # type: ignore[arg-type]
        ["fedora-40-xfce", "sd-large", "sd-small"],
    )
    assert report.failures == [] and report.warnings == []
    assert [c[3] for c in host.calls if c[0] == "qvm-run"] == ["sd-large", "sd-small"]
    assert host.calls[0] == ["qvm-run", "-p", "--no-gui", "sd-large", "cat", "--", APT_SOURCE]
    assert host.calls[-1] == ["qvm-shutdown", "--wait", "sd-small"]


def test_templates_check_fails_on_a_missing_source_or_no_sd_template() -> None:
    host = FakeHost({("sd-large", APT_SOURCE): source(RELEASE)}, halted=set())
    checks = CheckPoints(clock=lambda: NOW)
    report = checks.templates(host, ["sd-large", "sd-small"])  # type: ignore[arg-type]
    assert report.codes == [Code.SOURCE_UNREADABLE] and "sd-small" in report.failures[0].text
    assert not any(c[0] == "qvm-shutdown" for c in host.calls)  # nothing was started
    report = checks.templates(host, ["fedora-40-xfce"])  # type: ignore[arg-type]
    assert report.codes == [Code.NO_SDW_TEMPLATE]


def test_read_vm_file_binary_and_bounds() -> None:
    blob = bytes(range(256)) * 10
    host = FakeHost({("sd-small", "/k.gpg"): blob, ("sd-small", "/big"): b"x\n" * 200_000}, set())
    assert read_vm_file(host, "sd-small", "/k.gpg", binary=True) == (blob, None)  # type: ignore[arg-type]
    data, why = read_vm_file(host, "sd-small", "/big")  # type: ignore[arg-type]
    assert data is None and "larger than" in str(why)


def test_warnings_are_shown_once_per_run() -> None:
    host = FakeHost({("sd-large", APT_SOURCE): source(RELEASE)}, set(), config=b"missing")
    checks = CheckPoints(clock=lambda: NOW)
    first = checks.templates(host, ["sd-large"])  # type: ignore[arg-type]
    again = checks.templates(host, ["sd-large"])  # type: ignore[arg-type]
    assert first.warning_codes == [Code.ENVIRONMENT_UNKNOWN] and again.warnings == []
    assert CheckPoints(clock=lambda: NOW).templates(host, ["sd-large"]).warnings  # type: ignore[arg-type]


def test_checks_for_returns_the_three_points() -> None:
    checks = checks_for(QubesHost())
    assert all(callable(getattr(checks, name)) for name in ("before", "after_dom0", "templates"))


def test_report_codes_and_merging() -> None:
    first, second = TrustReport(), TrustReport()
    first.fail(Code.KEY_EXPIRED, "a")
    second.warn(Code.KEY_EXPIRES_SOON, "b", days_left=3)
    merged = TrustReport().add(first).add(second)
    assert merged.codes == [Code.KEY_EXPIRED] and merged.days_left == {"b": 3}
