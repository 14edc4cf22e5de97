"""Shared fixtures and hooks: every test gets its own HOME, so ~/.securedrop_updater is private.

What tests share besides fixtures is in ``tests/helpers/`` (``from helpers
import ...``); this file holds only pytest's fixtures and hooks.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The helpers' own assertions (stop_updater's waits, ...) explain themselves as a test's do.
pytest.register_assert_rewrite("helpers")

from helpers import needs  # noqa: E402
from helpers import qt as qt_check  # noqa: E402

# Timing-free properties: CI machines are small and busy.
settings.register_profile(
    "sdw", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
settings.load_profile("sdw")

# Qt tests render offscreen, whether or not the caller has a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: Seconds a test may keep Qt's event loop running before its windows are closed: under
#: pytest's per-test timeout (pyproject.toml), which cannot end such a wait by itself.
#: SDW_TEST_QT_DEADLINE shortens it for the test of this very fixture.
QT_DEADLINE = float(os.environ.get("SDW_TEST_QT_DEADLINE", "240"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Without a library Qt itself needs, pytest-qt cannot start: say which package brings it.

    Otherwise pytest-qt's own start-up fails with an INTERNALERROR that names
    only the missing file.
    """
    missing = qt_check.import_missing()
    if missing is not None:
        what, package = missing
        raise pytest.UsageError(
            f"{what} is missing: install the Debian package {package} "
            "(make test does it: deps/install test)"
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that makes Qt's application fails, naming the package, when Qt cannot start."""
    if "qapp" in getattr(item, "fixturenames", ()):
        missing = qt_check.platform_missing()
        if missing is not None:
            needs.missing(*missing)


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
        shown.append("; ".join(qt_check.on_screen(w) for w in windows) or "no window")
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


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make listening Unix sockets (file or abstract) that accept connections (a desktop's
    display and session bus, for ``sdw-login``)."""
    sockets: list[socket.socket] = []

    def make(address: str) -> str:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
        sock.listen(8)
        sockets.append(sock)
        return address

    yield make
    for sock in sockets:
        sock.close()
