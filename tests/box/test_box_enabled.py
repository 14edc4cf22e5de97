"""Is the box tier running here?  One line when it cannot: skipped, or under CI, failed."""

from __future__ import annotations

from .dom0 import VERSIONS, installed


def test_box_tier_is_enabled(box_ready: None) -> None:
    assert all(installed(version) for version in VERSIONS)
