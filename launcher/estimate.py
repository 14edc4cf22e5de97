"""Time-left estimates and the smooth, never-backwards progress bar.

Kept free of Qt so the arithmetic can be tested on its own.  Users of the
old updater complained about bars that jumped, stalled or went back
(#996, #560, #411): the bar here only follows the engine's overall percent,
which never decreases, and eases towards it instead of jumping.
"""

from __future__ import annotations

from pathlib import Path

# Below this percent the observed rate says little; trust the history instead.
RATE_TRUSTED_FROM = 3.0
# At this percent the observed rate has fully replaced the history.
RATE_FULLY_TRUSTED_AT = 50.0


def time_left(elapsed: float, percent: float, expected_total: float) -> float | None:
    """Seconds left, blending this workstation's usual duration with the observed rate.

    Returns None when there is nothing to base an estimate on, and 0 when
    the run has already taken longer than both bases suggest (the caller
    then says "taking longer than usual" rather than "0 minutes").
    """
    elapsed = max(0.0, elapsed)
    percent = min(100.0, max(0.0, percent))
    if percent >= 100.0:
        return 0.0
    by_history = max(0.0, expected_total - elapsed) if expected_total > 0 else None
    if percent < RATE_TRUSTED_FROM or elapsed <= 0:
        return by_history
    by_rate = elapsed * (100.0 - percent) / percent
    if by_history is None:
        return by_rate
    weight = min(1.0, percent / RATE_FULLY_TRUSTED_AT)
    return (1.0 - weight) * by_history + weight * by_rate


class SmoothValue:
    """A displayed value that eases towards a target and never goes backwards.

    ``target`` only ever rises (a lower target is ignored); ``step`` moves
    the shown value a fraction of the way, with a minimum speed so the last
    stretch does not crawl forever.
    """

    def __init__(self, fraction: float = 0.25, minimum: float = 0.2) -> None:
        self.target = 0.0
        self.shown = 0.0
        self.fraction = fraction
        self.minimum = minimum

    def aim(self, value: float) -> None:
        self.target = max(self.target, min(100.0, max(0.0, value)))

    def step(self) -> float:
        gap = self.target - self.shown
        if gap > 0:
            self.shown = min(self.target, self.shown + max(self.minimum, gap * self.fraction))
        return self.shown

    def settle(self) -> float:
        """Jump to the target (the run ended: show where it really got to)."""
        self.shown = self.target
        return self.shown


def usual_duration(state_directory: Path) -> float:
    """How long an update usually takes on this workstation, in seconds.

    The one estimate every screen uses (the reminder, the introduction, the
    time left while updating): the median of this workstation's previous
    runs, or the engine's defaults before the first one.
    """
    from sdw_updater.history import History

    return History(state_directory).estimate_total()


# A template quiet this long is shown as stalled: a fifth of the watchdog's
# limit, at least a minute (but never more than half the limit, which the
# simulator shrinks to seconds).
QUIET_SHOWN_MIN = 60.0


def quiet_shown(quiet: float, limit: float) -> bool:
    """Whether a template quiet for ``quiet`` seconds is shown as stalled (limit: the watchdog's)."""
    if limit <= 0:
        return False
    return quiet >= min(max(QUIET_SHOWN_MIN, limit / 5), limit / 2)
