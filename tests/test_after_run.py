"""After the run (issue 16), end to end through ``sdw-updater --cli`` against the simulator.

The installed program runs in a subprocess with its own HOME; the tests read
what an admin reads (the terminal, ``--status``, ``sdw-last-run.json``) and
what the simulated Qubes received (its journal): the summary, the automatic
retry of a transient failure, the stall watchdog, ``--retry-failed``, the
help for known failures, the diagnostics text and the extra templates.
The window's side is in ``tests/window/test_after_window.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    client_started,
    last_run_file,
    read_journal,
    read_status,
    run_updater,
    template,
    vm_updates,
)

from sdw_updater.contract import ExitCode

FORCE = ("--cli", "--skip-delta", "0")
INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = "[dom0]\nupdates = false\n"
VIEWER = "sd-viewer-debian-13"
FEDORA = "fedora-43-xfce"
# Timeouts cut a thousandfold: the stall watchdog's 15 minutes become its 1 s floor,
# the templates step's 3 hours 10.8 s (the outer bound).
FAST_TIMEOUTS = "[sim]\ntime_scale = 0.0\ntimeout_scale = 0.001\n"


def results(data: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["result"] for t in data["templates"]}


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
    assert results(data)[VIEWER] == "failed"
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


def test_a_transient_failure_is_retried_once_and_said_so(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + template(FEDORA, fail_first=1, failure="network")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.OK, run.stdout + run.stderr
    updates = vm_updates(read_journal(home))
    assert len(updates) == 2 and updates[1] == [FEDORA]
    assert "looks transient" in run.stdout
    assert "tried twice: the first failure looked transient" in run.stdout
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert f"{FEDORA} failed in a way that looks transient" in log
    entry = next(t for t in last_run_file(home)["templates"] if t["name"] == FEDORA)
    assert entry["retried"] is True and entry["result"] == "done"
    assert client_started(read_journal(home))


def test_the_refresh_exit_code_alone_counts_as_transient(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + template(FEDORA, fail_first=1, exit_code=23)
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.OK, run.stdout
    assert vm_updates(read_journal(home))[1] == [FEDORA]


def test_a_failure_that_is_not_transient_is_not_retried(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + template(FEDORA, fail_first=1, failure="disk_full")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED
    assert len(vm_updates(read_journal(home))) == 1
    assert f"What went wrong ({FEDORA}): The disk of {FEDORA} is full" in run.stdout
    assert f"qvm-run -p -u root {FEDORA} 'df -h'" in run.stdout


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


def test_a_stalled_template_is_stopped_and_the_others_keep_their_result(home: Path) -> None:
    scenario = FAST_TIMEOUTS + NO_DOM0 + template(VIEWER, result="hang")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED, run.stdout
    assert f"{VIEWER}  STALLED" in run.stdout
    data = last_run_file(home)
    assert results(data) == {
        "fedora-43-xfce": "done",
        "sd-inbox-debian-13": "done",
        VIEWER: "stalled",
    }
    stalled = next(t for t in data["templates"] if t["name"] == VIEWER)
    assert stalled["last_lines"], stalled
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert f"{VIEWER} made no progress and printed nothing" in log
    assert "was stopped by the updater" in log  # the watchdog, not the step's timeout
    record = next(r for r in read_journal(home) if r["tool"] == "qubes-vm-update")
    assert record["exit"] is None or record["exit"] < 0
    assert read_status(home)["status"] == "3"


def test_the_stall_setting_is_read_and_the_step_timeout_stays_the_outer_bound(home: Path) -> None:
    state = home / ".securedrop_updater"
    state.mkdir()
    # 600 minutes scaled are 36 s: the templates step's own timeout (10.8 s) ends it first.
    (state / "sdw-updater-settings.json").write_text('{"stall_minutes": 600, "colour": 1}')
    scenario = FAST_TIMEOUTS + NO_DOM0 + template(VIEWER, result="hang")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.FAILED
    log = (state / "logs" / "updater.log").read_text()
    assert "did not finish in time" in log and "made no progress" not in log
    assert "unknown setting 'colour' ignored" in log


def test_retry_failed_updates_only_the_failed_template_with_every_check(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + template(VIEWER, fail_first=1)
    first = run_updater(home, *FORCE, scenario=scenario)
    assert first.returncode == ExitCode.FAILED
    assert "sdw-updater --cli --retry-failed" in first.stdout
    before = len(read_journal(home))
    again = run_updater(home, "--cli", "--retry-failed", scenario=scenario)
    assert again.returncode == ExitCode.OK, again.stdout + again.stderr
    assert "--retry-failed: retrying only what failed: sd-viewer-debian-13" in again.stdout
    second = read_journal(home)[before:]
    names = [str(r["tool"]) for r in second]
    assert vm_updates(second) == [[VIEWER]]
    assert "qubes-dom0-update" not in names and "qubesctl" not in names
    # the checks ran again: network, keys and signatures (rpm), the templates' sources
    argvs = [" ".join(map(str, r["argv"])) for r in second]
    assert any("nmcli" in a for a in argvs)
    assert "rpm" in names
    assert any("apt_freedom_press.sources" in a for a in argvs)
    assert "(earlier attempt)" in again.stdout
    data = last_run_file(home)
    assert data["attempt"] == 2 and data["outcome_name"] == "OK"
    kept = [t["name"] for t in data["templates"] if t["kept"]]
    assert sorted(kept) == ["fedora-43-xfce", "sd-inbox-debian-13"]
    assert client_started(read_journal(home))


def test_retry_failed_after_a_salt_failure_starts_again_at_that_step(home: Path) -> None:
    first = run_updater(home, *FORCE, scenario=INSTANT + NO_DOM0 + "highstate_exit = 1\n")
    assert first.returncode == ExitCode.FAILED
    before = len(read_journal(home))
    again = run_updater(
        home, "--cli", "--retry-failed", scenario=INSTANT + NO_DOM0 + "highstate_exit = 1\n"
    )
    assert again.returncode == ExitCode.FAILED
    names = [str(r["tool"]) for r in read_journal(home)[before:]]
    assert "qubes-dom0-update" not in names and names.count("qubesctl") == 1
    assert "retrying from the failed step (dom0_state" in again.stdout


def test_retry_failed_without_a_failed_run_is_a_normal_run(home: Path) -> None:
    run = run_updater(
        home, "--cli", "--retry-failed", "--skip-delta", "0", scenario=INSTANT + NO_DOM0
    )
    assert run.returncode == ExitCode.OK, run.stdout
    assert "no earlier run is recorded: a normal run" in run.stdout
    assert "qubes-dom0-update" in [r["tool"] for r in read_journal(home)]


EXTRAS = (
    '[vms."tpl-extra"]\nklass = "TemplateVM"\n'
    '[vms."org-app"]\ntemplate = "tpl-extra"\ntags = ["sd-extras"]\n'
)


def test_extra_templates_only_when_an_admin_turns_them_on(home: Path) -> None:
    scenario = INSTANT + NO_DOM0 + EXTRAS
    off = run_updater(home, *FORCE, scenario=scenario)
    assert off.returncode == ExitCode.OK, off.stdout
    assert "tpl-extra" not in vm_updates(read_journal(home))[0]
    (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(
        '{"update_extras": true}'
    )
    on = run_updater(home, *FORCE, scenario=scenario)
    assert on.returncode == ExitCode.OK, on.stdout
    assert "tpl-extra" in vm_updates(read_journal(home))[-1]
    assert "Extra templates (sd-extras), updated too: tpl-extra" in on.stdout
    summary = on.stdout[on.stdout.index("Summary:") :]
    assert summary.index("Extra templates (sd-extras):") < summary.index("tpl-extra")
    groups = {t["name"]: t["group"] for t in last_run_file(home)["templates"]}
    assert groups["tpl-extra"] == "extras" and groups[VIEWER] == "workstation"


def test_an_extra_template_on_another_release_waits_alone(home: Path) -> None:
    """An sd-extras template is never evidence of a Qubes upgrade: it is skipped, and said so."""
    (home / ".securedrop_updater").mkdir()
    (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(
        '{"update_extras": true}'
    )
    scenario = INSTANT + NO_DOM0 + EXTRAS + template("tpl-extra", agent_version="4.2")
    run = run_updater(home, *FORCE, scenario=scenario)
    assert run.returncode == ExitCode.OK, run.stdout + run.stderr
    targets = vm_updates(read_journal(home))[0]
    assert "tpl-extra" not in targets and VIEWER in targets
    said = "tpl-extra (sd-extras) runs the Qubes 4.2 agent while dom0 runs Qubes 4.3"
    assert said in run.stdout
    log = (home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert said in log
    help_for = {a["where"]: a for a in last_run_file(home)["help"]}
    assert "not updated" in help_for["tpl-extra"]["cause"]
    assert client_started(read_journal(home))
    # A workstation template on another release still means Qubes is being upgraded.
    lagging = scenario + template(VIEWER, agent_version="4.2")
    assert run_updater(home, *FORCE, scenario=lagging).returncode == ExitCode.DIST_UPGRADE
