"""A test that waits on a window nobody closes fails within minutes, naming the window.

pytest-timeout cannot end a wait inside Qt's event loop (its alarm is raised
in a Qt callback, which Qt reports and carries on from), so ``conftest.py``'s
``qt_deadline`` does: this runs a test that shows a modal dialog nobody
answers, in a pytest of its own, with the deadline shortened to two seconds
(and pytest-timeout at 30 s, which alone would not end it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent

NOBODY_CLOSES = """
def test_a_dialog_nobody_answers(qtbot):
    from pytestqt.qt_compat import qt_api

    box = qt_api.QtWidgets.QMessageBox()
    box.setWindowTitle("Nobody answers")
    box.exec()


def test_the_next_test_still_has_a_working_event_loop(qtbot):
    from pytestqt.qt_compat import qt_api

    loop = qt_api.QtCore.QEventLoop()
    qt_api.QtCore.QTimer.singleShot(50, lambda: loop.exit(7))
    assert loop.exec() == 7
"""


def test_a_window_nobody_closes_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(NOBODY_CLOSES)
    env = dict(
        os.environ,
        SDW_TEST_QT_DEADLINE="2",
        PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        QT_QPA_PLATFORM="offscreen",
    )
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest"]
    argv += ["--rootdir", str(tmp_path), "-o", "timeout=30", str(tmp_path / "test_inner.py")]
    started = time.monotonic()
    inner = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = inner.stdout + inner.stderr
    assert inner.returncode == 1, output
    assert "Qt's event loop still ran after 2 s, waiting on: QMessageBox 'Nobody answers'" in output
    assert "2 passed, 1 error" in output, output
    assert time.monotonic() - started < 60
