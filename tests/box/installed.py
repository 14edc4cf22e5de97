"""A dom0 to install RPMs into, with their scriptlets: writable layers over this machine's own.

Each command runs as root in a private mount namespace (``unshare --mount``)
in which ``/usr``, ``/etc``, ``/var`` and ``/srv`` are overlays: this
machine's directories below, a directory of the test above, so whatever a
command writes there (rpm's database and files, ``systemctl --global``'s
links, the switch's record) lands in the test's directory and persists from
one command to the next, while this machine is never changed.
``/usr/local/bin`` starts empty, as in a fresh dom0. rpm runs for real,
scriptlets included (``/bin/sh``, ``/usr/bin/python3`` and ``systemctl`` are
this machine's), which the install-root tests of tests/packaging/test_rpm.py cannot do.

Run as a script, this module is the inside of the namespace: it mounts the
layers and runs one command (``installed.py CONFIG.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LAYERED = ("/usr", "/etc", "/var", "/srv")
EMPTY = ("/usr/local/bin",)
#: A session's PATH (a journalist's, an admin's terminal) and sudo's on Fedora.
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SUDO_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"


class InstalledDom0:
    """The layers of one dom0 and a way to run commands in it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.home = workdir / "home" / "journalist"
        self.home.mkdir(parents=True, exist_ok=True)
        for target in LAYERED:
            for part in ("upper", "work"):
                (workdir / "layers" / target.strip("/") / part).mkdir(parents=True, exist_ok=True)
        for target in EMPTY:
            (workdir / "empty" / target.strip("/").replace("/", "-")).mkdir(
                parents=True, exist_ok=True
            )
        self.add_desktop_user()

    def upper(self, target: str) -> Path:
        return self.workdir / "layers" / target.strip("/") / "upper"

    def add_desktop_user(self) -> None:
        """The journalist, in the ``qubes`` group, as dom0's desktop user is.

        Written into the /etc layer while nothing is mounted (overlayfs reads
        its upper directory afresh at each mount).
        """
        etc = self.upper("/etc")
        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        (etc / "passwd").write_text(passwd + f"journalist:x:4242:4242::{self.home}:/bin/bash\n")
        (etc / "group").write_text(group + "journalist:x:4242:\nqubes:x:4243:journalist\n")

    def run(
        self,
        argv: list[str],
        *,
        path_env: str = SESSION_PATH,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in this dom0, as root with the journalist's HOME."""
        config = {
            "layers": [
                [t, str(self.upper(t)), str(self.workdir / "layers" / t.strip("/") / "work")]
                for t in LAYERED
            ],
            "empty": [
                [t, str(self.workdir / "empty" / t.strip("/").replace("/", "-"))] for t in EMPTY
            ],
            "command": argv,
            "env": {"PATH": path_env, "HOME": str(self.home), "LANG": "C.UTF-8"},
            "cwd": str(self.home),
        }
        config_path = self.workdir / "run.json"
        config_path.write_text(json.dumps(config))
        inside = [sys.executable, "-SB", str(Path(__file__).resolve()), str(config_path)]
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", *inside],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": SESSION_PATH, "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def ok(self, argv: list[str], **kwargs) -> str:
        proc = self.run(argv, **kwargs)
        assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        return proc.stdout


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, timeout=30)


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    for target, upper, work in config["layers"]:
        options = f"lowerdir={target},upperdir={upper},workdir={work}"
        mount("-t", "overlay", "overlay", "-o", options, target)
    for target, source in config["empty"]:
        mount("--bind", source, target)
    os.chdir(config["cwd"])
    proc = subprocess.run(config["command"], env=config["env"], check=False)
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


if __name__ == "__main__":
    sys.exit(main())
