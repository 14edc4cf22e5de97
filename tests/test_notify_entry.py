"""``sdw-notify`` end to end on the simulated workstation.

The console script runs in a subprocess for ``--dry-run`` and the silent
paths; the dialog paths run ``main()`` in this process so pytest-qt can
answer the dialog the way a user would (keys and clicks on the modal
window).  Locks are held by real second processes, as an updater or another
notifier would hold them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from launcher.qt import QApplication, Qt, QTimer
from sdw_notify import dialog, entry
from sdw_updater.contract import NOTIFY_LOCK, UPDATER_LOCK
from sdw_updater.status import format_time

BIN = Path(sys.executable).parent
TIMEOUT = 60
UPDATE_TOOLS = {"qubes-dom0-update", "qubesctl", "sdw-admin", "qubes-vm-update"}
DAY = 86400


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh $HOME and runtime directory (where the locks live), for us and children."""
    home = tmp_path / "home"
    home.mkdir()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return home


def _state(home: Path) -> Path:
    return home / ".securedrop_updater"


def _set_last_updated(home: Path, age: float | None, raw: bytes | None = None) -> None:
    state = _state(home)
    state.mkdir(parents=True, exist_ok=True)
    data = raw if raw is not None else format_time(time.time() - (age or 0)).encode()
    (state / "sdw-last-updated").write_bytes(data)


def _scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"scenario-{abs(hash(text))}.toml"
    path.write_text(text)
    return str(path)


def _journal(home: Path) -> list[dict]:
    path = _state(home) / "sim" / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _update_tools_run(home: Path) -> list[str]:
    return [call["tool"] for call in _journal(home) if call.get("tool") in UPDATE_TOOLS]


def _notify_log(home: Path) -> str:
    path = _state(home) / "logs" / "sdw-notify.log"
    return path.read_text() if path.exists() else ""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [str(BIN / "sdw-notify"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )


def _dry_run(*args: str) -> dict:
    result = _run("--dry-run", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # exactly one JSON object
    return json.loads(lines[0])


@contextmanager
def holding(lock_name: str) -> Iterator[subprocess.Popen[str]]:
    """A real second process holding one of our locks until the block ends."""
    code = (
        "import sys, time, os\n"
        "from pathlib import Path\n"
        "from sdw_updater.lock import Lock, lock_dir\n"
        "from sdw_updater.status import state_dir\n"
        f"lock = Lock(lock_dir(state_dir()) / {lock_name!r})\n"
        "assert lock.acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ----- --dry-run through the console script --------------------------------------


def test_dry_run_never_updated_warns_and_logs_why(home):
    report = _dry_run("--simulate")
    assert report["warn"] is True
    assert report["code"] == "unknown_last_update"
    assert "no trustworthy record" in report["reason"]
    assert report["simulated"] is True
    assert report["last_updated"] is None
    assert report["uptime"] >= 7200
    log = _notify_log(home)
    assert "Dry run: warn" in log and report["reason"] in log


@pytest.mark.parametrize(
    ("age", "warn", "code"),
    [(DAY, False, "fresh"), (4.9 * DAY, False, "fresh"), (6 * DAY, True, "overdue")],
)
def test_dry_run_by_age(home, age, warn, code):
    _set_last_updated(home, age)
    report = _dry_run("--simulate")
    assert (report["warn"], report["code"]) == (warn, code)
    assert report["reason"] in _notify_log(home)


@pytest.mark.parametrize(
    "raw", [b"", b"garbage", b"2024-01-0", format_time(time.time() + 40 * DAY).encode()]
)
def test_dry_run_untrustworthy_last_updated_warns(home, raw):
    _set_last_updated(home, None, raw=raw)
    report = _dry_run("--simulate")
    assert (report["warn"], report["code"]) == (True, "unknown_last_update")


def test_dry_run_within_grace_period(home, tmp_path):
    _set_last_updated(home, 30 * DAY)
    report = _dry_run("--simulate", _scenario(tmp_path, "[sim]\nuptime = 600\n"))
    assert (report["warn"], report["code"]) == (False, "grace_period")


@pytest.mark.parametrize(
    ("processes", "warn"),
    [
        (["qubesctl"], False),
        (["sdw-admin"], False),
        (["salt-call", "bash"], False),
        (["cmake"], True),
        (["cmake", "makeinfo", "qubesctl-helper"], True),
    ],
)
def test_dry_run_provisioning_processes(home, tmp_path, processes, warn):
    scenario = _scenario(tmp_path, f"[sim]\nprocesses = {json.dumps(processes)}\n")
    report = _dry_run("--simulate", scenario)
    assert report["warn"] is warn
    if not warn:
        assert report["code"] == "provisioning"
        assert report["conflicting_processes"]
    else:
        assert report["conflicting_processes"] == []


def test_dry_run_silent_while_a_real_updater_holds_its_lock(home):
    with holding(UPDATER_LOCK):
        report = _dry_run("--simulate")
    assert (report["warn"], report["code"]) == (False, "updater_running")
    # and once it is gone, the same workstation is nagged again
    assert _dry_run("--simulate")["warn"] is True


def test_dry_run_silent_while_another_notifier_runs(home):
    with holding(NOTIFY_LOCK):
        report = _dry_run("--simulate")
    assert (report["warn"], report["code"]) == (False, "other_notifier")


def test_bad_scenario_is_a_usage_error(home, tmp_path):
    result = _run("--dry-run", "--simulate", _scenario(tmp_path, "[sim]\nno_such_key = 1\n"))
    assert result.returncode == 2
    assert "sdw-notify: error" in result.stderr


def test_dry_run_imports_no_qt_and_is_quick(home):
    code = (
        "import sys, time, io, contextlib\n"
        "from sdw_notify.entry import main\n"
        "main(['--dry-run', '--simulate'])  # first run sets the simulator up\n"
        "t = time.perf_counter()\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['--dry-run', '--simulate'])\n"
        "took = time.perf_counter() - t\n"
        "qt = any(m.split('.')[0] in ('PyQt5', 'PyQt6') for m in sys.modules)\n"
        "print(rc, qt, round(took, 4))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr
    rc, qt_loaded, took = result.stdout.splitlines()[-1].split()
    assert rc == "0"
    assert qt_loaded == "False"
    assert float(took) < 0.5  # our own work; the target is well under 0.1 s


# ----- without --dry-run: silent paths (no dialog may appear) --------------------


def test_fresh_workstation_exits_quietly(home):
    _set_last_updated(home, DAY)
    result = _run("--simulate")
    assert result.returncode == 0
    assert "No warning: last update" in _notify_log(home)
    assert _update_tools_run(home) == []


def test_second_notifier_exits_quietly(home):
    with holding(NOTIFY_LOCK):
        result = _run("--simulate")  # would block on a dialog if it warned
    assert result.returncode == 0
    assert "No warning: another notifier is running" in _notify_log(home)


def test_silent_while_provisioning(home, tmp_path):
    result = _run("--simulate", _scenario(tmp_path, '[sim]\nprocesses = ["qubesctl"]\n'))
    assert result.returncode == 0
    assert "No warning: a provisioning tool is running: qubesctl" in _notify_log(home)


# ----- the dialog and the hand-over, in this process ------------------------------


def _answer(action, before=None) -> list[str]:
    """When the modal reminder is up, run ``before`` then ``action(dialog)``.

    Returns the list that receives the reminder's explanation text once shown.
    """

    def poll() -> None:
        modal = QApplication.activeModalWidget()
        if not isinstance(modal, dialog.NotifyDialog):
            QTimer.singleShot(20, poll)
            return
        seen.append(modal.informativeText())
        if before is not None:
            before()
        action(modal)

    seen: list[str] = []
    QTimer.singleShot(20, poll)
    return seen


def _press_enter(modal: dialog.NotifyDialog) -> None:
    from pytestqt.qtbot import QtBot

    QtBot.keyClick(modal.focusWidget() or modal, Qt.Key.Key_Return)


def _click_check(modal: dialog.NotifyDialog) -> None:
    from pytestqt.qtbot import QtBot

    QtBot.mouseClick(modal.check_button, Qt.MouseButton.LeftButton)


@pytest.fixture
def launches(monkeypatch):
    """Record what the notifier asks of ``launch``; run it for real, in text mode.

    The wizard is the window front end of the very same decision and runner;
    the text front end lets a test finish without a person at the window.
    """
    from launcher import entry as launcher_entry

    real = launcher_entry.launch
    calls: list[dict] = []

    def spy(ctx, skip_delta, skip_netcheck=False, cli=False, from_notifier=False):
        probe = subprocess.run(  # is the notify lock free for others during the run?
            [
                sys.executable,
                "-c",
                "from sdw_updater.lock import Lock, lock_dir\nfrom sdw_updater.contract import NOTIFY_LOCK\n"
                "from sdw_updater.status import state_dir\n"
                "print(Lock(lock_dir(state_dir()) / NOTIFY_LOCK).acquire())",
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        calls.append(
            {
                "skip_delta": skip_delta,
                "skip_netcheck": skip_netcheck,
                "cli": cli,
                "from_notifier": from_notifier,
                "notify_lock_free": probe.stdout.strip() == "True",
            }
        )
        return real(ctx, skip_delta, skip_netcheck, True)

    monkeypatch.setattr(launcher_entry, "launch", spy)
    return calls


def test_enter_on_the_reminder_does_not_update(home, qapp, launches):
    _answer(_press_enter)
    assert entry.main(["--simulate"]) == 0
    assert launches == []
    assert _update_tools_run(home) == []
    log = _notify_log(home)
    assert "Warning the user: no trustworthy record" in log
    assert "User chose: remind_me_later" in log


@pytest.mark.parametrize(("power", "warned"), [("Running", True), ("Halted", False)])
def test_reminder_text_follows_sd_app_power(home, tmp_path, qapp, launches, power, warned):
    _set_last_updated(home, 8 * DAY)
    scenario = _scenario(tmp_path, f'[vms."sd-app"]\npower = "{power}"\n')
    seen = _answer(_press_enter)
    assert entry.main(["--simulate", scenario]) == 0
    (text,) = seen
    assert ("will be closed" in text) is warned
    assert "in 8 days" in text


@pytest.mark.parametrize(
    ("dom0_updates", "code", "said"),
    [
        (False, 0, "Started the SecureDrop app"),
        (True, 3, "Restart the computer"),  # dom0 updated: reboot, no client
    ],
)
def test_check_for_updates_hands_over_to_the_updater(
    home, tmp_path, qapp, launches, capsys, dom0_updates, code, said
):
    scenario = _scenario(tmp_path, f"[dom0]\nupdates = {str(dom0_updates).lower()}\n")
    _answer(_click_check)
    result = entry.main(["--simulate", scenario])
    out = capsys.readouterr().out
    assert result == code, out
    assert said in out
    assert launches == [
        {
            "skip_delta": 0,
            "skip_netcheck": False,
            "cli": False,
            "from_notifier": True,
            "notify_lock_free": True,
        }
    ]
    tools = _update_tools_run(home)
    assert tools.count("qubes-vm-update") == 1  # one updater, one run
    assert ("qubes-dom0-update" in tools) and ("qubesctl" in tools)
    assert "User chose: check_for_updates" in _notify_log(home)
    updater_log = (_state(home) / "logs" / "updater.log").read_text()
    assert "Launch decision: run_updater" in updater_log
    # the run recorded its success: the next reminder stays quiet
    assert _dry_run("--simulate", scenario)["warn"] is False


def test_hand_over_loses_the_race_to_another_updater(home, qapp, launches, capsys):
    """An updater started while the dialog was open wins; nothing runs twice."""
    holder: list[subprocess.Popen[str]] = []
    stack: list = []

    def start_updater() -> None:
        context = holding(UPDATER_LOCK)
        holder.append(context.__enter__())
        stack.append(context)

    _answer(_click_check, before=start_updater)
    try:
        code = entry.main(["--simulate"])
    finally:
        for context in stack:
            context.__exit__(None, None, None)
    assert holder, "the competing updater never started"
    assert code == 5
    assert len(launches) == 1
    assert _update_tools_run(home) == []


def test_hand_over_honours_the_dist_upgrade_check(home, tmp_path, qapp, launches):
    scenario = _scenario(tmp_path, '[sim]\nqubes_release = "4.4"\n')
    _answer(_click_check)
    assert entry.main(["--simulate", scenario]) == 7
    assert _update_tools_run(home) == []
