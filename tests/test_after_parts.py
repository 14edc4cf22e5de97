"""The pure parts of "after the run" (issue 16): help, settings, summary file, retry plan, stalls.

No process runs here: lines, files' bytes and clocks go in, decisions come out.
The end-to-end behaviour (through ``--cli`` and the window) is in
``test_after_run.py`` and ``tests/window/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdw_sim.tools import DOM0_FAILURE_LINES
from sdw_sim.vmupdate import failure_lines
from sdw_updater import advice, diagnostics, lastrun, settings
from sdw_updater.contract import ExitCode, UpdateStatus
from sdw_updater.events import TemplateState as T
from sdw_updater.lastrun import LastRun, TemplateOutcome
from sdw_updater.progress import Activity, TemplateTracker, parse_output_line
from sdw_updater.status import StatusRecord
from sdw_updater.steps import Step

NOW = time.time()

# ----- help for known failures ----------------------------------------------------------

TEMPLATE_CASES = {
    "disk_full": advice.DISK_FULL,
    "dpkg_interrupted": advice.DPKG_INTERRUPTED,
    "network": advice.NO_NETWORK,
    "lock": advice.LOCK_HELD,
    "key_expired": advice.KEY_EXPIRED,
}


@pytest.mark.parametrize("debian", [True, False], ids=["apt", "dnf"])
@pytest.mark.parametrize("failure", sorted(TEMPLATE_CASES))
def test_each_simulated_template_failure_gets_its_help(failure: str, debian: bool) -> None:
    lines = ["Reading package lists...", *failure_lines(failure, debian), "done"]
    found = advice.advise(lines, Step.TEMPLATES, 24, "sd-viewer-debian-13")
    assert found is not None
    assert found.kind == TEMPLATE_CASES[failure]
    assert found.where == "sd-viewer-debian-13"
    assert "sd-viewer-debian-13" in found.fix or found.kind == advice.NO_NETWORK
    assert "`" in found.fix  # a command an admin runs


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ("disk_full", advice.DISK_FULL),
        ("network", advice.NO_NETWORK),
        ("key_expired", advice.KEY_EXPIRED),
    ],
)
def test_each_simulated_dom0_failure_gets_its_help(failure: str, kind: str) -> None:
    lines = DOM0_FAILURE_LINES[failure].splitlines()
    found = advice.advise(lines, Step.DOM0_UPDATE, 1)
    assert found is not None and found.kind == kind and found.where == "dom0"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("write /var/cache/dnf/x: No space left on device", advice.DISK_FULL),
        (
            "E: dpkg was interrupted, you must manually run 'dpkg --configure -a'",
            advice.DPKG_INTERRUPTED,
        ),
        ("Another instance of qubes-dom0-update is already running!", advice.LOCK_HELD),
        ("Temporary failure in name resolution", advice.NO_NETWORK),
        (
            "Could not connect to 127.0.0.1:8082 (127.0.0.1). - connect (111: Connection refused)",
            advice.NO_NETWORK,
        ),
        ("The SecureDrop signing key 2024 has expired on 2025-06-30", advice.KEY_EXPIRED),
    ],
)
def test_real_looking_lines(line: str, kind: str) -> None:
    found = advice.advise([line], Step.DOM0_UPDATE, 1)
    assert found is not None
    assert found.kind == kind
    assert found.evidence == line[: advice.EVIDENCE_CHARS]


def test_the_outcome_settles_what_no_output_can() -> None:
    upgrade = advice.advise([], None, outcome=ExitCode.DIST_UPGRADE)
    assert upgrade is not None and upgrade.kind == advice.DIST_UPGRADE
    network = advice.advise(["anything"], Step.NETCHECK)
    assert network is not None and network.kind == advice.NO_NETWORK


def test_unknown_failures_get_no_made_up_help() -> None:
    assert (
        advice.advise(["E: Sub-process /usr/bin/dpkg returned an error code (1)"], "templates")
        is None
    )
    assert advice.advise([], Step.DOM0_STATE, 1) is None


def test_a_stall_is_explained_by_its_output_first() -> None:
    quiet = advice.stalled("t", ["Get:1 https://deb.debian.org"], 900)
    assert quiet.kind == advice.STALLED and "15 minutes" in quiet.cause
    assert quiet.evidence == "Get:1 https://deb.debian.org"
    known = advice.stalled("t", ["Temporary failure resolving 'deb.debian.org'"], 900)
    assert known.kind == advice.NO_NETWORK


def test_transient_means_network_or_the_refresh_code_alone() -> None:
    assert advice.transient(failure_lines("network", True), 23, alone=False)
    assert advice.transient(["nothing useful"], 23, alone=True)
    assert advice.transient(["nothing useful"], 23, alone=False) is None
    assert advice.transient(failure_lines("disk_full", True), 23, alone=True) is None
    assert advice.transient(failure_lines("lock", True), 22, alone=True) is None


@given(st.lists(st.text(max_size=300), max_size=20), st.integers(-300, 300) | st.none())
def test_help_never_raises_and_quotes_at_most_a_short_line(
    lines: list[str], code: int | None
) -> None:
    found = advice.advise(lines, Step.TEMPLATES, code, "t")
    if found is not None:
        assert len(found.evidence) <= advice.EVIDENCE_CHARS


# ----- settings ---------------------------------------------------------------------------


def test_settings_default_off_and_fifteen_minutes() -> None:
    assert settings.parse(None) == settings.Settings(False, 15.0)
    assert settings.Settings().stall_seconds == 900


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"update_extras": "yes"}',
        b'{"stall_minutes": 0}',
        b'{"stall_minutes": true}',
        b'{"stall_minutes": 1e400}',
        b'{"stall_minutes": "15"}',
        b'{"key_notice_days": -1}',
        b'{"key_notice_days": 366}',
        b'{"key_notice_days": 7.5}',
        b'{"key_notice_days": false}',
        b"\xff\xfe",
        b'{"update_extras": true' + b" " * 20000 + b"}",
    ],
)
def test_settings_in_doubt_keep_their_defaults(raw: bytes) -> None:
    assert settings.parse(raw) == settings.Settings()


def test_settings_unknown_keys_are_ignored_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING")
    got = settings.parse(b'{"update_extras": true, "stall_minutes": 2.5, "colour": "red"}')
    assert got == settings.Settings(True, 2.5)
    assert "unknown setting 'colour' ignored" in caplog.text


def test_key_notice_days_is_a_setting_from_0_to_365() -> None:
    assert settings.Settings().key_notice_days == 30
    assert settings.parse(b'{"key_notice_days": 0}').key_notice_days == 0
    assert settings.parse(b'{"key_notice_days": 365}').key_notice_days == 365


def test_settings_file_is_read_from_the_state_directory(tmp_path: Path) -> None:
    (tmp_path / "sdw-updater-settings.json").write_text('{"update_extras": true}')
    assert settings.load(tmp_path).update_extras
    assert settings.load(tmp_path / "missing") == settings.Settings()


# ----- the summary on disk ---------------------------------------------------------------


def sample(**changes: object) -> LastRun:
    base = LastRun(
        outcome=ExitCode.FAILED,
        started_at=NOW - 300,
        finished_at=NOW - 60,
        duration=240.0,
        version="9.9",
        failed_step=Step.TEMPLATES,
        steps=(
            (Step.NETCHECK, "ok"),
            (Step.DOM0_CHECK, "ok"),
            (Step.DOM0_STATE, "ok"),
            (Step.TEMPLATES, "failed"),
        ),
        templates=(
            TemplateOutcome("a", T.DONE),
            TemplateOutcome("b", T.FAILED, last_lines=("E: boom",)),
            TemplateOutcome("c", T.STALLED, "extras", last_lines=("Get:1",)),
            TemplateOutcome("d", T.NO_UPDATES, retried=True),
            TemplateOutcome("e", T.NOT_REACHED),
        ),
        restarted=("sys-net",),
        not_restarted=("sd-log",),
        running_before=("sd-log", "sys-net"),
        advice=(advice.Advice("disk_full", "b", "full", "`df`", "E: boom"),),
        message="These templates failed",
    )
    return base.__class__(**{**base.__dict__, **changes})


def test_summary_round_trips_through_its_file(tmp_path: Path) -> None:
    last = sample()
    assert lastrun.write(tmp_path, last)
    again = lastrun.read(tmp_path, NOW)
    assert again is not None
    assert lastrun.to_json(again) == lastrun.to_json(last)
    assert again.counts() == {
        "done": 1,
        "no_updates": 1,
        "failed": 1,
        "stalled": 1,
        "not_reached": 1,
    }
    assert again.reached_templates


def mutate(data: dict[str, object], key: str, value: object) -> bytes:
    changed = dict(data)
    changed[key] = value
    return json.dumps(changed).encode()


def template_entry(name: str, result: str, group: str) -> dict[str, object]:
    """One template of the summary file, as written, with no retry and no last lines."""
    return {
        "name": name,
        "result": result,
        "group": group,
        "retried": False,
        "kept": False,
        "last_lines": [],
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("format", 2),
        ("outcome", 99),
        ("outcome", True),
        ("outcome_name", "OK"),
        ("finished_at", "2999-01-01 00:00:00"),
        ("started_at", "yesterday"),
        ("duration_seconds", -1),
        ("attempt", 0),
        ("failed_step", "lunch"),
        ("steps", [{"step": "templates", "result": "maybe"}]),
        ("templates", [template_entry(name="../etc", result="done", group="workstation")]),
        ("templates", [template_entry(name="a", result="updating", group="workstation")]),
        ("templates", [template_entry(name="a", result="done", group="vip")]),
        ("restarted", "sys-net"),
        ("reboot_owed", "no"),
        ("message", "x" * 5000),
    ],
)
def test_a_summary_in_doubt_is_no_summary(key: str, value: object) -> None:
    data = lastrun.to_json(sample())
    assert lastrun.parse(json.dumps(data).encode(), NOW) is not None
    assert lastrun.parse(mutate(data, key, value), NOW) is None


@given(st.binary(max_size=2000))
def test_hostile_bytes_never_raise(raw: bytes) -> None:
    assert lastrun.parse(raw, NOW) is None or isinstance(lastrun.parse(raw, NOW), LastRun)


# ----- what a retry runs --------------------------------------------------------------


def test_after_template_failures_only_those_run_again() -> None:
    plan = lastrun.retry_plan(sample())
    assert plan is not None
    assert plan.templates == ("b", "c", "e")
    assert plan.kept == {"a": T.DONE, "d": T.NO_UPDATES}
    assert Step.DOM0_STATE in plan.skip and Step.DOM0_CHECK in plan.skip
    # checks are never skipped
    assert not plan.skip & {Step.NETCHECK, Step.TRUST, Step.TRUST_INSTALLED, Step.TEMPLATE_SOURCES}
    # Every VM that ran before the failed run: the retry starts those that are halted
    # (sd-log did not come back; sys-net did, but a stop may have halted it since).
    assert plan.restart == ("sd-log", "sys-net")
    assert plan.attempt == 2


def test_after_a_salt_state_failure_the_retry_starts_at_that_step() -> None:
    last = sample(
        failed_step=Step.DOM0_STATE,
        steps=(
            (Step.NETCHECK, "ok"),
            (Step.DOM0_CHECK, "ok"),
            (Step.DOM0_UPDATE, "ok"),
            (Step.DOM0_STATE, "failed"),
        ),
        templates=(),
    )
    plan = lastrun.retry_plan(last)
    assert plan is not None and plan.templates is None
    assert plan.skip == {Step.DOM0_CHECK, Step.DOM0_UPDATE}


@pytest.mark.parametrize(
    "change",
    [
        {"outcome": ExitCode.OK},
        {"outcome": ExitCode.TRUST},
        {"failed_step": Step.DOM0_UPDATE},
        {"failed_step": Step.NETCHECK},
        {"failed_step": None},
    ],
)
def test_other_runs_are_retried_in_full(change: dict[str, object]) -> None:
    assert lastrun.retry_plan(sample(**change)) is None


def test_a_retry_from_disk_needs_the_same_recent_failure() -> None:
    last = sample()
    failed = StatusRecord(UpdateStatus.FAILED, last.finished_at)
    plan, why = lastrun.retry_from_disk(last, failed, NOW)
    assert plan is not None, why
    assert lastrun.retry_from_disk(None, failed, NOW)[0] is None
    later = StatusRecord(UpdateStatus.FAILED, last.finished_at + 120)
    assert lastrun.retry_from_disk(last, later, NOW)[0] is None
    ok = StatusRecord(UpdateStatus.OK, last.finished_at)
    assert lastrun.retry_from_disk(last, ok, NOW)[0] is None
    assert lastrun.retry_from_disk(last, failed, NOW + 2 * 86400)[0] is None


# ----- per-template activity and the stall decision --------------------------------------


def test_output_lines_belong_to_their_template_only() -> None:
    assert parse_output_line(b"sd-viewer:out: Get:1 \x1b[1mx") == ("sd-viewer", "Get:1 x")
    assert parse_output_line(b"sd-viewer updating 10.0") is None
    assert parse_output_line(b"../x:out: y") is None


def test_a_template_is_stalled_only_after_the_limit_of_silence() -> None:
    activity = Activity(("a", "b"))
    activity.alive("a", 100.0)
    activity.alive("b", 100.0)
    assert activity.stalled(["a", "b"], 150.0, 60.0) == []
    activity.output(b"b:out: Get:2 http://x", 140.0)
    assert activity.stalled(["a", "b"], 160.0, 60.0) == ["a"]
    assert activity.quiet("b", 160.0) == 20.0
    assert activity.last_line("b") == "Get:2 http://x"
    assert activity.stalled(["b"], 160.0, 60.0) == []
    activity.output(b"zzz:out: not ours", 170.0)
    assert "zzz" not in activity.last


def test_stopped_tool_tells_stalled_in_flight_and_never_started_apart() -> None:
    tracker = TemplateTracker(("a", "b", "c", "d"))
    tracker.feed(b"a done success")
    tracker.feed(b"b updating 40.0")
    tracker.feed(b"c updating 10.0")
    final = tracker.finish(None, stalled=["c"])
    assert final == {"a": T.DONE, "b": T.FAILED, "c": T.STALLED, "d": T.NOT_REACHED}
    # a tool that ended by itself: a template with no done line failed
    assert TemplateTracker(("x",)).finish(0) == {"x": T.FAILED}


# ----- the diagnostics text --------------------------------------------------------------


def test_diagnostics_hold_what_an_admin_needs_and_say_what_they_leave_out() -> None:
    facts = diagnostics.Facts(True, "my.toml", "4.3", ("~/.securedrop_updater/logs/updater.log",))
    text = diagnostics.text(sample(), facts)
    for expected in (
        "Version: sdw-updater 9.9",
        "simulated (my.toml)",
        "dom0 Qubes release: 4.3",
        "templates: failed",
        "b: FAILED",
        "E: boom",
        "c: STALLED",
        "extra templates",
        "Did not start again: sd-log",
        "~/.securedrop_updater/logs/updater.log",
        "Not included:",
    ):
        assert expected in text, expected
    assert "BEGIN PGP" not in text


def test_paths_under_home_are_shown_with_a_tilde() -> None:
    assert diagnostics.display_path("/home/jo/.x/y", "/home/jo") == "~/.x/y"
    assert diagnostics.display_path("/home/joe/.x", "/home/jo") == "/home/joe/.x"


# ----- what the window says (no Qt) ----------------------------------------------------


def test_the_window_summary_groups_extras_and_marks_retries() -> None:
    from launcher import messages

    text = messages.summary_text(sample())
    assert text is not None
    assert [row[0] for row in text.rows] == ["a", "b", "d", "e"]
    assert [row[0] for row in text.extras] == ["c"]
    words = dict((name, said) for name, said, _ in text.rows)
    assert words["d"] == "Already up to date (on a second try)"
    assert words["e"] == "Not reached"
    assert (
        text.counts
        == "1 updated, 1 already up to date, 1 failed, 1 stopped (no progress), 1 not reached"
    )
    assert text.not_back.startswith("Did not start again: sd-log")
    assert text.time == "Time taken: 4 minutes"
    # a run that did not reach the templates has no summary
    assert messages.summary_text(sample(steps=((Step.NETCHECK, "ok"),))) is None
    assert messages.summary_text(None) is None


def test_the_window_summary_says_which_templates_a_retry_added() -> None:
    """A retry also updated templates the attempt it retried did not fail: each row says so."""
    from launcher import messages

    retried = sample(
        outcome=ExitCode.OK,
        failed_step=None,
        templates=(
            TemplateOutcome("a", T.DONE, kept=True),
            TemplateOutcome("b", T.DONE),
            TemplateOutcome("new", T.NO_UPDATES, added="not in the earlier attempt"),
            TemplateOutcome(
                "old", T.DONE, added="its result is from an attempt more than a day ago"
            ),
            TemplateOutcome("x", T.DONE, "extras", added="not in the earlier attempt (sd-extras)"),
        ),
    )
    text = messages.summary_text(retried)
    assert text is not None
    words = {name: said for name, said, _ in text.rows + text.extras}
    assert words == {
        "a": "Updated (earlier)",
        "b": "Updated",
        "new": "Already up to date (added to this retry)",
        "old": "Updated (added to this retry)",
        "x": "Updated (added to this retry)",
    }


def test_the_window_help_is_the_cause_for_the_journalist_and_the_fix_for_the_admin() -> None:
    from launcher import messages

    cause, fixes = messages.help_text(sample())
    assert cause == "full"
    assert fixes == ["b: `df`"]
    assert messages.help_text(sample(advice=())) == ("", [])


def test_a_step_clock_turns_into_taking_longer_than_usual() -> None:
    from launcher import strings as S

    assert S.step_time(130, 420) == "Working for 02:10 (usually about 7 minutes)"
    assert S.step_time(723, 480).startswith("Taking longer than usual: 12:03 so far")


def test_a_quiet_template_is_shown_as_stalled_after_a_fifth_of_the_limit() -> None:
    from launcher.estimate import quiet_shown

    assert not quiet_shown(170, 900) and quiet_shown(180, 900)
    assert not quiet_shown(59, 120) and quiet_shown(60, 120)
    assert quiet_shown(3, 6) and not quiet_shown(2.9, 6)  # the simulator's shrunk limits
    assert not quiet_shown(1000, 0)
