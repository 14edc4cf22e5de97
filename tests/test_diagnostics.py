"""Copy details (sdw_updater/diagnostics.py) holds what an admin needs and no key material.

It says "Not included: keys, signatures, fingerprints and key user ids";
after a real key failure it must hold none of them (a key's short id at
most), though the engine's own message and the package managers' lines
name keys in full.  End to end: ``sdw-updater --cli`` prints the same text
after a failure that the window's Copy details copies.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_updater

from sdw_updater.contract import ExitCode

FORCE = ("--cli", "--skip-delta", "0")
INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = "[dom0]\nupdates = false\n"
FINGERPRINT = re.compile(r"[0-9A-Fa-f]{16,}|(?:[0-9A-Fa-f]{4}\s{1,2}){4}")


def copied_details(stdout: str) -> str:
    start = stdout.index("--- Details for your administrator")
    return stdout[start : stdout.index("--- end of details ---")]


def assert_no_key_material(details: str) -> None:
    assert not FINGERPRINT.search(details), FINGERPRINT.findall(details)
    assert "Signing Key" not in details and "@" not in details
    assert "Not included: keys, signatures, fingerprints and key user ids" in details


@pytest.mark.parametrize("key", ["rogue", "expired", "two_keys"])
def test_a_key_failure_leaves_no_fingerprint_or_user_id_in_the_details(
    home: Path, key: str
) -> None:
    run = run_updater(home, *FORCE, scenario=INSTANT + f'[trust]\ndom0_key = "{key}"\n')
    assert run.returncode == ExitCode.TRUST, run.stdout + run.stderr
    details = copied_details(run.stdout)
    assert "Outcome: TRUST" in details and "Message: " in details
    assert_no_key_material(details)
    # The log, which stays on the workstation, keeps the full fingerprint for the admin.
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert FINGERPRINT.search(log)


def test_a_template_whose_key_expired_is_named_by_short_id(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + '[templates."sd-viewer-debian-13"]\nfailure = "key_expired"\n'
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED, run.stdout + run.stderr
    details = copied_details(run.stdout)
    assert "EXPKEYSIG 89ABCDEF (user id left out)" in details
    assert_no_key_material(details)
