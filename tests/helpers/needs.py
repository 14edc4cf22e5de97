"""What the tests need from the machine; a missing piece fails the test and names its package.

``deps/debian-packages`` lists every Debian package the tests use, and
``make test`` installs them first (``deps/install test``).  So a tool that is
missing here is a broken set-up, in CI and out of it: the test that needs it
fails at once, saying which Debian package to install, instead of skipping
(which would let a run pass without testing) or waiting for something that
cannot start.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_LIST = ROOT / "deps" / "debian-packages"

#: Every program a test runs from the machine -> the Debian package that has it.
TOOLS = {
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus-daemon",
    "createrepo_c": "createrepo-c",
    "desktop-file-validate": "desktop-file-utils",
    "dnf": "dnf",
    "git": "git",
    "groff": "groff-base",
    "import": "imagemagick",
    "ldd": "libc-bin",
    "lexgrog": "man-db",
    "make": "make",
    "man": "man-db",
    "rpm": "rpm",
    "rpmbuild": "rpm",
    "rpmlint": "rpmlint",
    "rpmsign": "rpm",
    "seq": "coreutils",
    "systemctl": "systemd",
    "systemd-analyze": "systemd",
    "unshare": "util-linux",
    "xdotool": "xdotool",
    "xprop": "x11-utils",
    "xwininfo": "x11-utils",
}

#: Libraries whose Debian package is not named after them by the usual rule.
LIBRARY_PACKAGES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgcc_s.so.1": "libgcc-s1",
    "libz.so.1": "zlib1g",
}


def missing(what: str, package: str) -> NoReturn:
    """Fail the running test: ``what`` is not here; ``package`` brings it."""
    pytest.fail(
        f"{what} is missing: install the Debian package{'s' if ' ' in package else ''} {package} "
        "(make test does it: deps/install test)",
        pytrace=False,
    )


def tool(name: str) -> str:
    """The path of a program the test runs; the test fails naming its package without it."""
    path = shutil.which(name)
    if path is None:
        missing(name, TOOLS[name])
    return path


@functools.cache
def _system_dnf() -> bool:
    from sdw_updater.qubes import SYSTEM_PYTHON

    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = [SYSTEM_PYTHON, "-I", "-c", "import dnf.conf"]
    return subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0


def system_dnf() -> None:
    """dnf's Python module of the system Python, which the trust checks run (dnf's own parser)."""
    if not _system_dnf():
        from sdw_updater.qubes import SYSTEM_PYTHON

        missing(f"dnf's Python module for {SYSTEM_PYTHON}", "python3-dnf")


def library_package(soname: str) -> str:
    """The Debian package of a shared library, by Debian's naming rule (``libfoo.so.1``
    is ``libfoo1``; a name ending in a digit takes a hyphen: ``libdbus-1.so.3`` is
    ``libdbus-1-3``), with the few exceptions the window tier meets."""
    if soname in LIBRARY_PACKAGES:
        return LIBRARY_PACKAGES[soname]
    name, _, version = soname.partition(".so.")
    name = name.lower().replace("_", "-")
    return f"{name}{'-' if name[-1:].isdigit() else ''}{version}"


def unresolved_libraries(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``not found``, each once, in its order."""
    found = re.findall(r"^\s*(\S+) => not found\s*$", ldd_output, re.MULTILINE)
    return list(dict.fromkeys(found))


def listed_packages() -> dict[str, set[str]]:
    """``deps/debian-packages``: each package and its targets."""
    listed: dict[str, set[str]] = {}
    for line in PACKAGE_LIST.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            listed[fields[0]] = set(fields[1:])
    return listed
