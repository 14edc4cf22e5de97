"""Trust checks end to end: the installed ``sdw-updater --cli`` against the simulator.

Every broken anchor of the ``[trust]`` table must stop a forced run with
exit 6 and status "3", before anything the check guards is applied, and say
which check failed in plain words; the healthy workstation must pass.  The
simulator generates the rogue, expired and extra keys with the real gpg.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers import BIN, FORCE, read_journal, read_status, run_updater, tools

from sdw_sim.journal import Entry
from sdw_updater.trust.report import Code

RELEASE_EXPIRES = 1811164763  # 2027-05-24 13:19:23 UTC
RPM_KEYS = ["-q", "gpg-pubkey", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\\n%{DESCRIPTION}\\n"]
CLIENT_ID = "qubes.StartApp+press.freedom.SecureDropApp"
KEYS_LABEL = "Checking the workstation's signing keys failed"
SIGNERS_LABEL = "Checking the signatures of installed packages failed"
SOURCES_LABEL = "Checking the templates' package sources failed"


def applied(journal: list[Entry]) -> list[str]:
    """What changed dom0 or the templates: updates, Salt, the full apply."""
    return [
        t
        for r, t in zip(journal, tools(journal), strict=True)
        if t in ("qubesctl", "sdw-admin", "qubes-vm-update")
        or (t == "qubes-dom0-update" and r["argv"] != ["--check-only"])
    ]


def logged_codes(home: Path) -> set[Code]:
    """The codes of the trust failures the run logged for the administrator."""
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    return {code for code in Code if f"failed [{code.value}]" in log}


def assert_stopped(
    home: Path, result, label: str, codes: list[Code], words: tuple[str, ...] = ()
) -> list[Entry]:
    """Exit 6, status "3", the step's label shown, ``codes`` logged, the app not started."""
    output = result.stdout + result.stderr
    assert result.returncode == 6, output
    assert read_status(home)["status"] == "3"
    assert label in result.stdout
    for word in words:
        assert word in result.stdout, (word, result.stdout)
    journal = read_journal(home)
    assert not any(r["tool"] == "qvm-run" and CLIENT_ID in r["argv"] for r in journal)
    assert not (home / ".securedrop_updater" / "sdw-last-updated").exists()
    assert set(codes) <= logged_codes(home), (codes, output)
    return journal


@pytest.mark.parametrize(
    ("trust", "codes"),
    [
        ('dom0_key = "rogue"', [Code.KEY_FILE_IMPOSTOR]),
        ('dom0_key = "two_keys"', [Code.KEY_FILE_SEVERAL_KEYS]),
        ('dom0_key = "expired"', [Code.KEY_EXPIRED]),
        ('dom0_key = "test"', [Code.KEY_FILE_TEST_KEY_ON_PROD]),
        ('dom0_key = "missing"', [Code.KEY_FILE_UNREADABLE]),
        ('dom0_key = "garbage"', [Code.KEY_FILE_NO_KEY]),
        ('dom0_key = "huge"', [Code.KEY_FILE_UNREADABLE]),
        ("gpgcheck = false", [Code.SDW_REPO_UNSIGNED]),
        ("insecure_repo = true", [Code.REPO_SIGNATURES_OFF]),
        ("extra_rpmdb_key = true", [Code.RPMDB_UNLISTED_KEY]),
        ('environment = "dev"\ndom0_key = "release"', [Code.KEY_FILE_OTHER_ENVIRONMENT]),
    ],
)
def test_broken_anchor_stops_before_anything_is_applied(
    home: Path, trust: str, codes: list[Code]
) -> None:
    result = run_updater(home, *FORCE, scenario=f"[trust]\n{trust}\n")
    journal = assert_stopped(home, result, KEYS_LABEL, codes)
    # nothing after the check: not even qubes-dom0-update --check-only
    assert tools(journal) == ["qvm-run", "rpm"]
    assert journal[1]["argv"] == RPM_KEYS


@pytest.mark.parametrize(
    ("trap", "codes"),
    [
        # dnf reads repositories from dnf.conf itself, not only from .repo files
        ("repo_in_dnf_conf", [Code.REPO_SIGNATURES_OFF]),
        # dom0's dnf reads the directories reposdir= names, whichever they are
        ("reposdir_elsewhere", [Code.REPO_SIGNATURES_OFF]),
        # dnf keeps the first of two repositories with SecureDrop's id
        ("duplicate_repo", [Code.REPO_DUPLICATE_ID, Code.SDW_REPO_ELSEWHERE]),
        # dnf5 reads [main] from its drop-in directories (here: another reposdir)
        ("dnf5_dropin", [Code.REPO_SIGNATURES_OFF]),
        # dnf5 applies repository overrides after reading the repositories: refused
        ("dnf5_override", [Code.DNF_OVERRIDE]),
    ],
)
def test_dnf_configuration_is_judged_as_dnf_reads_it(
    home: Path, trap: str, codes: list[Code]
) -> None:
    """Each trap let a gpgcheck=0 or substituted SecureDrop repository through a reader
    of .repo files; dnf's own parser sees them."""
    result = run_updater(home, *FORCE, scenario=f'[trust]\ndnf_config = "{trap}"\n')
    journal = assert_stopped(home, result, KEYS_LABEL, codes)
    assert tools(journal) == ["qvm-run", "rpm"]


@pytest.mark.parametrize(
    ("signer", "codes"),
    [
        ("unsigned", [Code.PACKAGE_UNSIGNED]),
        ("rogue", [Code.SIGNER_UNKNOWN]),
        # the Qubes key may sign the keyring only, not the configuration or the updater
        ("qubes", [Code.SIGNER_NOT_ALLOWED]),
        # the keyring signed by the key of another repository dom0 trusts
        ("third_party", [Code.SIGNER_NOT_ALLOWED]),
    ],
)
def test_unsigned_or_wrongly_signed_package_stops_after_dom0(
    home: Path, signer: str, codes: list[Code]
) -> None:
    result = run_updater(home, *FORCE, scenario=f'[trust]\npackage_signer = "{signer}"\n')
    journal = assert_stopped(home, result, SIGNERS_LABEL, codes)
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
    journal = assert_stopped(home, result, SIGNERS_LABEL, [Code.PACKAGE_UNSIGNED])
    assert applied(journal) == []


@pytest.mark.parametrize(
    ("source", "codes"),
    [
        ("extra_key", [Code.SOURCE_OTHER_KEY]),
        ("trusted_yes", [Code.SOURCE_INSECURE]),
    ],
)
def test_template_source_trusting_more_stops_before_template_updates(
    home: Path, source: str, codes: list[Code]
) -> None:
    result = run_updater(home, *FORCE, scenario=f'[trust]\ntemplate_source = "{source}"\n')
    journal = assert_stopped(home, result, SOURCES_LABEL, codes, words=("sd-inbox-debian-13",))
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


# ----- the checks cannot be skipped, not even by a missing module ------------------------


RUN_WITHOUT = """
import sys
sys.modules[{module!r}] = None  # as if it were not installed: importing it fails
sys.argv[0] = "sdw-updater"
from launcher.entry import main
sys.exit(main())
"""


@pytest.mark.parametrize(
    ("module", "code"),
    [
        # python-gnupg missing: no key can be read
        ("gnupg", Code.GPG_UNAVAILABLE),
        # the trust checks themselves cannot be imported
        ("sdw_updater.trust.checks", Code.CHECKS_NOT_LOADED),
    ],
)
def test_checks_that_cannot_be_loaded_fail_the_run(home: Path, module: str, code: Code) -> None:
    """The installed program, with a module gone: exit 6 before anything is applied."""
    scenario = home / "scenario.toml"
    scenario.write_text("[sim]\ntime_scale = 0.0\n")
    result = subprocess.run(
        [str(BIN / "python"), "-c", RUN_WITHOUT.format(module=module), *FORCE, "--simulate",
         str(scenario)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(home)),
        cwd=home, check=False,
    )  # fmt: skip
    journal = assert_stopped(home, result, KEYS_LABEL, [code])
    assert applied(journal) == []
    assert "qubes-dom0-update" not in tools(journal)
