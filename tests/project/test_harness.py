"""The test harness itself: where tests find the product, and what they do when Qt cannot start.

Test files live in folders named after what they test (tests/launcher/ for
``launcher/`` ...) that are no packages: pytest imports them by path
(``--import-mode=importlib``) and puts the repository, then tests/, on
``sys.path`` (pyproject.toml), so ``import launcher`` in a test is always the
product.  A test that waits on a window nobody closes fails within minutes,
naming the window: pytest-timeout cannot end a wait inside Qt's event loop
(its alarm is raised in a Qt callback, which Qt reports and carries on
from), so ``conftest.py``'s ``qt_deadline`` does; here a pytest of its own
runs a modal dialog nobody answers with the deadline shortened to two
seconds (and pytest-timeout at 30 s, which alone would not end it).  When
Qt cannot start for want of a library, the tests that use Qt fail naming
its package: a pytest of its own runs one Qt test in a private mount
namespace where ``libfontconfig.so.1`` is hidden by an overlay whiteout
(root, as the box tier).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import ROOT, needs
from helpers.qt import qt_platform_plugin

TESTS = ROOT / "tests"
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


INNER = """
def test_a_window(qtbot):
    pass


def test_no_qt():
    pass
"""
HIDE = (
    'set -e; mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1"; shift 3; '
    'exec "$@"'
)


def test_a_missing_qt_library_fails_the_qt_tests_naming_the_package(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "this test needs root (a private mount namespace)"
    unshare = needs.tool("unshare")
    plugin = qt_platform_plugin("offscreen")
    assert plugin.is_file(), plugin
    ldd = subprocess.run(
        [needs.tool("ldd"), str(plugin)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    library = Path(
        next(line.split()[2] for line in ldd.splitlines() if "libfontconfig.so.1 =>" in line)
    )
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    for path in library.parent.glob("libfontconfig.so.1*"):
        os.mknod(upper / path.name, 0o600 | 0o020000, 0)  # a whiteout: character device 0/0
    (tmp_path / "test_inner.py").write_text(INNER)
    env = dict(os.environ, PYTHONPATH=str(TESTS), QT_QPA_PLATFORM="offscreen")
    argv = [unshare, "--mount", "--propagation", "private", "sh", "-c", HIDE, "hide"]
    argv += [str(library.parent), str(upper), str(work)]
    argv += [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest"]
    argv += ["--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")]
    inner = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = inner.stdout + inner.stderr
    # PyQt6's own QtGui needs the library: pytest stops before any test (a usage
    # error); PyQt5's loads without it, and only the Qt test fails.
    assert inner.returncode in (1, 4), output
    assert "libfontconfig.so.1 (for Qt" in output, output
    assert "is missing: install the Debian package libfontconfig1" in output, output
    assert "INTERNALERROR" not in output and "Fatal Python error" not in output, output
    assert inner.returncode == 4 or "1 passed, 1 error" in output, output


def test_import_launcher_in_a_test_is_the_product() -> None:
    """No folder of tests/ stands in for a package: ``import launcher`` finds ../launcher.

    tests/launcher, tests/packaging ... are no packages (no ``__init__.py``): a
    module of their name found anywhere else on ``sys.path`` comes first.
    """
    import launcher.entry

    assert Path(launcher.__file__).resolve() == ROOT / "launcher" / "__init__.py"
    assert Path(launcher.entry.__file__).resolve() == ROOT / "launcher" / "entry.py"
    elsewhere = [entry for entry in sys.path if Path(entry or ".").resolve() != TESTS]
    for folder in sorted(path for path in TESTS.iterdir() if path.is_dir()):
        if folder.name in ("box", "helpers", "window"):
            continue  # packages imported by their own names (benchmarks import tests.box)
        assert not list(folder.rglob("__init__.py")), f"{folder} must be no package"
        real = importlib.machinery.PathFinder.find_spec(folder.name, elsewhere)
        if real is not None and real.origin is not None:
            found = importlib.util.find_spec(folder.name)
            assert found is not None and found.origin == real.origin, (folder.name, found)
