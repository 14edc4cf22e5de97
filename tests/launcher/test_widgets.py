"""What a screen reader learns from the window's own widgets (``launcher/widgets.py``).

Qt builds each widget's accessible interface from the widget: its role from
its class (a checkable button is announced as a check box), its name and
description from ``setAccessibleName``/``setAccessibleDescription``.  These
tests hold the widgets to what that public API can say; the screen-reader
tier (``tests/window/test_screen_reader.py``) reads the same over AT-SPI
from the installed program.
"""

from __future__ import annotations

from typing import Any

from launcher import strings as S
from launcher.widgets import Disclosure, title_label


def test_a_disclosure_button_says_collapsed_then_expanded(qtbot: Any) -> None:
    button = Disclosure(S.tr(S.DETAILS_SHOW), S.tr(S.DETAILS_HIDE))
    qtbot.addWidget(button)
    assert button.accessibleName() == "Show details"
    assert button.accessibleDescription() == "collapsed"
    button.click()
    assert button.expanded
    assert button.accessibleName() == "Hide details"
    assert button.accessibleDescription() == "expanded"
    button.click()
    assert (button.accessibleName(), button.accessibleDescription()) == (
        "Show details",
        "collapsed",
    )


def test_a_disclosure_is_a_push_button_not_a_check_box(qtbot: Any) -> None:
    """A checkable button is announced as a check box: the disclosure never is one."""
    button = Disclosure("Show more", "Show less")
    qtbot.addWidget(button)
    for _ in range(2):
        assert not button.isCheckable()
        assert not button.isChecked()
        button.click()
    assert not button.autoDefault() and not button.isDefault()  # Enter never opens it


def test_a_title_is_named_after_its_text(qtbot: Any) -> None:
    label = title_label("Updating the workstation")
    qtbot.addWidget(label)
    assert label.accessibleName() == label.text() == "Updating the workstation"
