"""Colours of the window and the reminder, and the contrast they must keep.

Every colour a text is drawn in, and every colour it is drawn on, is named
here; ``qtapp`` turns them into the application's palette and the window's
style sheets use them by name.  ``TEXT_PAIRS`` lists each text colour with
its background so a test can prove WCAG's 4.5:1 minimum for every one.
No Qt here: the arithmetic is tested on its own.
"""

from __future__ import annotations

MIN_CONTRAST = 4.5

WINDOW = "#f2f2f2"  # window background
TEXT = "#1c1c1c"  # ordinary text on the window and in boxes
BASE = "#ffffff"  # background of text boxes
MUTED = "#4d4d4d"  # secondary text (hints, time left)
BUTTON = "#e6e6e6"
HIGHLIGHT = "#1d4f91"  # selection, focus frame, progress chunk
HIGHLIGHT_TEXT = "#ffffff"
LINK = "#1d4f91"
ERROR = "#a40000"  # "Failed" and error lines
WARNING = "#7a4b00"  # "No progress for ...", "Taking longer than usual"
NOTICE_BG = "#fff3c4"  # "cannot be closed yet", "brought to the front"
NOTICE_TEXT = "#2b2100"
NOTICE_BORDER = "#8a6d00"
TOOLTIP_BG = "#ffffdc"
PLACEHOLDER = "#595959"

# (what, text colour, background colour) for every text the programs draw.
TEXT_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("window text", TEXT, WINDOW),
    ("box text", TEXT, BASE),
    ("button text", TEXT, BUTTON),
    ("hint and time left", MUTED, WINDOW),
    ("selected text", HIGHLIGHT_TEXT, HIGHLIGHT),
    ("link on window", LINK, WINDOW),
    ("link in box", LINK, BASE),
    ("error on window", ERROR, WINDOW),
    ("warning on window", WARNING, WINDOW),
    ("notice", NOTICE_TEXT, NOTICE_BG),
    ("tooltip", TEXT, TOOLTIP_BG),
    ("placeholder", PLACEHOLDER, BASE),
)

NOTICE_STYLE = (
    f"QLabel {{ background: {NOTICE_BG}; color: {NOTICE_TEXT}; border: 1px solid {NOTICE_BORDER};"
    " border-radius: 4px; padding: 6px; font-weight: bold; }"
)
QUIET_NOTICE_STYLE = f"QLabel {{ color: {TEXT}; padding: 6px 0px; }}"
ERROR_STYLE = f"QLabel {{ color: {ERROR}; font-weight: bold; }}"
MUTED_STYLE = f"QLabel {{ color: {MUTED}; }}"
WARNING_STYLE = f"QLabel {{ color: {WARNING}; font-weight: bold; }}"
# Read-only boxes and the disclosure buttons show where the keyboard is.
FOCUS_STYLE = (
    f"QPlainTextEdit {{ border: 1px solid {MUTED}; background: {BASE}; color: {TEXT}; }}"
    f" QPlainTextEdit:focus {{ border: 2px solid {HIGHLIGHT}; }}"
)
DISCLOSURE_STYLE = (
    "QPushButton { border: 2px solid transparent; padding: 2px 4px; text-align: left;"
    f" color: {TEXT}; background: transparent; }}"
    f" QPushButton:focus {{ border: 2px solid {HIGHLIGHT}; border-radius: 3px; }}"
    f" QPushButton:hover {{ color: {HIGHLIGHT}; }}"
)


def _channel(value: int) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    red, green, blue = (int(text[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    a, b = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)
