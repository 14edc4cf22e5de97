"""The box tier's fixtures: one ``box`` marker, and skip (or, in CI, fail) without the archives.

Every test here runs the real Qubes client tools (pinned archives, installed
by ``make box-deps`` into ``.box/<version>``) in a private mount namespace,
which needs root and ``unshare``.  Without the archives the tier is skipped
with one line saying how to get them; under CI (``CI=1``, exported by
``.ci/run``) that is a failure instead: CI has the archives and must run the
tier.  Anything else missing (``unshare``, root) is a failure everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from .dom0 import VERSIONS, Box, cannot_run, missing_reason, not_installed

HERE = Path(__file__).resolve().parent
# One version runs everything; the other two the lighter checks (docs/simulator.md).
THOROUGH = "4.3.34"
REASON = missing_reason()
# Without the box, only test_box_enabled.py reports it (one line: skipped, or failed
# under CI) and the protocol tests run; the rest is not collected.
collect_ignore_glob = ["test_box_[!e]*.py"] if REASON is not None else []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "box: the box tier (real qubesadmin, qvm-* and qubes-vm-update; root)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.box)


@pytest.fixture(scope="session")
def box_ready() -> None:
    """The box can run here; else skip (one reason for all), or fail under CI."""
    if REASON is None:
        return
    absent = not_installed()
    if absent is not None and os.environ.get("CI", "") in ("", "0"):
        pytest.skip(absent)
    pytest.fail(f"CI must run the box tier: {absent}" if absent else str(cannot_run()))


@pytest.fixture
def make_box(box_ready: None, tmp_path: Path) -> Callable[..., Box]:
    """``make_box(version, scenario_toml)``: a fresh simulated workstation and its dom0."""
    count = [0]

    def make(version: str = THOROUGH, scenario: str | None = None) -> Box:
        count[0] += 1
        return Box(tmp_path / f"box{count[0]}", version, scenario)

    return make


__all__ = ["THOROUGH", "VERSIONS"]
