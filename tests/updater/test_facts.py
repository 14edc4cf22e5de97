"""What dom0 and the VMs say (``sdw_updater/facts.py``), parsed strictly.

sys-net's connectivity is one known word or unknown; a release is a Qubes
release or nothing; an uptime is a plausible number or unknown.  The same
parsers on hostile files, through the host seam: tests/updater/test_qubes.py.
"""

from __future__ import annotations

import pytest

from sdw_updater.facts import parse_connectivity, parse_os_release, parse_release, parse_uptime


@pytest.mark.parametrize(
    ("raw", "word"),
    [(b"full\n", "full"), (b"full", "full"), (b"none\n", "none"), (b"limited\n", "limited")],
)
def test_connectivity(raw: bytes, word: str) -> None:
    assert parse_connectivity(raw) == word


@pytest.mark.parametrize(
    "raw", [b"", b"FULL\n", b"full\nfull\n", b" full", b"fullx", b"full" * 100]
)
def test_connectivity_rejects(raw: bytes) -> None:
    assert parse_connectivity(raw) is None


def test_release_parsing() -> None:
    assert parse_release("4.2") == "4.2"
    assert parse_release("4.2.3 (R4.2)") == "4.2"
    assert parse_release("") is None
    assert parse_release("R") is None
    assert parse_os_release(b'NAME=Qubes\nVERSION_ID="4.2.3"\n') == "4.2"
    assert parse_os_release(b"NAME=Ubuntu\nVERSION_ID=24.04\n") is None
    assert parse_os_release(b"\xff") is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"7200.5 100.0\n", 7200.5), (b"", None), (b"abc", None), (b"-5 1", None), (b"nan 1", None)],
)
def test_uptime(raw: bytes, value: float | None) -> None:
    assert parse_uptime(raw) == value
