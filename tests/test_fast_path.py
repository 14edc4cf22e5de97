"""The launcher's fast path (issue 14): what a click on a fresh workstation does, and no more.

How long it takes is measured by ``make bench`` (BENCHMARKS.md), never here;
these tests hold what makes it fast without timing anything: nothing sleeps
or polls while the app starts, the in-place-upgrade guard asks Qubes little
and still answers as the full check does, and nothing heavy is imported.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import client_started, read_journal, run_updater, write_status

from sdw_updater.context import open_context
from sdw_updater.inventory import dist_upgrade_evidence, templates_to_update

HEALTHY = "[sim]\ntime_scale = 0.0\n"


def sleeps_during(action: Any) -> tuple[Any, list[str]]:
    """Run ``action()``; also list every ``time.sleep`` any thread called meanwhile."""
    slept: list[str] = []

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and arg is time.sleep:
            slept.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")

    threading.setprofile(watch)
    sys.setprofile(watch)
    try:
        result = action()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return result, slept


def test_starting_the_app_never_sleeps(home: Path) -> None:
    """Both VMs start at once here: the start must end when they do, not at a poll.

    Before: ``Popen.wait(timeout=...)`` on qrexec-client slept 1, 2, 4 ... 50 ms
    between looks (subprocess.py), up to 50 ms added to every click.
    """
    scenario = home / "s.toml"
    scenario.write_text(HEALTHY)
    ctx = open_context(True, str(scenario), home=home)
    started, slept = sleeps_during(ctx.host.start_client)
    assert started.ok, started.message
    assert slept == []
    assert client_started(read_journal(home))


@pytest.mark.parametrize(
    ("extra", "upgrading"),
    [
        ("", False),
        # a workstation template left on the old agent: the upgrade is not finished
        ('[templates."sd-viewer-debian-13"]\nagent_version = "4.2"\n', True),
        # a template nothing of the workstation uses does not count
        (
            '[vms."fedora-42-unused"]\nklass = "TemplateVM"\ntags = []\n'
            'features = { "qubes-agent-version" = "4.2" }\n',
            False,
        ),
        # an empty agent version is no evidence
        ('[templates."fedora-43-xfce"]\nagent_version = ""\n', False),
        ('[sim]\nqubes_release = "4.4"\n', True),
    ],
)
def test_upgrade_guard_answers_as_the_full_check(home: Path, extra: str, upgrading: bool) -> None:
    scenario = home / "s.toml"
    scenario.write_text(("" if "[sim]" in extra else HEALTHY) + extra)
    ctx = open_context(True, str(scenario), home=home)
    vms = ctx.host.vms()
    full = dist_upgrade_evidence(
        ctx.host.dom0_release(), vms, templates_to_update(vms, ctx.host.updatevm())
    )
    answer = ctx.upgrade_in_progress()
    assert (answer is not None) is upgrading is bool(full)
    if answer is not None:
        assert all(template in answer for template in full)


def test_fresh_launch_refuses_when_a_workstation_template_lags(home: Path) -> None:
    write_status(home, "0")
    extra = '[templates."sd-inbox-debian-13"]\nagent_version = "4.2"\n'
    # --cli: without it the window shows the refusal (tests/window covers that screen)
    result = run_updater(home, "--cli", scenario=HEALTHY + extra)
    assert result.returncode == 7, result.stdout + result.stderr
    assert "sd-inbox-debian-13 (4.2)" in result.stderr
    assert read_journal(home) == []


def test_app_start_that_never_returns_is_cut_at_its_timeout(home: Path) -> None:
    """The pidfd wait still ends a qrexec-client that hangs (timeout floor 1 s)."""
    from sdw_updater import qubes

    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert qubes._wait_exit(proc, 0.05) is None
    finally:
        proc.kill()
        proc.wait()
    done = subprocess.Popen(["true"])
    assert qubes._wait_exit(done, 30) == 0
    failed = subprocess.Popen(["false"])
    assert qubes._wait_exit(failed, 30) == 1


# ----- the command line without argparse ------------------------------------------------


def test_no_arguments_mean_what_argparse_says() -> None:
    """The icon's ``sdw-updater`` (no argument) skips argparse: same defaults, same meaning."""
    from launcher import entry

    assert vars(entry.build_parser().parse_args([])) == entry.parse_arguments([])._asdict()
    assert vars(entry.parse_arguments(["--cli"]))["cli"] is True  # anything else: argparse


@pytest.mark.parametrize("argv", [[], ["--dry-run"], ["--dry-run", "--dry-run"]])
def test_the_timers_arguments_mean_what_argparse_says(argv: list[str]) -> None:
    from sdw_notify import entry

    assert vars(entry.build_parser().parse_args(argv)) == entry.parse_arguments(argv)._asdict()


def test_other_notifier_arguments_go_through_argparse() -> None:
    from sdw_notify import entry

    with pytest.raises(SystemExit):
        entry.parse_arguments(["--dry-run", "--bogus"])
    assert entry.parse_arguments(["--dry", "--simulate"]).simulate == ""


# ----- logging on the fast path -----------------------------------------------------------


def test_plain_log_appends_and_hands_over_to_rotation_near_the_limit(tmp_path: Path) -> None:
    """A launch appends a few lines; near the rotation size the rotating handler takes over."""
    import logging

    from sdw_updater import logs

    log_dir = tmp_path / "logs"
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("first launch")
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("second launch")
    text = (log_dir / "updater.log").read_text()
    assert "first launch" in text and "second launch" in text
    assert not (log_dir / "updater-detail.log").exists()

    (log_dir / "updater.log").write_text("x" * logs.MAIN_LOG_BYTES)
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("after the limit")
    assert (log_dir / "updater.log.1").stat().st_size == logs.MAIN_LOG_BYTES
    assert "after the limit" in (log_dir / "updater.log").read_text()
    logs.configure(log_dir)  # leave the tree as the other tests expect it


def test_plain_log_refuses_a_planted_symlink(tmp_path: Path) -> None:
    """The plain handler opens its file as the rotating one does: never through a symlink."""
    import logging

    from sdw_updater import logs

    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("")
    (log_dir / "updater.log").symlink_to(target)
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("must not reach the target")
    assert target.read_text() == ""
    logs.configure(tmp_path / "other-logs")
