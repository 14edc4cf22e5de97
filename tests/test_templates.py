"""The templates step (``sdw_updater/templates.py``), end to end against the simulator.

What a retry updates (every template of today's plan whose earlier result
it does not keep, and why), how old a kept result may be, the automatic
retry's share of the step's time, and the graceful stop of
``qubes-vm-update``.  The installed ``sdw-updater`` runs as a user runs it;
where a test needs the window's "Try again" or a clock it moves itself, the
runner runs in-process on the same simulated workstation, through the host
seam (``QubesHost``) with that clock.
"""

from __future__ import annotations

import json
from pathlib import Path

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
from helpers.engine import Clock, attempt, workstation

from sdw_updater import lastrun
from sdw_updater.contract import ExitCode

FORCE = ("--cli", "--skip-delta", "0")
RETRY = ("--cli", "--retry-failed")
INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = "[dom0]\nupdates = false\n"
VIEWER = "sd-viewer-debian-13"
INBOX = "sd-inbox-debian-13"
FEDORA = "fedora-43-xfce"
HOUR = 3600.0


def summary_line(stdout: str, name: str) -> str:
    """The line of ``name`` in the summary ``--cli`` prints at the end."""
    summary = stdout[stdout.index("Summary:") :]
    return next(line.strip() for line in summary.splitlines() if line.split()[:1] == [name])


def updater_log(home: Path) -> str:
    return (home / ".securedrop_updater" / "logs" / "updater.log").read_text()


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


# ----- the automatic retry gets what is left of the step's time ------------------------------

# Timeouts cut a thousandfold: the templates step's three hours are 10.8 s.  At
# time_scale 0.05 an update of 140 simulated seconds takes 7 real seconds, so a
# first call and an automatic retry of a full step's time would take 14 s.


# ----- the graceful stop of qubes-vm-update -------------------------------------------------

WHONIX = "whonix-gateway-17"
# Two templates at a time (the tool's -x is dom0's CPU count): fedora-43-xfce hangs
# half way and sd-inbox-debian-13 takes 5 s; the viewer's and whonix's templates wait
# for a free slot.  The stall watchdog's 15 minutes are 1 s (its floor).
ONE_HANGS = (
    "[sim]\ntime_scale = 0.05\ntimeout_scale = 0.001\ncpus = 2\nvm_start_duration = 0\n"
    "vm_shutdown_duration = 0\n[network]\ncheck_duration = 0\n"
    "[dom0]\nupdates = false\ncheck_duration = 0\nhighstate_duration = 0\n"
    "[client]\nstart_duration = 0\n"
    + template(FEDORA, result="hang", duration=20)
    + template(INBOX, duration=100)
    + template(VIEWER, duration=100)
    + template(WHONIX, duration=100)
)


def powers(home: Path) -> dict[str, str]:
    state = json.loads((home / ".securedrop_updater" / "sim" / "state.json").read_text())
    return dict(state["power"])


def test_one_stalled_template_does_not_break_the_others(home: Path) -> None:
    """The watchdog asks qubes-vm-update to stop cleanly, and kills only what never ends.

    The template updating beside the stalled one ends with its own ``done
    success``, the stalled one is reported stalled, those not started end
    cancelled (not reached); the stalled template, which the killed tool
    left running, is shut down.
    """
    run = run_updater(home, *FORCE, scenario=ONE_HANGS)
    assert run.returncode == ExitCode.FAILED, run.stdout
    outcome = {t["name"]: t["result"] for t in last_run_file(home)["templates"]}
    assert outcome[FEDORA] == "stalled"
    assert outcome[INBOX] == "done", run.stdout  # its own done line, not cut off
    assert outcome[VIEWER] == "not_reached"
    assert outcome.get(WHONIX, "not_reached") == "not_reached"
    log = updater_log(home)
    assert "Asking pid" in log and "to stop cleanly (stopped: SIGINT)" in log
    assert f"finished: {INBOX}" in log
    assert f"stalled: {FEDORA}" in log
    journal = read_journal(home)
    shutdowns = [r["argv"] for r in journal if r["tool"] == "qvm-shutdown"]
    assert any(FEDORA in argv for argv in shutdowns), shutdowns
    assert powers(home)[FEDORA] == "Halted"
    assert read_status(home)["status"] == "3"
