"""What the trust checks' tests share: the real public keys, keys made with the real gpg, sources.

The real release and test keys come from ``sdw_updater/keys/``, the stand-in
of Qubes' key from the simulator.  Throwaway keys are made with the real
``gpg`` in a short throwaway home (gpg-agent's socket path limit), once per
session (the ``keys`` fixture of ``tests/updater/trust/conftest.py``).  A
template's apt source is written as deb822 with its keys inline or by path;
``FakeHost`` plays the host seam for the templates check (VMs, ``qvm-run``
and ``qvm-shutdown``).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT
from sdw_updater.host import VMInfo
from sdw_updater.process import ToolResult
from sdw_updater.trust.anchors import CONFIG_PATH

KEYS = ROOT / "sdw_updater" / "keys"
RELEASE = (KEYS / "securedrop-release-signing-pubkey-2021.asc").read_bytes()
TESTKEY = (KEYS / "securedrop-test-key.asc").read_bytes()
QUBES = (ROOT / "sdw_sim" / "keys" / "sim-qubes-release-standin.asc").read_bytes()
QUBES_FPR = "C616D22E83B45D9E47ADD467711AE65C7A0C25BA"
RELEASE_EXPIRES = 1811164763  # 2027-05-24 13:19:23 UTC
NOW = 1780000000  # 2026-05-28: more than 180 days before the release key expires
DAY = 86400
RELEASE_UID = "SecureDrop Release Signing Key <securedrop-release-key-2021@freedom.press>"


@dataclass(frozen=True)
class Key:
    fingerprint: str
    armored: bytes
    revocation: bytes  # the armored revocation certificate gpg made with the key

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:]


class Keyring:
    """A throwaway GnuPG home that makes keys with the real gpg."""

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="g", dir="/tmp")

    def gpg(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["gpg", "--homedir", self.home, "--batch", "--no-tty", "--yes", *args],
            capture_output=True,
            timeout=60,
            check=True,
        )

    def make(
        self, uid: str, algo: str = "ed25519", expiry: str = "never", faked: str | None = None
    ) -> Key:
        fake = ["--faked-system-time", faked] if faked else []
        made = self.gpg(
            *fake,
            "--status-fd",
            "1",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algo,
            "sign",
            expiry,
        )
        created = [line for line in made.stdout.decode().splitlines() if "KEY_CREATED" in line]
        fingerprint = created[-1].split()[-1]
        armored = self.gpg("--armor", "--export", fingerprint).stdout
        rev = (Path(self.home) / "openpgp-revocs.d" / f"{fingerprint}.rev").read_text()
        # gpg prefixes the BEGIN line with ':' so the file cannot be imported by mistake.
        revocation = rev[rev.index(":-----BEGIN") + 1 :].encode()
        return Key(fingerprint, armored, revocation)

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass(frozen=True)
class Keys:
    ring: Keyring
    pinned: Key  # plays the pinned key (tests pin its fingerprint)
    impostor: Key  # same user id as the release key, another key
    expired: Key  # created in 2019, expired a day later
    revoked: Key
    other: Key


def deb822_key(armored: bytes) -> str:
    return "\n".join(
        " " + (line if line.strip() else ".") for line in armored.decode().strip().split("\n")
    )


def source(*blocks: bytes, extra: str = "", signed_by: str | None = None) -> bytes:
    value = (
        "\n" + "\n".join(deb822_key(b) for b in blocks) if signed_by is None else " " + signed_by
    )
    return (
        "# managed by SecureDrop\nTypes: deb\nURIs: https://apt.freedom.press\n"
        f"Suites: bookworm\nComponents: main\n{extra}Signed-By:{value}\n"
    ).encode()


class FakeHost:
    """Plays the host seam for the template check: VMs, and qvm-run/qvm-shutdown."""

    def __init__(
        self, files: dict[tuple[str, str], bytes], halted: set[str], config: bytes | None = None
    ) -> None:
        self.files = files
        self.config = b'{"environment": "prod"}' if config is None else config
        self.calls: list[list[str]] = []
        tags = frozenset({"sd-workstation"})
        self._vms = {
            name: VMInfo(name, "TemplateVM", None, tags if name.startswith("sd-") else frozenset(),
                         "Halted" if name in halted else "Running", "4.2")
            for name in ("sd-small", "sd-large", "fedora-40-xfce")
        }  # fmt: skip

    def vms(self) -> dict[str, VMInfo]:
        return self._vms

    def read_file(self, path: str, limit: int = 0) -> bytes | None:
        return self.config if path == CONFIG_PATH and self.config != b"missing" else None

    def shutdown_vms(self, names: list[str]) -> ToolResult:
        argv = ["qvm-shutdown", "--wait", *names]
        self.calls.append(argv)
        return ToolResult(argv, 0)

    def read_vm_file(self, vm: str, path: str, limit: int, binary: bool = False) -> ToolResult:
        program = "base64" if binary else "cat"
        argv = ["qvm-run", "-p", "--no-gui", vm, program, "--", path]
        self.calls.append(argv)
        stdout_limit = limit * (2 if binary else 1)
        data = self.files.get((vm, path))
        if data is None:
            return ToolResult(list(argv), 1)
        if program == "base64":
            data = base64.encodebytes(data)
        lines = data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")
        head = b"".join(line + b"\n" for line in lines)
        if len(head) > stdout_limit:  # as Host.run keeps whole lines up to the limit
            return ToolResult(list(argv), 0, stdout_overflow=True)
        return ToolResult(list(argv), 0, stdout_head=head, stdout_lines=lines)
