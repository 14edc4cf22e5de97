"""Durations of this workstation's previous runs, for time estimates.

Kept in ``sdw-run-history.json`` (an extension of the state directory; the
existing updater ignores it).  Only estimates come from here, never a
decision, so anything wrong with the file (missing, damaged, hostile, nested
ten thousand deep) just means "no history": the step table's defaults.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from pathlib import Path

from sdw_updater.contract import HISTORY_FILE
from sdw_updater.status import atomic_write, read_bounded
from sdw_updater.steps import STEPS, TYPICAL_RUN, Step

log = logging.getLogger("sdw.history")

KEEP_RUNS = 10
MAX_BYTES = 256 * 1024


class History:
    """Per-step durations of the last few runs (read once, then kept)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / HISTORY_FILE
        self._runs: list[dict[str, float]] | None = None

    def load(self) -> list[dict[str, float]]:
        if self._runs is None:
            self._runs = self._read()
        return self._runs

    def _read(self) -> list[dict[str, float]]:
        raw = read_bounded(self.path, MAX_BYTES)
        if not raw or len(raw) > MAX_BYTES:
            return []
        try:
            data = json.loads(raw)
            runs = data.get("runs") if isinstance(data, dict) else None
            if not isinstance(runs, list):
                return []
            clean: list[dict[str, float]] = []
            for run in runs[-KEEP_RUNS:]:
                if isinstance(run, dict):
                    clean.append(
                        {
                            str(k)[:64]: float(v)
                            for k, v in run.items()
                            if isinstance(v, int | float)
                            and not isinstance(v, bool)
                            and math.isfinite(v)
                            and 0 <= v < 86400
                        }
                    )
            return clean
        except Exception as exc:  # estimates only: any doubt is "no data"
            log.warning("Ignoring %s (%s)", self.path, type(exc).__name__)
            return []

    def estimate(self, step: Step | str) -> float:
        """Median of recorded durations of ``step``, else the step table's default."""
        name = str(step)
        values = [run[name] for run in self.load() if name in run]
        if values:
            return float(statistics.median(values))
        try:
            return STEPS[Step(name)].expected
        except ValueError:
            return 60.0

    def estimate_total(self) -> float:
        """Expected seconds for a whole run: past totals, else the typical steps."""
        totals = [run["total"] for run in self.load() if "total" in run]
        if totals:
            return float(statistics.median(totals))
        return sum(self.estimate(step) for step in TYPICAL_RUN)

    def record(self, durations: dict[str, float]) -> None:
        """Append one run; failures to write are harmless and ignored."""
        runs = [*self.load(), durations][-KEEP_RUNS:]
        self._runs = runs
        try:
            atomic_write(self.path, json.dumps({"runs": runs}).encode())
        except OSError as exc:
            log.warning("Could not record the run's durations: %s", exc)
