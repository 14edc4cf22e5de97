"""The text behind "Copy details" (``sdw_updater/diagnostics.py``): what an admin needs, nothing secret.

The text names the run, its steps, each template's result and last lines,
the help and the logs, and says what it leaves out; keys are named by their
8-digit short id at most, user ids and e-mail addresses never.  End to end
(``--cli`` prints it after a failure): tests/e2e/test_summary.py.
"""

from __future__ import annotations

from helpers.summary import sample

from sdw_updater import diagnostics


def test_diagnostics_hold_what_an_admin_needs_and_say_what_they_leave_out() -> None:
    facts = diagnostics.Facts(True, "my.toml", "4.3", ("~/.securedrop_updater/logs/updater.log",))
    text = diagnostics.text(sample(), facts)
    for expected in (
        "Version: sdw-updater 9.9",
        "simulated (my.toml)",
        "dom0 Qubes release: 4.3",
        "templates: failed",
        "b: FAILED",
        "E: boom",
        "c: STALLED",
        "extra templates",
        "Did not start again: sd-log",
        "~/.securedrop_updater/logs/updater.log",
        "Not included:",
    ):
        assert expected in text, expected
    assert "BEGIN PGP" not in text


def test_paths_under_home_are_shown_with_a_tilde() -> None:
    assert diagnostics.display_path("/home/jo/.x/y", "/home/jo") == "~/.x/y"
    assert diagnostics.display_path("/home/joe/.x", "/home/jo") == "/home/joe/.x"


def test_scrub_keeps_short_ids_and_ordinary_text() -> None:
    line = (
        'an unknown key 12F2D3519157B0929643ECBDA7F4D7BAEDC2EE96 ("Newsroom Key '
        '<security@newsroom.example>"), instead of (2359E6538C0613E652955E6C188EDD3B7B22E6A3)'
    )
    assert diagnostics.scrub(line) == (
        "an unknown key EDC2EE96 (user id left out), instead of (7B22E6A3)"
    )
    spaced = "Key fingerprint = 2359 E653 8C06 13E6 5295  5E6C 188E DD3B 7B22 E6A3"
    assert diagnostics.scrub(spaced) == "Key fingerprint = 7B22E6A3"
    assert diagnostics.scrub("mail jo@newsroom.example, now") == (
        "mail (e-mail address left out), now"
    )
    plain = "Get:2 https://deb.debian.org/debian trixie InRelease [48.0 kB] 4.3.21 2026-12-06"
    assert diagnostics.scrub(plain) == plain
