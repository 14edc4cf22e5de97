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

from sdw_updater import diagnostics
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


def test_scrub_keeps_short_ids_and_ordinary_text() -> None:
    line = (
        'an unknown key 12F2D3519157B0929643ECBDA7F4D7BAEDC2EE96 ("Newsroom Key '
        '<security@newsroom.example>"), instead of (2359E6538C0613E652955E6C188EDD3B7B22E6A3)'
    )
    assert diagnostics.scrub(line) == (
        "an unknown key EDC2EE96 (user id left out), instead of (7B22E6A3)"
    )
    spaced = "Key fingerprint = 2359 E653 8C06 13E6 5295  5E6C 188E DD3B 7B22 E6A3"
    assert diagnostics.scrub(spaced) == "Key fingerprint = 7B22E6A3"
    assert diagnostics.scrub("mail jo@newsroom.example, now") == (
        "mail (e-mail address left out), now"
    )
    plain = "Get:2 https://deb.debian.org/debian trixie InRelease [48.0 kB] 4.3.21 2026-12-06"
    assert diagnostics.scrub(plain) == plain
