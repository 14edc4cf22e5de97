"""What a screen reader reads from the installed window, over AT-SPI.

``sdw-updater`` runs from ``.venv-a11y`` (the distribution's PyQt5 and Qt,
which carry Qt's AT-SPI bridge, as dom0's Fedora packages do) on Xvfb, in a
D-Bus session whose screen-reader flag is on; the test drives it from the
keyboard and reads the tree as Orca would (``screenreader.py``): headings,
named progress bars with their values, and "Show details" as a button that
is expandable and collapsed, then expanded.
"""

from __future__ import annotations

import pytest

from window import screenreader
from window.screenreader import A11Y_BIN
from window.xsession import Session

pytestmark = pytest.mark.window

# A run that stays in its first dom0 step for a minute: long enough to read it.
SLOW = "[sim]\ntime_scale = 0.1\n[dom0]\nupdates = false\ncheck_duration = 600\n"


def test_a_screen_reader_reads_headings_bars_and_the_details_state(session: Session) -> None:
    with screenreader.screen_reader(session) as reader:
        updater = session.forced_update(SLOW, env=reader.env, bindir=A11Y_BIN)
        session.window(updater)
        reader.find("Security updates are needed", "heading")
        reader.find("Start updates", "push button")

        session.key("alt+s")
        session.wait_log(r"Wizard: starting the updates", program=updater)
        reader.find("Updating the workstation", "heading")
        bar = reader.find("Overall progress of the updates", "progress bar")
        assert bar["maximum"] == 100.0 and 0.0 <= bar["value"] <= 100.0, bar
        nodes = reader.tree()
        bars = [n for n in nodes if n.get("role") == "progress bar"]
        assert all(n["name"] for n in bars), screenreader.render(nodes)
        assert any(n["name"].startswith("Update progress of ") for n in bars), bars

        closed = reader.find("Show details", "push button")
        assert {"expandable", "collapsed"} <= set(closed["states"]), closed
        assert "expanded" not in closed["states"], closed
        assert not [n for n in reader.tree() if n.get("role") == "check box"]

        session.key("alt+d")  # Show details
        session.wait_log(r"Window: details shown", program=updater)
        opened = reader.find("Hide details", "push button")
        assert {"expandable", "expanded"} <= set(opened["states"]), opened
        assert "collapsed" not in opened["states"], opened
        updater.kill()
