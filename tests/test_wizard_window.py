"""The window's newer duties, in-process (pytest-qt, offscreen): the owed restart,
the notifier's hand-over, another updater, the administrator's section, key
expiry, accessibility and contrast.  The same behaviours are also checked on
a real X server by tests/window/.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import wizard as wizardkit

INSTANT = "[sim]\ntime_scale = 0.0\n"


make_wizard = pytest.fixture(wizardkit.make_wizard)


# ----- accessibility ------------------------------------------------------------------


def test_key_expiry_is_always_in_status(home: Path) -> None:
    from helpers import run_updater

    result = run_updater(home, "--status", scenario=INSTANT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # The simulator plays the real release key: it expires 2027-05-24 13:19:23 UTC.
    expected = (1811164763 - time.time()) // 86400
    assert abs(report["key_expires_in_days"] - expected) <= 1
