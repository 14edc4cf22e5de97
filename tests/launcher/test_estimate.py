"""Time estimates and the smooth bar (``launcher/estimate.py``), without Qt.

Time left blends this workstation's history with the rate so far and is
never negative; the bar eases towards its target and never goes back; a
template quiet for a fifth of the stall limit is shown as making no progress.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from launcher.estimate import SmoothValue, time_left


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


def test_a_quiet_template_is_shown_as_stalled_after_a_fifth_of_the_limit() -> None:
    from launcher.estimate import quiet_shown

    assert not quiet_shown(170, 900) and quiet_shown(180, 900)
    assert not quiet_shown(59, 120) and quiet_shown(60, 120)
    assert quiet_shown(3, 6) and not quiet_shown(2.9, 6)  # the simulator's shrunk limits
    assert not quiet_shown(1000, 0)
