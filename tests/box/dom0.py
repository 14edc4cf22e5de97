"""A dom0 in a box: the layout of the box tier and how to run a program inside it.

The product runs in its REAL mode, unmodified: ``Host()`` with the real
``qubesadmin`` (``QubesLocal``, because ``/etc/qubes-release`` exists), the
real ``qvm-*`` tools and the real ``qubes-vm-update`` of one pinned Qubes
version, talking to the simulated qubesd (``sdw_sim.qubesd``) on
``/run/qubesd.sock``; the VMs are played by the fake ``qrexec-client``
(``sdw_sim.qrexec``); ``qubes-dom0-update``, ``qubesctl``, ``sdw-admin``,
``sudo``, ``reboot`` and ``rpm`` are the built-in simulator's.  Everything
runs in a private mount namespace (``unshare --mount``, as root) in which
``inside.py`` lays out the dom0 paths (see ``layout`` below and
docs/simulator.md, "The box").  Both tiers share one simulated workstation:
``sdw_sim.setup`` prepares it under ``HOME/.securedrop_updater/sim`` as for
``--simulate``, and its journal records every call.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sdw_sim
from sdw_sim.journal import Entry, read_journal

from .inside import MARKER, kill_marked

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INSIDE = Path(__file__).resolve().parent / "inside.py"
# qubes-core-admin-client version -> the qubes-core-admin-linux (vmupdate) it is paired with.
VERSIONS = {"4.2.18": "4.2.37", "4.3.34": "4.3.21", "4.4.0": "4.4.1"}
SITE_DIR = Path(os.environ.get("QUBES_BOX_DIR", ROOT / ".box"))

# The real tools, as dom0 has them: executable name -> module with main().
REAL_TOOLS = {
    "qvm-start": "qubesadmin.tools.qvm_start",
    "qvm-shutdown": "qubesadmin.tools.qvm_shutdown",
    "qvm-kill": "qubesadmin.tools.qvm_kill",
    "qvm-run": "qubesadmin.tools.qvm_run",
    "qvm-ls": "qubesadmin.tools.qvm_ls",
    "qvm-features": "qubesadmin.tools.qvm_features",
    "qvm-prefs": "qubesadmin.tools.qvm_prefs",
    "qvm-check": "qubesadmin.tools.qvm_check",
    "qvm-tags": "qubesadmin.tools.qvm_tags",
    "qubes-vm-update": "vmupdate.vmupdate",
}
# The simulated ones (sdw_sim.tools), run as the built-in simulator runs them.
SIM_TOOLS = ("qubes-dom0-update", "qubesctl", "sdw-admin", "sudo", "reboot", "rpm")


def site(version: str) -> Path:
    """Where one pinned version is installed (``make box-deps``)."""
    return SITE_DIR / version


def installed(version: str) -> bool:
    path = site(version)
    return all((path / pkg).is_dir() for pkg in ("qubesadmin", "vmupdate", "tqdm"))


def not_installed() -> str | None:
    """Why the pinned Qubes versions are not installed here (None: they are).

    The one reason the tier may be skipped, and only outside CI: the archives
    come from outside the repository (``tests/box/qubes-archives`` pins them).
    """
    absent = [v for v in VERSIONS if not installed(v)]
    if not absent:
        return None
    return (
        f"box tier: Qubes {', '.join(absent)} not installed in {SITE_DIR}; "
        "make box-deps installs them from QUBES_VENDOR=DIR or a download "
        "(docs/simulator.md, 'The box')"
    )


def cannot_run() -> str | None:
    """What else the box needs here (None: nothing); never a reason to skip."""
    if shutil.which("unshare") is None:
        return "the box tier needs unshare: install the Debian package util-linux"
    if os.geteuid() != 0:
        return "the box tier needs root (a private mount namespace lays out dom0)"
    return None


def missing_reason() -> str | None:
    """Why the box cannot run here (None: it can)."""
    return not_installed() or cannot_run()


@dataclass
class Result:
    """What one program run in the box left behind."""

    exit: int | None  # None: the run did not end in time and was killed
    stdout: str
    stderr: str
    journal: list[Entry] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Box:
    """One simulated workstation (one HOME) and the dom0 to run programs against it."""

    def __init__(
        self,
        workdir: Path,
        version: str,
        scenario: str | None = None,
        qrexec_client: str | None = None,
    ) -> None:
        """``qrexec_client``: the text of ``/usr/lib/qubes/qrexec-client`` instead of the
        simulator's (the benchmark's stand-in for dom0's C program, which returns at once)."""
        if version not in VERSIONS:
            raise ValueError(f"unknown Qubes version {version}")
        self.workdir = workdir
        self.version = version
        self.home = workdir / "home"
        self.runtime = workdir / "run"
        self.dir = workdir / "box"
        self.state_dir = self.home / ".securedrop_updater"
        self.scenario_path: Path | None = None
        self.qrexec_client = qrexec_client
        self.home.mkdir(parents=True, exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        if scenario is not None:
            self.scenario_path = workdir / "scenario.toml"
            self.scenario_path.write_text(scenario)
        self.env = sdw_sim.setup(self.scenario_path, self.state_dir)

    @property
    def journal_path(self) -> Path:
        return self.env.journal_path

    def journal(self) -> list[Entry]:
        return read_journal(self.journal_path)

    # ----- the layout ------------------------------------------------------------

    def layout(self) -> dict[str, object]:
        """Write the box's files; return what ``inside.py`` mounts where."""
        self.env = sdw_sim.setup(self.scenario_path, self.state_dir)  # as every launch does
        env = self.env
        bin_dir = self.dir / "bin"
        lib_dir = self.dir / "usr-lib" / "qubes"
        etc_dir = self.dir / "etc"
        proc_dir = self.dir / "proc"
        log_dir = self.dir / "var-log-qubes"
        for directory in (bin_dir, lib_dir, etc_dir, proc_dir, log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for tool in SIM_TOOLS:
            fault = env.scenario.faults.get(tool)
            if fault is not None and fault.mode == "missing":
                _whiteout(bin_dir / tool)  # hides the host's own (rpm, sudo...) too
            else:
                _write(bin_dir / tool, sdw_sim.wrapper_script(tool, env.sim_dir), 0o755)
        for tool, module in REAL_TOOLS.items():
            _write(bin_dir / tool, real_tool_script(tool, module, self.version, env), 0o755)
        client = self.qrexec_client or sdw_sim.wrapper_script("qrexec-client", env.sim_dir)
        _write(lib_dir / "qrexec-client", client, 0o755)
        release = env.scenario.sim.qubes_release
        _write(etc_dir / "qubes-release", f"Qubes release {release} (R{release})\n", 0o644)
        boot_id = env.root / "proc" / "sys" / "kernel" / "random" / "boot_id"
        if not boot_id.is_file():  # the simulator does not keep one: derive it from the boot
            state = json.loads((env.sim_dir / "state.json").read_text())
            boot_id = proc_dir / "boot_id"
            _write(boot_id, f"{uuid.uuid5(uuid.NAMESPACE_OID, str(state['boot_time']))}\n", 0o444)
        rpmdb = env.root / "usr" / "lib" / "sysimage" / "rpm"
        rpmdb.mkdir(parents=True, exist_ok=True)
        (lib_dir.parent / "sysimage" / "rpm").mkdir(parents=True, exist_ok=True)  # mount point
        return {
            "overlays": [
                ["/etc", [str(etc_dir), str(env.root / "etc")]],
                ["/usr/share", [str(env.root / "usr" / "share")]],
                ["/usr/bin", [str(bin_dir)]],
                ["/usr/lib", [str(self.dir / "usr-lib")]],
            ],
            "files": [
                ["/proc/uptime", str(env.root / "proc" / "uptime")],
                ["/proc/sys/kernel/random/boot_id", str(boot_id)],
                # dom0's rpm database, which the simulated qubes-dom0-update changes
                ["/usr/lib/sysimage/rpm", str(rpmdb)],
                ["/var/lib/rpm", str(rpmdb)],
            ],
            "tmp": str(env.root / "tmp"),
            "keep": sorted({str(self.workdir), str(ROOT), sys.prefix, sys.base_prefix}),
            "var_log_qubes": str(log_dir),
            "sim_dir": str(env.sim_dir),
            "qubesd_log": str(self.dir / "qubesd.log"),
        }

    # ----- running -----------------------------------------------------------------

    def run(
        self,
        argv: list[str],
        timeout: float = 180,
        extra_env: dict[str, str] | None = None,
    ) -> Result:
        """Run ``argv`` as dom0's user would, inside the box."""
        config = self.layout()
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "LANG": "C.UTF-8",
            # dom0's system Python has qubesadmin; the product's virtualenv gets it this way.
            "PYTHONPATH": str(site(self.version)),
            "PYTHONDONTWRITEBYTECODE": "1",
            **(extra_env or {}),
        }
        config.update({"command": argv, "env": env, "cwd": str(self.home)})
        marker = secrets.token_hex(8)
        env[MARKER] = marker  # every process of the run inherits it (Host.run passes env on)
        config_path = self.dir / "run.json"
        config_path.write_text(json.dumps(config, indent=1))
        proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                sys.executable,
                "-SB",
                str(INSIDE),
                str(config_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.home,
            env={"PATH": env["PATH"], "LANG": "C.UTF-8"},
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            # The run did not end: end every process of it, then report that.
            kill_marked(marker)
            stdout, stderr = proc.communicate(timeout=60)
            code = None
        kill_marked(marker)  # a tool the product left behind must not outlive the test
        return Result(code, stdout, stderr, self.journal())

    def commands(self, *argvs: list[str], timeout: float = 180) -> list[Result]:
        """Run several programs one after the other in one box (one layout, one qubesd)."""
        spec = self.dir / "commands.json"
        outputs = self.dir / "commands.out.json"
        spec.write_text(json.dumps([list(argv) for argv in argvs]))
        outputs.unlink(missing_ok=True)
        overall = self.run([sys.executable, "-SB", "-c", BATCH, str(spec), str(outputs)], timeout)
        if not outputs.exists():
            raise AssertionError(f"the commands did not run: {overall.output}")
        journal = self.journal()
        return [
            Result(code, out, err, journal) for code, out, err in json.loads(outputs.read_text())
        ]

    def updater(self, *args: str, timeout: float = 180) -> Result:
        """``sdw-updater ARGS`` in its real mode (no ``--simulate``)."""
        return self.run([str(BIN / "sdw-updater"), *args], timeout=timeout)

    def qubesd_log(self) -> str:
        path = self.dir / "qubesd.log"
        return path.read_text() if path.exists() else ""


def _whiteout(path: Path) -> None:
    """An overlayfs whiteout: the name is absent from the merged directory."""
    if path.is_char_device():
        return
    path.unlink(missing_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def _write(path: Path, text: str, mode: int) -> None:
    data = text.encode()
    if path.is_char_device():
        path.unlink()
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
        tmp.replace(path)


# Runs inside the box: each command in turn, its exit code and output kept.
# A command's leftovers (its process group) end with it, as the box ends with its program.
BATCH = """
import json, os, signal, subprocess, sys, tempfile
results = []
for argv in json.loads(open(sys.argv[1]).read()):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        code = proc.wait(timeout=120)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out.seek(0)
        err.seek(0)
        results.append((code, out.read().decode(errors="replace"),
                        err.read().decode(errors="replace")))
open(sys.argv[2], "w").write(json.dumps(results))
"""


def real_tool_script(tool: str, module: str, version: str, env: sdw_sim.SimEnv) -> str:
    """``/usr/bin/TOOL`` in the box: the pinned real tool, journaled like every tool.

    The tool runs as a child (``python -m``-like, ``sys.argv[0]`` its name, so
    its messages read as in dom0); this wrapper writes the journal record at
    the start and the tool's exit code (or ``-signal``) at the end, passes
    SIGTERM and SIGINT on, and ends the way the tool ended.
    """
    code = f"import sys\nsys.argv[0] = {tool!r}\nfrom {module} import main\nsys.exit(main())\n"
    return (
        f"#!{sys.executable} -SB\n"
        f"# The real {tool} of Qubes {version} (generated by the box tier, tests/box/dom0.py).\n"
        "import os, signal, subprocess, sys\n"
        "from pathlib import Path\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from sdw_sim import journal\n"
        f"record = journal.start(Path({str(env.journal_path)!r}), {tool!r}, sys.argv[1:])\n"
        "child = subprocess.Popen(\n"
        f"    [sys.executable, '-S', '-c', {code!r}, *sys.argv[1:]],\n"
        f"    env=dict(os.environ, PYTHONPATH={str(site(version))!r}),\n"
        ")\n"
        "def forward(signum, frame):\n"
        "    child.send_signal(signum)\n"
        "for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(sig, forward)\n"
        "code = child.wait()\n"
        "record.finish(code)\n"
        "if code < 0:\n"
        "    if -code != signal.SIGKILL:\n"
        "        signal.signal(-code, signal.SIG_DFL)\n"
        "    os.kill(os.getpid(), -code)\n"
        "sys.exit(code)\n"
    )
