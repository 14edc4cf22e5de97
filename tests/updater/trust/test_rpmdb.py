"""dom0's rpm database (``sdw_updater/trust/rpmdb.py``): its keys, and who signed the packages.

C1 of docs/trust.md: every key in dom0's rpm database is allowlisted and
the pinned one is there, not expired or revoked; real ``rpm`` output parses.
C5: each SecureDrop package is signed by an allowed key, resolved through
the database (a subkey to its primary), checked on packages built and
signed here with the real rpmbuild and rpmsign.  Hostile listings raise
nothing but ``ValueError`` and name only the packages asked for.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import needs
from helpers.trust import DAY, KEYS, NOW, QUBES, QUBES_FPR, RELEASE, RELEASE_EXPIRES, TESTKEY, Keys
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater.qubes import RPMDB_QUERY, SIGNER_FORMAT
from sdw_updater.trust import rpmdb
from sdw_updater.trust.anchors import RELEASE_FPR, TEST_FPR
from sdw_updater.trust.gpg import KeyInfo, KeyScanner
from sdw_updater.trust.report import Code
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
    """A key dom0 trusts for some other repository may not sign the keyring."""
    rpmdb = scanner.scan(RELEASE) + scanner.scan(QUBES) + scanner.scan(keys.other.armored)
    keyring = [Signature(NAMES[1], (keys.other.key_id,))]
    only_keyring = (PACKAGES[1],)
    report = check_signers(
        keyring, set(), rpmdb, "prod", qubes_keys={QUBES_FPR}, packages=only_keyring
    )
    assert report.codes == [Code.SIGNER_NOT_ALLOWED]


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


# ----- hostile listings ------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=80), max_size=20))
def test_rpm_key_listing_raises_only_value_error(lines: list[bytes]) -> None:
    try:
        entries = rpmdb.parse_rpmdb_keys(lines)
    except ValueError:
        return
    assert all(isinstance(name, str) and isinstance(body, bytes) for name, body in entries)


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.tuples(
                st.sampled_from([p.name for p in rpmdb.PACKAGES] + ["other", ""]),
                st.sampled_from(
                    ["(none)", "RSA/SHA256, Mon 01 Jan 2024, Key ID 188edd3b7b22e6a3", "x"]
                ),
                st.sampled_from(["(none)", "DSA/SHA1, Key ID 0123456789abcdef", ""]),
            ).map(lambda t: "|".join(t).encode()),
        ),
        max_size=10,
    )
)
def test_rpm_signer_listing_names_only_asked_packages(lines: list[bytes]) -> None:
    names = [p.name for p in rpmdb.PACKAGES]
    signatures, missing, problems = rpmdb.parse_signers(lines, names)
    assert {s.package for s in signatures} <= set(names)
    assert missing <= set(names)
    assert all(isinstance(p, str) for p in problems)
