"""A clone is enough: the system packages the README's commands install, and the script.

``deps/debian-packages`` is the one list of Debian packages; ``deps/install``
installs a target's share of it (``make demo``, ``make test``).  These tests
check the list against what the tests run, and the script's answers, without
installing anything: the script runs with ``id`` saying "not root" and no
``sudo``, so the most it can do is print the command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from helpers import ROOT, needs

INSTALL = ROOT / "deps" / "install"


def test_every_package_the_tests_need_is_installed() -> None:
    wanted = sorted(needs.listed_packages())
    if shutil.which("dpkg-query") is None:
        needs.missing("dpkg-query (this is not a Debian system)", " ".join(wanted))
    found = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *wanted],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.splitlines()
    installed = {line.split()[0] for line in found if line.endswith(" install ok installed")}
    lacking = [package for package in wanted if package not in installed]
    if lacking:
        needs.missing("what deps/debian-packages lists", " ".join(lacking))


def test_every_tool_and_library_the_tests_name_is_in_the_list() -> None:
    listed = needs.listed_packages()
    named = set(needs.TOOLS.values())
    assert not named - set(listed), (
        "tests/helpers/needs.py names packages deps/debian-packages lacks"
    )
    for package, targets in listed.items():
        assert targets and targets <= {"demo", "test"}, (package, targets)
    # The demo's own needs: dnf's parser, gpg, and a venv on Debian's python3.
    demo = {package for package, targets in listed.items() if "demo" in targets}
    assert {"python3", "python3-venv", "python3-dnf", "gnupg"} <= demo


def test_library_packages_follow_debians_naming() -> None:
    assert needs.library_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert needs.library_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert needs.library_package("libdbus-1.so.3") == "libdbus-1-3"
    assert needs.library_package("libGL.so.1") == "libgl1"
    assert needs.library_package("libX11-xcb.so.1") == "libx11-xcb1"
    assert needs.library_package("libglib-2.0.so.0") == "libglib2.0-0"
    ldd = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
        "\tlibxcb1.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)\n"
        "\tlibxkbcommon-x11.so.0 => not found\n"
        "\tlibxcb-cursor.so.0 => not found\n"
    )
    assert needs.unresolved_libraries(ldd) == ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0"]


def _script(tmp_path: Path, packages: str) -> Path:
    """deps/install beside a package list of our own."""
    deps = tmp_path / "deps"
    deps.mkdir()
    shutil.copy(INSTALL, deps / "install")
    (deps / "debian-packages").write_text(packages)
    return deps / "install"


def _path_without_sudo(tmp_path: Path, *, debian: bool = True) -> str:
    """A PATH with the script's tools, ``id`` saying uid 1000, no sudo (and maybe no dpkg)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wanted = ["bash", "sed", "dirname", "cat"] + (["dpkg-query", "apt-get"] if debian else [])
    for name in wanted:
        found = shutil.which(name)
        assert found, name
        (bindir / name).symlink_to(found)
    fake_id = bindir / "id"
    fake_id.write_text("#!/bin/sh\necho 1000\n")
    fake_id.chmod(0o755)
    return str(bindir)


def _run(script: Path, target: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(script), target], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_nothing_missing_is_silent_and_fast(tmp_path: Path) -> None:
    script = _script(tmp_path, "coreutils demo  # always there\nbash test\n")
    path = _path_without_sudo(tmp_path)
    for target in ("demo", "test"):
        started = time.monotonic()
        done = _run(script, target, path)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
        assert time.monotonic() - started < 1.0


def test_without_root_or_sudo_it_stops_with_the_one_command(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "coreutils demo\nzz-no-such-package demo test  # why\n# a comment\nzz-test-only test\n",
    )
    path = _path_without_sudo(tmp_path)
    demo = _run(script, "demo", path)
    assert demo.returncode == 1 and demo.stdout == ""
    command = demo.stderr.splitlines()[-1].strip()
    assert command == (
        "apt-get update && apt-get install -y --no-install-recommends "
        "-o DPkg::Lock::Timeout=300 zz-no-such-package"
    )
    test = _run(script, "test", path)
    assert test.returncode == 1
    assert test.stderr.splitlines()[-1].endswith(" zz-no-such-package zz-test-only")


def test_off_debian_it_says_what_is_needed(tmp_path: Path) -> None:
    script = _script(tmp_path, "python3-dnf demo\nxvfb test\n")
    done = _run(script, "demo", _path_without_sudo(tmp_path, debian=False))
    assert done.returncode == 1
    assert "not a Debian system" in done.stderr
    assert done.stderr.splitlines()[-1].strip() == "python3-dnf"


def test_an_unknown_target_is_a_usage_error(tmp_path: Path) -> None:
    done = _run(INSTALL, "everything", os.environ.get("PATH", "/usr/bin:/bin"))
    assert done.returncode == 2 and "usage: deps/install demo|test" in done.stderr


def test_ci_installs_nothing_of_its_own() -> None:
    """CI runs the README's commands; the packages come from them, not from CI."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert not [line for line in commands if "apt-get" in line or "dpkg" in line]
    assert "make test\n" in ci
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme


def test_targets_that_run_test_tools_install_the_test_packages() -> None:
    """Xvfb (benchmarks/paint.py, the window tests) and rpmbuild are only in the "test" list."""
    rules: dict[str, list[str]] = {}
    for line in (ROOT / "Makefile").read_text().splitlines():
        target, colon, prerequisites = line.partition(":")
        if colon and target and target[0].isalpha() and " " not in target and "=" not in line:
            rules[target] = prerequisites.split()
    for target in ("test", "test-window", "screenshots", "bench", "bench-quick", "rpm"):
        assert "deps-test" in rules[target], target
