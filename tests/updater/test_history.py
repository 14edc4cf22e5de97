"""Past durations (``sdw_updater/history.py``): estimates only, so no damage may ever fail a run."""

from __future__ import annotations

import json
from pathlib import Path


def test_history_estimates_ignore_any_damage(tmp_path: Path) -> None:
    """Each value a hostile file can hold means "no estimate" (a run on a damaged file:
    tests/e2e/test_hostile_input.py)."""
    from sdw_updater.history import History
    from sdw_updater.steps import STEPS, Step

    (tmp_path / "sdw-run-history.json").write_text(
        json.dumps({"runs": [{"templates": "x", "total": -1, "dom0_update": True}, 7, None]})
    )
    history = History(tmp_path)
    assert history.estimate(Step.TEMPLATES) == STEPS[Step.TEMPLATES].expected
    assert history.estimate(Step.DOM0_UPDATE) == STEPS[Step.DOM0_UPDATE].expected
