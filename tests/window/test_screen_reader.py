"""What a screen reader reads from the installed window, over AT-SPI.

``sdw-updater`` runs on the distribution's PyQt and Qt, which carry Qt's
AT-SPI bridge as dom0's Fedora packages do: once on PyQt6 (``.venv-a11y``)
and once on PyQt5 (``.venv-a11y-qt5``, PyQt6 blocked there;
``screenreader.py`` says how).  On Xvfb, in a D-Bus session whose
screen-reader flag is on, the test drives it from the keyboard and reads
the tree as Orca would: each screen's title as text with its name, named
progress bars with their values, and "Show details" as a push button (no
check box) whose description says collapsed, then, as "Hide details",
expanded.  What public PyQt cannot declare (the heading role, the
expandable and expanded states) is not there, on either binding.
"""

from __future__ import annotations

import pytest

from window import screenreader, xsession
from window.xsession import Session

pytestmark = pytest.mark.window

# A run that stays in its first dom0 step for a minute: long enough to read it.
SLOW = "[sim]\ntime_scale = 0.1\n[dom0]\nupdates = false\ncheck_duration = 600\n"
#: What AT-SPI calls Qt's StaticText role: a screen's title is read as text.
TEXT = "label"


@xsession.both_bindings()
def test_a_screen_reader_reads_titles_bars_and_the_details_state(
    session: Session, binding: str
) -> None:
    with screenreader.screen_reader(session) as reader:
        updater = session.forced_update(SLOW, env=reader.env, bindir=reader.bindir)
        session.window(updater)
        reader.find("Security updates are needed", TEXT)
        reader.find("Start updates", "push button")
        assert session.bindings_used() == {binding}

        session.key("alt+s")
        session.wait_log(r"Wizard: starting the updates", program=updater)
        reader.find("Updating the workstation", TEXT)
        bar = reader.find("Overall progress of the updates", "progress bar")
        assert bar["maximum"] == 100.0 and 0.0 <= bar["value"] <= 100.0, bar
        nodes = reader.tree()
        bars = [n for n in nodes if n.get("role") == "progress bar"]
        assert all(n["name"] for n in bars), screenreader.render(nodes)
        assert any(n["name"].startswith("Update progress of ") for n in bars), bars
        assert not [n for n in nodes if n.get("role") in ("heading", "check box")], (
            screenreader.render(nodes)
        )

        closed = reader.find("Show details", "push button")
        assert closed["description"] == "collapsed", closed
        assert not {"checkable", "checked", "expandable"} & set(closed["states"]), closed

        session.key("alt+d")  # Show details
        session.wait_log(r"Window: details shown", program=updater)
        opened = reader.find("Hide details", "push button")
        assert opened["description"] == "expanded", opened
        assert not {"checkable", "checked"} & set(opened["states"]), opened
        updater.kill()
