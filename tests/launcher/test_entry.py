"""``sdw-updater``'s entry (``launcher/entry.py``): the window when updates are due, and its arguments.

``main`` in this process opens the window, which a driver clicks through to
Continue; the icon's bare ``sdw-updater`` skips argparse and means exactly
what argparse would.  The console script as a user starts it:
tests/e2e/test_cli.py and tests/e2e/test_fast_path.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import INSTANT, read_journal
from helpers import client_started as journal_client_started

from launcher.flow import Button, Screen
from launcher.qt import QApplication, QTimer
from launcher.wizard import Wizard

NO_DOM0 = INSTANT + "[dom0]\nupdates = false\n"


def client_started(home: Path) -> bool:
    return journal_client_started(read_journal(home))


def test_sdw_updater_opens_the_wizard_when_updates_are_due(qtbot: Any, home: Path) -> None:
    from launcher.entry import main

    path = home / "scenario.toml"
    path.write_text(NO_DOM0)

    ended_on: list[str] = []

    def drive() -> None:
        wizards = [w for w in QApplication.topLevelWidgets() if isinstance(w, Wizard)]
        wizard = next(w for w in wizards if w.isVisible())
        if wizard.page == "intro":
            wizard.intro.start_button.click()
        elif wizard.page == "complete" and wizard.busy is None:
            wizard.outcomes[Screen("complete")].buttons[Button("continue")].click()
            return
        elif wizard.page != "progress" and wizard.busy is None:
            technical = wizard.outcomes[Screen(wizard.page)].technical.toPlainText()
            ended_on.append(f"{wizard.page}: {technical}")
            wizard.close()  # any other outcome: nobody would ever press Continue
            return
        QTimer.singleShot(20, drive)

    QTimer.singleShot(20, drive)
    code = main(["--skip-delta", "0", "--simulate", str(path)])
    assert not ended_on, f"the window ended on {ended_on[0]}"
    assert code == 0
    assert client_started(home)


def test_no_arguments_mean_what_argparse_says() -> None:
    """The icon's ``sdw-updater`` (no argument) skips argparse: same defaults, same meaning."""
    from launcher import entry

    assert vars(entry.build_parser().parse_args([])) == entry.parse_arguments([])._asdict()
    assert vars(entry.parse_arguments(["--cli"]))["cli"] is True  # anything else: argparse
