"""Logging (``sdw_updater/logs.py``): the fast path's plain log, and the line cleaner.

The plain log appends, hands over to rotation near its limit and never
follows a planted symlink.  Every line a tool or VM prints goes through
``clean_line`` before the logs or the window show it: no terminal control,
no invisible or line-breaking character survives, ordinary text does.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sdw_updater.logs import MAX_LINE, clean_line


def test_plain_log_appends_and_hands_over_to_rotation_near_the_limit(tmp_path: Path) -> None:
    """A launch appends a few lines; near the rotation size the rotating handler takes over."""
    import logging

    from sdw_updater import logs

    log_dir = tmp_path / "logs"
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("first launch")
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("second launch")
    text = (log_dir / "updater.log").read_text()
    assert "first launch" in text and "second launch" in text
    assert not (log_dir / "updater-detail.log").exists()

    (log_dir / "updater.log").write_text("x" * logs.MAIN_LOG_BYTES)
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("after the limit")
    assert (log_dir / "updater.log.1").stat().st_size == logs.MAIN_LOG_BYTES
    assert "after the limit" in (log_dir / "updater.log").read_text()
    logs.configure(log_dir)  # leave the tree as the other tests expect it


def test_plain_log_refuses_a_planted_symlink(tmp_path: Path) -> None:
    """The plain handler opens its file as the rotating one does: never through a symlink."""
    import logging

    from sdw_updater import logs

    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("")
    (log_dir / "updater.log").symlink_to(target)
    logs.configure_plain(log_dir)
    logging.getLogger("sdw.launcher").info("must not reach the target")
    assert target.read_text() == ""
    logs.configure(tmp_path / "other-logs")


TRUNCATED = " [line truncated]"
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@given(
    st.one_of(
        st.binary(max_size=600),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(
            st.sampled_from(
                [b"\x1b[31m", b"\x1b]0;title\x07", b"\x1b]8;;http://x\x1b\\", b"\xc2\x9b31m",
                 b"\x9b", b"\x07", b"\r", b"ok", b"\xe2\x80\xae", b"\x1bc", b"\x00"]
            ),
            max_size=40,
        ).map(b"".join),
    ),
    st.integers(1, 300),
)  # fmt: skip
def test_clean_line_leaves_no_terminal_controls(raw: bytes, limit: int) -> None:
    """Log and screen text has no C0 or C1 control (ESC, CSI, BEL, CR...) except TAB."""
    text = clean_line(raw, limit)
    assert not _CONTROLS.search(text), repr(text)
    assert len(text) <= limit + len(TRUNCATED)


def test_clean_line_drops_every_invisible_and_line_breaking_character() -> None:
    """U+2028/U+2029, bidi controls and zero-width characters cannot survive.

    Otherwise a VM's line could start a new line in the details pane and forge a step
    header, or reorder what an admin reads in the log.
    """
    import unicodedata

    hidden = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp")
    ]
    forged = "ok\u2028Installing system (dom0) updates\u2029\u202edone\u200b"
    assert clean_line(forged.encode()) == "okInstalling system (dom0) updatesdone"
    text = clean_line("".join(hidden).encode(), limit=10 * len(hidden))
    assert text == "", [hex(ord(c)) for c in text]


def test_clean_line_keeps_ordinary_text() -> None:
    assert clean_line(b"Get:1 https://deb.debian.org \xc3\xa9t\xc3\xa9\tok") == (
        "Get:1 https://deb.debian.org été\tok"
    )
    assert clean_line(b"\x1b[1;31mred\x1b[0m") == "red"
    assert len(clean_line(b"x" * (3 * MAX_LINE))) == MAX_LINE + len(TRUNCATED)
