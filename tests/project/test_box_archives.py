"""The box tier's Qubes archives: pinned by source and sha256, verified before any use.

``tests/box/archives.py`` (run by ``make box-deps``) is tested on archives of
a small git repository made here, so that neither the network nor the real
archives are needed: the download path fetches from a ``file://`` URL exactly
as it would from github.com.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from box import archives
from box.dom0 import VERSIONS
from helpers import ROOT, needs


def git(repo: Path, *argv: str) -> bytes:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
        "HOME": str(repo.parent),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [needs.tool("git"), *argv], cwd=repo, env=env, capture_output=True, timeout=60, check=True
    ).stdout


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[archives.Pin, bytes]:
    """A repository with a tag, and the pin of an archive of part of it (git's own gzip)."""
    repo = tmp_path / "upstream"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("VALUE = 1\n" * 200)
    (repo / "pkg" / "left_out.py").write_text("nothing\n")
    (repo / "setup.py").write_text("# setup\n")
    (repo / "tests.txt").write_text("not archived\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    git(repo, "tag", "-a", "v1.0", "-m", "v1.0")
    commit = git(repo, "rev-parse", "HEAD").decode().strip()
    paths = ("pkg", "setup.py", ":!pkg/left_out.py")
    made = git(repo, "archive", "--format=tar.gz", "--prefix=upstream-1.0/", commit, *paths)
    pin = archives.Pin(
        "upstream-1.0.tar.gz",
        hashlib.sha256(made).hexdigest(),
        f"file://{repo}",
        "v1.0",
        commit,
        paths,
    )
    return pin, made


def test_the_pin_file_names_each_version_the_box_installs() -> None:
    pins = archives.read_pins()
    names = {pin.name for pin in pins}
    expected = {f"qubes-core-admin-client-{v}.tar.gz" for v in VERSIONS}
    expected |= {f"qubes-core-admin-linux-{v}.tar.gz" for v in VERSIONS.values()}
    assert names == expected
    for pin in pins:
        assert pin.repository.startswith("https://github.com/QubesOS/"), pin
        assert pin.paths, pin


def test_an_archive_found_in_a_directory_is_verified_and_copied(
    tmp_path: Path, upstream: tuple[archives.Pin, bytes]
) -> None:
    pin, made = upstream
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / pin.name).write_bytes(made)
    into = tmp_path / "into"
    assert archives.obtain([pin], into, [first, second], allow_download=False) == []
    assert (into / pin.name).read_bytes() == made


def test_a_mismatch_is_an_error_naming_the_file_never_a_fallback(
    tmp_path: Path, upstream: tuple[archives.Pin, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    pin, made = upstream
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / pin.name).write_bytes(made[:-1] + bytes([made[-1] ^ 1]))
    good = tmp_path / "good"
    good.mkdir()
    (good / pin.name).write_bytes(made)
    into = tmp_path / "into"
    with pytest.raises(archives.PinError, match=str(vendor / pin.name)):
        archives.obtain([pin], into, [vendor, good], allow_download=True)
    assert not (into / pin.name).exists()
    assert list(into.iterdir()) == []


def test_the_download_makes_the_pinned_bytes_from_the_commit(
    tmp_path: Path, upstream: tuple[archives.Pin, bytes]
) -> None:
    pin, made = upstream
    into = tmp_path / "into"
    assert archives.obtain([pin], into, [tmp_path / "none"], allow_download=True) == []
    assert (into / pin.name).read_bytes() == made
    # A ref that moved to another commit is refused, whatever its bytes.
    moved = replace(pin, commit="0" * 40)
    with pytest.raises(archives.PinError, match="is commit"):
        archives.obtain([moved], tmp_path / "into2", [], allow_download=True)


def test_unreachable_sources_are_reported_in_one_line(
    tmp_path: Path, upstream: tuple[archives.Pin, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    pin, _ = upstream
    gone = replace(pin, repository=f"file://{tmp_path}/no-such-repository")
    lacking = archives.obtain([gone], tmp_path / "into", [], allow_download=True)
    assert len(lacking) == 1 and lacking[0].startswith(f"{pin.name}: git fetch")
    # The command line: exit 3 (unavailable), one line on stderr, nothing installed.
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "box" / "archives.py"),
            "--into",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == archives.UNAVAILABLE
    assert len(done.stderr.splitlines()) == 1 and "QUBES_VENDOR=DIR" in done.stderr
