"""The pure parts of "after the run" (issue 16): help, settings, summary file, retry plan, stalls.

No process runs here: lines, files' bytes and clocks go in, decisions come out.
The end-to-end behaviour (through ``--cli`` and the window) is in
``test_after_run.py`` and ``tests/window/``.
"""

from __future__ import annotations

from helpers.summary import sample

from sdw_updater.steps import Step

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
