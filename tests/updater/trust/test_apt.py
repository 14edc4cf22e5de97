"""A template's apt source (``sdw_updater/trust/apt.py``): it must trust exactly the pinned key.

Keys inline or by path or fingerprint, read with real GnuPG; a source that
trusts another key too, switches checks off, or cannot be read or parsed
fails, each with its code.  The deb822 parser, and the templates' files read
through ``qvm-run`` with bounds.  Hostile sources never pass, and the parser
raises nothing but ``ValueError``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from helpers.trust import NOW, RELEASE, RELEASE_EXPIRES, TESTKEY, FakeHost, Keys, source
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater.trust import anchors, apt
from sdw_updater.trust.anchors import RELEASE_FPR
from sdw_updater.trust.apt import check_apt_source, parse_deb822, read_vm_file
from sdw_updater.trust.gpg import KeyInfo, KeyScanner
from sdw_updater.trust.report import Code


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


# ----- a template's files through qvm-run -----------------------------------------------


def test_read_vm_file_binary_and_bounds() -> None:
    blob = bytes(range(256)) * 10
    host = FakeHost({("sd-small", "/k.gpg"): blob, ("sd-small", "/big"): b"x\n" * 200_000}, set())
    assert read_vm_file(host, "sd-small", "/k.gpg", binary=True) == (blob, None)  # type: ignore[arg-type]
    data, why = read_vm_file(host, "sd-small", "/big")  # type: ignore[arg-type]
    assert data is None and "larger than" in str(why)


# ----- hostile sources -------------------------------------------------------------------------


class NoKeys:
    """A key scanner that finds nothing (gpg is not needed to reject garbage)."""

    def scan(self, data: bytes) -> list[KeyInfo]:
        return []


_SOURCE_LINES = st.one_of(
    st.sampled_from(
        [
            "Types: deb",
            "URIs: https://apt.freedom.press",
            "Suites: bookworm",
            "Components: main",
            "Signed-By: /usr/share/keyrings/securedrop-keyring.gpg",
            "Signed-By:",
            " .",
            " -----BEGIN PGP PUBLIC KEY BLOCK-----",
            "Trusted: yes",
            "Allow-Insecure: yes",
            "Enabled: no",
            "",
            "#x",
        ]
    ),
    st.text(max_size=40),
)


@given(
    st.one_of(
        st.none(),
        st.binary(max_size=400),
        st.lists(_SOURCE_LINES, max_size=12).map(lambda lines: "\n".join(lines).encode()),
    ),
    st.sampled_from(anchors.ENVIRONMENTS),
)
def test_mangled_apt_sources_never_pass(data: bytes | None, env: str) -> None:
    """A template's source that resolves to no pinned key fails, whatever it holds."""
    report = apt.check_apt_source(
        "sd-small-bookworm-template", data, env, NoKeys(), read_key=lambda _: None, now=NOW
    )
    assert report.failures


@given(st.text(max_size=300))
def test_deb822_parser_raises_only_value_error(text: str) -> None:
    try:
        stanzas = apt.parse_deb822(text)
    except ValueError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for s in stanzas for k, v in s.items())
