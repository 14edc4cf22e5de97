"""``QubesHost``: the host seam over the real dom0 tools and ``qubesadmin``.

Every Qubes command line the updater runs is built here, and nowhere else.
Under simulation this same class runs; the simulator only gives it other
directories to find executables in, another ``qubesadmin`` app object,
another root for dom0's files and a clock of its own (``sdw_sim``).
``qubesadmin`` is imported lazily: it is a dom0 package, and the launcher's
fast path pays for it only when it starts the app.  So are the tool runner
and the steps (``process``, ``steps``): the fast path (decide, start the
app) and the notifier run no dom0 tool and must not pay for importing them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdw_updater import adminapi, facts
from sdw_updater.contract import (
    BOOT_ID,
    CLIENT_APP_ID,
    CLIENT_VM,
    MIGRATION_DIR,
    NET_VM,
    OS_RELEASE,
    PROC_UPTIME,
    PROXY_VM,
)
from sdw_updater.host import Boot, ClientStart, HostError, VMInfo
from sdw_updater.status import read_bounded

if TYPE_CHECKING:
    import subprocess

    from sdw_updater.process import ToolResult, Watch
    from sdw_updater.steps import Step

log = logging.getLogger("sdw.host")

REAL_BIN_DIRS = (Path("/usr/bin"), Path("/usr/sbin"), Path("/bin"), Path("/sbin"))

#: Seconds for the calls that are not steps of their own.
RPM_TIMEOUT = 120
VM_READ_TIMEOUT = 240
VM_SHUTDOWN_TIMEOUT = 180
VM_START_TIMEOUT = 300
CLIENT_TIMEOUT = 300
REBOOT_TIMEOUT = 120
#: What a step's second check gets at least, when its first call and a start left less.
CHECK_AGAIN_MINIMUM = 10.0
#: How long the app's VMs may take to report "Running" after their start returned.
RUNNING_WAIT = 30.0

RPMDB_QUERY = (
    "rpm",
    "-q",
    "gpg-pubkey",
    "--qf",
    "%{NAME}-%{VERSION}-%{RELEASE}\\n%{DESCRIPTION}\\n",
)
SIGNER_FORMAT = "%{NAME}|%{RSAHEADER:pgpsig}|%{DSAHEADER:pgpsig}\\n"
RPM_OUTPUT_LIMIT = 2 * 1024 * 1024
#: Where dom0's rpm database lives (Fedora 41+ and older dom0s).
RPMDB_DIRS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm")
#: The answer to every question qubes-dom0-update asks despite -y.
ANSWER_NO = b"n\n" * 32
SIGNERS_OUTPUT_LIMIT = 64 * 1024

#: What the tools' exit codes mean (docs/qubes-tools.md: "qubes-vm-update: exit codes",
#: "qubes-dom0-update", "qubesctl" and their corrections), for logs
#: and failure screens: "qubes-vm-update exited with code 24" alone sends nobody anywhere.
EXIT_MEANINGS: dict[str, dict[int, str]] = {
    "qubes-vm-update": {
        1: "a qube's update ended in error",
        2: "it did not accept its command line",
        11: "an updated template could not be shut down",
        12: "a VM of an updated template could not be shut down",
        13: "a VM of an updated template could not be started again",
        21: "an update agent failed",
        22: "an update agent's prerequisites are missing in the qube",
        23: "an update agent could not refresh the package repositories: network or mirror",
        24: "an update agent could not install the packages",
        25: "an update agent could not clean up after installing",
        26: "an update agent stopped unexpectedly, or qrexec lost the qube",
        40: "qrexec could not reach a qube",
        64: "a template it was given is unknown or given twice",
        130: "it was interrupted",
    },
    "qubesctl": {
        1: "dom0's configuration failed, or a VM's",
        2: "a Salt state failed",
        5: "Salt's pillar data could not be compiled",
        20: "a VM's configuration failed",
    },
    "qubes-dom0-update": {
        1: "it could not check or install (see its output: a held lock, /boot, the UpdateVM)",
        2: "it did not accept its command line",
    },
    "sdw-admin": {1: "the SecureDrop configuration could not be applied"},
}

#: The interpreter that owns dnf's Python module in dom0 (python3-dnf), and the
#: script it runs to read dnf's configuration.  Found by path, not imported: the
#: updater's own interpreter need not be able to import dnf.
SYSTEM_PYTHON = "/usr/bin/python3"
DNF_PROBE = Path(__file__).resolve().parent / "trust" / "dnfprobe.py"
DNF_TIMEOUT = 60

#: Power states in which a VM counts as up for the app (Transient: qrexec not ready yet).
UP_STATES = ("Running",)
#: VM classes that have a ``template`` property (elsewhere qubesadmin raises).
HAS_TEMPLATE = ("AppVM", "DispVM")


class QubesHost:
    """dom0, real or simulated (see the module docstring)."""

    def __init__(
        self,
        *,
        root: Path = Path("/"),
        bin_dirs: Sequence[Path] = REAL_BIN_DIRS,
        app_factory: Callable[[], Any] | None = None,
        timeout_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        system_python: str = SYSTEM_PYTHON,
    ) -> None:
        self.root = root
        self.system_python = system_python
        self.bin_dirs = tuple(bin_dirs)
        self._app_factory = app_factory or _real_app
        self._app: Any = None
        self.timeout_scale = timeout_scale
        self.clock = clock

    # ----- time and dom0's own files ------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def path(self, absolute: str) -> Path:
        """Map an absolute dom0 path under this host's root."""
        return self.root / absolute.lstrip("/")

    def read_file(self, path: str, limit: int = 1024 * 1024) -> bytes | None:
        data = read_bounded(self.path(path), limit)
        if data is None or len(data) > limit:
            return None
        return data

    def list_dir(self, path: str) -> list[str]:
        """Names in a dom0 directory (sorted; empty when missing or not a directory)."""
        try:
            return sorted(os.listdir(self.path(path)))[:10000]
        except OSError:
            return []

    def uptime(self) -> float | None:
        raw = self.read_file(PROC_UPTIME, 256)
        return facts.parse_uptime(raw) if raw else None

    def boot(self) -> Boot:
        raw_id = self.read_file(BOOT_ID, 64)
        uptime = self.uptime()
        return Boot(
            boot_id=facts.parse_boot_id(raw_id) if raw_id else None,
            booted_at=None if uptime is None else self.now() - uptime,
        )

    def dom0_release(self) -> str | None:
        raw = self.read_file(OS_RELEASE, 64 * 1024)
        return facts.parse_os_release(raw) if raw else None

    def migration_pending(self) -> bool:
        """A non-empty directory (SDW 1.7) or a non-empty regular file (older) is a request."""
        target = self.path(MIGRATION_DIR)
        if target.is_dir() and not target.is_symlink():
            return bool(self.list_dir(MIGRATION_DIR))
        raw = self.read_file(MIGRATION_DIR, 4096)
        return bool(raw and raw.strip())

    def running_processes(self) -> set[str]:
        names: set[str] = set()
        # Plain strings: a Path a process costs the notifier's timer run more than the read.
        proc = os.path.join(self.path("/proc"), "")
        for entry in self.list_dir("/proc"):
            if entry.isdigit():
                raw = read_bounded(f"{proc}{entry}/comm", 64)
                if raw and len(raw) <= 64:
                    names.add(raw.decode("utf-8", "replace").strip())
        return names

    # ----- VMs ----------------------------------------------------------------------

    @property
    def app(self) -> Any:
        if self._app is None:
            self._app = self._app_factory()
        return self._app

    def vms(self, refresh: bool = False) -> dict[str, VMInfo]:
        domains = self.app.domains
        if refresh:
            clear = getattr(domains, "clear_cache", None)
            if clear is not None:
                clear()
        try:
            listed = list(domains)
        except adminapi.ERRORS as exc:
            raise HostError("dom0", "admin.vm.List", _reason(exc)) from exc
        result: dict[str, VMInfo] = {}
        for vm in listed:
            info = _vm_info(vm)
            result[info.name] = info
        return result

    def template_agents(self) -> dict[str, str | None]:
        """Each TemplateVM's ``qubes-agent-version`` ("" counts as unset), cheaply.

        One ``admin.vm.List`` (which tells each VM's class) and one feature
        read per template, where :meth:`vms` reads four properties of every
        VM: the launcher's in-place-upgrade guard asks this on every click.
        Raises HostError when a read fails, as :meth:`vms` does.
        """
        try:
            listed = list(self.app.domains)
        except adminapi.ERRORS as exc:
            raise HostError("dom0", "admin.vm.List", _reason(exc)) from exc
        agents: dict[str, str | None] = {}
        for vm in listed:
            try:
                name = str(vm.name)
                klass = str(vm.klass)
            except adminapi.ERRORS as exc:
                raise HostError(str(vm), "admin.vm.List", _reason(exc)) from exc
            if klass != "TemplateVM":
                continue
            try:
                agent = vm.features.get("qubes-agent-version", None)
            except adminapi.ERRORS as exc:
                call = "admin.vm.feature.Get qubes-agent-version"
                raise HostError(name, call, _reason(exc)) from exc
            agents[name] = str(agent) if agent not in (None, "") else None
        return agents

    def updatevm(self) -> str | None:
        try:
            vm = self.app.updatevm
            return None if vm is None else str(vm.name)
        except adminapi.ERRORS as exc:
            raise HostError("dom0", "admin.property.Get updatevm", _reason(exc)) from exc

    def power_state(self, name: str) -> str:
        # OSError too: qubesadmin wraps a failed connect, not a connection qubesd drops mid-call.
        unreadable: tuple[type[Exception], ...] = (*adminapi.ERRORS, OSError)
        try:
            return str(self.app.domains[name].get_power_state())
        except unreadable as exc:
            log.warning("Could not read the power state of %s: %s", name, _reason(exc))
            return "NA"

    def feature(self, vm: str, name: str) -> str | None:
        try:
            value = self.app.domains[vm].features.get(name, None)
        except adminapi.ERRORS as exc:
            raise HostError(vm, f"admin.vm.feature.Get {name}", _reason(exc)) from exc
        return None if value is None else str(value)

    # ----- tools --------------------------------------------------------------------

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
        watch: Watch | None = None,
        *,
        sudo: bool = False,
        log_output: bool = True,
        stdout_limit: int = 4096,
        stdin_data: bytes = b"",
    ) -> ToolResult:
        """Run one dom0 tool by name (found in this host's bin dirs), with a scaled timeout."""
        from sdw_updater import process

        program = self.which(argv[0])
        if program is None:
            log.error("Executable %s not found", argv[0])
            return process.ToolResult(list(argv), None, missing=True)
        command = [program, *argv[1:]]
        if sudo:
            sudo_path = self.which("sudo")
            if sudo_path is None:
                log.error("Executable sudo not found")
                # Name sudo, not the program: "qubesctl was not found" would send
                # an admin looking for the wrong executable.
                return process.ToolResult(["sudo", *argv], None, missing=True)
            command = [sudo_path, "-n", *command]
        result = process.run(
            command,
            self.timeout(timeout),
            watch,
            log_output=log_output,
            stdout_limit=stdout_limit,
            shown_argv=argv,
            stdin_data=stdin_data,
        )
        if result.exit is not None and result.exit > 0:
            result.meaning = EXIT_MEANINGS.get(argv[0], {}).get(result.exit, "")
        return result

    def _step_tool(
        self,
        step: Step,
        argv: list[str],
        watch: Watch,
        sudo: bool = False,
        deadline: float | None = None,
    ) -> ToolResult:
        """Run a step's tool with the step's timeout, or less: what is left before ``deadline``.

        ``deadline`` (``time.monotonic()`` seconds) is for a step that runs
        its tool twice: the second call gets only what the first one left,
        so the step as a whole keeps its bound.
        """
        if deadline is not None:
            import dataclasses  # not on the fast path (see host.py on its import cost)

            ends = deadline if watch.deadline is None else min(deadline, watch.deadline)
            watch = dataclasses.replace(watch, deadline=ends)
        return self.run(argv, _step_timeout(step), watch, sudo=sudo)

    def check_network(self) -> ToolResult:
        from sdw_updater.steps import Step

        argv = ["qvm-run", "-p", NET_VM, "nmcli", "networking", "connectivity", "check"]
        return self.run(argv, _step_timeout(Step.NETCHECK), stdout_limit=256)

    def dom0_check(self, watch: Watch) -> ToolResult:
        """``--check-only``; when it refused because dom0's UpdateVM is halted, start it, again.

        ``qubes-dom0-update --check-only`` does not start the UpdateVM (only
        an interactive update does) and exits 1 while it is halted
        (docs/qubes-tools.md, "qubes-dom0-update --check-only refuses a
        halted UpdateVM").  The UpdateVM is started with ``qvm-start``, an
        Admin API client, the way every other VM is started (its timeout,
        and a stop of the updater stops it), and the check runs once more
        within what is left of the step's time; when the UpdateVM cannot be
        started the result says so, with the command an administrator runs.
        """
        from sdw_updater.steps import Step

        step_ends = time.monotonic() + self.timeout(_step_timeout(Step.DOM0_CHECK))
        argv = ["qubes-dom0-update", "--check-only"]
        result = self._step_tool(Step.DOM0_CHECK, argv, watch)
        if result.exit != 1 or not self._started_halted_updatevm(result):
            return result
        now = time.monotonic()
        if now >= step_ends:
            return _out_of_time(
                argv, "dom0's UpdateVM started, but no time was left of the step to check again"
            )
        # Whatever is left, the second check gets the time to start and answer.
        ends = max(step_ends, now + self.timeout(CHECK_AGAIN_MINIMUM))
        return self._step_tool(Step.DOM0_CHECK, argv, watch, deadline=ends)

    def _started_halted_updatevm(self, refused: ToolResult) -> bool:
        """Start dom0's UpdateVM when a failed check found it halted; True when it runs now.

        When it cannot be started (or none is set, or it cannot be read),
        ``refused`` is told why and what to run: it is the result reported.
        """
        try:
            name = self.updatevm()
        except HostError as exc:
            _explain(refused, f"dom0's UpdateVM could not be read ({exc.reason})")
            return False
        if name is None:
            _explain(
                refused,
                "dom0 has no UpdateVM; set one in a dom0 terminal "
                "(`qubes-prefs updatevm sys-firewall`), then run the updater again",
            )
            return False
        if self.power_state(name) != "Halted":
            return False  # the check failed for another reason: its output says which
        log.warning(
            "dom0's UpdateVM %s is halted and qubes-dom0-update --check-only does not start "
            "it: starting %s",
            name,
            name,
        )
        problem = _start_problem(self.start_vms([name]))
        if problem is None and self.power_state(name) not in UP_STATES:
            problem = f"it is {self.power_state(name)}"
        if problem is not None:
            _explain(
                refused,
                f"dom0's UpdateVM {name} is halted and could not be started ({problem}); start "
                f"it in a dom0 terminal (`qvm-start {name}`), then run the updater again",
            )
            return False
        log.info("Started %s; checking for dom0 updates again", name)
        return True

    def dom0_update(self, watch: Watch) -> ToolResult:
        # -y only makes dnf non-interactive; on a major Xen upgrade the script
        # itself asks, and at its reboot prompt anything but "n" (EOF too)
        # reboots dom0.  Every question is answered "no": no tool decides a
        # restart or an upgrade for the journalist.
        from sdw_updater.steps import Step

        argv = ["qubes-dom0-update", "-y"]
        return self.run(
            argv, _step_timeout(Step.DOM0_UPDATE), watch, sudo=True, stdin_data=ANSWER_NO
        )

    def rpmdb_stamp(self) -> tuple[int, ...] | None:
        """Size and modification time of every file of dom0's rpm database."""
        stamp: list[int] = []
        for folder in RPMDB_DIRS:
            for name in self.list_dir(folder):
                try:
                    info = self.path(f"{folder}/{name}").lstat()
                except OSError:
                    return None
                stamp += [info.st_size, info.st_mtime_ns]
        return tuple(stamp) if stamp else None

    def highstate(self, watch: Watch) -> ToolResult:
        from sdw_updater.steps import Step

        argv = ["qubesctl", "--show-output", "state.highstate"]
        return self._step_tool(Step.DOM0_STATE, argv, watch, sudo=True)

    def apply_migration(self, watch: Watch) -> ToolResult:
        from sdw_updater.steps import Step

        return self._step_tool(Step.MIGRATION, ["sdw-admin", "--apply"], watch)

    def clear_migration(self) -> ToolResult:
        return self.run(["rm", "-rf", "--", MIGRATION_DIR], 60, sudo=True)

    def update_templates(self, names: Sequence[str], watch: Watch) -> ToolResult:
        from sdw_updater.steps import Step

        argv = [
            "qubes-vm-update",
            "--apply-to-all",
            "--force-update",
            "--show-output",
            "--just-print-progress",
            "--targets",
            ",".join(names),
        ]
        return self._step_tool(Step.TEMPLATES, argv, watch)

    def start_vms(self, names: Sequence[str]) -> ToolResult:
        return self.run(["qvm-start", "--skip-if-running", *names], VM_START_TIMEOUT)

    def shutdown_vms(self, names: Sequence[str]) -> ToolResult:
        return self.run(["qvm-shutdown", "--wait", *names], VM_SHUTDOWN_TIMEOUT)

    def reboot(self) -> ToolResult:
        return self.run(["reboot"], REBOOT_TIMEOUT, sudo=True)

    def rpm_keys(self) -> ToolResult:
        return self.run(
            list(RPMDB_QUERY), RPM_TIMEOUT, log_output=False, stdout_limit=RPM_OUTPUT_LIMIT
        )

    def rpm_signers(self, packages: Sequence[str]) -> ToolResult:
        argv = ["rpm", "-q", "--qf", SIGNER_FORMAT, *packages]
        return self.run(argv, RPM_TIMEOUT, log_output=False, stdout_limit=SIGNERS_OUTPUT_LIMIT)

    def read_vm_file(self, vm: str, path: str, limit: int, binary: bool = False) -> ToolResult:
        command = ["base64", "--", path] if binary else ["cat", "--", path]
        return self.run(
            ["qvm-run", "-p", "--no-gui", vm, *command],
            VM_READ_TIMEOUT,
            log_output=False,
            stdout_limit=limit * (2 if binary else 1),
        )

    def dnf_config(self, releasever: str, limit: int) -> ToolResult:
        # The system Python by its path, in isolated mode (no PYTHON* variables, no
        # user site-packages), on this host's root: the simulator's files under
        # simulation, never the machine's /etc.
        command = [
            self.system_python,
            "-I",
            str(DNF_PROBE),
            "--root",
            str(self.root),
            "--releasever",
            releasever,
        ]
        from sdw_updater import process  # not on the fast path

        return process.run(
            command,
            self.timeout(DNF_TIMEOUT),
            log_output=False,
            stdout_limit=limit,
        )

    # ----- the app ------------------------------------------------------------------

    def start_client(self) -> ClientStart:
        """Start sd-proxy and sd-app at the same time, then the app, without waiting for it.

        ``qvm-run -p --service ... qubes.StartApp`` would return only when
        the journalist closes the app, so the app is started with qubesadmin's
        ``run_service(wait=False)`` (what ``qvm-run`` does without ``-p``):
        it starts sd-app, asks qrexec to start the app, and returns.  The
        proxy boots meanwhile, so the journalist waits for the longer of the
        two boots, not their sum.  Both VMs must then be running.
        """
        started = time.monotonic()
        proxy_error: list[str] = []
        proxy = threading.Thread(
            target=self._start_vm, args=(PROXY_VM, proxy_error), name="start-sd-proxy"
        )
        proxy.start()
        problem = self._launch_app()
        proxy.join(self.timeout(VM_START_TIMEOUT))
        if proxy.is_alive():
            proxy_error.append("did not start in time")
        if problem is None and proxy_error:
            problem = f"{PROXY_VM} did not start: {proxy_error[0]}"
        if problem is None:
            problem = self._wait_running((CLIENT_VM, PROXY_VM))
        if problem is not None:
            log.error("The SecureDrop app was not started: %s", problem)
            return ClientStart(False, problem)
        log.info(
            "Started %s in %s with %s (%.1f s)",
            CLIENT_APP_ID,
            CLIENT_VM,
            PROXY_VM,
            time.monotonic() - started,
        )
        return ClientStart(True, "started")

    def _start_vm(self, name: str, errors: list[str]) -> None:
        try:
            vm = self.app.domains[name]
            if vm.get_power_state() == "Halted":
                vm.start()
        except adminapi.ERRORS as exc:
            errors.append(_reason(exc))

    def _launch_app(self) -> str | None:
        """Ask sd-app to start the app; None when qrexec accepted the call."""
        import subprocess

        service = f"qubes.StartApp+{CLIENT_APP_ID}"
        # OSError: qubesadmin starts dom0's qrexec-client as a process.
        failures: tuple[type[Exception], ...] = (*adminapi.ERRORS, OSError)
        try:
            vm = self.app.domains[CLIENT_VM]
            proc = vm.run_service(
                service,
                wait=False,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:  # qubesadmin runs dom0's qrexec-client
            name = Path(str(exc.filename or "qrexec-client")).name
            log.error("Executable %s not found", name)
            return f"{name} was not found, so the app could not be started"
        except failures as exc:
            return f"{CLIENT_VM} could not start the app: {_reason(exc)}"
        code = _wait_exit(proc, self.timeout(CLIENT_TIMEOUT))
        if code is None:
            proc.kill()
            proc.wait()
            return f"starting the app in {CLIENT_VM} did not return in time"
        if code != 0:
            return f"starting the app in {CLIENT_VM} failed (exit code {code})"
        return None

    def _wait_running(self, names: Sequence[str]) -> str | None:
        """Confirm ``names`` run, allowing a short while for Transient to become Running."""
        deadline = time.monotonic() + self.timeout(RUNNING_WAIT)
        while True:
            states = {name: self.power_state(name) for name in names}
            down = [
                f"{name} is {state}" for name, state in states.items() if state not in UP_STATES
            ]
            if not down:
                return None
            if time.monotonic() >= deadline or any(
                state in ("Halted", "NA", "Crashed", "Dying") for state in states.values()
            ):
                return ", ".join(down)
            time.sleep(0.2)


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The exit code of ``proc``, or None when it is still running after ``timeout`` seconds.

    ``Popen.wait(timeout=...)`` polls, sleeping up to 50 ms between looks,
    so a qrexec-client that returns in 2 ms could cost the journalist 50 ms
    more on every click.  A pidfd becomes readable the moment the process
    exits (Linux 5.3+); without one, Popen's own wait is the fallback.
    """
    import select
    import subprocess

    opener = getattr(os, "pidfd_open", None)
    try:
        pidfd: int | None = opener(proc.pid) if opener is not None else None
    except OSError:
        pidfd = None
    if pidfd is None:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(max(0, int(timeout * 1000))):
            return None
    finally:
        os.close(pidfd)
    return proc.wait()


def _explain(result: ToolResult, why: str) -> None:
    """Say what a tool's exit code means here, in its result and in the log."""
    log.error("%s", why)
    result.meaning = why
    result.tail.append(why)


def _start_problem(started: ToolResult) -> str | None:
    """Why ``qvm-start`` did not start a VM, in a bounded phrase (None: it did)."""
    if started.ok:
        return None
    if started.timed_out:
        return "it did not start in time"
    from sdw_updater import process  # not on the fast path

    if process.cancelled():
        return "the updater was stopped during the start"
    said = started.tail[-1][:200] if started.tail else ""
    return f"{started.describe()}: {said}" if said else started.describe()


def _out_of_time(argv: list[str], why: str) -> ToolResult:
    """The result of a step's tool that was not run again: the step's time was up."""
    from sdw_updater.process import ToolResult

    result = ToolResult(list(argv), None, timed_out=True)
    _explain(result, why)
    return result


def _step_timeout(step: Step) -> float:
    """A step's timeout (``steps`` is imported here: the fast path runs no step)."""
    from sdw_updater.steps import STEPS

    return STEPS[step].timeout


def _real_app() -> Any:
    """The real qubesadmin app, imported only when needed (a dom0 package)."""
    import qubesadmin

    return qubesadmin.Qubes()


def _reason(exc: BaseException) -> str:
    """An exception as one bounded line (its text may come from qubesd)."""
    text = str(exc).replace("\n", " ")[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _vm_info(vm: Any) -> VMInfo:
    """Read one VM strictly: a refused or failed read raises HostError, naming the call.

    ``getattr(vm, "template", None)`` would turn an access-denied reply into
    "no template" (qubesadmin's errors are AttributeErrors) and silently
    drop a template from the update; the class decides whether a template
    exists, and every read that fails fails.
    """
    try:
        name = str(vm.name)
    except adminapi.ERRORS as exc:
        raise HostError(str(vm), "admin.vm.List", _reason(exc)) from exc

    def read(call: str, getter: Callable[[], Any]) -> Any:
        try:
            return getter()
        except adminapi.ERRORS as exc:
            raise HostError(name, call, _reason(exc)) from exc

    klass = str(read("admin.vm.property.Get klass", lambda: vm.klass))
    template: str | None = None
    if klass in HAS_TEMPLATE:
        template = str(read("admin.vm.property.Get template", lambda: vm.template.name))
    tags = frozenset(str(tag) for tag in read("admin.vm.tag.List", lambda: list(vm.tags)))
    power = str(read("admin.vm.CurrentState", vm.get_power_state))
    agent = read(
        "admin.vm.feature.Get qubes-agent-version",
        lambda: vm.features.get("qubes-agent-version", None),
    )
    netvm: str | None = None
    if klass != "AdminVM":  # dom0 has no netvm property
        provider = read("admin.vm.property.Get netvm", lambda: vm.netvm)
        netvm = None if provider is None else str(provider.name)
    return VMInfo(
        name=name,
        klass=klass,
        template=template,
        tags=tags,
        power=power,
        agent_version=str(agent) if agent not in (None, "") else None,
        netvm=netvm,
    )
