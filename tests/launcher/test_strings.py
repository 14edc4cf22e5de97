"""What the window says of each thing (``launcher/strings.py``): steps, states, times, in plain words."""

from __future__ import annotations

from launcher import strings as S
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


def test_a_step_clock_turns_into_taking_longer_than_usual() -> None:
    from launcher import strings as S

    assert S.step_time(130, 420) == "Working for 02:10 (usually about 7 minutes)"
    assert S.step_time(723, 480).startswith("Taking longer than usual: 12:03 so far")
