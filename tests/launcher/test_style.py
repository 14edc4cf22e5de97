"""The window's colours (``launcher/style.py``): every text colour has at least 4.5:1 contrast."""

from __future__ import annotations

import pytest

from launcher import style


@pytest.mark.parametrize(("what", "text", "background"), style.TEXT_PAIRS)
def test_every_text_colour_has_4_5_to_1_contrast(what: str, text: str, background: str) -> None:
    assert style.contrast(text, background) >= style.MIN_CONTRAST, what


def test_contrast_arithmetic() -> None:
    assert style.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert style.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    with pytest.raises(ValueError):
        style.luminance("blue")
