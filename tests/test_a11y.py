"""Disclosure buttons' states as Qt reports them to a screen reader (in-process).

``a11y.disclosure_states`` asks Qt's accessible interface of a widget for
its state through the interface's own virtual table, as Qt's AT-SPI bridge
does; the screen-reader tier (``tests/window/test_screen_reader.py``) reads
the same states over AT-SPI from the installed program.
"""

from __future__ import annotations

from typing import Any

import pytest
from PyQt5.QtWidgets import QPushButton

from launcher import a11y
from launcher.widgets import Disclosure


def test_a_disclosure_button_reports_expandable_and_collapsed_then_expanded(qtbot: Any) -> None:
    button = Disclosure("Show details", "Hide details")
    qtbot.addWidget(button)
    assert button.states_reported
    assert a11y.disclosure_states(button) == {"expandable", "collapsed"}
    assert button.accessibleDescription() == ""  # the states say it; not read twice
    button.click()
    assert a11y.disclosure_states(button) == {"expandable", "expanded"}
    assert button.accessibleName() == "Hide details"
    button.click()
    assert a11y.disclosure_states(button) == {"expandable", "collapsed"}


def test_other_buttons_are_not_expandable(qtbot: Any) -> None:
    """Qt's button interfaces share one table: only the disclosure's interface uses the copy."""
    disclosure = Disclosure("Show details", "Hide details")
    plain = QPushButton("Start updates")
    qtbot.addWidget(disclosure)
    qtbot.addWidget(plain)
    assert a11y.disclosure_states(disclosure) == {"expandable", "collapsed"}
    assert a11y.disclosure_states(plain) == set()


def test_two_disclosures_share_one_copy_and_keep_their_own_state(qtbot: Any) -> None:
    first = Disclosure("Show details", "Hide details")
    second = Disclosure("Show more", "Show less")
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    second.click()
    assert a11y.disclosure_states(first) == {"expandable", "collapsed"}
    assert a11y.disclosure_states(second) == {"expandable", "expanded"}
    assert len(a11y._disclosure["symbols"]["copies"]) == 1


def test_on_a_qt_build_without_the_symbols_the_description_says_the_state(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another Qt build (no symbols found): nothing is patched, the description speaks."""
    monkeypatch.setitem(a11y._disclosure, "symbols", None)
    button = Disclosure("Show details", "Hide details")
    qtbot.addWidget(button)
    assert not button.states_reported
    assert a11y.disclosure_states(button) == set()
    assert button.accessibleDescription() == "collapsed"
    button.click()
    assert button.accessibleDescription() == "expanded"
