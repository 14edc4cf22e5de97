"""The window built in-process on the simulator, for the pytest-qt tests of the window."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from helpers import INSTANT
from launcher.wizard import Wizard
from sdw_updater.context import open_context
from sdw_updater.freshness import Action, Decision

RUN = Decision(Action.RUN_UPDATER, "test")
WAIT_MS = 30_000

Factory = Callable[..., Wizard]


def make_wizard(qtbot: Any, home: Path) -> Iterator[Factory]:
    """Fixture: build windows on the simulator; at teardown wait for their threads.

    ``tests/launcher/conftest.py`` registers it as the ``make_wizard`` fixture.
    """
    made: list[Wizard] = []

    def factory(
        scenario: str = INSTANT,
        decision: Decision = RUN,
        skip_netcheck: bool = False,
        trust: object | None = None,
        **options: Any,
    ) -> Wizard:
        path = home / "scenario.toml"
        path.write_text(scenario)
        ctx = open_context(True, str(path), home=home)
        if trust is not None:
            setattr(ctx, "make_trust", lambda: trust)  # noqa: B010
        wizard = Wizard(ctx, decision, skip_netcheck, **options)
        qtbot.addWidget(wizard)
        wizard.show()
        made.append(wizard)
        return wizard

    yield factory
    for wizard in made:
        qtbot.waitUntil(lambda w=wizard: w.busy is None, timeout=WAIT_MS)
        for worker in (wizard.run_worker, wizard.call_worker):
            if worker is not None:
                worker.wait(10_000)
