"""After the run, end to end through ``sdw-updater --cli``: the summary, the help, the details.

The summary ends the run and is kept in ``sdw-last-run.json`` for
``--status`` (a file in doubt is no summary; a run stopped by the network
check leaves none); known failures of templates and dom0, and a Qubes
upgrade in progress, get their plain cause and the command an admin runs;
after a failure the diagnostics text ("Copy details" in the window) follows,
and holds no key material, whatever the engine's message and the package
managers' lines named.  The text itself: tests/updater/test_diagnostics.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import FORCE, INSTANT, NO_DOM0, last_run_file, run_updater, template, template_results

from sdw_updater.contract import ExitCode

VIEWER = "sd-viewer-debian-13"


def test_the_summary_ends_the_run_and_is_kept_for_status(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + template(VIEWER, result="error")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED, run.stdout + run.stderr
    summary = run.stdout[run.stdout.index("Summary:") :]
    assert f"{VIEWER}  FAILED" in summary
    assert "sd-inbox-debian-13   updated" in summary
    assert "2 updated, 1 failed" in summary
    assert "Restarted: sd-log" in summary  # -R shut it down; the run started it again
    assert "Time taken:" in summary
    data = last_run_file(home)
    assert data["outcome_name"] == "FAILED" and data["failed_step"] == "templates"
    assert template_results(data)[VIEWER] == "failed"
    assert data["counts"] == {
        "done": 2,
        "no_updates": 0,
        "failed": 1,
        "stalled": 0,
        "not_reached": 0,
    }
    status = json.loads(run_updater(home, "--status", scenario=scenario).stdout)
    assert status["last_run"]["templates"] == data["templates"]
    assert status["last_run"]["restarted"] == ["sd-log"]
    # The copyable details follow a failure: the template's last lines, nothing secret.
    details = run.stdout[run.stdout.index("--- Details for your administrator") :]
    assert "E: Sub-process /usr/bin/dpkg returned an error code" in details
    assert "Mode: simulated (scenario.toml)" in details
    assert "BEGIN PGP" not in details and "[trust]" not in details


def test_a_summary_file_that_cannot_be_trusted_is_no_summary(home: Path) -> None:
    run_updater(home, *FORCE, scenario=INSTANT + NO_DOM0)
    path = home / ".securedrop_updater" / "sdw-last-run.json"
    assert json.loads(path.read_text())["outcome_name"] == "OK"
    path.write_text('{"format": 1, "outcome": 0}')
    status = json.loads(run_updater(home, "--status", scenario=INSTANT).stdout)
    assert status["last_run"] is None


def test_network_down_leaves_no_summary(home: Path) -> None:
    scenario = INSTANT + '[network]\nconnectivity = "none"\n'
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.NETWORK
    assert not (home / ".securedrop_updater" / "sdw-last-run.json").exists()
    assert "What went wrong (dom0): The updates could not be downloaded" in run.stdout


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        ("dpkg_interrupted", "dpkg --configure -a"),
        ("lock", "Another installation was running"),
        ("key_expired", "has expired"),
    ],
)
def test_each_known_template_failure_gets_its_fix(home: Path, failure: str, said: str) -> None:
    scenario = INSTANT + NO_DOM0 + template(VIEWER, failure=failure)
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED
    help_lines = [line for line in run.stdout.splitlines() if "What" in line]
    assert any(said in line for line in help_lines), run.stdout
    kinds = [h["kind"] for h in last_run_file(home)["help"]]
    assert len(kinds) == 1


@pytest.mark.parametrize(
    ("dom0", "kind"),
    [
        ('check_exit = 1\nfailure = "network"\n', "no_network"),
        ('update_exit = 1\nfailure = "disk_full"\n', "disk_full"),
        ('update_exit = 1\nfailure = "key_expired"\n', "key_expired"),
        ("lock_held = true\n", "lock_held"),
    ],
)
def test_dom0_failures_get_their_help(home: Path, dom0: str, kind: str) -> None:
    run = run_updater(home, *FORCE, scenario=INSTANT + "[dom0]\n" + dom0)
    assert run.returncode == ExitCode.FAILED, run.stdout
    help_ = last_run_file(home)["help"]
    assert [h["kind"] for h in help_] == [kind]
    assert "What to do:" in run.stdout


def test_a_qubes_upgrade_in_progress_is_explained(home: Path) -> None:
    run = run_updater(home, *FORCE, scenario='[sim]\ntime_scale = 0.0\nqubes_release = "9.9"\n')
    assert run.returncode == ExitCode.DIST_UPGRADE, run.stdout
    assert "What went wrong (dom0): Qubes is being upgraded" in run.stdout
    assert "qubes-dist-upgrade" in run.stdout


# ----- the diagnostics text keeps no key material ---------------------------------------


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
