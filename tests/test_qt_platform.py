"""When Qt cannot start for want of a library, the tests that use Qt fail naming its package.

Without a library the platform plugin needs, making the QApplication aborts the
whole test process (Qt's fatal "could not load the Qt platform plugin"): no
summary, nothing named; without one the binding itself needs, pytest-qt's
start-up fails with an INTERNALERROR naming only the file.  ``conftest.py``
checks the binding when pytest starts and the plugin with ``ldd`` before a
test that makes the application.  Here a pytest of its own runs one Qt test in a private
mount namespace where ``libfontconfig.so.1`` is hidden by an overlay whiteout
(root, as the box tier).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import needs
from conftest import qt_platform_plugin

TESTS = Path(__file__).resolve().parent

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
