"""RPMs for the tests: this project's (``rpm/build.sh``) and a stand-in of SecureDrop Workstation's.

The stand-in is ``securedrop-workstation-dom0-config`` as far as rpm can
tell: the same name and every path of its ``%files``
(``tests/data/securedrop-workstation-dom0-config.files``, where the list
says where it comes from). Most files hold one line naming the stand-in;
the few a dom0 test runs or reads carry what upstream's do, as far as this
project relies on it (docs/dom0-install.md, "What SecureDrop Workstation
installs"):

- ``/usr/bin/sdw-updater`` and ``sdw-notify`` say they are upstream's;
- ``/usr/bin/sdw-login`` runs ``sdw-updater`` through ``PATH``, as
  upstream's does after its 5 s sleep (left out);
- the desktop entry (``Exec=sdw-updater``), the user units
  (``ExecStart=/usr/bin/sdw-notify``, ``WantedBy=default.target``) and the
  user preset (``enable sdw-notify.timer``);
- its ``%post`` applies that preset on first install, as upstream's
  ``%systemd_user_post`` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_FILES = ROOT / "tests" / "data" / "securedrop-workstation-dom0-config.files"
UPSTREAM_NAME = "securedrop-workstation-dom0-config"
UPSTREAM_VERSION = "1.7.1"
STANDIN_SAYS = "stand-in of securedrop-workstation-dom0-config"
COMMIT_EPOCH = 1767225600  # 2026-01-01 00:00:00 UTC, the scratch commit's date

DESKTOP_ENTRY = """[Desktop Entry]
Version=1.0
Type=Application
Terminal=false
Icon=securedrop
Name=SecureDrop Inbox
Exec=sdw-updater
"""

#: Path -> (content, mode) for the files a test runs or reads; others get one line.
STANDIN_FILES: dict[str, tuple[str, int]] = {
    "/usr/bin/sdw-updater": (f'#!/bin/sh\necho "sdw-updater: {STANDIN_SAYS}"\n', 0o755),
    "/usr/bin/sdw-notify": (f'#!/bin/sh\necho "sdw-notify: {STANDIN_SAYS}"\n', 0o755),
    # Upstream's runs sdw-updater through PATH (after a sleep): so does this.
    "/usr/bin/sdw-login": ('#!/bin/sh\nexec sdw-updater "$@"\n', 0o755),
    "/usr/share/applications/press.freedom.SecureDropUpdater.desktop": (DESKTOP_ENTRY, 0o644),
    "/srv/salt/securedrop_salt/press.freedom.SecureDropUpdater.desktop": (DESKTOP_ENTRY, 0o644),
    "/usr/lib/systemd/user/sdw-notify.service": (
        "[Unit]\nDescription=stand-in\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/sdw-notify\n",
        0o644,
    ),
    "/usr/lib/systemd/user/sdw-notify.timer": (
        "[Unit]\nDescription=stand-in\n\n[Timer]\nOnStartupSec=2h\nOnUnitActiveSec=2h\n\n"
        "[Install]\nWantedBy=default.target\n",
        0o644,
    ),
    "/usr/lib/systemd/user-preset/95-securedrop-systemd-user.preset": (
        "enable securedrop-user-xfce-icon-size.service\n"
        "enable securedrop-user-xfce-settings.service\n"
        "enable sdw-notify.timer\n",
        0o644,
    ),
}

STANDIN_POST = """if [ "$1" -eq 1 ] && [ -x /usr/bin/systemctl ]; then
    /usr/bin/systemctl --no-reload --preset-mode=enable-only --global preset sdw-notify.timer || :
fi
"""


def upstream_paths() -> list[str]:
    """The stand-in's files: the data file's lines that are paths."""
    lines = UPSTREAM_FILES.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("/")]


def run(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def ok(argv: list[str], **kwargs) -> str:
    proc = run(argv, **kwargs)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment without the caller's git, rpm or Python settings."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
        "GIT_AUTHOR_DATE": f"@{COMMIT_EPOCH} +0000",
        "GIT_COMMITTER_DATE": f"@{COMMIT_EPOCH} +0000",
    }
    env.update(extra)
    return env


def project_files() -> list[str]:
    out = ok(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        env=clean_env(Path.home()),
    )
    return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})


def commit(repo: Path, env: dict[str, str], message: str) -> None:
    ok(["git", "add", "-A"], cwd=repo, env=env)
    ok(["git", "commit", "-q", "--no-verify", "-m", message], cwd=repo, env=env)


def copy_project(dest: Path) -> Path:
    """The project's files as they are now (tracked, and untracked ones git does not ignore)."""
    for name in project_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
    return dest


def snapshot(repo: Path, env: dict[str, str]) -> Path:
    """A git repository holding the project as it is now, in one commit."""
    copy_project(repo)
    ok(["git", "init", "-q", str(repo)], env=env)
    commit(repo, env, "snapshot")
    return repo


def build_ours(work: Path) -> Path:
    """This project's RPM, built by ``rpm/build.sh`` from a snapshot of the tree."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env(home)
    repo = snapshot(work / "source", env)
    ok(["bash", "rpm/build.sh"], cwd=repo, env=env)
    return next((repo / "dist").glob("securedrop-updater-*.noarch.rpm"))


def standin_content(path: str) -> tuple[bytes, int]:
    if path in STANDIN_FILES:
        text, mode = STANDIN_FILES[path]
        return text.encode(), mode
    mode = 0o755 if path.startswith("/usr/bin/") else 0o644
    return f"{STANDIN_SAYS}: {path}\n".encode(), mode


def spec(name: str, version: str, paths: list[str], tree: Path, post: str = "") -> str:
    """A spec whose package owns exactly ``paths``, copied from ``tree`` as they are."""
    files = "\n".join(paths)
    post_section = f"%post\n{post}\n" if post else ""
    return f"""Name: {name}
Version: {version}
Release: 1
Summary: Stand-in for the tests of securedrop-updater
License: AGPL-3.0-or-later
BuildArch: noarch
AutoReqProv: no
%global __os_install_post %{{nil}}
%global debug_package %{{nil}}

%description
Owns the paths of {name} {version} with placeholder contents (tests/helpers/rpmkit.py).

%install
cp -a {tree}/. "$RPM_BUILD_ROOT/"

{post_section}
%files
%defattr(-,root,root,-)
{files}
"""


def rpmbuild(spec_text: str, name: str, work: Path) -> Path:
    """Build a binary RPM from ``spec_text`` in ``work``; return its path."""
    top = work / f"{name}-rpmbuild"
    for sub in ("SPECS", "BUILD", "RPMS", "home"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    spec_path = top / "SPECS" / f"{name}.spec"
    spec_path.write_text(spec_text, encoding="utf-8")
    argv = ["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {top}"]
    argv += ["--define", "_build_id_links none", str(spec_path)]
    ok(argv, env=clean_env(top / "home"), cwd=top / "BUILD")
    return next((top / "RPMS").rglob(f"{name}-*.rpm"))


def build_standin(work: Path) -> Path:
    """The stand-in of securedrop-workstation-dom0-config, owning its every path."""
    paths = upstream_paths()
    tree = work / "standin-tree"
    for path in paths:
        content, mode = standin_content(path)
        target = tree / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    return rpmbuild(
        spec(UPSTREAM_NAME, UPSTREAM_VERSION, paths, tree, STANDIN_POST), UPSTREAM_NAME, work
    )


def build_owner_of(path: str, name: str, work: Path) -> Path:
    """A package owning one path (with other contents than the stand-in's)."""
    tree = work / f"{name}-tree"
    target = tree / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"{name}: {path}\n")
    return rpmbuild(spec(name, "1.0", [path], tree), name, work)


def build_provider(
    name: str, work: Path, provides: tuple[str, ...] = (), files: tuple[str, ...] = ()
) -> Path:
    """A package named ``name`` that provides ``provides`` and owns ``files`` (what dom0 has)."""
    tree = work / f"{name}-tree"
    for path in files:
        target = tree / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{name}: {path}\n")
    tree.mkdir(parents=True, exist_ok=True)
    text = spec(name, "1.0", list(files), tree)
    extra = "".join(f"Provides: {item}\n" for item in provides)
    return rpmbuild(text.replace("AutoReqProv: no\n", "AutoReqProv: no\n" + extra), name, work)


def rpm_argv(root: Path, *args: str) -> list[str]:
    """``rpm`` on the database of ``root``; in a user namespace when not root."""
    argv = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", *args]
    if os.geteuid() != 0:
        argv = ["unshare", "--map-root-user", *argv]
    return argv
