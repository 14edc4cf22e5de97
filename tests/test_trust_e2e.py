"""Trust checks end to end: the installed ``sdw-updater --cli`` against the simulator.

Every broken anchor of the ``[trust]`` table must stop a forced run with
exit 6 and status "3", before anything the check guards is applied, and say
which check failed in plain words; the healthy workstation must pass.  The
simulator generates the rogue, expired and extra keys with the real gpg.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import read_journal, read_status, run_updater, tools

FORCE = ("--cli", "--skip-delta", "0")
RELEASE_EXPIRES = 1811164763  # 2027-05-24 13:19:23 UTC
RPM_KEYS = ["-q", "gpg-pubkey", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\\n%{DESCRIPTION}\\n"]
CLIENT_ID = "qubes.StartApp+press.freedom.SecureDropApp"
KEYS_LABEL = "Checking the workstation's signing keys failed"
SIGNERS_LABEL = "Checking the signatures of installed packages failed"
SOURCES_LABEL = "Checking the templates' package sources failed"


def applied(journal: list[dict[str, object]]) -> list[str]:
    """What changed dom0 or the templates: updates, Salt, the full apply."""
    return [
        t
        for r, t in zip(journal, tools(journal), strict=True)
        if t in ("qubesctl", "sdw-admin", "qubes-vm-update")
        or (t == "qubes-dom0-update" and r["argv"] != ["--check-only"])
    ]


def assert_stopped(home: Path, result, label: str, words: list[str]) -> list[dict[str, object]]:
    output = result.stdout + result.stderr
    assert result.returncode == 6, output
    assert read_status(home)["status"] == "3"
    assert label in result.stdout
    for word in words:
        assert word in result.stdout, (word, result.stdout)
    journal = read_journal(home)
    assert not any(r["tool"] == "qvm-run" and CLIENT_ID in r["argv"] for r in journal)
    assert not (home / ".securedrop_updater" / "sdw-last-updated").exists()
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert "Trust check" in log and "failed" in log
    return journal


@pytest.mark.parametrize(
    ("trust", "words"),
    [
        ('dom0_key = "rogue"', ["unknown key", "impostor"]),
        ('dom0_key = "two_keys"', ["holds 2 keys"]),
        ('dom0_key = "expired"', ["expired on 2019-01-02"]),
        ('dom0_key = "test"', ["TEST key", "production workstation"]),
        ('dom0_key = "missing"', ["is missing"]),
        ('dom0_key = "garbage"', ["holds no OpenPGP key"]),
        ('dom0_key = "huge"', ["larger than 256 KiB"]),
        ("gpgcheck = false", ["does not enforce package signatures"]),
        ("insecure_repo = true", ["local-unsigned", "turns package signature checking off"]),
        ("extra_rpmdb_key = true", ["rpm database trusts a key that no enabled repository uses"]),
        ('environment = "dev"\ndom0_key = "release"', ["environment (dev) requires"]),
    ],
)
def test_broken_anchor_stops_before_anything_is_applied(
    home: Path, trust: str, words: list[str]
) -> None:
    result = run_updater(home, *FORCE, scenario=f"[trust]\n{trust}\n")
    journal = assert_stopped(home, result, KEYS_LABEL, words)
    # nothing after the check: not even qubes-dom0-update --check-only
    assert tools(journal) == ["qvm-run", "rpm"]
    assert journal[1]["argv"] == RPM_KEYS


@pytest.mark.parametrize(
    ("signer", "words"),
    [
        ("unsigned", ["securedrop-workstation-dom0-config is not signed"]),
        ("rogue", ["signed by key ID", "not by the SecureDrop release signing key"]),
        ("qubes", ["signed by C616D22E83B45D9E47ADD467711AE65C7A0C25BA"]),
    ],
)
def test_unsigned_or_wrongly_signed_package_stops_after_dom0(
    home: Path, signer: str, words: list[str]
) -> None:
    result = run_updater(home, *FORCE, scenario=f'[trust]\npackage_signer = "{signer}"\n')
    journal = assert_stopped(home, result, SIGNERS_LABEL, words)
    names = tools(journal)
    # the dom0 update happened (it is what the check follows); nothing after the check
    assert applied(journal) == ["qubes-dom0-update"]
    assert (
        names[-1] == "rpm"
        and "%{NAME}|%{RSAHEADER:pgpsig}|%{DSAHEADER:pgpsig}\\n" in (journal[-1]["argv"])
    )
    assert "reboot_requested_at" in read_status(home)  # the dom0 update still needs a reboot


def test_signers_are_checked_even_without_dom0_updates(home: Path) -> None:
    scenario = '[dom0]\nupdates = false\n[trust]\npackage_signer = "unsigned"\n'
    result = run_updater(home, *FORCE, scenario=scenario)
    journal = assert_stopped(home, result, SIGNERS_LABEL, ["is not signed"])
    assert applied(journal) == []


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("extra_key", ["sd-inbox-debian-13", "also trusts another key"]),
        ("trusted_yes", ["accepts unsigned data (Trusted)"]),
    ],
)
def test_template_source_trusting_more_stops_before_template_updates(
    home: Path, source: str, words: list[str]
) -> None:
    result = run_updater(home, *FORCE, scenario=f'[trust]\ntemplate_source = "{source}"\n')
    journal = assert_stopped(home, result, SOURCES_LABEL, words)
    assert "qubes-vm-update" not in tools(journal)
    reads = [r for r in journal if r["tool"] == "qvm-run" and "cat" in r["argv"]]
    assert {r["argv"][2] for r in reads} == {
        "sd-inbox-debian-13",
        "sd-viewer-debian-13",
    }
    # the templates the check started are halted again
    assert journal[-1]["tool"] == "qvm-shutdown"


def test_healthy_workstation_passes_and_warns_only_near_expiry(home: Path) -> None:
    result = run_updater(home, *FORCE, scenario="[sim]\ntime_scale = 0.0\n")
    assert result.returncode == 3, result.stdout + result.stderr
    assert read_status(home)["status"] == "2"
    journal = read_journal(home)
    names = tools(journal)
    assert names.count("rpm") == 3  # keys before, keys and signers after the dom0 update
    assert names.index("rpm") < names.index("qubes-dom0-update")
    assert names.index("qvm-shutdown") < names.index("qubes-vm-update")
    # The prod key expires 2027-05-24: the warning starts 180 days before.
    days_left = (RELEASE_EXPIRES - time.time()) / 86400
    warned = "WARNING: The SecureDrop signing key expires on 2027-05-24" in result.stdout
    assert warned == (days_left < 180), result.stdout
    assert "Warning:" not in result.stdout or warned


def test_staging_workstation_with_the_test_key_passes(home: Path) -> None:
    scenario = '[dom0]\nupdates = false\n[trust]\nenvironment = "staging"\n'
    result = run_updater(home, *FORCE, scenario=scenario)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout  # the test key never expires


def test_generated_keys_are_cached(home: Path) -> None:
    scenario = '[dom0]\nupdates = false\n[trust]\ndom0_key = "rogue"\n'
    assert run_updater(home, *FORCE, scenario=scenario).returncode == 6
    cached = home / ".securedrop_updater" / "sim" / "keys" / "rogue.asc"
    first = cached.read_bytes()
    assert run_updater(home, *FORCE, scenario=scenario).returncode == 6
    assert cached.read_bytes() == first
