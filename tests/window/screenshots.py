"""Take the README's screenshots from a real X server, as a journalist would meet each screen.

``make screenshots`` runs ``python tests/window/screenshots.py docs/screenshots``:
for each screen it starts the installed ``sdw-updater`` or ``sdw-notify`` on
its own Xvfb (1366x768, a common Qubes laptop) against its own simulated
workstation, types what a person would type to get there, and saves the
window as the X server shows it (``import -window``).  The same screens at
``QT_SCALE_FACTOR=2`` on a 1920x1080 screen go to ``OUTDIR/scale2/``.

Unlike the tests, this waits a moment here and there (so a run is caught
half way); nothing is asserted from those waits.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from xsession import NOTIFIER_TITLE, Program, Session, missing_tools, new_session

from sdw_updater.contract import UPDATER_LOCK
from sdw_updater.status import format_time

INSTANT = "[sim]\ntime_scale = 0.0\n"
NO_DOM0 = INSTANT + "[dom0]\nupdates = false\n"
# A run slow enough to be caught with some parts done and others updating.
SLOW = """
[sim]
time_scale = 0.01
[dom0]
updates = false
check_duration = 20
highstate_duration = 60
"""
SLOW_TEMPLATE = "duration = {seconds}\n"
HOLD = "[sim]\ntime_scale = 0.1\n[dom0]\nupdates = false\ncheck_duration = 900\n"
SCENARIOS = {
    "complete": NO_DOM0,
    "reboot": INSTANT,
    "failed": INSTANT + "[dom0]\nupdates = true\nhighstate_exit = 1\n",
    "network": INSTANT + '[network]\nconnectivity = "none"\n',
    # dom0's release differs from every template's: a distribution upgrade.
    "dist-upgrade": '[sim]\ntime_scale = 0.0\nqubes_release = "9.9"\n',
    "trust-failed": INSTANT + '[trust]\ndom0_key = "rogue"\n',
    "client-failed": NO_DOM0 + "[client]\nstart_exit = 1\n",
}
OUTCOME_LOG = {
    "complete": "OK",
    "reboot": "REBOOT_REQUIRED",
    "failed": "FAILED",
    "network": "NETWORK",
    "dist-upgrade": "DIST_UPGRADE",
    "trust-failed": "TRUST",
    "client-failed": "OK",
}
DAY = 86400
VIEWER = "sd-viewer-debian-13"
# dom0's update and the migration, slow enough to be met half way.
MID_DOM0_UPDATE = "[sim]\ntime_scale = 0.05\n[dom0]\nupdates = true\nupdate_duration = 900\n"
MID_MIGRATION = (
    "[sim]\ntime_scale = 0.05\n[dom0]\nupdates = false\nmigration = true\napply_duration = 900\n"
)
# The migration usually takes 2 s here: the window says it is taking longer.
SHORT_MIGRATION_HISTORY = '{"runs": [{"migration": 2.0, "total": 60.0}]}'
FAILED_TEMPLATE = NO_DOM0 + f'[templates."{VIEWER}"]\nfail_first = 1\nfailure = "disk_full"\n'
EXTRAS = (
    '[vms."tpl-extra"]\nklass = "TemplateVM"\n'
    '[vms."org-app"]\ntemplate = "tpl-extra"\ntags = ["sd-extras"]\n'
)
STALLED = (
    "[sim]\ntime_scale = 0.01\ntimeout_scale = 0.1\n[dom0]\nupdates = false\n"
    f'[templates."{VIEWER}"]\nresult = "hang"\nduration = 100\n'
)


def updater(session: Session, scenario: str, *flags: str) -> Program:
    path = session.scenario(scenario)
    return session.start("sdw-updater", *flags, "--simulate", str(path))


def settle(seconds: float = 0.6) -> None:
    """Let the window finish drawing before the picture is taken."""
    time.sleep(seconds)


def slow_scenario() -> str:
    """SLOW with the simulator's own template names, each a different length."""
    from sdw_sim.scenario import default_inventory

    names = sorted(n for n, vm in default_inventory().items() if vm.klass == "TemplateVM")
    parts = [SLOW]
    for index, name in enumerate(names):
        parts.append(f'[templates."{name}"]\n' + SLOW_TEMPLATE.format(seconds=150 + 250 * index))
    return "".join(parts)


class Shooter:
    """Takes one kind of screen set (a screen size and scale) into ``outdir``."""

    def __init__(self, outdir: Path, work: Path, width: int, height: int, scale: float | None):
        self.outdir = outdir
        self.work = work
        self.size = (width, height, scale)
        self.written: list[Path] = []
        self.count = 0

    def session(self) -> AbstractContextManager[Session]:
        self.count += 1
        width, height, scale = self.size
        return new_session(self.work / f"s{self.count}", width, height, scale)

    def save(self, session: Session, window: str, name: str) -> None:
        settle()
        shot = session.screenshot(name, window)
        target = self.outdir / f"{name}.png"
        target.write_bytes(shot.read_bytes())
        self.written.append(target)
        print(target, flush=True)

    def intro(self) -> None:
        with self.session() as session:
            program = updater(session, NO_DOM0, "--skip-delta", "0")
            self.save(session, session.window(program), "intro")

    def progress(self) -> None:
        with self.session() as session:
            program = updater(session, slow_scenario(), "--skip-delta", "0")
            window = session.window(program)
            session.key("alt+s")
            # Timed from the tool's start, not the plan's: a loaded machine may
            # take seconds between the two.
            session.wait_log(r"Running .*qubes-vm-update", program=program)
            time.sleep(1.8)  # some parts done, others half way
            self.save(session, window, "progress")
            session.key("alt+d")
            time.sleep(1.0)
            self.save(session, window, "details")
            session.key("alt+d", "Escape")  # hide the details, then try to close
            self.save(session, window, "close-refused")

    def mid_step(self, name: str, scenario: str, running: str, history: str = "") -> None:
        """The progress screen while a step that reports no progress of its own runs."""
        with self.session() as session:
            if history:
                session.state.mkdir(parents=True, exist_ok=True)
                (session.state / "sdw-run-history.json").write_text(history)
            program = updater(session, scenario, "--skip-delta", "0")
            window = session.window(program)
            session.key("alt+s")
            session.wait_log(rf"Running .*{running}", program=program)
            time.sleep(3.5)
            self.save(session, window, name)

    def failed_template(self) -> None:
        """A template that failed, its help, the details copied, and Try again."""
        with self.session() as session:
            program = updater(session, FAILED_TEMPLATE, "--skip-delta", "0")
            window = session.window(program)
            session.key("alt+s")
            session.wait_log(r"Wizard: run ended FAILED", program=program)
            self.save(session, window, "failed-template")
            session.key("alt+a")
            session.wait_log(r"Window: administrator's details shown", program=program)
            session.key("alt+y")
            session.wait_log(r"Window: details copied", program=program)
            self.save(session, window, "failed-template-help")
            session.key("alt+t")
            session.wait_log(r"Wizard: run ended OK", program=program)
            self.save(session, window, "retried")

    def retried_added(self) -> None:
        """Try again after an administrator turned the extra templates on: one is added."""
        with self.session() as session:
            program = updater(session, FAILED_TEMPLATE + EXTRAS, "--skip-delta", "0")
            window = session.window(program)
            session.key("alt+s")
            session.wait_log(r"Wizard: run ended FAILED", program=program)
            (session.state / "sdw-updater-settings.json").write_text('{"update_extras": true}')
            session.key("alt+t")
            session.wait_log(r"Wizard: run ended OK", program=program)
            self.save(session, window, "retried-added")

    def stalled(self) -> None:
        with self.session() as session:
            session.state.mkdir(parents=True, exist_ok=True)
            (session.state / "sdw-updater-settings.json").write_text('{"stall_minutes": 1}')
            program = updater(session, STALLED, "--skip-delta", "0")
            window = session.window(program)
            session.key("alt+s")
            session.wait_log(
                rf"Window: template {VIEWER} shown as making no progress", program=program
            )
            time.sleep(1.0)
            self.save(session, window, "stalled")

    def outcome(self, name: str) -> None:
        with self.session() as session:
            program = updater(session, SCENARIOS[name], "--skip-delta", "0")
            window = session.window(program)
            session.key("alt+s")
            session.wait_log(rf"Wizard: run ended {OUTCOME_LOG[name]}", program=program)
            if name == "client-failed":
                session.key("Return")
                session.wait_log(r"Window: screen client_failed", program=program)
            self.save(session, window, name)
            if name == "failed":
                session.key("alt+a")  # Show details for your administrator
                self.save(session, window, "failed-details")

    def reboot_pending(self) -> None:
        with self.session() as session:
            first = updater(session, SCENARIOS["reboot"], "--skip-delta", "0")
            session.window(first)
            session.key("alt+s")
            session.wait_log(r"Wizard: run ended REBOOT_REQUIRED", program=first)
            session.key("alt+l")  # Later
            first.wait()
            again = updater(session, SCENARIOS["reboot"])
            self.save(session, session.window(again), "reboot-pending")

    def locked(self) -> None:
        with self.session() as session:
            text = updater(session, HOLD, "--cli", "--skip-delta", "0")
            session.wait_log(r"Templates to update", program=text)
            second = updater(session, HOLD, "--skip-delta", "0")
            self.save(session, session.window(second), "locked")

    def lock_unusable(self) -> None:
        """A directory where the lock file goes: the updater cannot start, details open."""
        with self.session() as session:
            (session.runtime / UPDATER_LOCK).mkdir()
            program = updater(session, NO_DOM0, "--skip-delta", "0")
            window = session.window(program)
            session.key("alt+a")  # Show details for your administrator
            session.wait_log(r"Window: administrator's details shown", program=program)
            self.save(session, window, "lock-unusable")

    def already_open(self) -> None:
        with self.session() as session:
            first = updater(session, HOLD, "--skip-delta", "0")
            window = session.window(first)
            second = updater(session, HOLD, "--skip-delta", "0")
            second.wait()
            session.wait_log(r"Window: brought to the front", program=first)
            self.save(session, window, "already-open")

    def notifier(self, name: str, app_open: bool) -> None:
        with self.session() as session:
            state = session.state
            state.mkdir(parents=True, exist_ok=True)
            (state / "sdw-last-updated").write_text(format_time(time.time() - 6 * DAY - 60))
            power = "Running" if app_open else "Halted"
            scenario = NO_DOM0 + f'[vms."sd-app"]\npower = "{power}"\n'
            program = session.start("sdw-notify", "--simulate", str(session.scenario(scenario)))
            self.save(session, session.window(program, NOTIFIER_TITLE), name)

    def everything(self) -> None:
        self.intro()
        self.progress()
        self.mid_step("progress-dom0-update", MID_DOM0_UPDATE, "qubes-dom0-update -y")
        self.mid_step(
            "progress-migration", MID_MIGRATION, "sdw-admin --apply", SHORT_MIGRATION_HISTORY
        )
        self.failed_template()
        self.retried_added()
        self.stalled()
        for name in SCENARIOS:
            self.outcome(name)
        self.reboot_pending()
        self.locked()
        self.lock_unusable()
        self.already_open()
        self.notifier("notify", app_open=False)
        self.notifier("notify-app-open", app_open=True)

    def the_tight_ones(self) -> None:
        """At scale 2 on 1920x1080: the screens with the most to show."""
        self.intro()
        self.progress()
        self.outcome("failed")
        self.failed_template()
        self.notifier("notify-app-open", app_open=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Take the README's screenshots on Xvfb.")
    parser.add_argument("outdir", type=Path, help="where to write the PNG files")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"screenshots: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    runs: list[tuple[Path, int, int, float | None, Callable[[Shooter], None]]] = [
        (args.outdir, 1366, 768, None, Shooter.everything),
        (args.outdir / "scale2", 1920, 1080, 2.0, Shooter.the_tight_ones),
    ]
    with tempfile.TemporaryDirectory(prefix="sdw-shots-") as work:
        for index, (outdir, width, height, scale, take) in enumerate(runs):
            outdir.mkdir(parents=True, exist_ok=True)
            take(Shooter(outdir, Path(work) / str(index), width, height, scale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
