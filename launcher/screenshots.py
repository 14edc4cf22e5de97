"""Render every screen of the wizard, offscreen, against the simulated Qubes.

``python -m launcher.screenshots docs/screenshots [--scale 2]`` (``make
screenshots``) writes one PNG per screen.  Each screen comes from a real run
of the engine against its own simulated workstation (a temporary HOME,
runtime directory and scenario file), driven the way a person would: click
Start, wait, click Continue.  So the pictures show what the code does today,
not a mock-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launcher.wizard import Wizard
    from sdw_updater.freshness import Decision

HELD_LOCK_TIMEOUT = 120  # seconds the helper holding the updater lock may live

# A run slow enough to be caught in the middle: a few real seconds in all.
SLOW_TEMPLATES = """
[sim]
time_scale = 0.01
[dom0]
updates = false
check_duration = 20
highstate_duration = 60
[templates."fedora-40-xfce"]
duration = 120
[templates."whonix-gateway-17"]
duration = 500
[templates."sd-small-bookworm-template"]
duration = 300
[templates."sd-large-bookworm-template"]
duration = 600
"""

INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = INSTANT + "[dom0]\nupdates = false\n"

SCENARIOS: dict[str, str] = {
    "complete": NO_DOM0,
    "reboot": INSTANT,
    "failed": NO_DOM0 + '[templates."sd-large-bookworm-template"]\nresult = "error"\n',
    "network": INSTANT + '[network]\nconnectivity = "none"\n',
    "locked": INSTANT,
    "dist-upgrade": '[sim]\ntime_scale = 0.0\nqubes_release = "4.3"\n',
    "trust-failed": INSTANT + '[trust]\ndom0_key = "rogue"\n',
    "client-failed": NO_DOM0 + "[client]\nstart_exit = 1\n",
}


def hold_updater_lock(state_directory: Path) -> subprocess.Popen[str]:
    """Another process holding the updater lock (lockf locks are per process).

    The helper prints one line once it holds the lock and lets go when its
    stdin closes (or after HELD_LOCK_TIMEOUT seconds, whatever happens).
    """
    code = (
        "import sys, select\n"
        "from pathlib import Path\n"
        "from sdw_updater.contract import UPDATER_LOCK\nfrom sdw_updater.lock import Lock, lock_dir\n"
        "lock = Lock(lock_dir(Path(sys.argv[1])) / UPDATER_LOCK)\n"
        "print('held' if lock.acquire() else 'busy', flush=True)\n"
        f"select.select([sys.stdin], [], [], {HELD_LOCK_TIMEOUT})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(state_directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "held":
        release_lock(proc)
        raise RuntimeError(f"could not take the updater lock for the screenshot ({line!r})")
    return proc


def release_lock(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def simulated_home(scenario: str) -> Iterator[Path]:
    """A temporary HOME and runtime directory with a scenario file in it."""
    saved = {key: os.environ.get(key) for key in ("HOME", "XDG_RUNTIME_DIR")}
    with tempfile.TemporaryDirectory(prefix="sdw-screens-") as tmp:
        home = Path(tmp) / "home"
        runtime = Path(tmp) / "run"
        home.mkdir()
        runtime.mkdir(mode=0o700)
        (home / "scenario.toml").write_text(scenario)
        os.environ["HOME"] = str(home)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        try:
            yield home
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def render_all(outdir: Path) -> list[Path]:
    """Drive one wizard per screen and save what it shows; return the files written."""
    from PyQt5.QtCore import QEventLoop

    from launcher.flow import Button, Screen
    from launcher.qtapp import application as ensure_app
    from launcher.wizard import Wizard
    from sdw_updater import logs
    from sdw_updater.context import open_context
    from sdw_updater.freshness import Action, Decision

    app = ensure_app()
    written: list[Path] = []

    def pump_until(done: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the simulated run took too long")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)

    def save(wizard: Wizard, name: str) -> None:
        app.processEvents()
        path = outdir / f"{name}.png"
        if not wizard.grab().save(str(path)):
            raise RuntimeError(f"could not write {path}")
        written.append(path)

    @contextmanager
    def wizard_for(scenario: str, decision: Decision | None = None) -> Iterator[Wizard]:
        with simulated_home(scenario) as home:
            ctx = open_context(True, str(home / "scenario.toml"), home=home)
            logs.configure(ctx.log_dir)
            wizard = Wizard(ctx, decision or Decision(Action.RUN_UPDATER, "screenshots"))
            wizard.show()
            app.processEvents()
            try:
                yield wizard
            finally:
                pump_until(lambda: wizard.busy is None)
                wizard.close()
                wizard.deleteLater()
                app.processEvents()

    def run_to_end(wizard: Wizard) -> None:
        wizard.intro.start_button.click()
        pump_until(lambda: wizard.busy is None)

    with wizard_for(INSTANT) as wizard:
        save(wizard, "intro")

    with wizard_for(SLOW_TEMPLATES) as wizard:
        wizard.intro.start_button.click()

        def mid_run() -> bool:
            rows = wizard.progress.rows.values()
            finished = any(row.state == "done" for row in rows)
            running = any(row.state == "updating" and row.percent >= 25 for row in rows)
            return (finished and running) or wizard.busy is None

        pump_until(mid_run)
        if wizard.busy is None:
            raise RuntimeError("the run ended before a template was half way")
        pump_until(lambda: wizard.progress.bar.value() >= wizard.progress.smooth.target * 10 - 1)
        save(wizard, "progress")
        wizard.progress.details_button.click()
        pump_until(lambda: wizard.progress.details.blockCount() > 5)
        save(wizard, "details")
        wizard.progress.details_button.click()
        wizard.close()  # refused: the run is still going
        save(wizard, "close-refused")

    decision = Decision(Action.REBOOT_PENDING, "screenshots", previous_failed=True)
    with wizard_for(INSTANT, decision) as wizard:
        save(wizard, "reboot-pending")

    for name, scenario in SCENARIOS.items():
        with wizard_for(scenario) as wizard:
            if name == "locked":
                holder = hold_updater_lock(wizard.ctx.store.directory)
                try:
                    run_to_end(wizard)
                finally:
                    release_lock(holder)
            else:
                run_to_end(wizard)
            if name == "client-failed":
                wizard.outcomes[Screen.COMPLETE].buttons[Button.CONTINUE].click()
                pump_until(lambda: wizard.busy is None)
            save(wizard, name)
    written.extend(render_notifier(outdir))
    return written


def render_notifier(outdir: Path) -> list[Path]:
    """The notifier's reminder, with the SecureDrop app closed and open."""
    from PyQt5.QtWidgets import QApplication

    from sdw_notify.decision import Decision as NotifyDecision
    from sdw_notify.dialog import NotifyDialog

    written = []
    overdue = NotifyDecision(True, "overdue", "last update 6 days ago", age=6 * 86400 + 60)
    for name, app_open in (("notify", False), ("notify-app-open", True)):
        dialog = NotifyDialog(overdue, sd_app_running=app_open)
        dialog.show()
        QApplication.processEvents()
        path = outdir / f"{name}.png"
        if not dialog.grab().save(str(path)):
            raise RuntimeError(f"could not write {path}")
        dialog.done(0)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render every wizard screen to PNG files.")
    parser.add_argument("outdir", type=Path, help="where to write the PNG files")
    parser.add_argument("--scale", type=float, default=None, help="QT_SCALE_FACTOR (e.g. 2)")
    args = parser.parse_args(argv)
    # Set before Qt starts: no window ever appears, and the scale factor applies.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.scale is not None:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    args.outdir.mkdir(parents=True, exist_ok=True)
    for path in render_all(args.outdir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
