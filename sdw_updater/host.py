"""The host seam: the only code that touches Qubes.

Everything the updater does to or asks of dom0 goes through ``Host``: running
the dom0 tools (with argument lists, timeouts and process-group kills),
asking ``qubesadmin`` about VMs, and reading dom0 files.  Under simulation
the very same class runs; only three things differ, all given to the
constructor: the directories executables are found in, the ``qubesadmin``
app object, and the root under which dom0 files are read.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdw_updater import progress
from sdw_updater.contract import CLIENT_APP_ID, CLIENT_VM, MIGRATION_DIR, PROXY_VM
from sdw_updater.logs import DETAIL_LOGGER, MAX_LINE, clean_line
from sdw_updater.status import read_bounded

log = logging.getLogger("sdw.host")
detail = logging.getLogger(DETAIL_LOGGER)

REAL_BIN_DIRS = (Path("/usr/bin"), Path("/usr/sbin"), Path("/bin"), Path("/sbin"))
DETAIL_BYTES_PER_CALL = 20 * 1024 * 1024
TAIL_LINES = 40
KILL_GRACE = 5.0

LineCallback = Callable[[bytes], None]


@dataclass
class ToolResult:
    """What happened when a tool ran.

    ``exit`` is None when the tool did not end on its own (timed out and
    killed) or could not be started; callers must treat None as failure.
    """

    argv: list[str]
    exit: int | None
    timed_out: bool = False
    missing: bool = False
    stdout_head: bytes = b""
    tail: list[str] = field(default_factory=list)
    duration: float = 0.0
    stdout_lines: list[bytes] = field(default_factory=list)
    stdout_overflow: bool = False

    @property
    def ok(self) -> bool:
        return self.exit == 0

    def describe(self) -> str:
        """One plain sentence for logs and error screens."""
        name = Path(self.argv[0]).name if self.argv else "?"
        if self.missing:
            return f"{name} was not found"
        if self.timed_out:
            return f"{name} did not finish in time and was stopped"
        if self.exit is None:
            return f"{name} could not be run"
        if self.exit < 0:
            return f"{name} was killed by signal {-self.exit}"
        return f"{name} exited with code {self.exit}"


@dataclass(frozen=True)
class VMInfo:
    """A snapshot of one VM, read defensively from qubesadmin."""

    name: str
    klass: str
    template: str | None
    tags: frozenset[str]
    power: str
    agent_version: str | None
    servicevm: bool


class _LineSplitter:
    """Splits a byte stream into bounded lines (a 10 MB line costs MAX_LINE bytes)."""

    def __init__(self, callback: LineCallback, limit: int = MAX_LINE) -> None:
        self.callback = callback
        self.limit = limit
        self.buffer = bytearray()
        self.overlong = False

    def feed(self, chunk: bytes) -> None:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            self._piece(chunk[start:end], complete=True)
            start = end + 1
        if start < len(chunk):
            self._piece(chunk[start:], complete=False)

    def _piece(self, piece: bytes, complete: bool) -> None:
        if not self.overlong:
            room = self.limit - len(self.buffer)
            self.buffer += piece[: max(room, 0)]
            if len(piece) > room:
                self.overlong = True
                self.buffer += b" [line truncated]"
        if complete:
            line = bytes(self.buffer)
            self.buffer.clear()
            self.overlong = False
            self.callback(line)

    def close(self) -> None:
        if self.buffer or self.overlong:
            self._piece(b"", complete=True)


class Host:
    """dom0, real or simulated."""

    def __init__(
        self,
        root: Path = Path("/"),
        bin_dirs: Sequence[Path] = REAL_BIN_DIRS,
        app_factory: Callable[[], Any] | None = None,
        timeout_scale: float = 1.0,
        simulated: bool = False,
    ) -> None:
        self.root = root
        self.bin_dirs = tuple(bin_dirs)
        self._app_factory = app_factory or _real_app
        self._app: Any = None
        self.timeout_scale = timeout_scale
        self.simulated = simulated

    # ----- files -------------------------------------------------------------

    def path(self, absolute: str) -> Path:
        """Map an absolute dom0 path under this host's root."""
        return self.root / absolute.lstrip("/")

    def read_file(self, absolute: str, limit: int = 1024 * 1024) -> bytes | None:
        """Read a dom0 file, at most ``limit`` bytes (more means None: untrusted)."""
        data = read_bounded(self.path(absolute), limit)
        if data is None or len(data) > limit:
            return None
        return data

    def list_dir(self, absolute: str) -> list[str]:
        """Names in a dom0 directory (sorted; empty when missing)."""
        try:
            return sorted(os.listdir(self.path(absolute)))[:10000]
        except OSError:
            return []

    def uptime(self) -> float | None:
        raw = self.read_file("/proc/uptime", 256)
        return progress.parse_uptime(raw) if raw else None

    def boot_time(self, now: float) -> float | None:
        up = self.uptime()
        return None if up is None else now - up

    def dom0_release(self) -> str | None:
        raw = self.read_file("/etc/os-release", 64 * 1024)
        return progress.parse_os_release(raw) if raw else None

    def migration_pending(self) -> bool:
        """The dom0 state leaves a non-empty flag file when a full apply is needed."""
        raw = self.read_file(MIGRATION_DIR, 4096)
        return bool(raw and raw.strip())

    def running_processes(self) -> set[str]:
        """Exact command names (``/proc/<pid>/comm``) of dom0's processes."""
        names: set[str] = set()
        for entry in self.list_dir("/proc"):
            if entry.isdigit():
                raw = self.read_file(f"/proc/{entry}/comm", 64)
                if raw:
                    names.add(raw.decode("utf-8", "replace").strip())
        return names

    # ----- qubesadmin -------------------------------------------------------

    @property
    def app(self) -> Any:
        if self._app is None:
            self._app = self._app_factory()
        return self._app

    def vms(self) -> dict[str, VMInfo]:
        """Every VM Qubes knows, read defensively (a broken VM is skipped, logged)."""
        result: dict[str, VMInfo] = {}
        for vm in list(self.app.domains):
            try:
                info = _vm_info(vm)
            except Exception as exc:  # qubesadmin raises many kinds; none may crash us
                log.warning("Could not read VM %r: %s", getattr(vm, "name", vm), exc)
                continue
            result[info.name] = info
        return result

    def power_state(self, name: str) -> str:
        try:
            return str(self.app.domains[name].get_power_state())
        except Exception as exc:
            log.warning("Could not read the power state of %s: %s", name, exc)
            return "NA"

    # ----- tools ------------------------------------------------------------

    def timeout(self, seconds: float) -> float:
        """Scale a timeout (the simulator shrinks them), never below one second."""
        return max(1.0, seconds * self.timeout_scale)

    def which(self, name: str) -> str | None:
        for directory in self.bin_dirs:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        return None

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        sudo: bool = False,
        on_stdout: LineCallback | None = None,
        on_stderr: LineCallback | None = None,
        on_tick: Callable[[], None] | None = None,
        log_output: bool = True,
        stdout_limit: int = 4096,
    ) -> ToolResult:
        """Run a dom0 tool without a shell, with a (scaled) timeout.

        Both output streams are read as they come, split into bounded lines,
        handed to the callbacks, written to the detail log (capped per call)
        and the last lines kept for error messages.  The first lines of
        stdout, up to ``stdout_limit`` bytes, are kept whole for the caller
        to parse; ``stdout_overflow`` tells that there was more, so a parser
        never mistakes a cut answer for a complete one.  On timeout the whole
        process group is terminated, then killed.
        """
        program = self.which(argv[0])
        started = time.monotonic()
        if program is None:
            log.error("Executable %s not found", argv[0])
            return ToolResult(list(argv), None, missing=True)
        command = [program, *argv[1:]]
        if sudo:
            sudo_path = self.which("sudo")
            if sudo_path is None:
                log.error("Executable sudo not found")
                # Name sudo, not the program: "qubesctl was not found" would send
                # an admin looking for the wrong executable.
                return ToolResult(["sudo", *argv], None, missing=True)
            command = [sudo_path, "-n", *command]
        limit = self.timeout(timeout)
        log.info("Running %s (timeout %d s)", " ".join(command), limit)
        detail.info("$ %s", " ".join(command))
        tail: deque[bytes] = deque(maxlen=TAIL_LINES)
        logged = [0]
        kept: list[bytes] = []
        kept_bytes = [0]

        name = Path(program).name  # once, not per line: a flood is millions of lines

        def sink(stream: str, callback: LineCallback | None) -> LineCallback:
            def handle(line: bytes) -> None:
                if stream == "out" and kept_bytes[0] <= stdout_limit:
                    kept_bytes[0] += len(line) + 1
                    if kept_bytes[0] <= stdout_limit:
                        kept.append(line)
                tail.append(line)  # raw; only the last few are ever cleaned
                if log_output:
                    if logged[0] < DETAIL_BYTES_PER_CALL:
                        detail.info("%s[%s] %s", name, stream, clean_line(line))
                    elif logged[0] - len(line) < DETAIL_BYTES_PER_CALL:
                        detail.info("%s: further output not logged", name)
                    logged[0] += len(line) + 1
                if callback is not None:
                    callback(line)

            return handle

        env = dict(os.environ)
        env["LC_ALL"] = "C.UTF-8"
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            log.error("Could not start %s: %s", argv[0], exc)
            return ToolResult(list(argv), None, missing=isinstance(exc, FileNotFoundError))
        exit_code, timed_out = _pump(
            proc,
            {
                proc.stdout: _LineSplitter(sink("out", on_stdout)),
                proc.stderr: _LineSplitter(sink("err", on_stderr)),
            },
            started + limit,
            on_tick,
        )
        duration = time.monotonic() - started
        result = ToolResult(
            list(argv),
            exit_code,
            timed_out,
            False,
            b"".join(line + b"\n" for line in kept),
            [clean_line(t) for t in tail],
            duration,
            stdout_lines=kept,
            stdout_overflow=kept_bytes[0] > stdout_limit,
        )
        if logged[0] > DETAIL_BYTES_PER_CALL:
            detail.info(
                "%s: %d bytes of output not logged", argv[0], logged[0] - DETAIL_BYTES_PER_CALL
            )
        # An exit code is data here (100 from --check-only means "updates"): the
        # caller judges it and logs failures in its own words.  Only a tool that
        # did not end by itself is worth a warning at this level.
        level = logging.WARNING if result.exit is None or result.exit < 0 else logging.INFO
        log.log(level, "%s (%.1f s)", result.describe(), duration)
        return result

    def start_vms(self, names: Iterable[str], timeout: float = 300) -> ToolResult:
        return self.run(["qvm-start", "--skip-if-running", *names], timeout)

    def start_client(self) -> tuple[bool, str]:
        """Start sd-proxy, then the client in sd-app, and check both came up."""
        started = self.start_vms([PROXY_VM], 300)
        if not started.ok or self.power_state(PROXY_VM) != "Running":
            return False, f"{PROXY_VM} did not start: {started.describe()}"
        launch = self.run(
            ["qvm-run", "-p", "--service", CLIENT_VM, f"qubes.StartApp+{CLIENT_APP_ID}"], 180
        )
        if not launch.ok:
            return False, f"the SecureDrop app did not start: {launch.describe()}"
        if self.power_state(CLIENT_VM) != "Running":
            return False, f"{CLIENT_VM} is not running after starting the app"
        log.info("Started the SecureDrop client in %s", CLIENT_VM)
        return True, "started"

    def reboot(self) -> ToolResult:
        return self.run(["reboot"], 120, sudo=True)


def _real_app() -> Any:
    """The real qubesadmin app, imported only when needed (dom0 package)."""
    import qubesadmin

    return qubesadmin.Qubes()


def _vm_info(vm: Any) -> VMInfo:
    name = str(vm.name)
    klass = str(vm.klass)
    template_vm = getattr(vm, "template", None)
    template = str(template_vm.name) if template_vm is not None else None
    tags = frozenset(str(tag) for tag in vm.tags)
    power = str(vm.get_power_state())
    agent = vm.features.get("qubes-agent-version", None)
    servicevm = vm.features.get("servicevm", None)
    return VMInfo(
        name=name,
        klass=klass,
        template=template,
        tags=tags,
        power=power,
        agent_version=str(agent) if agent not in (None, "") else None,
        servicevm=bool(servicevm) and servicevm != "",
    )


def _pump(
    proc: subprocess.Popen[bytes],
    splitters: dict[Any, _LineSplitter],
    deadline: float,
    on_tick: Callable[[], None] | None,
) -> tuple[int | None, bool]:
    """Read both pipes until EOF or the deadline; kill the group on timeout."""
    selector = selectors.DefaultSelector()
    for stream in splitters:
        os.set_blocking(stream.fileno(), False)
        selector.register(stream, selectors.EVENT_READ)
    timed_out = False
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(min(remaining, 0.25)):
                try:
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fileobj)
                    splitters[key.fileobj].close()
                else:
                    splitters[key.fileobj].feed(chunk)
            if on_tick is not None:
                on_tick()
        if not timed_out:
            try:
                return proc.wait(timeout=max(0.1, deadline - time.monotonic())), False
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        selector.close()
        if timed_out:
            _kill_group(proc)
        for stream in splitters:
            stream.close()
    return None, timed_out


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the tool and every child it started, then make sure they are gone."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
