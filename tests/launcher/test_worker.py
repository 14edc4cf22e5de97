"""The engine's events on their way to the window (``launcher/worker.py``): ordered, bounded.

The pump keeps the events in order, drops output lines beyond its limit
(never an error) and marks where it dropped them.
"""

from __future__ import annotations

from launcher.worker import EventPump, Skipped
from sdw_updater import events as ev


def test_pump_keeps_order_and_bounds_output() -> None:
    pump = EventPump(limit=3)
    pump.put(ev.StepStarted("templates", "x"))
    for i in range(10):
        pump.put(ev.LogLine(f"out {i}", "output"))
    pump.put(ev.OverallProgress(50))
    pump.put(ev.LogLine("late", "output"))
    pump.put(ev.LogLine("an error", "error"))
    items = pump.drain()
    assert items[0] == ev.StepStarted("templates", "x")
    assert [i.text for i in items if isinstance(i, ev.LogLine) and i.level == "output"] == [
        "out 0",
        "out 1",
        "out 2",
    ]
    assert ev.OverallProgress(50) in items
    assert ev.LogLine("an error", "error") in items  # never dropped
    assert items[-1] == Skipped(8)  # "out 3".."out 9" and "late"
    assert pump.drain() == []
    pump.put(ev.LogLine("again", "output"))
    assert pump.drain() == [ev.LogLine("again", "output")]


def test_pump_marks_the_gap_where_it_happened() -> None:
    pump = EventPump(limit=1)
    pump.put(ev.LogLine("a", "output"))
    pump.put(ev.LogLine("b", "output"))
    assert pump.drain() == [ev.LogLine("a", "output"), Skipped(1)]
