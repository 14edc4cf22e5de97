"""Reading keys (``sdw_updater/trust/gpg.py``): python-gnupg on a fresh empty keyring, bounded.

The scanner reads primary fingerprints, key ids and expiry with the real
GnuPG and leaves no keyring behind; without gpg, or with one that hangs,
it fails closed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.trust import RELEASE, RELEASE_EXPIRES, RELEASE_UID

from sdw_updater.trust.anchors import RELEASE_FPR
from sdw_updater.trust.gpg import KeyScanner, ScanError


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
