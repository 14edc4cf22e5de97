"""Find, or build from the public QubesOS repositories, the box tier's pinned archives.

``make box-deps`` runs it before it installs anything::

    python tests/box/archives.py --into .box/archives [--from DIR]... [--download]

Each archive named in ``tests/box/qubes-archives`` is taken from the first
``--from`` directory that has it, else (with ``--download``) made again from
its repository: the pinned commit is fetched and archived as the pin file says.
Whatever its source, an archive is copied into ``--into`` and its sha256
compared with the pin before anything uses it; a mismatch is an error naming
the file, never a fallback to the next source.

Exit 0: every archive is in ``--into``, verified.  Exit 3: some could not be
found or fetched (one line says so; the box tier then skips, or fails in CI).
Exit 1: a mismatch or a bad pin file.  Standard library only: it runs before
anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

PINS = Path(__file__).resolve().with_name("qubes-archives")
#: Seconds one git fetch may take (a slow or silent network ends it, not the run).
FETCH_TIMEOUT = 300
GIT_TIMEOUT = 120
UNAVAILABLE = 3


class PinError(Exception):
    """The pin file, or an archive against it: an error, never a reason to skip."""


@dataclass(frozen=True)
class Pin:
    name: str
    sha256: str
    repository: str
    ref: str
    commit: str
    paths: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return self.name.removesuffix(".tar.gz") + "/"


def read_pins(path: Path = PINS) -> list[Pin]:
    """Every line of the pin file, strictly: seven or more columns, hex where hex belongs."""
    pins: list[Pin] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 6:
            raise PinError(
                f"{path}:{number}: expected archive, sha256, repository, ref, commit, paths"
            )
        name, sha256, repository, ref, commit, *paths = fields
        if not (name.endswith(".tar.gz") and "/" not in name):
            raise PinError(f"{path}:{number}: {name!r} is not an archive name")
        if len(sha256) != 64 or len(commit) != 40 or not _hex(sha256 + commit):
            raise PinError(f"{path}:{number}: sha256 or commit is not hexadecimal of its length")
        if not repository.startswith("https://"):
            raise PinError(f"{path}:{number}: the repository must be an https URL")
        pins.append(Pin(name, sha256, repository, ref, commit, tuple(paths)))
    return pins


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_verified(pin: Pin, source: Path, into: Path, origin: str) -> None:
    """Copy ``source`` into ``into`` under its name, once its sha256 is the pinned one."""
    part = into / f".{pin.name}.part"
    shutil.copyfile(source, part)
    found = sha256_of(part)
    if found != pin.sha256:
        part.unlink()
        raise PinError(
            f"{origin}: sha256 {found} differs from the pinned {pin.sha256} ({PINS.name}); not used"
        )
    os.replace(part, into / pin.name)


def gzip_like_git(data: bytes) -> bytes:
    """gzip as ``git archive --format=tar.gz`` writes it: level 6, no name, mtime 0, Unix.

    Done here rather than by git, so that a git configured with another
    compressor (``tar.tar.gz.command``) or an old git (which runs ``gzip -n``)
    still makes the pinned bytes.
    """
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    header = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3])
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def _git(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    # Personal settings must not change the archive's bytes.
    pure = ["-c", "tar.umask=002", "-c", "core.attributesFile=/dev/null"]
    pure += ["-c", "core.autocrlf=false", "-c", "http.lowSpeedLimit=1000"]
    pure += ["-c", "http.lowSpeedTime=60"]
    return subprocess.run(
        ["git", *pure, *argv], cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False
    )


def download(pin: Pin, work: Path) -> Path:
    """Fetch the pinned commit and archive it; raise OSError saying why it could not."""
    if shutil.which("git") is None:
        raise OSError("git is not installed (Debian: git)")
    repo = work / pin.name.removesuffix(".tar.gz")
    repo.mkdir()
    try:
        steps = (
            (["init", "-q"], GIT_TIMEOUT),
            (["fetch", "-q", "--depth", "1", "--no-tags", pin.repository, pin.ref], FETCH_TIMEOUT),
        )
        for argv, timeout in steps:
            done = _git(argv, repo, timeout)
            if done.returncode != 0:
                said = done.stderr.decode(errors="replace").strip().splitlines()
                why = said[-1] if said else f"exit {done.returncode}"
                raise OSError(f"git {argv[0]} {pin.repository} {pin.ref}: {why}")
        head = _git(["rev-parse", "FETCH_HEAD^{commit}"], repo, GIT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"git timed out after {exc.timeout:.0f} s ({pin.repository})") from exc
    commit = head.stdout.decode(errors="replace").strip()
    if commit != pin.commit:
        raise PinError(f"{pin.repository} {pin.ref} is commit {commit}, pinned {pin.commit}")
    archived = _git(
        ["archive", "--format=tar", f"--prefix={pin.prefix}", pin.commit, "--", *pin.paths],
        repo,
        GIT_TIMEOUT,
    )
    if archived.returncode != 0:
        raise OSError(f"git archive {pin.commit}: {archived.stderr.decode(errors='replace')}")
    made = work / pin.name
    made.write_bytes(gzip_like_git(archived.stdout))
    return made


def obtain(pins: list[Pin], into: Path, sources: list[Path], allow_download: bool) -> list[str]:
    """Put every pinned archive, verified, into ``into``; return what could not be had."""
    into.mkdir(parents=True, exist_ok=True)
    lacking: list[str] = []
    for pin in pins:
        kept = into / pin.name
        if kept.is_file() and sha256_of(kept) == pin.sha256:
            continue
        source = next((d / pin.name for d in sources if (d / pin.name).is_file()), None)
        if source is not None:
            install_verified(pin, source, into, str(source))
            print(f"box: {pin.name} from {source.parent} (sha256 verified)")
            continue
        if not allow_download:
            lacking.append(f"{pin.name}: not found")
            continue
        with tempfile.TemporaryDirectory(prefix="qubes-archive-") as work:
            try:
                made = download(pin, Path(work))
            except OSError as exc:
                lacking.append(f"{pin.name}: {exc}")
                continue
            install_verified(pin, made, into, f"{pin.name} made from {pin.repository} {pin.ref}")
        print(f"box: {pin.name} made from {pin.repository} {pin.ref} (sha256 verified)")
    return lacking


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--into", type=Path, required=True, help="where verified copies go")
    parser.add_argument("--from", dest="sources", type=Path, action="append", default=[])
    parser.add_argument("--download", action="store_true", help="fetch what is not found")
    args = parser.parse_args(argv)
    try:
        lacking = obtain(read_pins(), args.into, args.sources, args.download)
    except PinError as exc:
        print(f"box: error: {exc}", file=sys.stderr)
        return 1
    if lacking:
        searched = ", ".join(str(d) for d in args.sources) or "no directory"
        print(
            f"box: the Qubes archives are not all here (searched {searched}"
            f"{', then the network' if args.download else ''}): {lacking[0]}"
            f"{f' (and {len(lacking) - 1} more)' if len(lacking) > 1 else ''}. "
            "Put them in a directory named by QUBES_VENDOR=DIR (docs/simulator.md, 'The box').",
            file=sys.stderr,
        )
        return UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
