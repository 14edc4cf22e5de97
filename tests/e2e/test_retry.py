"""Retries end to end through ``sdw-updater --cli``: the automatic one, and ``--retry-failed``.

A template whose failure looks transient (network, Tor: the agent's exit
23) is updated once more at once, and the summary says so; any other
failure is not.  ``--retry-failed`` keeps only what succeeded in the attempt
before and is still planned, updates every other template of today's plan
(one a migration created, an extra template turned on since, one that
replaced a failed one) and says why, runs every check again, starts again at
a failed Salt state, and keeps no result older than a day, counted from the
attempt that produced it (earlier attempts made in-process, as the window's
Try again makes them, with a clock the test moves).  The choice itself:
tests/updater/test_templates.py and tests/updater/test_lastrun.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    FORCE,
    INSTANT,
    NO_DOM0,
    client_started,
    last_run_file,
    read_journal,
    read_status,
    run_updater,
    template,
    vm_updates,
)
from helpers.engine import Clock, attempt, workstation

from sdw_updater import lastrun
from sdw_updater.contract import ExitCode

VIEWER = "sd-viewer-debian-13"
FEDORA = "fedora-43-xfce"
RETRY = ("--cli", "--retry-failed")
INBOX = "sd-inbox-debian-13"
HOUR = 3600.0


def summary_line(stdout: str, name: str) -> str:
    """The line of ``name`` in the summary ``--cli`` prints at the end."""
    summary = stdout[stdout.index("Summary:") :]
    return next(line.strip() for line in summary.splitlines() if line.split()[:1] == [name])


def updater_log(home: Path) -> str:
    return (home / ".securedrop_updater" / "logs" / "updater.log").read_text()


# ----- the automatic retry of a transient failure ---------------------------------------


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


# ----- --retry-failed -----------------------------------------------------------------------


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


# ----- a retry updates every template of today's plan it does not keep ----------------------


EXTRA_TEMPLATE = "tpl-extra"
EXTRAS = (
    f'[vms."{EXTRA_TEMPLATE}"]\nklass = "TemplateVM"\n'
    f'[vms."org-app"]\ntemplate = "{EXTRA_TEMPLATE}"\ntags = ["sd-extras"]\n'
)
NEW_VIEWER = "sd-viewer-debian-14"


# The viewer VMs moved to a new template since the failed run (the old one stays).
VIEWER_REPLACED = (
    f'[vms."{NEW_VIEWER}"]\nklass = "TemplateVM"\ntags = ["sd-workstation"]\n'
    + "".join(
        f'[vms."{vm}"]\ntemplate = "{NEW_VIEWER}"\n'
        for vm in ("sd-viewer", "sd-devices", "sd-printers")
    )
)
MIGRATED = "sd-migrated-template"


# A migration pending since the failed run creates a VM on a template of its own.
MIGRATION = (
    "migration = true\n"
    f'[vms."{MIGRATED}"]\nklass = "TemplateVM"\ntags = ["sd-workstation"]\ncreated_by_apply = true\n'
    f'[vms."sd-migrated"]\ntemplate = "{MIGRATED}"\ntags = ["sd-workstation"]\n'
    "created_by_apply = true\n"
)


@pytest.mark.parametrize(
    ("change", "added", "settings"),
    [
        ("", EXTRA_TEMPLATE, '{"update_extras": true}'),
        (VIEWER_REPLACED, NEW_VIEWER, None),
        (MIGRATION, MIGRATED, None),
    ],
    ids=["extras-turned-on", "template-replaced", "migration"],
)
def test_a_retry_updates_the_templates_new_in_todays_plan(
    home: Path, change: str, added: str, settings: str | None
) -> None:
    """--retry-failed after a template failed; since then today's plan has another template.

    The retry keeps what succeeded, updates what failed AND the template the
    failed run never planned, says so, and only then records "ok".
    """
    failed = INSTANT + EXTRAS + NO_DOM0 + template(VIEWER, fail_first=1)
    first = run_updater(home, *FORCE, scenario=failed)
    assert first.returncode == ExitCode.FAILED, first.stdout
    if settings is not None:
        (home / ".securedrop_updater" / "sdw-updater-settings.json").write_text(settings)
    # The workstation as it is now: the viewer's template updates fine, and ``change``.
    now = INSTANT + EXTRAS + NO_DOM0.rstrip("\n") + "\n" + change
    before = len(read_journal(home))
    again = run_updater(home, *RETRY, scenario=now)
    assert "retrying only what failed" in again.stdout, again.stdout
    updated = [name for targets in vm_updates(read_journal(home)[before:]) for name in targets]
    assert added in updated, again.stdout
    assert again.returncode == ExitCode.OK, again.stdout + again.stderr
    data = last_run_file(home)
    entry = next(t for t in data["templates"] if t["name"] == added)
    assert entry["result"] == "done" and not entry["kept"]
    assert "not in the earlier attempt" in entry["added"]
    said = summary_line(again.stdout, added)
    assert said.split()[1:4] == ["updated", "(added", "to"], said
    assert "(added to this retry: not in the earlier attempt" in said
    assert f"also updates {added}" in updater_log(home)
    assert read_status(home)["status"] == "0"
    assert client_started(read_journal(home))


# ----- how old a kept result may be ---------------------------------------------------------


def test_retry_failed_keeps_no_result_older_than_a_day_from_its_first_run(home: Path) -> None:
    """Two attempts 40 and 20 hours ago (the window's), then ``--retry-failed`` now.

    The failed run is 20 hours old, so it is retried; the results it kept
    come from the attempt 40 hours ago, so they are not kept again.
    """
    scenario = INSTANT + NO_DOM0 + template(VIEWER, fail_first=2)
    clock = Clock()
    host, store = workstation(home, scenario, clock)
    clock.offset = -40 * HOUR
    first = attempt(host, store, None)
    clock.offset = -20 * HOUR
    second = attempt(host, store, lastrun.retry_plan(lastrun.summarize(first)))
    assert second.outcome is ExitCode.FAILED and FEDORA in second.kept
    before = len(read_journal(home))
    run = run_updater(home, *RETRY, scenario=scenario)
    assert "retrying only what failed" in run.stdout, run.stdout
    assert run.returncode == ExitCode.OK, run.stdout
    updated = [name for targets in vm_updates(read_journal(home)[before:]) for name in targets]
    assert FEDORA in updated and INBOX in updated, run.stdout
    assert not [t["name"] for t in last_run_file(home)["templates"] if t["kept"]]
    assert "(added to this retry: its result is from an attempt more than a day ago" in (
        summary_line(run.stdout, FEDORA)
    )
