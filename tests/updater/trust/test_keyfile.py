"""The SecureDrop key file (``sdw_updater/trust/keyfile.py``): exactly the pinned key, not expired.

C1 of docs/trust.md, with real GnuPG and throwaway keys: the key file must
hold exactly the pinned key of this workstation's environment; a look-alike,
a second key, an expired or revoked key, garbage or a file too large fail,
each with its code; a key expiring within 180 days is a warning, and
``--status`` reports the days left of exactly the pinned key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.trust import DAY, NOW, RELEASE, RELEASE_EXPIRES, TESTKEY, Keys

from sdw_updater.qubes import QubesHost
from sdw_updater.trust.anchors import KEY_FILE_LIMIT, KEY_FILES, RELEASE_FPR, REVOKED, TEST_FPR
from sdw_updater.trust.gpg import KeyScanner
from sdw_updater.trust.keyfile import check_key_file, pinned_key_days_left
from sdw_updater.trust.report import Code


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
