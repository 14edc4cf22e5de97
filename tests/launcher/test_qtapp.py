"""The one QApplication (``launcher/qtapp.py``): its palette, and its icon.

Every pair of text and background colours the application's palette gives
keeps at least 4.5:1 contrast, active or not.
"""

from __future__ import annotations

from typing import Any

from launcher import qtapp, style
from launcher.qt import QPalette


def test_the_application_uses_these_colours(qapp: Any) -> None:
    app = qtapp.application()
    assert app is qapp
    palette = app.palette()
    pairs = [
        (QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
        (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
        (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
        (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight),
        (QPalette.ColorRole.ToolTipText, QPalette.ColorRole.ToolTipBase),
        (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.Base),
        (QPalette.ColorRole.Link, QPalette.ColorRole.Base),
    ]
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for text, background in pairs:
            ratio = style.contrast(
                palette.color(group, text).name(), palette.color(group, background).name()
            )
            assert ratio >= style.MIN_CONTRAST, (group, text, background)
    assert not app.windowIcon().isNull()
