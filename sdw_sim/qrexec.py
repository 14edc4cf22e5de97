"""A fake ``qrexec-client`` (dom0 side) that plays the VMs for the real Qubes tools.

In the box tier (docs/simulator.md, "The box") the real ``qubesadmin`` runs
every service in a VM as ``/usr/lib/qubes/qrexec-client -d VM [-e] [-T]
[-p PREFIX] USER:QUBESRPC SERVICE dom0``.  This module is that program: it
plays the VM's side with the built-in simulator's own VM logic, so both tiers
see the same VMs:

- commands (``qubes.VMExec+...``, ``qubes.VMShell`` with the command on
  stdin): ``sdw_sim.qube.command`` (nmcli in sys-net, ``cat`` of the files
  the trust checks read, ...);
- other services (``qubes.StartApp+APP``, ...): ``sdw_sim.qube.service``;
  ``qubes.StartApp`` returns only when the app exits (docs/qubes-tools.md,
  "qvm-run -p and qubes.StartApp wait for the app to exit"): in the simulated
  VM the app runs until its VM stops;
- the update agent that the real ``qubes-vm-update`` copies into a template
  and runs there: progress on stderr, the package manager's output on stdout,
  the agent's exit code (0, 100 = no updates, 21-25), driven by the
  ``[templates."NAME"]`` keys through ``sdw_sim.vmupdate.Job``.

With ``-e`` the client returns as soon as the service is connected, as the
real one does (``qvm-run --service`` without ``-p`` from dom0).  Every call
is journaled with tool ``qrexec-client``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import signal
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

from sdw_sim import qube, vmupdate
from sdw_sim.toolcall import ToolCall
from sdw_updater.contract import CLIENT_VM

POLL = 0.1  # seconds between looks at a VM's power state while an app runs
AGENT_LOG = "/var/log/qubes/qubes-update/update-agent.log"
AGENT_ENTRYPOINT = re.compile(r"/.+/agent/entrypoint\.py")
ERROR_EXIT = 24  # the agent's "could not install the updates" (docs/qubes-tools.md)
HOSTILE_PROGRESS = ("nan", "inf", "-7.0", "250.0", "1e-05", "100.00000000000001", "12,5")
MAX_STDIN = 64 * 1024 * 1024
STREAM_GAP = 0.2  # seconds between the end of the agent's stderr and of its stdout
DRAIN_LIMIT = 30.0  # seconds the agent waits at most for its progress to be read


class UsageError(Exception):
    """A command line this client does not accept."""


@dataclass
class Call:
    """One parsed ``qrexec-client`` command line."""

    vm: str
    user: str
    service: str
    no_wait: bool = False
    prefix: bytes = b""
    options: list[str] = field(default_factory=list)


def parse_args(argv: list[str]) -> Call:
    """``-d VM [-e] [-t] [-T] [-w N] [-l CMD] [-p DATA] USER:QUBESRPC SERVICE SRC``."""
    vm = None
    no_wait = False
    prefix = b""
    options: list[str] = []
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        option = argv[index]
        index += 1
        if option in ("-d", "-w", "-l", "-p", "-c"):
            if index >= len(argv):
                raise UsageError(f"option {option} needs a value")
            value = argv[index]
            index += 1
            if option == "-d":
                vm = value
            elif option == "-p":
                prefix = os.fsencode(value)
            elif option == "-l":
                raise UsageError("-l (local command) is not simulated")
            options += [option, value]
        elif option in ("-e", "-t", "-T", "-W", "-k"):
            no_wait = no_wait or option == "-e"
            options.append(option)
        else:
            raise UsageError(f"unknown option {option}")
    if vm is None or index != len(argv) - 1:
        raise UsageError("usage: qrexec-client -d VM [options] USER:QUBESRPC SERVICE dom0")
    user, _, command = argv[index].partition(":")
    words = command.split(" ")
    if len(words) != 3 or words[0] != "QUBESRPC" or words[2] != "dom0" or not user:
        raise UsageError(f"only USER:QUBESRPC SERVICE dom0 is simulated, not {argv[index]!r}")
    service = words[1][:-1] if words[1].endswith("+") else words[1]
    return Call(vm, user, service, no_wait, prefix, options)


def decode_vmexec(encoded: str) -> list[str]:
    """Undo ``qubesadmin.utils.encode_for_vmexec``: ``--`` is ``-``, ``-XX`` a hex byte."""
    words = []
    for part in encoded.split("+"):
        data = bytearray()
        index = 0
        while index < len(part):
            char = part[index]
            if char != "-":
                data += char.encode("ascii")
                index += 1
            elif part[index + 1 : index + 2] == "-":
                data += b"-"
                index += 2
            else:
                data.append(int(part[index + 1 : index + 3], 16))
                index += 3
        words.append(data.decode("utf-8", "surrogateescape"))
    return words


# ----- the VM side -------------------------------------------------------------------


class Stdin:
    """The service's stdin: the ``-p`` prefix, then what the caller sends."""

    def __init__(self, prefix: bytes) -> None:
        self.buffer = bytearray(prefix)
        self.eof = False

    def _more(self) -> None:
        chunk = b"" if self.eof else os.read(0, 65536)
        if not chunk:
            self.eof = True
        self.buffer += chunk
        if len(self.buffer) > MAX_STDIN:
            raise UsageError("too much input")

    def line(self) -> bytes:
        while b"\n" not in self.buffer and not self.eof:
            self._more()
        end = self.buffer.find(b"\n")
        end = len(self.buffer) if end < 0 else end + 1
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    def rest(self) -> bytes:
        while not self.eof:
            self._more()
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def write(stream: int, text: str | bytes) -> None:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    view = memoryview(data)
    while view:
        view = view[os.write(stream, view) :]


def shell_words(line: bytes) -> list[str]:
    """The command qubes.VMShell was given (``CMD; exit``), as words."""
    text = line.decode("utf-8", "surrogateescape").rstrip("\n")
    for suffix in ("; exit", "& exit"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    return shlex.split(text)


def run_command(ctx: ToolCall, vm: str, words: list[str], stdin: Stdin) -> int:
    """A command inside the VM: the update agent's plumbing, the agent, or ``qube.command``."""
    if not words:
        return 0
    program = words[0]
    if program == "cat" and len(words) == 3 and words[1] == ">":
        stdin.rest()  # the agent's archive, copied in
        return 0
    if program in ("mkdir", "tar", "chmod", "rm") and len(words) > 1:
        return 0  # preparing and removing the agent's working directory
    if program == "cat" and words[1:] == [AGENT_LOG]:
        write(1, f"{time.strftime('%Y-%m-%d %H:%M:%S')} [Agent] simulated update agent\n")
        return 0
    if program.startswith("/usr/bin/python3") and len(words) > 1:
        if AGENT_ENTRYPOINT.fullmatch(words[1]):
            return run_agent(ctx, vm)
    code, out, err = qube.command(ctx, vm, words)
    for chunk in out:
        write(1, chunk)
    write(2, err)
    return code


def run_service(ctx: ToolCall, call: Call, stdin: Stdin) -> int:
    """One qrexec service in the VM; its exit code is the client's."""
    name, _, argument = call.service.partition("+")
    if name in ("qubes.VMExec", "qubes.VMRootExec", "qubes.VMExecGUI"):
        return run_command(ctx, call.vm, decode_vmexec(argument), stdin)
    if name in ("qubes.VMShell", "qubes.VMRootShell"):
        return run_command(ctx, call.vm, shell_words(stdin.line()), stdin)
    if name == "qubes.WaitForSession":
        stdin.rest()
        return 0
    code = qube.service(ctx, call.vm, call.service, wait=True, quiet=True)
    if name == "qubes.StartApp" and code == 0:
        # qubes.StartApp waits for the app it launched: until it exits
        # ([qrexec].app_exit_after), or else until its VM stops.
        exit_after = ctx.scenario.qrexec.app_exit_after
        ends = None if exit_after is None else time.monotonic() + exit_after
        while ctx.is_running(call.vm) and (ends is None or time.monotonic() < ends):
            time.sleep(POLL if ends is None else max(0.0, min(POLL, ends - time.monotonic())))
    return code


# ----- the update agent --------------------------------------------------------------


def _vm_update_main() -> int | None:
    """The PID of the ``qubes-vm-update`` process this agent runs for (its topmost python)."""
    pid = os.getppid()
    found = None
    for _ in range(10):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        if b"vmupdate" not in cmdline:  # the tool's python and its pool workers
            break
        found = pid
        pid = int(stat.rpartition(")")[2].split()[1])
    return found


def run_agent(ctx: ToolCall, vm: str) -> int:
    """The update agent in a template, as ``[templates."NAME"]`` says it goes.

    The events come from the built-in simulator's ``Job`` (same progress
    steps, output and results); only what a VM can do is played: it prints
    its progress as numbers on stderr and exits with the agent's code.  A
    ``garbage`` template prints hostile numbers and exits 0 (a VM cannot make
    dom0's tool print malformed lines); ``crash`` kills ``qubes-vm-update``
    with SIGKILL half way; ``cancelled`` is an agent interrupted half way
    (exit 130).  A real ``done cancelled`` needs SIGINT to ``qubes-vm-update``
    before the template's turn, which the product never sends (and the real
    tool can then hang: its signal handler talks to its multiprocessing
    manager over the connection the interrupted call is using).
    """
    job = _agent_job(ctx, vm)
    job.plan()
    agent = _Agent(ctx, job)
    clock = 0.0
    for at, kind, value in job.timeline:
        ctx.sleep(at - clock)
        clock = at
        code = agent.event(kind, value)
        if code is not None:
            return code
    while True:  # hang: the agent never ends (only a kill does)
        time.sleep(3600)


def _agent_job(ctx: ToolCall, vm: str) -> vmupdate.Job:
    """How this qube's update goes: its template settings, or "no updates" for the others."""
    spec = ctx.scenario.vms.get(vm)
    if spec is None or spec.klass not in ("TemplateVM", "StandaloneVM"):
        return vmupdate.Job(vm, "no_updates", vmupdate.NON_TEMPLATE_DURATION, 0, True)
    settings = ctx.scenario.template_settings(vm)
    pending = ctx.store.read().get("template_updates_pending", {})
    result = settings.result
    if result == "success" and not pending.get(vm, True):
        result = "no_updates"
    return vmupdate.Job(
        vm,
        result,
        settings.duration,
        int(settings.flood_mb * 1024 * 1024),
        "fedora" not in vm,
        int(settings.flood_line_mb * 1024 * 1024),
        exit_code=settings.exit_code,
        failure=settings.failure,
    )


class _Agent:
    """What the agent prints and does at each event of its job's timeline."""

    def __init__(self, ctx: ToolCall, job: vmupdate.Job) -> None:
        self.ctx = ctx
        self.job = job
        self.lines = vmupdate.agent_lines(job)
        self.floods = sum(1 for _, kind, _ in job.timeline if kind == "progress") or 1
        self.hostile = 0

    def event(self, kind: str, value: object) -> int | None:
        """Play one event; the agent's exit code when it ends here."""
        if kind == "progress":
            assert isinstance(value, float)
            self._progress(value)
            return None
        if kind == "error_output":
            write(2, self._error_text() + "\n")
            return None
        if kind == "crash":
            main = _vm_update_main()
            if main is not None:
                os.kill(main, signal.SIGKILL)
            return 137
        return self._done(value) if kind == "done" else None

    def _progress(self, value: float) -> None:
        job = self.job
        write(1, self.lines[int(value) % len(self.lines)] + "\n")
        _flood(job, job.flood_bytes // self.floods)
        if job.flood_line_bytes:
            _flood_line(job.flood_line_bytes)
            job.flood_line_bytes = 0
        if job.result == "garbage":
            write(2, HOSTILE_PROGRESS[self.hostile % len(HOSTILE_PROGRESS)] + "\n")
            self.hostile += 1
        else:
            write(2, f"{value}\n")

    def _error_text(self) -> str:
        """What the built-in simulator's agent prints for the same failure.

        So both tiers give the updater the same evidence (its help, its automatic retry).
        """
        job = self.job
        if job.failure:
            return "\n".join(vmupdate.failure_lines(job.failure, job.debian))
        code = _error_exit(job)
        return vmupdate.AGENT_ERRORS.get(code, vmupdate.AGENT_ERRORS[26])

    def _done(self, value: object) -> int:
        job = self.job
        _close_stderr()
        job.final = "success" if value is None else str(value)
        if job.final in ("success", "no_updates"):
            vmupdate.Batch(self.ctx, [job], 1, False, False, interrupted=[]).record_result(job)
        if job.final == "cancelled":
            return 130  # the agent was interrupted (qubes-vm-update makes it 26)
        return {"success": 0, "no_updates": 100}.get(job.final, _error_exit(job))


def _close_stderr() -> None:
    """End the progress stream before stdout, and let the reader see its end first.

    ``qubes-vm-update`` reads the two streams in two threads, and the stdout
    thread closes the stderr pipe when stdout ends: progress still unread then
    is lost.  A real agent runs for minutes, so its progress is long read when
    it exits; the simulated one is instant, so it waits until its progress
    was read, then ends stderr, then pauses before stdout ends.
    """
    deadline = time.monotonic() + DRAIN_LIMIT
    while _unread(2) and time.monotonic() < deadline:
        time.sleep(0.01)  # the reader has not taken all the progress yet
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    time.sleep(STREAM_GAP)


def _unread(fd: int) -> int:
    """Bytes written to this pipe and not read yet (0 when it is not a pipe)."""
    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(raw, sys.byteorder)


def _error_exit(job: vmupdate.Job) -> int:
    """The agent's exit code for a failed update (the template's ``exit_code``)."""
    return job.exit_code if job.exit_code > 0 else ERROR_EXIT


def _flood(job: object, nbytes: int) -> None:
    written = 0
    counter = 0
    while written < nbytes:
        line = (
            f"Get:{counter} https://deb.debian.org/debian trixie/main amd64 "
            f"libsim-flood{counter % 997} amd64 1.{counter}-1 [{100 + counter % 900} kB]\n"
        )
        counter += 1
        write(1, line)
        written += len(line)


def _flood_line(nbytes: int) -> None:
    chunk = (b"\x1b[1mline-flood\x1b[0m \t" * 3000)[:65536]
    written = 0
    while written < nbytes:
        piece = chunk[: nbytes - written]
        write(1, piece)
        written += len(piece)
    write(1, b"\n")


# ----- entry point ---------------------------------------------------------------------


def handle(ctx: ToolCall, argv: list[str], as_root: bool = False) -> int:
    """``qrexec-client ARGS`` (the generic tool runner journals the call and applies faults)."""
    try:
        call = parse_args(argv)
    except UsageError as exc:
        write(2, f"qrexec-client: {exc}\n")
        return 1
    if not ctx.is_running(call.vm):
        write(2, f"qrexec-client: domain {call.vm} is not running\n")
        return 1
    if call.no_wait:
        # ``-e``: connected, the service goes on in the VM without us (an app keeps
        # running).  ``[client] start_exit`` plays a call refused before it connects
        # (policy, an agent that does not answer): then even -e reports the failure.
        refused = ctx.scenario.client.start_exit
        if call.service.startswith("qubes.StartApp+") and call.vm == CLIENT_VM and refused:
            write(2, f"qrexec-client: service {call.service} refused by {call.vm}\n")
            return refused
        return qube.service(ctx, call.vm, call.service, wait=False, quiet=True)
    return run_service(ctx, call, Stdin(call.prefix))
