"""Inside the box: one forced run of the engine in its real mode, with its timeouts scaled.

``python engine_run.py SCALE`` runs what ``sdw-updater --cli --skip-delta 0``
runs (the real ``QubesHost``, the real ``qubesadmin``, ``qvm-*`` tools and
``qubes-vm-update`` of the box), with every timeout multiplied by SCALE as
the built-in simulator's ``[sim] timeout_scale`` does: so a test can meet
the stall watchdog or a step's timeout in seconds, not in minutes.  It
prints the run's summary (``lastrun.to_json``) as one JSON line and exits
with the run's exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sdw_updater import lastrun, logs
from sdw_updater.context import open_context
from sdw_updater.plan import Runner


def main() -> int:
    ctx = open_context(simulate=False, scenario=None)
    ctx.host.timeout_scale = float(sys.argv[1])
    logs.configure(ctx.log_dir)
    result = Runner(ctx.host, ctx.store, trust=ctx.make_trust()).run()
    print(json.dumps(lastrun.to_json(lastrun.summarize(result))))
    return int(result.outcome)


if __name__ == "__main__":
    sys.exit(main())
