"""An admin's settings (``sdw_updater/settings.py``): defaults, bounds, and doubt keeps the default.

``sdw-updater-settings.json`` is read defensively: a bad value keeps its
default, unknown keys are ignored, each with a line in the log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sdw_updater import settings


def test_settings_default_off_and_fifteen_minutes() -> None:
    assert settings.parse(None) == settings.Settings(False, 15.0)
    assert settings.Settings().stall_seconds == 900


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"update_extras": "yes"}',
        b'{"stall_minutes": 0}',
        b'{"stall_minutes": true}',
        b'{"stall_minutes": 1e400}',
        b'{"stall_minutes": "15"}',
        b'{"key_notice_days": -1}',
        b'{"key_notice_days": 366}',
        b'{"key_notice_days": 7.5}',
        b'{"key_notice_days": false}',
        b"\xff\xfe",
        b'{"update_extras": true' + b" " * 20000 + b"}",
    ],
)
def test_settings_in_doubt_keep_their_defaults(raw: bytes) -> None:
    assert settings.parse(raw) == settings.Settings()


def test_settings_unknown_keys_are_ignored_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING")
    got = settings.parse(b'{"update_extras": true, "stall_minutes": 2.5, "colour": "red"}')
    assert got == settings.Settings(True, 2.5)
    assert "unknown setting 'colour' ignored" in caplog.text


def test_key_notice_days_is_a_setting_from_0_to_365() -> None:
    assert settings.Settings().key_notice_days == 30
    assert settings.parse(b'{"key_notice_days": 0}').key_notice_days == 0
    assert settings.parse(b'{"key_notice_days": 365}').key_notice_days == 365


def test_settings_file_is_read_from_the_state_directory(tmp_path: Path) -> None:
    (tmp_path / "sdw-updater-settings.json").write_text('{"update_extras": true}')
    assert settings.load(tmp_path).update_extras
    assert settings.load(tmp_path / "missing") == settings.Settings()
