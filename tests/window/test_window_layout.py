"""The window on real screens: it fits, it can be resized, it opens centred, it has an icon.

Measured from the X server (``xwininfo``, ``xprop``), on a 1366x768 laptop
screen and on a 1920x1080 screen at ``QT_SCALE_FACTOR=2`` (960x540 device
independent pixels: the tightest case), with the details pane open.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from xsession import Session

pytestmark = pytest.mark.window

# A run that stays on the progress screen for a minute (the test ends it).
SLOW = "[sim]\ntime_scale = 0.1\n[dom0]\nupdates = false\ncheck_duration = 600\n"
SCREENS = {
    "1366x768": (1366, 768, None),
    "1920x1080-scale2": (1920, 1080, 2.0),
}


def size_hints(session: Session, window: str) -> dict[str, tuple[int, int]]:
    """The minimum and maximum sizes the program gave the window manager."""
    text = session.prop(window, "WM_NORMAL_HINTS")
    hints = {}
    for kind in ("minimum", "maximum"):
        match = re.search(rf"program specified {kind} size: (\d+) by (\d+)", text)
        if match:
            hints[kind] = (int(match.group(1)), int(match.group(2)))
    return hints


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_the_window_fits_opens_centred_and_can_be_resized(
    session_factory: Callable[..., Session],
    screen: str,
) -> None:
    width, height, scale = SCREENS[screen]
    session = session_factory(width, height, scale)
    updater = session.start(
        "sdw-updater", "--skip-delta", "0", "--simulate", str(session.scenario(SLOW))
    )
    window = session.window(updater)
    opened = session.geometry(window)
    assert opened.inside((width, height)), opened
    centre_x, centre_y = opened.centre
    assert abs(centre_x - width / 2) <= 2 and abs(centre_y - height / 2) <= 2, opened
    assert "_NET_WM_ICON(CARDINAL)" in session.prop(window, "_NET_WM_ICON"), "no window icon"
    hints = size_hints(session, window)
    assert hints.get("minimum") != hints.get("maximum"), f"fixed size: {hints}"
    session.screenshot(f"{screen}-intro")

    session.key("alt+s")
    session.wait_log(r"Wizard: starting the updates", program=updater)
    session.key("alt+d")  # Show details
    session.wait_log(r"Window: details shown", program=updater)
    grown = session.geometry(window)
    session.screenshot(f"{screen}-details")
    assert grown.inside((width, height)), grown
    updater.kill()
