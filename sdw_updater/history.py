"""Durations of this workstation's previous runs, for time estimates.

Kept in ``sdw-run-history.json`` (an extension of the state directory; the
existing updater ignores it).  Only estimates come from here, never a
decision, so a damaged file just falls back to defaults.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from sdw_updater.contract import HISTORY_FILE
from sdw_updater.status import atomic_write, read_bounded

KEEP_RUNS = 10

# Seconds each step usually takes on a real workstation (before any history).
DEFAULT_DURATIONS: dict[str, float] = {
    "netcheck": 5,
    "trust": 5,
    "dom0_check": 30,
    "dom0_update": 300,
    "dom0_state": 420,
    "migration": 1200,
    "templates": 900,
    "restart": 60,
}


class History:
    """Per-step durations of the last few runs."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / HISTORY_FILE

    def load(self) -> list[dict[str, float]]:
        raw = read_bounded(self.path, 256 * 1024)
        if not raw:
            return []
        try:
            data = json.loads(raw)
        except ValueError:
            return []
        runs = data.get("runs") if isinstance(data, dict) else None
        if not isinstance(runs, list):
            return []
        clean: list[dict[str, float]] = []
        for run in runs[-KEEP_RUNS:]:
            if isinstance(run, dict):
                clean.append(
                    {
                        str(k): float(v)
                        for k, v in run.items()
                        if isinstance(v, int | float) and 0 <= v < 86400
                    }
                )
        return clean

    def estimate(self, step: str) -> float:
        """Median of recorded durations of ``step``, else the default."""
        values = [run[step] for run in self.load() if step in run]
        if values:
            return float(statistics.median(values))
        return DEFAULT_DURATIONS.get(step, 60.0)

    def estimate_total(self, steps: list[str] | None = None) -> float:
        """Expected seconds for a whole run (typical steps of a forced update)."""
        names = steps or [
            "netcheck",
            "trust",
            "dom0_check",
            "dom0_update",
            "dom0_state",
            "templates",
            "restart",
        ]
        runs = [run.get("total") for run in self.load() if "total" in run]
        if runs and steps is None:
            return float(statistics.median(v for v in runs if v is not None))
        return sum(self.estimate(step) for step in names)

    def record(self, durations: dict[str, float]) -> None:
        """Append one run; failures to write are harmless and ignored."""
        runs = self.load()
        runs.append(durations)
        try:
            atomic_write(self.path, json.dumps({"runs": runs[-KEEP_RUNS:]}).encode())
        except OSError:
            pass
