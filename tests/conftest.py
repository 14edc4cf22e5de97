"""Shared fixtures: every test gets its own HOME, so ~/.securedrop_updater is private."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import needs
import pytest
from hypothesis import HealthCheck, settings

from sdw_sim.journal import Entry
from sdw_sim.journal import read_journal as sim_read_journal
from sdw_updater.contract import CLIENT_APP_ID

# Timing-free properties: CI machines are small and busy.
settings.register_profile(
    "sdw", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
settings.load_profile("sdw")

# Qt tests render offscreen, whether or not the caller has a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Seconds a test may keep Qt's event loop running before its windows are closed: under
#: pytest's per-test timeout (pyproject.toml), which cannot end such a wait by itself.
#: SDW_TEST_QT_DEADLINE shortens it for the test of this very fixture.
QT_DEADLINE = float(os.environ.get("SDW_TEST_QT_DEADLINE", "240"))


def qt_platform_plugin(platform: str) -> Path:
    """Where the Qt that pytest-qt uses keeps a platform plugin (``offscreen``, ``xcb``)."""
    from pytestqt.qt_compat import qt_api

    info = qt_api.QtCore.QLibraryInfo
    try:
        plugins = info.path(info.LibraryPath.PluginsPath)  # Qt 6
    except AttributeError:
        plugins = info.location(info.PluginsPath)  # Qt 5
    return Path(plugins) / "platforms" / f"libq{platform}.so"


@functools.cache
def _qt_platform_missing() -> tuple[str, str] | None:
    """The libraries Qt's platform plugin cannot load here, and their Debian packages.

    Without one, creating the QApplication aborts the whole test process (Qt's
    fatal "could not load the Qt platform plugin"), so it is checked first.
    """
    platform = os.environ.get("QT_QPA_PLATFORM", "offscreen")
    plugin = qt_platform_plugin(platform)
    if not plugin.is_file():
        return None
    found = subprocess.run(
        [needs.tool("ldd"), str(plugin)], capture_output=True, text=True, timeout=60, check=False
    )
    lacking = needs.unresolved_libraries(found.stdout)
    if not lacking:
        return None
    packages = " ".join(sorted({needs.library_package(name) for name in lacking}))
    return f"{', '.join(lacking)} (for Qt's {platform} platform plugin)", packages


def _qt_import_missing() -> tuple[str, str] | None:
    """A library the Qt binding's own modules cannot load here, and its Debian package."""
    for binding in ("PyQt6", "PyQt5"):
        if importlib.util.find_spec(binding) is None:
            continue
        try:
            importlib.import_module(f"{binding}.QtGui")
        except ImportError as exc:
            found = re.search(r"(lib\S+?\.so[.\d]*): cannot open shared object file", str(exc))
            if found is None:
                raise
            return f"{found.group(1)} (for Qt, {binding})", needs.library_package(found.group(1))
        return None
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Without a library Qt itself needs, pytest-qt cannot start: say which package brings it.

    Otherwise pytest-qt's own start-up fails with an INTERNALERROR that names
    only the missing file.
    """
    missing = _qt_import_missing()
    if missing is not None:
        what, package = missing
        raise pytest.UsageError(
            f"{what} is missing: install the Debian package {package} "
            "(make test does it: deps/install test)"
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that makes Qt's application fails, naming the package, when Qt cannot start."""
    if "qapp" in getattr(item, "fixturenames", ()):
        missing = _qt_platform_missing()
        if missing is not None:
            needs.missing(*missing)


def _on_screen(widget: object) -> str:
    page = getattr(widget, "page", None)
    title = widget.windowTitle()  # type: ignore[attr-defined]
    return f"{type(widget).__name__} {title!r}" + (f" on its {page!r} screen" if page else "")


@pytest.fixture(autouse=True)
def qt_deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test waiting in Qt's event loop for a screen nobody closes fails, naming the screen.

    pytest-timeout's alarm cannot end that wait: it raises inside a Qt callback,
    which Qt reports and then carries on.  So once a test that uses Qt has run
    QT_DEADLINE seconds, the windows on screen are noted, every running event
    loop is told to exit (``exit`` ends nested loops too, a window's or a modal
    dialog's) and the windows are hidden; the test then fails saying what was
    shown instead of hanging.
    """
    if not {"qtbot", "qapp"} & set(request.fixturenames):
        yield
        return
    from pytestqt.qt_compat import qt_api

    app = request.getfixturevalue("qapp")
    started = time.monotonic()
    shown: list[str] = []

    def check() -> None:
        if shown or time.monotonic() - started < QT_DEADLINE:
            return
        windows = [w for w in app.topLevelWidgets() if w.isVisible()]
        shown.append("; ".join(_on_screen(w) for w in windows) or "no window")
        app.exit(1)
        for window in windows:
            window.hide()

    timer = qt_api.QtCore.QTimer()
    timer.timeout.connect(check)
    timer.start(1000)
    yield
    timer.stop()
    if shown:
        # ``exit`` left Qt's "quit now" flag set, which ends every later loop at
        # once; only a completed ``exec`` clears it.
        qt_api.QtCore.QTimer.singleShot(0, lambda: app.exit(0))
        app.exec()
        pytest.fail(
            f"Qt's event loop still ran after {QT_DEADLINE:.0f} s, waiting on: {shown[0]}",
            pytrace=False,
        )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME and runtime dir for one test."""
    home = tmp_path / "home"
    home.mkdir()
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return home


def stamp(epoch: float) -> str:
    return time.strftime(DATE_FORMAT, time.localtime(epoch))


def write_status(home: Path, status: str, epoch: float | None = None, **extra: object) -> None:
    directory = home / ".securedrop_updater"
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, object] = {
        "status": status,
        "last_status_update": stamp(time.time() if epoch is None else epoch),
    }
    data.update(extra)
    (directory / "sdw-update-status").write_text(json.dumps(data))


def read_status(home: Path) -> dict[str, object]:
    return json.loads((home / ".securedrop_updater" / "sdw-update-status").read_text())


def state_files(home: Path) -> dict[str, bytes]:
    """The bytes of the two state files that exist (to prove "unchanged")."""
    directory = home / ".securedrop_updater"
    return {
        name: (directory / name).read_bytes()
        for name in ("sdw-update-status", "sdw-last-updated")
        if (directory / name).exists()
    }


def read_journal(home: Path) -> list[Entry]:
    """The simulator's journal of this HOME (tool calls and qubesadmin actions, in order)."""
    return sim_read_journal(home / ".securedrop_updater" / "sim" / "journal.jsonl")


def tools(journal: list[Entry]) -> list[str]:
    return [r["tool"] for r in journal]


def run_updater(
    home: Path, *args: str, scenario: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would, against the simulator."""
    argv = [str(BIN / "sdw-updater"), *args]
    if scenario is not None:
        path = home / "scenario.toml"
        path.write_text(scenario)
        argv += ["--simulate", str(path)]
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=home, check=False
    )


CLIENT_SERVICE = f"qubes.StartApp+{CLIENT_APP_ID}"


def client_records(journal: list[Entry]) -> list[Entry]:
    """The journal records that started the SecureDrop app in sd-app (any tier's shape)."""
    return [
        r for r in journal if "sd-app" in r["argv"] and any(CLIENT_SERVICE in a for a in r["argv"])
    ]


def client_started(journal: list[Entry]) -> bool:
    """Whether the app was started, and its start call did not fail."""
    return any(r["exit"] == 0 for r in client_records(journal))


def vm_starts(journal: list[Entry]) -> list[str]:
    """The VMs a run started, in journal order (qubesadmin start or qvm-start)."""
    names: list[str] = []
    for r in journal:
        argv = r["argv"]
        if r["tool"] == "qubesadmin" and argv[:1] == ["start"]:
            names += argv[1:2]
        elif r["tool"] == "qvm-start":
            names += [a for a in argv if not a.startswith("-")]
    return names


def template(name: str, **keys: object) -> str:
    """A scenario's ``[templates."NAME"]`` table with ``keys``."""
    body = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    return f'[templates."{name}"]\n{body}'


def vm_updates(journal: list[Entry]) -> list[list[str]]:
    """The --targets of every qubes-vm-update call, in order."""
    found = []
    for record in journal:
        if record["tool"] == "qubes-vm-update":
            argv = record["argv"]
            found.append(argv[argv.index("--targets") + 1].split(","))
    return found


def last_run_file(home: Path) -> dict[str, Any]:
    """The run's summary as written to ``sdw-last-run.json``."""
    data: dict[str, Any] = json.loads(
        (home / ".securedrop_updater" / "sdw-last-run.json").read_text()
    )
    return data


def stop_updater(
    home: Path,
    scenario: str,
    *moments: Callable[[list[Entry]], bool],
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``sdw-updater --cli --skip-delta 0``, sent SIGTERM at each moment its journal shows.

    As a logout or ``kill`` stops it; each moment is waited for (at most a
    minute), then the signal is sent.  Output is stdout and stderr together.
    """
    path = home / "scenario.toml"
    path.write_text(scenario)
    proc = subprocess.Popen(
        [str(BIN / "sdw-updater"), "--cli", "--skip-delta", "0", "--simulate", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, HOME=str(home), **(env or {})),
        cwd=home,
    )
    try:
        for moment in moments:
            deadline = time.monotonic() + 60
            while not moment(read_journal(home)):
                assert proc.poll() is None, "the run ended before the moment came"
                assert time.monotonic() < deadline, "the moment never came"
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, output, "")
