"""Running one dom0 tool: no shell, bounded output, a deadline, and clean kills.

Every tool the updater starts goes through :func:`run`.  What it guarantees,
because each was a way to hang or to be fooled:

* No shell and an argument list: nothing a VM prints can become a command.
* Both output streams are read as they come and split into bounded lines
  (:class:`LineSplitter`): a 10 MB line costs ``limit`` bytes, a flood of
  lines costs nothing kept beyond the caller's own bounded copy.
* A deadline: past it the tool's whole process group is terminated, then
  killed; the result says it timed out and carries no exit code.
* The tool's exit ends the wait even when a process it started keeps the
  pipes open (a daemon, a stray child): after :data:`PIPE_GRACE` seconds the
  pipes are let go and the tool's real exit code is kept.
* Every running tool is registered, so a SIGTERM to the updater can stop
  them all (:func:`stop_all`) instead of leaving ``sudo qubesctl`` orphaned.
* A tool that stops cleanly on SIGINT (``qubes-vm-update``: its caller
  says so with :class:`Interrupt`) is asked to first, alone, and waited
  for, a bounded time, before its process group is terminated.
* What puts the workstation back as the run found it (starting again the
  VMs a tool shut down) may still run while the updater is being stopped,
  inside :func:`cleanup`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sdw_updater.logs import DETAIL_LOGGER, MAX_LINE, clean_line

log = logging.getLogger("sdw.process")
detail = logging.getLogger(DETAIL_LOGGER)

DETAIL_BYTES_PER_CALL = 20 * 1024 * 1024
TAIL_LINES = 40
KILL_GRACE = 5.0
#: How long the pipes may stay open after the tool itself exited.
PIPE_GRACE = 5.0
#: How often a caller's ``on_tick`` runs while a tool is quiet.
TICK = 0.25
#: What can be written to a tool's stdin without waiting for it to read.
PIPE_BUFFER = 4096

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
    #: The tool exited but something it started kept its output open.
    pipes_abandoned: bool = False
    #: What the exit code means for this tool, when the seam knows (qubes.EXIT_MEANINGS).
    meaning: str = ""
    #: The caller stopped the tool (``Watch.stop``), e.g. the stall watchdog.
    stopped: bool = False
    #: The tool was asked to stop cleanly (SIGINT, ``Interrupt``): with an exit code
    #: it ended by itself after that, without one it was killed when the wait was over.
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.exit == 0

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name if self.argv else "?"

    def describe(self) -> str:
        """One plain sentence for logs and error screens."""
        if self.missing:
            return f"{self.name} was not found"
        if self.timed_out:
            return f"{self.name} did not finish in time and was stopped"
        if self.stopped:
            return f"{self.name} was stopped by the updater"
        if self.exit is None:
            return f"{self.name} could not be run"
        if self.exit < 0:
            return f"{self.name} was killed by signal {-self.exit}"
        told = f" ({self.meaning})" if self.meaning else ""
        return f"{self.name} exited with code {self.exit}{told}"


@dataclass
class Interrupt:
    """How a tool that stops cleanly on SIGINT is stopped.

    ``qubes-vm-update`` is such a tool (docs/qubes-tools.md, "qubes-vm-update
    stops gracefully on SIGINT"): on SIGINT it starts nothing new, lets what
    runs finish, and exits; SIGTERM or SIGKILL to its process group instead
    cut its workers off mid-transaction.  So when it must stop (the caller's
    ``Watch.stop``, its timeout, the updater's own SIGTERM) it gets SIGINT,
    to the tool process alone, and is waited for: after its timeout or
    SIGTERM at most ``grace`` seconds (the SIGINT of a timeout is sent
    ``grace`` seconds before it, though not in the first half of the
    tool's time, so the timeout stays the bound), after the caller's stop
    up to its timeout, unless SIGTERM (or the timeout's SIGINT moment) comes
    during that wait: from then on at most ``grace`` seconds more.  All this
    also while the tool runs on with both its pipes closed.  Once
    ``settled()`` says that nothing more will come
    (the tool only waits for what will never end), or the wait is over,
    its group is terminated, then killed.
    """

    grace: float
    settled: Callable[[], bool] | None = None


@dataclass
class Watch:
    """How a caller follows a running tool: its output lines, a clock tick, a stop.

    ``stop`` is asked after every tick; when it returns True the tool's
    process group is terminated as on a timeout, and the result says
    ``stopped`` (the caller knows why: the stall watchdog, say).
    ``deadline`` (``time.monotonic()`` seconds) ends the tool earlier than
    its own timeout: what is left of a step's time for its second call.
    ``interrupt``: the tool stops cleanly on SIGINT (:class:`Interrupt`).
    """

    on_stdout: LineCallback | None = None
    on_stderr: LineCallback | None = None
    on_tick: Callable[[], None] | None = None
    stop: Callable[[], bool] | None = None
    deadline: float | None = None
    interrupt: Interrupt | None = None


class LineSplitter:
    """Splits a byte stream into bounded lines (a 10 MB line costs ``limit`` bytes)."""

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


# ----- the registry of running tools ---------------------------------------------------

# Each running tool, and whether it stops cleanly on SIGINT (its Watch has an Interrupt).
_running: dict[subprocess.Popen[bytes], bool] = {}
_running_lock = threading.Lock()
_cancelled = threading.Event()
_cleaning = threading.local()


def stop_all() -> int:
    """Stop every tool and refuse to start new ones, for the rest of this process.

    For the updater's SIGTERM handler: the tools run in their own sessions,
    so they do not get the signal that ends the updater.  Their process
    groups are terminated, then killed, at once; a tool that stops cleanly
    on SIGINT is asked to by the thread that runs it (:class:`Interrupt`),
    within a tick.  Returns how many tools were running.
    """
    _cancelled.set()
    with _running_lock:
        procs = [proc for proc, clean in _running.items() if not clean]
        count = len(_running)
    for proc in procs:
        _kill_group(proc)
    return count


def cancelled() -> bool:
    """Whether :func:`stop_all` was called (the run is being stopped)."""
    return _cancelled.is_set()


@contextlib.contextmanager
def cleanup() -> Iterator[None]:
    """Let this thread run tools while the updater is being stopped.

    For what puts the workstation back as the run found it (the VMs a
    tool shut down started again, templates a killed tool left running
    shut down): a stop must not leave them undone.  Each such tool keeps
    its own timeout; a later :func:`stop_all` still stops them.
    """
    _cleaning.active = True
    try:
        yield
    finally:
        _cleaning.active = False


def _refused() -> bool:
    return _cancelled.is_set() and not getattr(_cleaning, "active", False)


# ----- running one tool ------------------------------------------------------------


class _Output:
    """The per-call bookkeeping of a tool's output: kept head, tail, detail log."""

    def __init__(self, name: str, stdout_limit: int, log_output: bool) -> None:
        self.name = name
        self.stdout_limit = stdout_limit
        self.log_output = log_output
        self.kept: list[bytes] = []
        self.kept_bytes = 0
        self.tail: deque[bytes] = deque(maxlen=TAIL_LINES)
        self.logged = 0

    def sink(self, stream: str, callback: LineCallback | None) -> LineCallback:
        def handle(line: bytes) -> None:
            if stream == "out" and self.kept_bytes <= self.stdout_limit:
                self.kept_bytes += len(line) + 1
                if self.kept_bytes <= self.stdout_limit:
                    self.kept.append(line)
            self.tail.append(line)  # raw; only the last few are ever cleaned
            if self.log_output:
                if self.logged < DETAIL_BYTES_PER_CALL:
                    detail.info("%s[%s] %s", self.name, stream, clean_line(line))
                elif self.logged - len(line) < DETAIL_BYTES_PER_CALL:
                    detail.info("%s: further output not logged", self.name)
                self.logged += len(line) + 1
            if callback is not None:
                callback(line)

        return handle


def run(
    command: Sequence[str],
    timeout: float,
    watch: Watch | None = None,
    *,
    log_output: bool = True,
    stdout_limit: int = 4096,
    shown_argv: Sequence[str] | None = None,
    stdin_data: bytes = b"",
) -> ToolResult:
    """Run ``command`` (an absolute program path and its arguments) to its end.

    ``timeout`` is already scaled by the caller.  ``shown_argv`` is what the
    result names (the tool as the caller asked for it, e.g. without sudo).
    The first lines of stdout, up to ``stdout_limit`` bytes, are kept whole
    for the caller to parse; ``stdout_overflow`` tells that there was more,
    so a parser never mistakes a cut answer for a complete one.  The tool's
    stdin is ``stdin_data`` (at most a pipe's buffer), then EOF: a tool that
    asks a question gets that answer or none, never a person's keyboard.
    """
    watch = watch or Watch()
    argv = list(shown_argv if shown_argv is not None else command)
    if _refused():
        log.warning("Not starting %s: the updater is being stopped", argv[0])
        return ToolResult(argv, None)
    name = Path(command[0]).name  # once, not per line: a flood is millions of lines
    started = time.monotonic()
    if watch.deadline is not None:
        timeout = max(0.0, min(timeout, watch.deadline - started))
    log.info("Running %s (timeout %d s)", " ".join(command), timeout)
    detail.info("$ %s", " ".join(command))
    output = _Output(name, stdout_limit, log_output)
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"
    try:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE if stdin_data else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    except OSError as exc:
        log.error("Could not start %s: %s", argv[0], exc)
        return ToolResult(argv, None, missing=isinstance(exc, FileNotFoundError))
    if proc.stdin is not None:
        try:
            proc.stdin.write(stdin_data[:PIPE_BUFFER])
        except OSError:
            pass  # the tool did not wait for its input
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass
    with _running_lock:
        _running[proc] = watch.interrupt is not None
    if _refused() and watch.interrupt is None:  # stop_all() ran while this one was starting
        _kill_group(proc)
    try:
        end = _Pump(
            proc,
            {
                proc.stdout: LineSplitter(output.sink("out", watch.on_stdout)),
                proc.stderr: LineSplitter(output.sink("err", watch.on_stderr)),
            },
            started + timeout,
        ).follow(watch)
    finally:
        with _running_lock:
            _running.pop(proc, None)
    duration = time.monotonic() - started
    result = ToolResult(
        argv,
        end.exit,
        end.timed_out,
        False,
        b"".join(line + b"\n" for line in output.kept),
        [clean_line(t) for t in output.tail],
        duration,
        stdout_lines=output.kept,
        stdout_overflow=output.kept_bytes > stdout_limit,
        pipes_abandoned=end.abandoned,
        stopped=end.stopped,
        interrupted=end.interrupted,
    )
    if output.logged > DETAIL_BYTES_PER_CALL:
        detail.info(
            "%s: %d bytes of output not logged", name, output.logged - DETAIL_BYTES_PER_CALL
        )
    if end.abandoned:
        log.warning(
            "%s exited, but a process it started kept its output open; not waiting for it", name
        )
    # An exit code is data here (100 from --check-only means "updates"): the
    # caller judges it and logs failures in its own words.  Only a tool that
    # did not end by itself is worth a warning at this level.
    level = logging.WARNING if result.exit is None or result.exit < 0 else logging.INFO
    log.log(level, "%s (%.1f s)", result.describe(), duration)
    return result


@dataclass
class _End:
    """How following a tool ended (see ``ToolResult`` for each field)."""

    exit: int | None
    timed_out: bool = False
    abandoned: bool = False
    stopped: bool = False
    interrupted: bool = False


class _Pump:
    """Reads a running tool's two pipes until they end, it ends, or it must be stopped.

    The tool's exit is watched through a pidfd in the same selector as its
    pipes, so it is noticed at once, without polling.  After the exit the
    pipes get :data:`PIPE_GRACE` seconds to end; a child that keeps them
    open is not waited for.
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        splitters: dict[object, LineSplitter],
        deadline: float,
    ) -> None:
        self.proc = proc
        self.splitters = splitters
        self.deadline = deadline
        self.started = time.monotonic()
        self.selector = selectors.DefaultSelector()
        for stream in splitters:
            os.set_blocking(stream.fileno(), False)  # type: ignore[attr-defined]
            self.selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        self.pidfd = _pidfd(proc.pid)
        if self.pidfd is not None:
            self.selector.register(self.pidfd, selectors.EVENT_READ)
        self.exited_at: float | None = None
        # A clean stop under way (Interrupt): why ("timeout", "stopped",
        # "cancelled") and when the wait for the tool is over.
        self.asked: str | None = None
        self.wait_until = deadline

    def pipes_open(self) -> bool:
        watched = len(self.selector.get_map())
        return watched > (1 if self.pidfd is not None and self.exited_at is None else 0)

    def ending(self, now: float) -> str | None:
        """Why reading must end now: "timeout", "abandoned", or None to go on."""
        if now >= self.deadline:
            return "timeout"
        if self.exited_at is None and self.pidfd is None and self.proc.poll() is not None:
            self.exited_at = now
        if self.exited_at is not None and now - self.exited_at >= PIPE_GRACE:
            return "abandoned"
        return None

    def read_once(self, now: float) -> None:
        """Wait for output or the exit, at most one tick, and take what came."""
        limit = self.deadline if self.exited_at is None else self.exited_at + PIPE_GRACE
        for key, _ in self.selector.select(min(min(limit, self.deadline) - now, TICK)):
            if key.fileobj == self.pidfd:
                self.selector.unregister(self.pidfd)
                self.exited_at = time.monotonic()
                continue
            try:
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            if chunk:
                self.splitters[key.fileobj].feed(chunk)
            else:
                self.selector.unregister(key.fileobj)
                self.splitters[key.fileobj].close()

    def close(self) -> None:
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        for stream in self.splitters:
            stream.close()  # type: ignore[attr-defined]

    def soft_deadline(self, interrupt: Interrupt) -> float:
        """When a tool that stops cleanly is asked to, so that it is done by the deadline.

        ``grace`` seconds before the deadline, but not in the first half of
        the tool's time (a short timeout is not all grace).
        """
        return max(self.deadline - interrupt.grace, (self.started + self.deadline) / 2)

    def must_stop(self, now: float, watch: Watch) -> str | None:
        """Why the tool must be stopped now ("timeout", "stopped", "cancelled"), or None.

        A tool that stops cleanly is asked to (SIGINT) and followed further;
        only the end of that wait makes this say so.  The wait after the
        caller's stop may last to the deadline, but a stop asked for later
        (the updater's SIGTERM, the timeout) shortens it to ``grace``.
        """
        interrupt = watch.interrupt
        if self.exited_at is not None:
            return None
        if self.asked is not None:
            assert interrupt is not None
            if now + interrupt.grace < self.wait_until:
                later = self.asked_again(now, interrupt)
                if later is not None:
                    self.wait_until = now + interrupt.grace
                    log.warning(
                        "pid %d was asked to stop (%s), and now %s: waiting %d s more at most",
                        self.proc.pid,
                        self.asked,
                        later,
                        interrupt.grace,
                    )
            settled = interrupt.settled is not None and interrupt.settled()
            return self.asked if now >= self.wait_until or settled else None
        why = None
        if interrupt is not None and now >= self.soft_deadline(interrupt):
            why = "timeout"
        elif watch.stop is not None and watch.stop():
            why = "stopped"
        elif _refused() and interrupt is not None:
            why = "cancelled"
        if why is None or interrupt is None:
            return why
        self.asked = why
        if why != "stopped":  # the caller's stop may wait for the rest of the time
            self.wait_until = min(self.deadline, now + interrupt.grace)
        log.warning("Asking pid %d to stop cleanly (%s: SIGINT)", self.proc.pid, why)
        try:
            self.proc.send_signal(signal.SIGINT)  # the tool alone, not its group
        except ProcessLookupError:
            pass
        return None

    def asked_again(self, now: float, interrupt: Interrupt) -> str | None:
        """A stop that allows only ``grace``: "timeout" (its SIGINT is due), "cancelled" (SIGTERM)."""
        if now >= self.soft_deadline(interrupt):
            return "timeout"
        if _refused():
            return "cancelled"
        return None

    def follow(self, watch: Watch) -> _End:
        """Read the tool's output until it is done, stopping it when it must be."""
        ending: str | None = None
        try:
            while self.pipes_open():
                ending = self.ending(time.monotonic())
                if ending is not None:
                    break
                self.read_once(time.monotonic())
                if watch.on_tick is not None:
                    watch.on_tick()
                ending = self.must_stop(time.monotonic(), watch)
                if ending is not None:
                    break
            else:
                ending = self.await_exit(watch)
            if ending in (None, "abandoned"):
                try:
                    code = self.proc.wait(timeout=max(0.1, self.deadline - time.monotonic()))
                    return self._end(code, self.asked, abandoned=ending == "abandoned")
                except subprocess.TimeoutExpired:
                    ending = "timeout"
        finally:
            self.close()
            if ending in ("timeout", "stopped", "cancelled"):
                _kill_group(self.proc)
        return self._end(None, ending)

    def await_exit(self, watch: Watch) -> str | None:
        """Both pipes closed: wait for the tool's exit a tick at a time, still stopping it.

        A tool may close its output and run on; its deadline, the caller's
        stop and the updater's SIGTERM must still reach it.  None once it
        exited, or why it must be stopped.
        """
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                return "timeout"
            try:
                self.proc.wait(timeout=min(TICK, self.deadline - now))
                return None
            except subprocess.TimeoutExpired:
                pass
            if watch.on_tick is not None:
                watch.on_tick()
            ending = self.must_stop(time.monotonic(), watch)
            if ending is not None:
                return ending

    def _end(self, code: int | None, why: str | None, abandoned: bool = False) -> _End:
        why = self.asked or why
        return _End(
            code,
            timed_out=why == "timeout",
            abandoned=abandoned,
            stopped=why == "stopped",
            interrupted=self.asked is not None,
        )


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when ``pid`` exits (Linux 5.3+)."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


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
