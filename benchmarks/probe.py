"""Run ``sdw-updater`` or ``sdw-notify`` in this process, timing what is not ours.

``python -m benchmarks.probe REPORT.json updater|notify ARGS...`` does what
the console script does (import the entry point, call ``main(ARGS)``), with
three measurements added and nothing else changed:

* time spent inside ``Host.run``: the dom0 tools, here the simulator's
  processes (start to exit, including reading their output);
* time spent importing ``sdw_sim`` and in ``sim.setup``: preparing
  the simulated dom0, which has no counterpart in dom0;
* time spent in ``Host.vms`` and ``Host.power_state``: the simulator's
  in-process stand-in for ``qubesadmin`` (reported, not subtracted);
* whether PyQt5 or PyQt6 was imported, and the process's own peak RSS.

The benchmark subtracts the first two from the wall time it measures from
outside (process start to exit), which leaves our own work: interpreter
start, imports, reading the state, deciding, orchestrating.
"""

from __future__ import annotations

import json
import resource
import sys
import time

_BEGAN = time.perf_counter()


def main(argv: list[str]) -> int:
    report_path, program, *args = argv
    imported = time.perf_counter()
    from sdw_updater import qubes as host_module

    host_imported = time.perf_counter()
    import sdw_sim as sim_module

    sim_imported = time.perf_counter()
    spent = {"tools": 0.0, "calls": 0, "sim_setup": 0.0, "qubesadmin": 0.0}
    original_run = host_module.QubesHost.run
    original_setup = sim_module.setup
    original_vms = host_module.QubesHost.vms
    original_power = host_module.QubesHost.power_state

    def timed_run(self, *a, **k):
        began = time.perf_counter()
        try:
            return original_run(self, *a, **k)
        finally:
            spent["tools"] += time.perf_counter() - began
            spent["calls"] += 1

    def timed_setup(*a, **k):
        began = time.perf_counter()
        try:
            return original_setup(*a, **k)
        finally:
            spent["sim_setup"] += time.perf_counter() - began

    def timed_admin(original):
        def wrapper(*a, **k):
            began = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                spent["qubesadmin"] += time.perf_counter() - began

        return wrapper

    host_module.QubesHost.run = timed_run  # type: ignore[method-assign]
    host_module.QubesHost.vms = timed_admin(original_vms)  # type: ignore[method-assign]
    host_module.QubesHost.power_state = timed_admin(original_power)  # type: ignore[method-assign]
    sim_module.setup = timed_setup
    entry_began = time.perf_counter()
    if program == "updater":
        from launcher.entry import main as entry
    else:
        from sdw_notify.entry import main as entry
    entry_imported = time.perf_counter()
    code = entry(args)
    ended = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "exit": code,
        "in_process": ended - _BEGAN,
        "probe_import": imported - _BEGAN,
        "host_import": host_imported - imported,
        "sim_import": sim_imported - host_imported,
        "qubesadmin": spent["qubesadmin"],
        "entry_import": entry_imported - entry_began,
        "tools": spent["tools"],
        "tool_calls": spent["calls"],
        "sim_setup": spent["sim_setup"],
        "qt_loaded": any(name.split(".")[0] in ("PyQt5", "PyQt6") for name in sys.modules),
        "maxrss_kb": usage.ru_maxrss,
        "children_maxrss_kb": children.ru_maxrss,
    }
    with open(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
