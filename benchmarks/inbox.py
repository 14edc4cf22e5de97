"""Inside the box: time commands in alternating rounds (run by ``benchmarks.speed``).

``python benchmarks/inbox.py SPEC.json RESULT.json``, run by ``Box.run`` in the
box's mount namespace, where ``/run/qubesd.sock`` is the simulated qubesd.
SPEC holds the rounds, the commands by name, the simulator's directory and
HOME.  Before every timed command the workstation is put back to where a
click finds it: ``sd-app`` and ``sd-proxy`` halted, no app running, and a
status written a minute ago (the fast path).  Each round runs every
command once, in an order that alternates from round to round, so a busy
moment of the machine weighs on all of them alike.  Standard library and
``sdw_sim`` only (the repository is on ``sys.path``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sdw_sim.state import StateStore, set_power
from sdw_updater.contract import (
    CLIENT_VM,
    DATE_FORMAT,
    PROXY_VM,
    STATE_DIR_NAME,
    STATUS_FILE,
)


def reset(store: StateStore, home: Path) -> None:
    """Halted VMs, no app, a status one minute old: what a click on a fresh workstation finds."""
    with store.locked() as state:
        for name in (CLIENT_VM, PROXY_VM):
            set_power(state, name, "Halted")
        state["apps"] = {}
    stamp = time.strftime(DATE_FORMAT, time.localtime(time.time() - 60))
    status = home / STATE_DIR_NAME / STATUS_FILE
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text(json.dumps({"last_status_update": stamp, "status": "0"}))


def powers(store: StateStore) -> dict[str, str]:
    power = store.read().get("power", {})
    return {name: str(power.get(name)) for name in (CLIENT_VM, PROXY_VM)}


def main(spec_path: str, result_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    store = StateStore(Path(spec["sim_dir"]))
    home = Path(spec["home"])
    commands: dict[str, list[str]] = spec["commands"]
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in names}
    for number in range(spec["rounds"]):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            reset(store, home)
            began = time.perf_counter()
            done = subprocess.run(
                commands[name], capture_output=True, text=True, timeout=120, check=False
            )
            times[name].append(time.perf_counter() - began)
            runs[name].append(
                {
                    "exit": done.returncode,
                    "stdout": done.stdout[-2000:],
                    "stderr": done.stderr[-2000:],
                    "powers": powers(store),
                }
            )
    Path(result_path).write_text(json.dumps({"times": times, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
