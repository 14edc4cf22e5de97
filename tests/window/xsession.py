"""The window tier's harness: a private X server, the installed programs, xdotool.

Each test gets its own Xvfb (display number chosen by the server through
``-displayfd``), HOME and XDG_RUNTIME_DIR, then starts the console scripts
from ``.venv/bin`` (PyQt6) or, for the tests run under both bindings,
``.venv-qt5/bin`` (PyQt5 and no PyQt6) as separate processes on Qt's xcb
platform, exactly as the desktop would: no QApplication is made for them.
Each program logs the binding it runs on; the session checks it is the one
the test asked for.  The harness types and
clicks with ``xdotool``, reads window geometry with ``xwininfo`` and
``xprop``, takes screenshots from the X server with ImageMagick's ``import``,
and reads what the programs recorded: their exit code, ``updater.log`` and
the simulator's journal.

Nothing here sleeps for a fixed time and asserts afterwards: every wait is a
poll for a condition with a generous deadline (the machines are small and
busy), and a deadline that passes is reported with what the program printed.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sdw_sim.journal import Entry

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
#: Where the installed programs of each Qt binding are: the test's own
#: virtualenv (PyQt6), and ``.venv-qt5`` (PyQt5 and no PyQt6, ``make test``).
BINDINGS = {"PyQt6": BIN, "PyQt5": ROOT / ".venv-qt5" / "bin"}
BINDING_HINT = {"PyQt6": "make venv", "PyQt5": "make .venv-qt5/.installed"}
#: What a program logs when it makes its QApplication (``launcher/qtapp.py``).
_BINDING_LOGGED = re.compile(r"Qt: (PyQt\d) ")
TOOLS = ("Xvfb", "xdotool", "xwininfo", "xprop", "import", "ldd")
DEADLINE = 60.0  # seconds any one wait may take before the test fails
POLL = 0.05
UPDATER_TITLE = "^SecureDrop Workstation updates$"
NOTIFIER_TITLE = "^SecureDrop Workstation$"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def require_tools() -> None:
    """The X tools and the libraries Qt's xcb plugin loads; else fail naming the package.

    Checked before any X server starts: without them every window test would
    fail later, and less plainly (a program that aborts, a window that never
    comes).  ``helpers.needs`` is imported here, not above: ``make screenshots``
    runs this module outside pytest, from ``tests/window``, and never calls this.
    """
    from helpers import needs

    for tool in TOOLS:
        needs.tool(tool)
    plugins = "lib/python3*/site-packages/PyQt*/Qt*/plugins/platforms/libqxcb.so"
    for plugin in (p for b in BINDINGS.values() for p in b.parent.glob(plugins)):
        found = subprocess.run(
            ["ldd", str(plugin)], capture_output=True, text=True, timeout=60, check=False
        )
        lacking = needs.unresolved_libraries(found.stdout)
        if lacking:
            packages = sorted({needs.library_package(name) for name in lacking})
            what = f"{', '.join(lacking)} (for Qt's xcb platform plugin)"
            needs.missing(what, " ".join(packages))


def require_binding(binding: str) -> Path:
    """The bin directory of ``binding``'s virtualenv; the test fails without it."""
    bindir = BINDINGS[binding]
    if not (bindir / "sdw-updater").exists():
        pytest.fail(
            f"{binding} run needs {bindir.parent}: {BINDING_HINT[binding]} (make test builds it)",
            pytrace=False,
        )
    return bindir


def both_bindings() -> pytest.MarkDecorator:
    """Run a window test once per binding (the ``binding`` fixture of tests/window/conftest.py)."""
    return pytest.mark.parametrize("binding", list(BINDINGS), indirect=True)


def wait_for(what: str, check: Callable[[], object], deadline: float = DEADLINE) -> object:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL)


class XServer:
    """One Xvfb with a single screen of the given size.

    The display number is drawn from a high range, not the first free one:
    ``:0`` and its neighbours are what other programs on a shared machine
    try first.  A server counts as ours only once it answers with the
    screen size it was asked for.
    """

    ATTEMPTS = 5

    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        for _attempt in range(self.ATTEMPTS):
            if self._start(random.randrange(200, 900)):
                return
        raise RuntimeError("no Xvfb could be started")

    def _start(self, number: int) -> bool:
        read_end, write_end = os.pipe()
        width, height = self.size
        self.proc = subprocess.Popen(
            [
                "Xvfb",
                f":{number}",
                "-displayfd",
                str(write_end),
                "-screen",
                "0",
                f"{width}x{height}x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        reported = b""
        try:
            # Xvfb writes the number, then a newline, in separate writes:
            # closing the pipe before the newline makes it exit.
            while not reported.endswith(b"\n"):
                ready, _, _ = select.select([read_end], [], [], DEADLINE)
                chunk = os.read(read_end, 32) if ready else b""
                if not chunk:
                    break
                reported += chunk
        finally:
            os.close(read_end)
        display_number = reported.decode().strip()
        self.display = f":{display_number}"
        if display_number.isdigit():
            try:
                wait_for(f"Xvfb on {self.display}", self._answers, deadline=10)
                return True
            except AssertionError:
                pass
        self.stop()
        return False

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("Xvfb exited")
        probe = subprocess.run(
            ["xdotool", "getdisplaygeometry"],
            env=dict(os.environ, DISPLAY=self.display),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return probe.returncode == 0 and probe.stdout.split() == [str(n) for n in self.size]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Geometry:
    x: int
    y: int
    width: int
    height: int

    def inside(self, size: tuple[int, int]) -> bool:
        return (
            self.x >= 0
            and self.y >= 0
            and self.x + self.width <= size[0]
            and self.y + self.height <= size[1]
        )

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.width / 2, self.y + self.height / 2)


@dataclass
class Program:
    """A console script started by the session; its output goes to files."""

    name: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait(self, deadline: float = DEADLINE) -> int:
        """The exit code; the test fails (and the program is killed) past the deadline."""
        try:
            return self.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit within {deadline:.0f} s; it printed:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@dataclass
class Session:
    """A desktop session for one test: X server, HOME, runtime dir, programs."""

    server: XServer
    home: Path
    runtime: Path
    shots: Path
    scale: float | None = None
    programs: list[Program] = field(default_factory=list)
    binding: str = "PyQt6"

    # ----- files ---------------------------------------------------------------

    @property
    def state(self) -> Path:
        return self.home / ".securedrop_updater"

    def scenario(self, text: str, name: str = "scenario.toml") -> Path:
        path = self.home / name
        path.write_text(text)
        return path

    def log(self, name: str = "updater.log") -> str:
        path = self.state / "logs" / name
        return path.read_text(errors="replace") if path.exists() else ""

    def journal(self) -> list[Entry]:
        path = self.state / "sim" / "journal.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def tools(self) -> list[str]:
        return [str(record["tool"]) for record in self.journal()]

    def bindings_used(self) -> set[str]:
        """The Qt bindings the programs of this session logged running on."""
        text = self.log() + self.log("sdw-notify.log")
        return {match[1] for match in _BINDING_LOGGED.finditer(text)}

    @property
    def bindir(self) -> Path:
        return BINDINGS[self.binding]

    # ----- programs --------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("QT_", "DBUS_", "WAYLAND_", "XDG_"))
        }
        env.update(
            DISPLAY=self.server.display,
            QT_QPA_PLATFORM="xcb",
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(self.runtime),
            LANG="C.UTF-8",
        )
        if self.scale is not None:
            env["QT_SCALE_FACTOR"] = str(self.scale)
        return env

    def start(
        self, script: str, *args: str, env: dict[str, str] | None = None, bindir: Path | None = None
    ) -> Program:
        """Start an installed console script (``BIN/NAME`` of the session's binding)."""
        index = len(self.programs)
        out = self.shots / f"{index}-{script}.out"
        err = self.shots / f"{index}-{script}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [str((bindir or self.bindir) / script), *args],
                env={**self.env(), **(env or {})},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        program = Program(script, proc, out, err)
        self.programs.append(program)
        return program

    def forced_update(
        self, scenario: str, env: dict[str, str] | None = None, bindir: Path | None = None
    ) -> Program:
        """``sdw-updater --skip-delta 0`` (an admin's forced run) against ``scenario``."""
        path = str(self.scenario(scenario))
        return self.start(
            "sdw-updater", "--skip-delta", "0", "--simulate", path, env=env, bindir=bindir
        )

    # ----- X -----------------------------------------------------------------------

    def x(self, *argv: str, check: bool = True) -> str:
        result = subprocess.run(
            list(argv),
            env=dict(os.environ, DISPLAY=self.server.display),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        return result.stdout

    def windows(self, program: Program, title: str = UPDATER_TITLE) -> list[str]:
        """The program's visible top-level windows whose title matches ``title``."""
        out = self.x(
            "xdotool",
            "search",
            "--onlyvisible",
            "--pid",
            str(program.pid),
            "--name",
            title,
            check=False,
        )
        return out.split()

    def all_windows(self, title: str = UPDATER_TITLE) -> list[str]:
        """Every visible top-level window titled ``title``, whoever made it."""
        return self.x("xdotool", "search", "--onlyvisible", "--name", title, check=False).split()

    def window(self, program: Program, title: str = UPDATER_TITLE) -> str:
        """Wait until the program shows a window titled ``title``; return its id."""

        def found() -> str | None:
            if program.proc.poll() is not None:
                raise AssertionError(
                    f"{program.name} exited {program.proc.returncode} before showing "
                    f"its window; it printed:\n{program.output()}"
                )
            ids = self.windows(program, title)
            return ids[0] if ids else None

        return str(wait_for(f"the window of {program.name}", found))

    def geometry(self, window: str) -> Geometry:
        info = self.x("xwininfo", "-id", window)

        def number(label: str) -> int:
            match = re.search(rf"{label}:\s+(-?\d+)", info)
            assert match, info
            return int(match.group(1))

        return Geometry(
            number("Absolute upper-left X"),
            number("Absolute upper-left Y"),
            number("Width"),
            number("Height"),
        )

    def prop(self, window: str, name: str) -> str:
        return self.x("xprop", "-id", window, name, check=False)

    def focused(self) -> str:
        return self.x("xdotool", "getwindowfocus", check=False).strip()

    def key(self, *keys: str) -> None:
        """Type keys into the focused window, as a person at the keyboard would."""
        self.x("xdotool", "key", "--clearmodifiers", "--delay", "40", *keys)

    def click(self, window: str, x: int, y: int) -> None:
        """A left click at window coordinates."""
        self.x("xdotool", "mousemove", "--window", window, str(x), str(y), "click", "1")

    def screenshot(self, name: str, window: str | None = None) -> Path:
        """What the X server shows (the whole screen, or one window)."""
        path = self.shots / f"{name}.png"
        self.x("import", "-window", window or "root", str(path))
        return path

    # ----- logs ----------------------------------------------------------------------

    def wait_log(
        self,
        pattern: str,
        count: int = 1,
        program: Program | None = None,
        name: str = "updater.log",
    ) -> str:
        """Wait until ``updater.log`` has ``count`` lines matching ``pattern``."""
        regex = re.compile(pattern)

        def found() -> str | None:
            matches = [line for line in self.log(name).splitlines() if regex.search(line)]
            if len(matches) >= count:
                return matches[count - 1]
            if program is not None and program.proc.poll() is not None:
                raise AssertionError(
                    f"{program.name} exited {program.proc.returncode} before logging "
                    f"{pattern!r}; it printed:\n{program.output()}\nlog:\n{self.log(name)}"
                )
            return None

        return str(wait_for(f"{pattern!r} in {name}", found))

    def stop(self) -> None:
        for program in self.programs:
            program.kill()
        self.server.stop()


@contextmanager
def new_session(
    base: Path,
    width: int = 1366,
    height: int = 768,
    scale: float | None = None,
    binding: str = "PyQt6",
) -> Iterator[Session]:
    """A session under ``base``: its own Xvfb, HOME, runtime dir; all stopped at the end.

    The runtime dir is a short path of its own under /tmp: the window's
    socket lives there, and a Unix socket path must stay under 108 bytes.
    """
    home = base / "home"
    shots = base / "shots"
    home.mkdir(parents=True)
    shots.mkdir()
    runtime = Path(tempfile.mkdtemp(prefix="sdw-run-"))
    session = Session(XServer(width, height), home, runtime, shots, scale, binding=binding)
    try:
        yield session
    finally:
        session.stop()
        shutil.rmtree(runtime, ignore_errors=True)
    used = session.bindings_used()
    assert used <= {binding}, f"asked for {binding}, the programs ran on {sorted(used)}"


def session_factory(tmp_path: Path, binding: str) -> Iterator[Callable[..., Session]]:
    """Fixture: make sessions; everything they started is stopped at teardown.

    Their programs run on ``binding`` (the ``binding`` fixture: PyQt6 unless
    the test is marked with :func:`both_bindings`).  Test modules register
    it with ``pytest.fixture(xsession.session_factory)``.
    """
    with ExitStack() as stack:
        made: list[Session] = []

        def make(width: int = 1366, height: int = 768, scale: float | None = None) -> Session:
            require_tools()
            require_binding(binding)
            base = tmp_path / f"session{len(made)}"
            made.append(stack.enter_context(new_session(base, width, height, scale, binding)))
            return made[-1]

        yield make


def session(session_factory: Callable[..., Session]) -> Session:
    """Fixture: the usual session, a 1366x768 laptop screen."""
    return session_factory()
