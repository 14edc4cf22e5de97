"""The run's summary (``sdw_updater/lastrun.py``): its file, read as untrusted, and what a retry runs.

The summary round-trips through ``sdw-last-run.json``; a file in doubt is no
summary.  A retry updates only what failed (and starts again at a failed
Salt state), starts every VM that ran before, and comes from disk only for
the same recent failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.summary import NOW, sample
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater import lastrun
from sdw_updater.contract import ExitCode, UpdateStatus
from sdw_updater.events import TemplateState as T
from sdw_updater.lastrun import LastRun
from sdw_updater.status import StatusRecord
from sdw_updater.steps import Step


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
