"""The wizard's Qt-free parts: strings, time estimates, the smooth bar, the event pump."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from launcher import strings as S
from launcher.estimate import SmoothValue, time_left
from launcher.worker import EventPump, Skipped
from sdw_updater import events as ev
from sdw_updater.steps import STEPS, Step


def test_every_step_has_plain_words() -> None:
    for step in Step:
        assert step.value in S.STEP_WORDS, step
        words = S.step_words(step.value)
        assert words and "dom0" not in words
    assert set(S.STEP_WORDS) == {step.value for step in STEPS}


def test_unknown_step_falls_back_to_the_engine_label() -> None:
    assert S.step_words("future_step", "Doing something new") == "Doing something new"
    assert S.step_words(None)


def test_template_states_in_words() -> None:
    assert S.template_state("waiting", 0) == "Waiting"
    assert S.template_state("updating", 42.7) == "Updating: 42%"
    assert S.template_state("updating", 250) == "Updating: 100%"
    assert S.template_state("done", 100) == "Updated"
    assert S.template_state("no_updates", 100) == "Already up to date"
    assert S.template_state("failed", 30) == "Failed"


def test_durations_are_coarse_and_never_zero() -> None:
    assert S.duration(0) == "1 minute"
    assert S.duration(61) == "2 minutes"
    assert S.duration(1720) == "30 minutes"
    assert S.duration(3600) == "1 hour"
    assert S.duration(4500) == "1 hour 15 minutes"
    assert S.about(1720) == "about 30 minutes"
    assert S.time_left(None) == S.tr(S.ESTIMATING)
    assert S.time_left(0) == S.tr(S.LONGER_THAN_USUAL)
    assert S.time_left(30) == S.tr(S.LESS_THAN_A_MINUTE_LEFT)
    assert S.time_left(600) == "About 10 minutes left"
    assert S.elapsed(252) == "Time elapsed: 04:12"
    assert S.elapsed(3852) == "Time elapsed: 1:04:12"


def test_last_update_in_words() -> None:
    assert "No successful update" in S.intro_last_updated(None)
    assert S.intro_last_updated(3 * 86400 + 5) == "The last successful update was 3 days ago."
    assert S.ago(7200) == "2 hours ago"
    assert S.ago(30) == "1 minute ago"


def test_failed_templates_plural() -> None:
    assert S.failed_templates(["a"]) == "This part could not be updated: a."
    assert S.failed_templates(["a", "b"]) == "These parts could not be updated: a, b."


def test_time_left_blends_history_and_rate() -> None:
    assert time_left(0, 0, 1800) == 1800
    assert time_left(100, 1, 1800) == 1700  # too early for the rate
    assert time_left(100, 0, 0) is None
    assert time_left(600, 50, 1800) == 600  # half way after 10 minutes: 10 more
    assert time_left(5000, 10, 1800) is not None
    assert time_left(10, 100, 1800) == 0


@given(
    st.floats(0, 1e5, allow_nan=False),
    st.floats(-10, 200, allow_nan=False),
    st.floats(0, 1e5, allow_nan=False),
)
def test_time_left_is_never_negative(elapsed: float, percent: float, total: float) -> None:
    left = time_left(elapsed, percent, total)
    assert left is None or left >= 0


@given(st.lists(st.floats(-50, 150, allow_nan=False), max_size=50), st.integers(0, 20))
def test_smooth_value_never_goes_back(targets: list[float], steps: int) -> None:
    smooth = SmoothValue()
    shown = [0.0]
    for target in targets:
        smooth.aim(target)
        for _ in range(steps):
            shown.append(smooth.step())
    shown.append(smooth.settle())
    assert shown == sorted(shown)
    assert 0.0 <= shown[-1] <= 100.0
    assert shown[-1] == max([0.0, *(min(100.0, t) for t in targets)])


def test_smooth_value_reaches_its_target() -> None:
    smooth = SmoothValue()
    smooth.aim(40)
    for _ in range(200):
        smooth.step()
    assert smooth.shown == 40


def test_pump_keeps_order_and_bounds_output() -> None:
    pump = EventPump(limit=3)
    pump.put(ev.StepStarted("templates", "x"))
    for i in range(10):
        pump.put(ev.LogLine(f"out {i}", "output"))
    pump.put(ev.OverallProgress(50))
    pump.put(ev.LogLine("late", "output"))
    pump.put(ev.LogLine("an error", "error"))
    items = pump.drain()
    assert items[0] == ev.StepStarted("templates", "x")
    assert [i.text for i in items if isinstance(i, ev.LogLine) and i.level == "output"] == [
        "out 0",
        "out 1",
        "out 2",
    ]
    assert ev.OverallProgress(50) in items
    assert ev.LogLine("an error", "error") in items  # never dropped
    assert items[-1] == Skipped(8)  # "out 3".."out 9" and "late"
    assert pump.drain() == []
    pump.put(ev.LogLine("again", "output"))
    assert pump.drain() == [ev.LogLine("again", "output")]


def test_pump_marks_the_gap_where_it_happened() -> None:
    pump = EventPump(limit=1)
    pump.put(ev.LogLine("a", "output"))
    pump.put(ev.LogLine("b", "output"))
    assert pump.drain() == [ev.LogLine("a", "output"), Skipped(1)]
