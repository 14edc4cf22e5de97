"""The engine in-process on the simulated workstation, as the window runs it, with a movable clock.

``workstation`` sets up the simulator of a HOME and gives the host seam
(``QubesHost``) and the state store the engine would use there; ``attempt``
is one run, as the window starts it (a retry: its "Try again"); ``Clock``
is dom0's wall clock, which a test moves instead of sleeping.
"""

from __future__ import annotations

import time
from pathlib import Path

from sdw_sim import setup
from sdw_updater import events as ev
from sdw_updater.lastrun import Retry
from sdw_updater.plan import Runner
from sdw_updater.qubes import QubesHost
from sdw_updater.result import RunResult
from sdw_updater.status import StatusStore


class Clock:
    """dom0's wall clock through the host seam, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def workstation(home: Path, scenario: str, clock: Clock) -> tuple[QubesHost, StatusStore]:
    """The simulated workstation of ``home``, seen by the engine with ``clock``."""
    directory = home / ".securedrop_updater"
    path = home / "scenario.toml"
    path.write_text(scenario)
    env = setup(path, directory)
    host = QubesHost(
        root=env.root,
        bin_dirs=[env.bin_dir],
        app_factory=lambda: env.app,
        timeout_scale=env.timeout_scale,
        clock=clock,
    )
    return host, StatusStore(directory)


def attempt(
    host: QubesHost,
    store: StatusStore,
    retry: Retry | None,
    listener: ev.Listener = ev.null_listener,
) -> RunResult:
    """One run of the engine, as the window starts it (a retry: its "Try again")."""
    from sdw_updater.trust.checks import checks_for

    return Runner(host, store, listener, trust=checks_for(host), retry=retry).run()
