"""The simulated trust anchors: the ``[trust]`` table of a scenario.

The simulator plays what the trust checks (``sdw_updater.trust``) read in
dom0 and in the templates (docs/simulator.md, docs/trust.md):

- files under the fake root: the SecureDrop key file, the repository files
  (``/etc/yum.repos.d``, ``/etc/yum.real.repos.d``), dnf's configuration
  (``/etc/dnf/dnf.conf``, dnf5's drop-ins on Qubes 4.3, and the traps of
  ``[trust].dnf_config``), a stand-in Qubes release key file and the
  workstation's ``config.json``;
- the fake ``rpm``: the ``gpg-pubkey`` entries of the rpm database and the
  header signatures of the SecureDrop packages (``rpm -q --qf``);
- ``cat`` and ``base64`` inside a SecureDrop template (through the fake
  ``qvm-run``): its SecureDrop apt source.

The release and test keys are the real public keys shipped in
``sdw_updater/keys/``; so is a generated stand-in for the Qubes release key
(the real one is not needed and a stand-in says so in its user id).  Keys
only some scenarios need (``rogue``, ``expired``, ``extra``) are generated
with gpg the first time a scenario needs them and cached under
``sim/keys/``; the built-in scenario never runs gpg.

``prepare()`` runs inside ``sim.setup()`` on the launcher's fast path: it
only compares and writes small files (no subprocess unless a generated key
is missing).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdw_sim.scenario import Scenario, ScenarioError, TrustSettings
from sdw_sim.state import write_atomic

# The product's pinned keys ship with the engine; the simulator's stand-ins with the simulator.
PRODUCT_KEYS = Path(__file__).resolve().parent.parent / "sdw_updater" / "keys"
SIM_KEYS = Path(__file__).resolve().parent / "keys"
CONFIG_PATH = "usr/share/securedrop-workstation-dom0-config/config.json"
KEY_DIR = "etc/pki/rpm-gpg"
SDW_KEY = {"prod": "RPM-GPG-KEY-securedrop-workstation"}
SDW_KEY_TEST = "RPM-GPG-KEY-securedrop-workstation-test"
SDW_REPO = "etc/yum.repos.d/securedrop-workstation-dom0.repo"
QUBES_REPO = "etc/yum.repos.d/qubes-dom0.repo"
INSECURE_REPO = "etc/yum.repos.d/local-unsigned.repo"
CACHED_REPO = "etc/yum.real.repos.d/qubes-cached.repo"
DNF_CONF = "etc/dnf/dnf.conf"
# Qubes 4.3's dom0 runs dnf5; the simulator plays Qubes' reposdir as a dnf5
# distribution drop-in there, and in dnf.conf on 4.2 (dnf 4).
QUBES_DROPIN = "usr/share/dnf5/libdnf.conf.d/20-qubes-dom0.conf"
# The [trust].dnf_config traps and the third-party repository.
SIM_DROPIN = "etc/dnf/libdnf5.conf.d/90-sim-local.conf"
SIM_OVERRIDE = "etc/dnf/repos.override.d/99-config_manager.repo"
LOCAL_REPO = "etc/sim-local.repos.d/sim-local.repo"
MIRROR_REPO = "etc/yum.repos.d/00-securedrop-mirror.repo"
THIRD_PARTY_REPO = "etc/yum.repos.d/sim-third-party.repo"
THIRD_PARTY_KEY = "RPM-GPG-KEY-sim-third-party"
APT_SOURCE = "/etc/apt/sources.list.d/apt_freedom_press.sources"
HUGE_BYTES = 2 * 1024 * 1024
GPG_TIMEOUT = 60
SIG_DATE = "Tue Nov 21 18:09:42 2023"

RELEASE_UID = "SecureDrop Release Signing Key <securedrop-release-key-2021@freedom.press>"


@dataclass(frozen=True)
class SimKey:
    """A public key the simulator plays: its armored text and rpm facts."""

    name: str
    armored: bytes
    fingerprint: str
    created: int
    algorithm: str = "RSA/SHA512"

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:].lower()

    @property
    def rpm_name(self) -> str:
        """``gpg-pubkey-<short id>-<creation time>``, as ``rpm --import`` names it."""
        return f"gpg-pubkey-{self.fingerprint[-8:].lower()}-{self.created:08x}"


# The shipped keys: (file in sdw_updater/keys, fingerprint, creation time, algorithm).
SHIPPED = {
    "release": (
        "securedrop-release-signing-pubkey-2021.asc",
        "2359E6538C0613E652955E6C188EDD3B7B22E6A3",
        1620666029,
        "RSA/SHA512",
    ),
    "test": (
        "securedrop-test-key.asc",
        "83127F68BABB04F3FE9A69AA545E94503FAB65AB",
        1712270315,
        "RSA/SHA512",
    ),
    "qubes": (
        "sim-qubes-release-standin.asc",
        "C616D22E83B45D9E47ADD467711AE65C7A0C25BA",
        1795322382,
        "EdDSA/SHA256",
    ),
}
# Generated on demand: user id, expiry, faked creation time (None = now).
GENERATED = {
    "rogue": (RELEASE_UID, "never", None),
    "expired": (
        "SecureDrop Release Signing Key (expired simulator key) <expired@sim.example.invalid>",
        "1d",
        "20190101T000000!",
    ),
    "extra": ("Extra Signing Key (simulator) <extra@sim.example.invalid>", "never", None),
}


def pinned_name(trust: TrustSettings) -> str:
    """The shipped key the environment pins: release on prod, test elsewhere."""
    return "release" if trust.environment == "prod" else "test"


def needed_keys(trust: TrustSettings) -> set[str]:
    """The generated keys this scenario needs (none for the built-in one)."""
    needed = set()
    if trust.dom0_key in ("rogue", "two_keys") or trust.package_signer == "rogue":
        needed.add("rogue")
    if trust.dom0_key == "expired":
        needed.add("expired")
    if (
        trust.extra_rpmdb_key
        or trust.template_source == "extra_key"
        or trust.package_signer == "third_party"
    ):
        needed.add("extra")
    return needed


# ----- keys ------------------------------------------------------------------------


def load_key(name: str, sim_dir: Path) -> SimKey:
    """A shipped key, or a generated one from the cache (generate it first)."""
    if name in SHIPPED:
        filename, fingerprint, created, algorithm = SHIPPED[name]
        folder = SIM_KEYS if filename.startswith("sim-") else PRODUCT_KEYS
        return SimKey(name, (folder / filename).read_bytes(), fingerprint, created, algorithm)
    directory = sim_dir / "keys"
    meta = json.loads((directory / f"{name}.json").read_text())
    return SimKey(
        name,
        (directory / f"{name}.asc").read_bytes(),
        str(meta["fingerprint"]),
        int(meta["created"]),
        "EdDSA/SHA256",
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_keys(sim_dir: Path, names: set[str]) -> None:
    """Generate the missing cached keys (once per sim dir; later runs reuse them)."""
    directory = sim_dir / "keys"

    def missing() -> list[str]:
        return sorted(
            n
            for n in names
            if not (directory / f"{n}.asc").exists() or not (directory / f"{n}.json").exists()
        )

    if not missing():
        return
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / ".lock"):
        for name in missing():
            armored, fingerprint, created = _generate(*GENERATED[name])
            write_atomic(directory / f"{name}.asc", armored)
            meta = {"fingerprint": fingerprint, "created": created}
            write_atomic(directory / f"{name}.json", json.dumps(meta).encode())


def _run_gpg(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, capture_output=True, timeout=GPG_TIMEOUT, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ScenarioError(f"[trust]: could not generate a simulator key with gpg: {exc}") from exc


def _generate(uid: str, expiry: str, faked_time: str | None) -> tuple[bytes, str, int]:
    """One ed25519 signing key in a throwaway GnuPG home; its public key only."""
    gpg = shutil.which("gpg") or "/usr/bin/gpg"
    # Short (gpg-agent's socket path limit) and private.
    home = tempfile.mkdtemp(prefix="g", dir="/tmp" if os.path.isdir("/tmp") else None)
    base = [gpg, "--homedir", home, "--batch", "--no-tty", "--quiet"]
    try:
        faked = ["--faked-system-time", faked_time] if faked_time else []
        _run_gpg(
            [*base, *faked, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", expiry]
        )
        listing = _run_gpg([*base, "--with-colons", "--list-keys"]).stdout.decode()
        fingerprint = ""
        created = 0
        for line in listing.splitlines():
            fields = line.split(":")
            if fields[0] == "pub" and not created:
                created = int(fields[5])
            elif fields[0] == "fpr" and not fingerprint:
                fingerprint = fields[9]
        if not re.fullmatch(r"[0-9A-F]{40}", fingerprint) or not created:
            raise ScenarioError("[trust]: gpg generated no usable simulator key")
        armored = _run_gpg([*base, "--armor", "--export", fingerprint]).stdout
        return armored, fingerprint, created
    finally:
        gpgconf = shutil.which("gpgconf") or "/usr/bin/gpgconf"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [gpgconf, "--homedir", home, "--kill", "gpg-agent"],
                capture_output=True,
                timeout=GPG_TIMEOUT,
                check=False,
            )
        shutil.rmtree(home, ignore_errors=True)


# ----- dom0's files ----------------------------------------------------------------


def _put(root: Path, relative: str, data: bytes | None) -> None:
    """Write (or with None remove) one file of the fake root, only when it changes."""
    path = root / relative
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, durable=False)


def _key_file(trust: TrustSettings, sim_dir: Path) -> bytes | None:
    """What the SecureDrop key file holds for ``[trust].dom0_key``."""
    kind = trust.dom0_key
    if kind == "missing":
        return None
    pinned = load_key(pinned_name(trust), sim_dir).armored
    if kind == "two_keys":
        return pinned + load_key("rogue", sim_dir).armored
    if kind == "garbage":
        noise = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(64))
        return b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + base64.b64encode(noise) + b"\n\x00\xff"
    if kind == "huge":
        padding = b"# padding\n" * (HUGE_BYTES // 10 + 1)
        return pinned + padding
    return load_key(kind, sim_dir).armored


def _sdw_repo(trust: TrustSettings, key_name: str) -> bytes:
    host = "yum.securedrop.org" if trust.environment == "prod" else "yum-test.securedrop.org"
    return (
        "[securedrop-workstation-dom0]\n"
        f"gpgcheck={1 if trust.gpgcheck else 0}\n"
        "skip_if_unavailable=False\n"
        f"gpgkey=file:///etc/pki/rpm-gpg/{key_name}\n"
        "enabled=1\n"
        f"baseurl=https://{host}/workstation/dom0/r$releasever\n"
        "name=SecureDrop Workstation Qubes dom0 repo\n"
    ).encode()


QUBES_REPO_TEXT = """\
[qubes-dom0-current]
name = Qubes Dom0 Repository (updates)
baseurl = https://yum.qubes-os.org/r$releasever/current/host/fc37
skip_if_unavailable=False
enabled = 1
metadata_expire = 6h
gpgcheck = 1
gpgkey = file:///etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-$releasever-primary

[qubes-dom0-current-testing]
name = Qubes Dom0 Repository (updates-testing)
baseurl = https://yum.qubes-os.org/r$releasever/current-testing/host/fc37
skip_if_unavailable=False
enabled = 0
gpgcheck = 1
gpgkey = file:///etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-$releasever-primary
"""

CACHED_REPO_TEXT = """\
[qubes-dom0-cached]
name = Qubes OS Repository for Dom0
baseurl = file:///var/lib/qubes/updates
gpgcheck = 1
# dom0 creates its own metadata
repo_gpgcheck = 0
metadata_expire = 0
"""

INSECURE_REPO_TEXT = """\
[local-unsigned]
name = Local packages (simulated: signature checking turned off)
baseurl = file:///var/local/rpms
enabled = 1
gpgcheck = 0
"""

DNF_CONF_TEXT = """\
[main]
gpgcheck=1
installonly_limit=3
clean_requirements_on_remove=True
best=False
skip_if_unavailable=False
"""

# What Qubes adds for dom0's own dnf: it installs only from the repository dom0
# builds from what the UpdateVM sent (qubes-cached.repo).
QUBES_MAIN = """\
reposdir=/etc/yum.real.repos.d
installonlypkgs = kernel, kernel-qubes-vm
"""

QUBES_BLOCK = f"""\
### QUBES BEGIN ###
{QUBES_MAIN}distroverpkg = qubes-release
### QUBES END ###
"""

DNF_CONF_REPO = """\

[sim-dnf-conf]
name = A repository defined in dnf.conf itself (simulated)
baseurl = file:///var/local/dnf-conf-rpms
enabled = 1
gpgcheck = 0
"""

LOCAL_REPO_TEXT = """\
[sim-local]
name = Local packages, in a repository directory of its own (simulated)
baseurl = file:///var/local/rpms
enabled = 1
gpgcheck = 0
"""

LOCAL_REPOSDIR = "reposdir=/etc/yum.real.repos.d,/etc/sim-local.repos.d\n"

MIRROR_REPO_TEXT = """\
[securedrop-workstation-dom0]
name = SecureDrop Workstation, from elsewhere (simulated)
baseurl = https://mirror.example.invalid/workstation/dom0/r$releasever
enabled = 1
gpgcheck = 1
gpgkey = file:///etc/pki/rpm-gpg/RPM-GPG-KEY-qubes-$releasever-primary
"""

OVERRIDE_TEXT = """\
# written by dnf5 config-manager setopt (simulated)
[qubes-dom0-cached]
gpgcheck = 0
"""

THIRD_PARTY_REPO_TEXT = f"""\
[sim-third-party]
name = A third-party repository dom0 trusts (simulated)
baseurl = https://third-party.example.invalid/dom0
enabled = 1
gpgcheck = 1
gpgkey = file:///etc/pki/rpm-gpg/{THIRD_PARTY_KEY}
"""


def dnf_files(trust: TrustSettings, release: str) -> dict[str, str | None]:
    """dom0's dnf configuration for ``[trust].dnf_config`` (None: no such file)."""
    trap = trust.dnf_config
    dnf5 = tuple(int(p) for p in release.split(".")) >= (4, 3)
    conf = DNF_CONF_TEXT
    if not dnf5:
        conf += QUBES_BLOCK
    if trap == "reposdir_elsewhere":
        conf += LOCAL_REPOSDIR
    if trap == "repo_in_dnf_conf":
        conf += DNF_CONF_REPO
    local = trap in ("reposdir_elsewhere", "dnf5_dropin")
    return {
        DNF_CONF: conf,
        QUBES_DROPIN: f"[main]\n{QUBES_MAIN}" if dnf5 else None,
        SIM_DROPIN: f"[main]\n{LOCAL_REPOSDIR}" if trap == "dnf5_dropin" else None,
        SIM_OVERRIDE: OVERRIDE_TEXT if trap == "dnf5_override" else None,
        LOCAL_REPO: LOCAL_REPO_TEXT if local else None,
        MIRROR_REPO: MIRROR_REPO_TEXT if trap == "duplicate_repo" else None,
    }


def prepare(root: Path, sim_dir: Path, scenario: Scenario) -> None:
    """Write dom0's trust files for this scenario (and drop stale ones)."""
    trust = scenario.trust
    ensure_keys(sim_dir, needed_keys(trust))
    key_name = SDW_KEY.get(trust.environment, SDW_KEY_TEST)
    for name in (SDW_KEY["prod"], SDW_KEY_TEST):
        if name != key_name:
            _put(root, f"{KEY_DIR}/{name}", None)
    _put(root, f"{KEY_DIR}/{key_name}", _key_file(trust, sim_dir))
    release = scenario.sim.qubes_release
    for entry in (root / KEY_DIR).glob("RPM-GPG-KEY-qubes-*-primary"):
        if entry.name != f"RPM-GPG-KEY-qubes-{release}-primary":
            entry.unlink()
    _put(root, f"{KEY_DIR}/RPM-GPG-KEY-qubes-{release}-primary", load_key("qubes", sim_dir).armored)
    _put(root, SDW_REPO, _sdw_repo(trust, key_name))
    _put(root, QUBES_REPO, QUBES_REPO_TEXT.encode())
    _put(root, INSECURE_REPO, INSECURE_REPO_TEXT.encode() if trust.insecure_repo else None)
    _put(root, CACHED_REPO, CACHED_REPO_TEXT.encode())
    for path, text in dnf_files(trust, release).items():
        _put(root, path, None if text is None else text.encode())
    third_party = trust.package_signer == "third_party"
    _put(root, THIRD_PARTY_REPO, THIRD_PARTY_REPO_TEXT.encode() if third_party else None)
    extra = load_key("extra", sim_dir).armored if third_party else None
    _put(root, f"{KEY_DIR}/{THIRD_PARTY_KEY}", extra)
    config = {"environment": trust.environment}
    _put(root, CONFIG_PATH, (json.dumps(config, indent=2) + "\n").encode())


# ----- the rpm database ------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One installed package as the fake rpm reports it."""

    name: str
    version: str
    release: str
    description: str
    rsa_signature: str = "(none)"  # %{RSAHEADER:pgpsig}
    dsa_signature: str = "(none)"  # %{DSAHEADER:pgpsig} (EdDSA and ECDSA signatures)


def installed(scenario: Scenario, sim_dir: Path) -> list[Package]:
    """The packages the fake rpm knows: the gpg-pubkeys and the SecureDrop packages."""
    from sdw_updater.version import __version__

    trust = scenario.trust
    single = trust.dom0_key in ("release", "test", "rogue", "expired")
    # The rpm database holds what was imported from a genuine-looking key
    # file; a missing or broken file leaves the environment's key in it.
    names = [trust.dom0_key if single else pinned_name(trust), "qubes"]
    if trust.extra_rpmdb_key or trust.package_signer == "third_party":
        names.append("extra")
    packages = []
    for name in names:
        key = load_key(name, sim_dir)
        version, release = key.rpm_name.split("-")[2:]
        armored = key.armored.decode("ascii").strip()
        packages.append(Package("gpg-pubkey", version, release, armored))
    # A dom0 update installs the new SecureDrop dom0 configuration (1.7.0 -> 1.7.1).
    from sdw_sim.state import StateStore

    updated = bool(StateStore(sim_dir).read().get("dom0_installed"))
    for name, version, release in (
        ("securedrop-workstation-dom0-config", "1.7.1" if updated else "1.7.0", "1.fc41"),
        ("securedrop-workstation-keyring", "0.3.0", "1.fc41"),
        ("securedrop-updater", __version__, "1"),
    ):
        rsa, dsa = _signatures(trust, sim_dir, name)
        packages.append(Package(name, version, release, f"{name} (simulated)", rsa, dsa))
    return packages


def _signatures(trust: TrustSettings, sim_dir: Path, package: str) -> tuple[str, str]:
    """A SecureDrop package's (RSAHEADER, DSAHEADER) per ``[trust].package_signer``."""
    signer_name = pinned_name(trust)
    if trust.package_signer == "unsigned":
        return "(none)", "(none)"
    if trust.package_signer in ("rogue", "qubes"):
        signer_name = trust.package_signer
    elif trust.package_signer == "third_party" and package == "securedrop-workstation-keyring":
        signer_name = "extra"
    signer = load_key(signer_name, sim_dir)
    signature = f"{signer.algorithm}, {SIG_DATE}, Key ID {signer.key_id}"
    # rpm keeps RSA header signatures in RSAHEADER, EdDSA ones in DSAHEADER.
    if signer.algorithm.startswith("RSA"):
        return signature, "(none)"
    return "(none)", signature


_TAG = re.compile(r"%\{([A-Za-z]+)(?::([a-z]+))?\}")


def query_format(fmt: str, package: Package) -> str:
    """rpm's --queryformat for the tags the updater uses; ValueError otherwise."""
    fmt = fmt.replace("\\n", "\n").replace("\\t", "\t")
    result = []
    position = 0
    for match in _TAG.finditer(fmt):
        literal = fmt[position : match.start()]
        if "%" in literal.replace("%%", ""):
            raise ValueError("incorrect format: unsupported query format")
        result.append(literal.replace("%%", "%"))
        tag, modifier = match.group(1).upper(), match.group(2)
        values = {
            "NAME": package.name,
            "VERSION": package.version,
            "RELEASE": package.release,
            "EPOCH": "(none)",
            "ARCH": "noarch" if package.name != "gpg-pubkey" else "(none)",
            "DESCRIPTION": package.description,
            "SUMMARY": package.description.splitlines()[0],
        }
        if tag in ("RSAHEADER", "DSAHEADER", "SIGPGP", "SIGGPG"):
            if modifier != "pgpsig":
                raise ValueError(f"incorrect format: {tag} needs :pgpsig here")
            signatures = {"RSAHEADER": package.rsa_signature, "DSAHEADER": package.dsa_signature}
            values[tag] = signatures.get(tag, "(none)")
        if tag not in values:
            raise ValueError(f'incorrect format: unknown tag: "{match.group(1)}"')
        result.append(values[tag])
        position = match.end()
    tail = fmt[position:]
    if "%" in tail.replace("%%", ""):
        raise ValueError("incorrect format: unsupported query format")
    result.append(tail.replace("%%", "%"))
    return "".join(result)


def _write(stream: Any, text: str) -> None:
    stream.buffer.write(text.encode("utf-8", "surrogateescape"))
    stream.buffer.flush()


def rpm(scenario: Scenario, sim_dir: Path, argv: list[str]) -> int:
    """``rpm -q [-a] [--qf FORMAT] [NAME...]`` and ``rpm --version``; no root needed."""
    if argv == ["--version"]:
        _write(sys.stdout, "RPM version 4.18.2\n")
        return 0
    try:
        everything, fmt, names = _rpm_query(argv)
    except ValueError as exc:
        _write(sys.stderr, f"rpm: {exc}\n")
        return 1
    packages = installed(scenario, sim_dir)
    selected = packages if everything else []
    failed = 0
    for name in names:
        found = [p for p in packages if name in (p.name, f"{p.name}-{p.version}-{p.release}")]
        if not found:
            _write(sys.stdout, f"package {name} is not installed\n")
            failed += 1
        selected.extend(found)
    try:
        text = "".join(query_format(fmt, package) for package in selected)
    except ValueError as exc:
        _write(sys.stderr, f"error: {exc}\n")
        return 1
    _write(sys.stdout, text)
    return min(failed, 255)


def _rpm_query(argv: list[str]) -> tuple[bool, str, list[str]]:
    """(all packages, query format, names) of an rpm query; ValueError says what is wrong."""
    query = False
    everything = False
    fmt = "%{NAME}-%{VERSION}-%{RELEASE}\\n"
    names: list[str] = []
    words = iter(argv)
    for arg in words:
        if arg in ("-q", "--query", "-qa"):
            query = True
            everything = everything or arg == "-qa"
        elif arg in ("-a", "--all"):
            everything = True
        elif arg in ("--qf", "--queryformat"):
            value = next(words, None)
            if value is None:
                raise ValueError(f"option '{arg}' requires an argument")
            fmt = value
        elif arg.startswith(("--qf=", "--queryformat=")):
            fmt = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            raise ValueError(f"{arg}: unknown option")
        else:
            names.append(arg)
    if not query:
        raise ValueError("only queries (-q) are simulated")
    if not names and not everything:
        raise ValueError("no arguments given for query")
    return everything, fmt, names


# ----- the templates' apt source --------------------------------------------------------


def _base_template(scenario: Scenario, vm: str) -> str | None:
    current = scenario.vms.get(vm)
    seen = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        if current.klass in ("TemplateVM", "StandaloneVM"):
            return current.name
        current = scenario.vms.get(current.template) if current.template else None
    return None


def apt_source(trust: TrustSettings, sim_dir: Path, suite: str = "trixie") -> bytes:
    """The deb822 source SecureDrop's Salt state writes, per ``[trust].template_source``."""
    blocks = [load_key(pinned_name(trust), sim_dir).armored]
    if trust.template_source == "extra_key":
        blocks.append(load_key("extra", sim_dir).armored)
    lines = []
    for block in blocks:
        for line in block.decode("ascii").strip().splitlines():
            lines.append(" " + (line if line.strip() else "."))
    host = "apt.freedom.press" if trust.environment == "prod" else "apt-test.freedom.press"
    text = (
        "## Written by the SecureDrop Workstation Salt state (simulated)\n"
        "Types: deb\n"
        f"URIs: https://{host}\n"
        f"Suites: {suite}\n"
        "Components: main\n"
        + ("Trusted: yes\n" if trust.template_source == "trusted_yes" else "")
        + "Signed-By:\n"
        + "\n".join(lines)
        + "\n"
    )
    return text.encode("ascii")


def vm_file(scenario: Scenario, sim_dir: Path, vm: str, path: str) -> bytes | None:
    """A file inside a VM.

    ``[vms."NAME"].files`` first (the VM's own, then its templates': an
    AppVM's root file system is its template's), any text a hostile VM may
    hold; else only SecureDrop templates (and their VMs) have the apt source.
    """
    current = scenario.vms.get(vm)
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        if path in current.files:
            return current.files[path].encode("utf-8", "surrogateescape")
        current = scenario.vms.get(current.template) if current.template else None
    template = _base_template(scenario, vm)
    if path != APT_SOURCE or template is None:
        return None
    if "sd-workstation" not in scenario.vms[template].tags:
        return None
    suite = "bookworm" if "bookworm" in template else "trixie"
    return apt_source(scenario.trust, sim_dir, suite)


def read_command(
    scenario: Scenario, sim_dir: Path, vm: str, words: list[str]
) -> tuple[int, str, str]:
    """``cat [--] FILE...`` or ``base64 [--] FILE`` inside a VM: (exit, stdout, stderr)."""
    program, args = words[0], [w for w in words[1:] if w != "--"]
    if not args:
        return 1, "", f"{program}: reading standard input is not simulated\n"
    out_parts: list[str] = []
    for path in args:
        data = vm_file(scenario, sim_dir, vm, path)
        if data is None:
            return 1, "".join(out_parts), f"{program}: {path}: No such file or directory\n"
        if program == "base64":
            encoded = base64.b64encode(data).decode("ascii")
            out_parts.append(
                "".join(encoded[i : i + 76] + "\n" for i in range(0, len(encoded), 76))
            )
        else:
            out_parts.append(data.decode("utf-8", "surrogateescape"))
    return 0, "".join(out_parts), ""
