"""The dom0 package: reproducible, complete, installable beside SecureDrop Workstation, lint-clean.

Every build here starts from a committed tree, as ``make rpm`` does in a clean
clone: the project as it is now (tracked files plus untracked ones git does
not ignore) is copied into a scratch repository and committed with a fixed
date, then cloned wherever a build needs it.

SecureDrop Workstation's own ``securedrop-workstation-dom0-config`` is played
by a stand-in owning its every path (tests/helpers/rpmkit.py): rpm itself must
install both into one root without a conflict (docs/dom0-install.md).
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import needs
from helpers.rpmkit import (
    COMMIT_EPOCH,
    ROOT,
    UPSTREAM_NAME,
    UPSTREAM_VERSION,
    build_owner_of,
    build_provider,
    build_standin,
    clean_env,
    commit,
    copy_project,
    ok,
    project_files,
    rpm_argv,
    run,
    snapshot,
    upstream_paths,
)

NAME = "securedrop-updater"
VERSION = re.search(
    r'^__version__ = "([^"]+)"$',
    (ROOT / "sdw_updater" / "version.py").read_text(encoding="utf-8"),
    re.MULTILINE,
).group(1)  # type: ignore[union-attr]
RPM_FILE = f"{NAME}-{VERSION}-1.noarch.rpm"
SRPM_FILE = f"{NAME}-{VERSION}-1.src.rpm"
PACKAGES = ("sdw_updater", "launcher", "sdw_notify")
APPDIR = f"/usr/share/{NAME}"
LIBEXEC = f"/usr/libexec/{NAME}"
STATEDIR = f"/var/lib/{NAME}"
ICON_SIZES = (16, 32, 48, 64, 128, 256)


#: The programs under the contract's names in LIBEXEC, and their /usr/bin links.
COMMANDS = {
    "sdw-updater": "securedrop-updater",
    "sdw-notify": "securedrop-updater-notify",
    "sdw-login": "securedrop-updater-login",
}
SWITCH = "securedrop-updater-switch"


#: The installed manual pages: (contract name, installed page).
PAGES = (
    ("sdw-updater", "/usr/share/man/man1/securedrop-updater.1.gz"),
    ("sdw-notify", "/usr/share/man/man1/securedrop-updater-notify.1.gz"),
    ("sdw-login", "/usr/share/man/man1/securedrop-updater-login.1.gz"),
    (SWITCH, "/usr/share/man/man8/securedrop-updater-switch.8.gz"),
)
DOCDIR = f"/usr/share/doc/{NAME}"
LICENSEDIR = f"/usr/share/licenses/{NAME}"


def clone(source: Path, dest: Path, env: dict[str, str]) -> Path:
    ok(["git", "clone", "-q", str(source), str(dest)], env=env)
    return dest


def build(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(["bash", "rpm/build.sh", *args], cwd=repo, env=env, timeout=300)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(package: Path, *args: str) -> str:
    return ok(["rpm", "-qp", *args, str(package)], env=clean_env(package.parent))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the builds go; every build needs git, rpmbuild and rpm."""
    for tool in ("git", "rpmbuild", "rpm"):
        needs.tool(tool)
    return tmp_path_factory.mktemp("rpm")


@pytest.fixture(scope="module")
def source_repo(scratch: Path) -> Path:
    """A git repository holding the project as it is now, in one commit."""
    return snapshot(scratch / "source", clean_env(scratch))


@pytest.fixture(scope="module")
def first_build(scratch: Path, source_repo: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    home = scratch / "home-one"
    home.mkdir()
    repo = clone(source_repo, scratch / "one", clean_env(home))
    proc = build(repo, clean_env(home, TZ="UTC"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo / "dist", proc


@pytest.fixture(scope="module")
def package(first_build: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    return first_build[0] / RPM_FILE


def test_build_writes_rpm_and_srpm_and_prints_their_sha256(first_build) -> None:
    dist, proc = first_build
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == f"{sha256(dist / RPM_FILE)}  dist/{RPM_FILE}"
    assert lines[-2] == f"{sha256(dist / SRPM_FILE)}  dist/{SRPM_FILE}"


def test_two_builds_elsewhere_and_later_are_byte_identical(
    scratch: Path, source_repo: Path, first_build
) -> None:
    dist, _ = first_build
    time.sleep(1.1)
    home = scratch / "another home"
    home.mkdir()
    repo = clone(source_repo, scratch / "elsewhere" / "deeper" / "two", clean_env(home))
    proc = build(repo, clean_env(home, TZ="Pacific/Auckland", LC_ALL="de_DE.UTF-8"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in (RPM_FILE, SRPM_FILE):
        assert sha256(repo / "dist" / name) == sha256(dist / name), name


def test_headers_hold_no_build_time_host_or_path(first_build, scratch: Path) -> None:
    dist, _ = first_build
    for name in (RPM_FILE, SRPM_FILE):
        path = dist / name
        fields = query(path, "--qf", "%{BUILDTIME}|%{BUILDHOST}|%{COOKIE}").split("|")
        assert fields[:2] == [str(COMMIT_EPOCH), "reproducible"]
        assert fields[2] in ("(none)", f"reproducible {COMMIT_EPOCH}")
        everything = query(path, "--xml")
        assert str(scratch) not in everything
        assert "/tmp/" not in everything
        assert "x86_64" not in everything
        mtimes = set(query(path, "--qf", "[%{FILEMTIMES}\n]").split())
        assert mtimes == {str(COMMIT_EPOCH)}, name
    assert query(dist / RPM_FILE, "--qf", "%{SOURCERPM}") == SRPM_FILE
    assert query(dist / RPM_FILE, "--qf", "%{SIGPGP:pgpsig}%{RSAHEADER:pgpsig}") == "(none)(none)"


def expected_files() -> set[str]:
    files = {
        LIBEXEC,
        f"/usr/bin/{SWITCH}",
        STATEDIR,
        "/usr/share/applications/securedrop-updater.desktop",
        "/usr/lib/systemd/user/securedrop-updater-notify.service",
        "/usr/lib/systemd/user/securedrop-updater-notify.timer",
        "/usr/share/icons/hicolor/scalable/apps/securedrop-updater.svg",
    }
    files |= {f"{LIBEXEC}/{program}" for program in COMMANDS}
    files |= {f"/usr/bin/{name}" for name in COMMANDS.values()}
    files |= {f"/usr/share/icons/hicolor/{n}x{n}/apps/securedrop-updater.png" for n in ICON_SIZES}
    files |= {page for _, page in PAGES}
    files |= {DOCDIR, f"{DOCDIR}/README.md", LICENSEDIR, f"{LICENSEDIR}/LICENSE"}
    for name in project_files():
        parts = Path(name).parts
        if parts[0] in PACKAGES and "__pycache__" not in parts:
            files.add(f"{APPDIR}/{name}")
            files |= {f"{APPDIR}/{Path(*parts[:i])}" for i in range(1, len(parts))}
    return files | {APPDIR}


def test_package_holds_the_commands_packages_units_entries_and_icons(package: Path) -> None:
    listed = set(query(package, "-l").splitlines())
    assert listed == expected_files()
    for package_dir in ("sdw_updater", "launcher", "sdw_notify"):
        assert f"{APPDIR}/{package_dir}/__init__.py" in listed
    assert not [f for f in listed if f.endswith((".pyc", ".pyo")) or "__pycache__" in f]


def test_no_simulator_file_is_in_the_dom0_package(package: Path) -> None:
    # The simulator (fake sudo, rm, reboot, its stand-in key) never goes into dom0.
    listed = query(package, "-l").splitlines()
    simulator = [p for p in project_files() if p.split("/")[0] in ("sdw_sim", "scenarios")]
    assert simulator, "the tree has a simulator to leave out"
    assert not [f for f in listed if "sdw_sim" in f or "/scenarios" in f]
    # Nor under another name: no file of the payload has a simulator file's content.
    payload = set(query(package, "--qf", "[%{FILEDIGESTS}\n]").split())
    for name in simulator:
        if (ROOT / name).stat().st_size > 0:
            assert sha256(ROOT / name) not in payload, f"{name} is in the package"


def test_file_modes_owners_links_and_no_config(package: Path) -> None:
    rows = query(
        package,
        "--qf",
        "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES} %{FILELINKTOS}\n]",
    ).splitlines()
    modes = {
        path: (perms, owner, target.strip())
        for perms, owner, path, target in (row.split(" ", 3) for row in rows)
    }
    for path, (perms, owner, target) in modes.items():
        assert owner == "root:root", path
        if path in {f"/usr/bin/{name}" for name in COMMANDS.values()}:
            # Relative links to the programs, so an install root works too.
            program = next(p for p, name in COMMANDS.items() if path.endswith("/" + name))
            assert (perms, target) == ("lrwxrwxrwx", f"../libexec/{NAME}/{program}"), path
        elif path.startswith((f"{LIBEXEC}/", "/usr/bin/")):
            assert perms == "-rwxr-xr-x", path
        elif path in (APPDIR, DOCDIR, LICENSEDIR, LIBEXEC, STATEDIR) or (
            path.startswith(APPDIR) and perms.startswith("d")
        ):
            assert perms == "drwxr-xr-x", path
        else:
            assert perms == "-rw-r--r--", path
    # Nothing in /etc: no autostart entry, nothing an admin edits.
    assert query(package, "-c").split() == []
    assert not [path for path in modes if path.startswith("/etc/")]


def install_requires() -> list[str]:
    """``setup.py``'s ``install_requires``, read from its source, not by running it."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no install_requires")


def fedora_name(requirement: str) -> str:
    """Fedora's package of a PyPI distribution: python3-NAME, without a python- prefix."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()  # type: ignore[union-attr]
    return "python3-" + name.removeprefix("python-")


def test_requirements_are_what_dom0_must_provide(package: Path) -> None:
    required = {
        line for line in query(package, "-R").splitlines() if not line.startswith("rpmlib(")
    }
    # setup.py's install_requires, by name: their version floors are pip's business in a
    # virtualenv; in dom0 Fedora's packages are what there is.
    from_setup = {fedora_name(r) for r in install_requires()}
    assert from_setup <= required
    assert required - from_setup == {
        "python3 >= 3.11",
        # The "gui" extra: PyQt6 where dom0 has it (Qubes 4.3), else PyQt5 (Qubes 4.2),
        # as one rich dependency (rpm >= 4.12, and dnf, read it).
        "(python3-pyqt6 or python3-qt5)",
        "python3-qubesadmin",  # dom0 only, not on PyPI
        "python3-dnf",  # the system Python's dnf, run by the trust checks (not on PyPI)
        "gnupg2",
        "systemd",  # systemctl, in %preun
        "/bin/sh",
    }
    rpmlib = [line for line in query(package, "-R").splitlines() if line.startswith("rpmlib(")]
    assert any(line.startswith("rpmlib(RichDependencies)") for line in rpmlib)
    assert query(package, "--provides").splitlines() == [f"{NAME} = {VERSION}-1"]
    assert query(package, "--qf", "%{ARCH}") == "noarch"


def test_installing_enables_nothing_and_removal_switches_off(package: Path) -> None:
    """No %post: nothing starts or is enabled by installing. %preun on removal only
    (not on upgrade): the switch off, our timer disabled; neither can fail the transaction.
    tests/box/test_box_switch.py runs it for real."""
    scripts = query(package, "--scripts")
    sections = dict(
        re.findall(
            r"^(\w+) scriptlet \(using /bin/sh\):\n(.*?)(?=^\w+ scriptlet|\Z)", scripts, re.S | re.M
        )
    )
    assert set(sections) == {"preuninstall"}
    preun = sections["preuninstall"]
    assert preun.startswith('if [ "$1" -eq 0 ]; then\n')
    assert f"/usr/bin/{SWITCH} off --quiet || :" in preun
    assert "systemctl --no-reload --global disable securedrop-updater-notify.timer" in preun
    assert "[ -x /usr/bin/systemctl ]" in preun
    assert preun.rstrip().endswith("fi")
    assert preun.count("|| :") == 2


def test_manual_pages_readme_and_licence_are_marked_as_such(package: Path) -> None:
    docs = set(query(package, "-d").splitlines())
    assert docs == {f"{DOCDIR}/README.md"} | {page for _, page in PAGES}
    assert query(package, "-L").splitlines() == [f"{LICENSEDIR}/LICENSE"]


def payload_file(installed_root: Path, path: str) -> bytes:
    return (installed_root / path.lstrip("/")).read_bytes()


def test_installed_manual_pages_are_the_generators_and_gzip_clean(installed: Path) -> None:
    from launcher import manpage

    date = time.strftime("%Y-%m-%d", time.gmtime(COMMIT_EPOCH))
    for command, page in PAGES:
        packed = payload_file(installed, page)
        # gzip -n: no name, no time in the header (bytes 4-7 are the mtime).
        assert packed[:2] == b"\x1f\x8b" and packed[4:8] == b"\0\0\0\0", command
        text = gzip.decompress(packed).decode("ascii")
        assert text == manpage.page(command, date, installed=True)


def test_readme_and_licence_are_the_projects(installed: Path) -> None:
    assert payload_file(installed, f"{DOCDIR}/README.md") == (ROOT / "README.md").read_bytes()
    licence = payload_file(installed, f"{LICENSEDIR}/LICENSE")
    assert licence == (ROOT / "LICENSE").read_bytes()
    assert licence.startswith(b"                    GNU AFFERO GENERAL PUBLIC LICENSE\n")


def test_man_shows_the_installed_pages(installed: Path, scratch: Path) -> None:
    needs.tool("man")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "MANWIDTH": "80", "MANPAGER": "cat"}
    env["LANG"] = "C.UTF-8"
    for _, page in PAGES:
        name, section = Path(page).name.removesuffix(".gz").rsplit(".", 1)
        proc = run(
            ["man", "--warnings", "-l", str(installed / page.lstrip("/"))], env=env, timeout=60
        )
        assert (proc.returncode, proc.stderr) == (0, ""), page
        assert proc.stdout.startswith(f"{name.upper()}({section})"), proc.stdout[:200]
        assert "EXIT STATUS" in proc.stdout


# What Debian's rpmlint (2.4, upstream's default configuration, no distribution's)
# may still say about the packages, and why each is acceptable. Everything else,
# error or warning, fails the test, and so does an allowed one about anything but
# what its pattern names. docs/rpm.md explains each; "Fedora filters"
# means Fedora's rpmlint configuration (what dom0's distribution uses) drops it.
RPMLINT_ALLOWED: dict[tuple[str, str], str] = {
    # Signing is a release step: maintainers sign the RPM they have rebuilt and
    # compared. Fedora filters it.
    ("E", "no-signature"): "",
    # Fedora's guidelines say not to set Packager (the build system does) nor Group
    # (obsolete), nor BuildRoot (ignored since rpm 4.6). Fedora filters all three.
    ("E", "no-packager-tag"): "",
    ("E", "no-group-tag"): "",
    ("W", "no-buildroot-tag"): "",
    # Debian noise: the default list of valid licences is empty; Fedora's holds the
    # SPDX identifiers, AGPL-3.0-or-later among them.
    ("W", "invalid-license"): "AGPL-3.0-or-later",
    # Debian noise: the default expects bzip2; Fedora's configuration and its
    # brp-compress use gzip, as the spec does.
    ("W", "manpage-not-compressed"): (
        r"bz2 /usr/share/man/man(1/securedrop-updater(-notify|-login)?\.1|8/[a-z-]+\.8)\.gz"
    ),
    # The tarball is made by rpm/build.sh from git archive: there is no URL to name
    # (the spec says how it is made, as Fedora's guidelines ask).
    ("W", "invalid-url"): rf"Source0: {NAME}-{re.escape(VERSION)}\.tar\.gz",
    # systemd looks for user units and presets only under /usr/lib/systemd/; the
    # default exception list names perl, python and the like but not systemd.
    ("W", "only-non-binary-in-usr-lib"): "",
    # A bug of rpmlint 2.4: it collects each manual page's section ("1"), not its
    # name, so it names every command; the pages are tested above and in
    # tests/launcher/test_manpage.py.
    ("W", "no-manual-page-for-binary"): "securedrop-updater(-notify|-login|-switch)?",
}


def test_rpmlint_finds_nothing_but_what_is_explained(first_build, scratch: Path) -> None:
    needs.tool("rpmlint")
    dist, _ = first_build
    home = scratch / "rpmlint-home"
    home.mkdir(exist_ok=True)
    env = clean_env(home)
    proc = run(["rpmlint", str(dist / RPM_FILE), str(dist / SRPM_FILE)], env=env, timeout=300)
    findings = re.findall(
        r"^(securedrop-updater(?:\.noarch|\.src|\.spec)?)(?::\d+)?: ([EW]): (\S+)(.*)$",
        proc.stdout,
        re.MULTILINE,
    )
    assert "2 packages and 0 specfiles checked" in proc.stdout, proc.stdout + proc.stderr
    unexplained = [
        finding
        for finding in findings
        if (finding[1], finding[2]) not in RPMLINT_ALLOWED
        or not re.fullmatch(RPMLINT_ALLOWED[finding[1], finding[2]], finding[3].strip())
    ]
    assert not unexplained, proc.stdout
    # Each finding is an E: or W: line of the form above; nothing was left unparsed.
    counted = re.search(r"(\d+) errors, (\d+) warnings", proc.stdout)
    assert counted is not None, proc.stdout
    assert int(counted[1]) + int(counted[2]) == len(findings), proc.stdout


# Runs an installed script under ``python -I -S``: no site-packages, so no
# editable install of the working tree, and nothing but the install root and
# the third-party modules given on the command line can be imported. At exit
# it writes where the project's modules came from.
RUNNER = """
import atexit, json, runpy, sys
script, report, deps = sys.argv[1:4]
sys.path.append(deps)
def write_report():
    found = {
        name: getattr(module, "__file__", None)
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("sdw_updater", "launcher", "sdw_notify", "sdw_sim")
    }
    with open(report, "w", encoding="utf-8") as fh:
        json.dump(found, fh)
atexit.register(write_report)
sys.argv = [script, *sys.argv[4:]]
runpy.run_path(script, run_name="__main__")
"""


def third_party_dir(dest: Path) -> Path:
    """The third-party modules the product imports, and the simulator (not in the RPM)."""
    import gnupg

    import sdw_sim

    dest.mkdir()
    modules = (Path(gnupg.__file__), Path(sdw_sim.__file__).parent)
    for module in modules:
        (dest / module.name).symlink_to(module)
    return dest


def install(package: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """``rpm -i`` into ``root``, with rpm's own conflict checks (never --replacefiles/--force).

    --noscripts: the scriptlets run chrooted into the root, which has no
    shell and no systemctl; the box tier runs them (tests/box/test_box_switch.py).
    --nodeps: the root has none of the packages the Requires name.
    """
    argv = rpm_argv(root, "--nodeps", "--noscripts", "-i", str(package))
    return run(argv, env=clean_env(root.parent))


@pytest.fixture(scope="module")
def installed(package: Path, scratch: Path) -> Path:
    """A throwaway root the package is installed into."""
    root = scratch / "installroot"
    root.mkdir()
    proc = install(package, root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(query(package, "-l").splitlines()) <= {
        "/" + str(p.relative_to(root)) for p in root.rglob("*")
    }
    return root


def test_installed_copy_runs_the_simulated_update(installed: Path, scratch: Path) -> None:
    root = installed
    program = root / LIBEXEC.lstrip("/") / "sdw-updater"
    assert program.read_text(encoding="utf-8").startswith("#!/usr/bin/python3 -I\n")
    assert os.access(program, os.X_OK)
    script = root / "usr/bin/securedrop-updater"  # the admin's name for it: a link
    assert script.is_symlink()

    home = scratch / "run-home"
    runtime = scratch / "run-runtime"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    report = scratch / "modules.json"
    deps = third_party_dir(scratch / "deps")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    # For the simulator's fake tools, separate processes that do not run the
    # installed commands; the commands themselves ignore the environment (-I)
    # and must write no bytecode on their own, which the end of the test checks.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    argv = [sys.executable, "-I", "-S", "-c", RUNNER, str(script), str(report), str(deps)]
    argv += ["--cli", "--simulate", "--skip-delta", "0"]
    proc = run(argv, cwd=scratch, env=env, timeout=180)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert (home / ".securedrop_updater" / "sim" / "journal.jsonl").is_file()

    modules = json.loads(report.read_text(encoding="utf-8"))
    assert "sdw_sim" in modules
    prefix = str(root / "usr/share" / NAME) + "/"
    for name, origin in modules.items():
        if name.split(".")[0] == "sdw_sim":
            continue  # from the development tree: the package does not carry it
        assert origin is None or origin.startswith(prefix), (name, origin)
    assert not list(root.rglob("__pycache__"))


def require_host_python() -> None:
    """The installed commands start with ``#!/usr/bin/python3``, which must be 3.11 or later."""
    python = Path("/usr/bin/python3")
    if not python.exists():
        needs.missing("/usr/bin/python3", "python3")
    out = run([str(python), "-I", "-c", "import sys; print(*sys.version_info[:2])"], timeout=30)
    major, minor = out.stdout.split()
    assert (int(major), int(minor)) >= (3, 11), f"/usr/bin/python3 is {major}.{minor}, not 3.11+"


def test_installed_commands_start_through_their_shebang(installed: Path, scratch: Path) -> None:
    require_host_python()
    home = scratch / "shebang-home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    bindir = installed / "usr/bin"
    libexec = installed / LIBEXEC.lstrip("/")
    for program in (bindir / "securedrop-updater", libexec / "sdw-updater"):
        proc = run([str(program), "--version"], cwd=scratch, env=env, timeout=60)
        assert (proc.returncode, proc.stdout.strip()) == (0, f"sdw-updater {VERSION}"), proc.stderr
    for command, name in COMMANDS.items():
        if command == "sdw-updater":
            continue
        for program in (bindir / name, libexec / command):
            proc = run([str(program), "--help"], cwd=scratch, env=env, timeout=60)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.startswith(f"usage: {command}"), proc.stdout
    proc = run([str(bindir / SWITCH), "--help"], cwd=scratch, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {SWITCH}"), proc.stdout
    assert not list(installed.rglob("__pycache__"))


# Packages named as ours in a site-packages that would win if ours were not first on
# sys.path: SecureDrop Workstation's own sdw_updater and sdw_notify, in dom0's
# /usr/lib/python3.13/site-packages. Importing one says so and exits 97.
SHADOW = "import sys\nprint('shadowed by site-packages: ' + __name__)\nsys.exit(97)\n"


def test_packages_of_the_same_name_in_site_packages_never_shadow_ours(
    installed: Path, scratch: Path
) -> None:
    """A Python whose site-packages holds upstream-named packages runs our programs as ours."""
    require_host_python()
    venv = scratch / "upstream-python"
    ok(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], timeout=120)
    site = Path(
        ok(
            [
                str(venv / "bin/python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ]
        ).strip()
    )
    for package_name in PACKAGES:
        (site / package_name).mkdir()
        (site / package_name / "__init__.py").write_text(SHADOW)
    # The check has teeth: this Python does import them when nothing comes first.
    probe = run([str(venv / "bin/python"), "-I", "-c", "import sdw_updater"], timeout=60)
    assert (probe.returncode, probe.stdout.strip()) == (
        97,
        "shadowed by site-packages: sdw_updater",
    )
    home = scratch / "shadow-home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    libexec = installed / LIBEXEC.lstrip("/")
    for argv in (
        [str(libexec / "sdw-updater"), "--version"],
        [str(installed / "usr/bin/securedrop-updater"), "--version"],
        [str(libexec / "sdw-notify"), "--help"],
        [str(installed / "usr/bin" / SWITCH), "--help"],
    ):
        # As the shebang would run it, with this interpreter instead of /usr/bin/python3.
        proc = run([str(venv / "bin/python"), "-I", *argv], cwd=scratch, env=env, timeout=60)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        assert "shadowed" not in proc.stdout


# ----- beside SecureDrop Workstation's own package ------------------------------------------


@pytest.fixture(scope="module")
def standin(scratch: Path) -> Path:
    """securedrop-workstation-dom0-config 1.7 as far as rpm can tell: its name, its paths."""
    return build_standin(scratch / "standin")


def installed_names(root: Path) -> list[str]:
    out = run(rpm_argv(root, "-qa", "--qf", "%{NAME}\n"), env=clean_env(root.parent))
    return sorted(out.stdout.split())


@pytest.mark.parametrize("order", ["upstream-first", "ours-first"])
def test_installs_beside_securedrop_workstation_and_leaves_it_whole(
    package: Path, standin: Path, scratch: Path, order: str
) -> None:
    """rpm's own transaction check, both orders: no file conflict; removing ours leaves theirs."""
    root = scratch / f"beside-{order}"
    root.mkdir()
    first, second = (standin, package) if order == "upstream-first" else (package, standin)
    for rpm_file in (first, second):
        proc = install(rpm_file, root)
        assert proc.returncode == 0, f"{rpm_file.name}: {proc.stdout}{proc.stderr}"
    assert installed_names(root) == sorted([NAME, UPSTREAM_NAME])
    version = run(rpm_argv(root, "-q", "--qf", "%{VERSION}", UPSTREAM_NAME)).stdout
    assert version == UPSTREAM_VERSION
    ours = set(query(package, "-l").splitlines())
    assert not ours & set(upstream_paths())
    # Nothing of upstream's was changed by installing ours: rpm -V finds no difference.
    verify = run(rpm_argv(root, "-V", UPSTREAM_NAME), env=clean_env(root.parent))
    assert (verify.returncode, verify.stdout) == (0, ""), verify.stdout + verify.stderr
    proc = run(rpm_argv(root, "--noscripts", "-e", NAME), env=clean_env(root.parent))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert installed_names(root) == [UPSTREAM_NAME]
    for path in upstream_paths():
        assert (root / path.lstrip("/")).is_file(), path
    verify = run(rpm_argv(root, "-V", UPSTREAM_NAME), env=clean_env(root.parent))
    assert (verify.returncode, verify.stdout) == (0, ""), verify.stdout + verify.stderr
    assert not [p for p in ours if os.path.lexists(root / p.lstrip("/"))]


#: What a dom0 offers for our Requires, besides the Qt binding (tests/helpers/rpmkit.py).
DOM0_PACKAGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("bash", ("/bin/sh",), ()),
    ("python3", ("python3 = 3.13.0",), ()),
    ("python3-dnf", (), ()),
    ("python3-qubesadmin", (), ()),
    ("python3-gnupg", (), ()),
    ("gnupg2", (), ()),
    ("systemd", (), ()),
)


@pytest.mark.parametrize(("qubes", "qt"), [("4.3", "python3-pyqt6"), ("4.2", "python3-qt5")])
def test_dnf_installs_it_from_the_file_beside_securedrop_workstation(
    package: Path, standin: Path, scratch: Path, qubes: str, qt: str
) -> None:
    """The README's ``dnf install ./securedrop-updater-*.rpm``, in a root whose repository
    holds stand-ins of what that dom0 has: Qubes 4.3's PyQt6 or 4.2's PyQt5, not both."""
    needs.tool("dnf")
    needs.tool("createrepo_c")
    work = scratch / f"dnf-{qubes}"
    repo = work / "repo"
    repo.mkdir(parents=True)
    for name, provides, files in (*DOM0_PACKAGES, (qt, (), ())):
        shutil.copy(build_provider(name, work, provides, files), repo)
    shutil.copy(standin, repo)
    ok(["createrepo_c", "--quiet", str(repo)])
    root = work / "root"
    (work / "no-repos").mkdir()
    dnf = ["dnf", "-y", "-q", f"--installroot={root}", "--releasever=41", "--nogpgcheck"]
    dnf += [f"--setopt=reposdir={work / 'no-repos'}", f"--setopt=cachedir={work / 'cache'}"]
    dnf += [f"--repofrompath=dom0,file://{repo}", "--repo=dom0"]
    # No scriptlets: the root has no shell to run them (the box tier runs ours).
    dnf += ["--setopt=tsflags=noscripts", "--setopt=install_weak_deps=False"]
    if os.geteuid() != 0:
        dnf = ["unshare", "--map-root-user", *dnf]
    # Debian's rpm keeps its database in ~/.rpmdb; dom0's, and rpm_argv's, in /var/lib/rpm.
    (work / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
    env = clean_env(work)
    ok([*dnf, "install", UPSTREAM_NAME], env=env)
    proc = run([*dnf, "install", str(package)], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = installed_names(root)
    assert {NAME, UPSTREAM_NAME, qt} <= set(names)
    assert not {"python3-pyqt6", "python3-qt5"} - {qt} & set(names)
    ok([*dnf, "remove", NAME], env=env)
    assert NAME not in installed_names(root)
    verify = run(rpm_argv(root, "-V", UPSTREAM_NAME), env=clean_env(root.parent))
    assert (verify.returncode, verify.stdout) == (0, ""), verify.stdout + verify.stderr


def test_the_conflict_check_would_catch_a_shared_path(standin: Path, scratch: Path) -> None:
    """Not vacuous: a package owning upstream's /usr/bin/sdw-updater does not install."""
    root = scratch / "conflicting"
    root.mkdir()
    rival = build_owner_of("/usr/bin/sdw-updater", "rival", scratch / "rival")
    assert install(standin, root).returncode == 0
    proc = install(rival, root)
    assert proc.returncode != 0
    assert "/usr/bin/sdw-updater" in proc.stderr
    assert f"conflicts with file from package {UPSTREAM_NAME}" in proc.stderr
    assert installed_names(root) == [UPSTREAM_NAME]


def test_a_missing_file_stops_the_build_with_its_name(scratch: Path, source_repo: Path) -> None:
    home = scratch / "home-missing"
    home.mkdir()
    env = clean_env(home)
    repo = clone(source_repo, scratch / "missing", env)
    (repo / "files" / "securedrop-updater-notify.timer").unlink()
    commit(repo, env, "lose the timer")
    proc = build(repo, env)
    assert proc.returncode != 0
    assert "files/securedrop-updater-notify.timer is missing from the source tree" in proc.stderr
    assert not (repo / "dist" / RPM_FILE).exists()


def test_build_needs_a_commit_unless_told_to_use_the_working_tree(scratch: Path) -> None:
    home = scratch / "home-worktree"
    home.mkdir()
    repo = copy_project(scratch / "uncommitted")
    env = clean_env(home)
    ok(["git", "init", "-q", str(repo)], env=env)
    proc = build(repo, env)
    assert proc.returncode != 0
    assert "no commit yet" in proc.stderr
    proc = build(repo, env, "--worktree")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (repo / "dist" / RPM_FILE).is_file()


def test_spec_version_is_the_product_version() -> None:
    spec = (ROOT / "rpm" / f"{NAME}.spec").read_text(encoding="utf-8")
    assert re.search(rf"^Version:\s+{re.escape(VERSION)}$", spec, re.MULTILINE)
    assert re.search(r"^Release:\s+1$", spec, re.MULTILINE)
