"""The fake dom0 tools behind the wrapper scripts in ``sim/bin``.

Each wrapper calls ``main(TOOL, argv, sim_dir)``.  A call is journaled when
it starts, its faults (``[faults."TOOL"]``) are applied, then the tool does
what the real one does to the simulated workstation (reference:
qubes-contract.md): same command lines, messages that matter, exit codes.

Root: the simulator treats a tool as running as root only when it was
started through the fake ``sudo``, whatever the real user is, so a missing
``sudo`` in the engine shows up as it would in dom0.

Every tool ends on SIGTERM (the engine's timeout kills the process group);
the journal then says ``"exit": -15``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from sdw_sim import journal
from sdw_sim.scenario import TOOLS, Fault, Scenario, parse_scenario
from sdw_sim.state import (
    SCENARIO_FILE,
    StateStore,
    register_process,
    reset_power,
    set_migration_flag,
    set_power,
    unregister_process,
    write_uptime,
)
from sdw_updater.contract import CLIENT_VM, NET_VM

UPDATE_VM = "sys-firewall"


class Context:
    """Everything one tool call needs: the scenario, the state, where to write."""

    def __init__(self, sim_dir: Path) -> None:
        self.sim_dir = sim_dir
        self.root = sim_dir / "root"
        self.journal_path = sim_dir / "journal.jsonl"
        self.store = StateStore(sim_dir)
        stored = json.loads((sim_dir / SCENARIO_FILE).read_bytes())
        self.scenario: Scenario = parse_scenario(stored["raw"], stored.get("source", ""))
        self.record: journal.Record | None = None
        self.proc_entry: Path | None = None

    def sleep(self, sim_seconds: float) -> None:
        """Let simulated time pass (time_scale real seconds per simulated second)."""
        delay = sim_seconds * self.scenario.sim.time_scale
        if delay > 0:
            time.sleep(delay)

    def power(self, name: str) -> str:
        if name == "dom0":
            return "Running"
        value = self.store.read().get("power", {}).get(name)
        return value if isinstance(value, str) else "NA"

    def is_running(self, name: str) -> bool:
        return self.power(name) not in ("Halted", "NA")

    def set_power(self, name: str, power: str) -> None:
        with self.store.locked() as state:
            set_power(state, name, power)

    def features(self, name: str) -> dict[str, str]:
        value = self.store.read().get("features", {}).get(name, {})
        return value if isinstance(value, dict) else {}

    def die(self, sig: int) -> None:
        """End this process by a signal, leaving the journal and /proc as a real death would."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.record is not None:
            self.record.finish(-sig)
        unregister_process(self.proc_entry)
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        time.sleep(60)  # the signal arrives before this ends
        os._exit(128 + sig)


# ----- output ------------------------------------------------------------------


def out(text: str) -> None:
    """Write to stdout and flush now: the engine reads output as it comes."""
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()


def err(text: str) -> None:
    sys.stderr.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stderr.buffer.flush()


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the call is journaled with exit 2."""

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            err(message)
        raise _Exit(status)


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _no_such_domain(prog: str, name: str) -> int:
    err(f"{prog}: error: no such domain: {name!r}\n")
    return 2


# ----- entry points --------------------------------------------------------------


def main(tool: str, argv: list[str], sim_dir: str) -> int:
    """Run one fake tool; the wrappers in ``sim/bin`` call this."""
    try:
        ctx = Context(Path(sim_dir))
    except (OSError, ValueError, KeyError) as exc:
        err(f"{tool}: the simulated workstation is not set up ({exc})\n")
        return 1
    if tool == "sudo":
        return _sudo(ctx, argv)
    return run_tool(ctx, tool, argv, as_root=False)


def run_tool(ctx: Context, tool: str, argv: list[str], as_root: bool) -> int:
    """Journal one call, apply its fault or its behaviour, record how it ended."""
    ctx.record = journal.start(ctx.journal_path, tool, argv)
    ctx.proc_entry = register_process(ctx.root, tool)

    def on_term(signum: int, frame: FrameType | None) -> None:
        ctx.die(signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    code: int = 1
    try:
        try:
            write_uptime(ctx.root, float(ctx.store.read().get("boot_time", time.time())))
        except (OSError, TypeError, ValueError):
            pass
        fault = ctx.scenario.fault(tool, argv)
        if fault is not None:
            code = _apply_fault(ctx, tool, fault)
        else:
            code = HANDLERS[tool](ctx, argv, as_root)
    except _Exit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 141
    finally:
        ctx.record.finish(code)
        unregister_process(ctx.proc_entry)
        ctx.proc_entry = None
    return code


def _apply_fault(ctx: Context, tool: str, fault: Fault) -> int:
    """Misbehave as ``[faults."TOOL"]`` says."""
    if fault.mode == "exit":
        err(f"{tool}: simulated failure (fault injected), exit code {fault.exit}\n")
        return fault.exit
    if fault.mode == "hang":
        out(f"{tool}: starting\n")
        while True:
            time.sleep(3600)
    if fault.mode == "crash":
        out(f"{tool}: starting\n")
        err(f"{tool}: working...\n")
        ctx.die(signal.SIGKILL)
    # garbage: deterministic noise, so a failing test shows the same bytes again
    import hashlib

    seed = f"{tool} {ctx.scenario.digest}".encode()
    for number in range(20):
        noise = hashlib.sha256(seed + bytes([number])).digest()[: 8 + number * 5 % 32]
        sys.stdout.buffer.write(noise + b"\n")
        sys.stderr.buffer.write(b"\x1b[31m" + noise[::-1] + b"\x00\r\n")
    sys.stdout.buffer.write(b"\xff\xfe not even a line ending")
    sys.stdout.buffer.flush()
    sys.stderr.buffer.flush()
    return 0


def _sudo(ctx: Context, argv: list[str]) -> int:
    """``sudo [-n] PROGRAM ARGS``: run the fake PROGRAM as root (sudo is not journaled)."""
    fault = ctx.scenario.fault("sudo", argv)
    if fault is not None:
        if fault.mode == "exit":
            err("sudo: a password is required\n")
            return fault.exit
        return _apply_fault(ctx, "sudo", fault)
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        option = argv[index]
        index += 1
        if option == "--":
            break
        if option in ("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"):
            index += 1
    if index >= len(argv):
        err("usage: sudo [-n] command\n")
        return 1
    program = argv[index]
    name = os.path.basename(program)
    missing = ctx.scenario.faults.get(name)
    if name not in HANDLERS or (missing is not None and missing.mode == "missing"):
        err(f"sudo: {program}: command not found\n")
        return 1
    return run_tool(ctx, name, argv[index + 1 :], as_root=True)


# ----- qvm-* ----------------------------------------------------------------------


def _qvm_run(ctx: Context, argv: list[str], as_root: bool) -> int:
    parser = _Parser(prog="qvm-run")
    parser.add_argument("-p", "--pass-io", action="store_true")
    parser.add_argument("--service", action="store_true")
    parser.add_argument("--no-gui", "--nogui", dest="gui", action="store_false", default=True)
    parser.add_argument("--gui", dest="gui", action="store_true")
    parser.add_argument("-u", "--user")
    parser.add_argument("-n", "--no-autostart", dest="autostart", action="store_false")
    parser.add_argument("-a", "--autostart", dest="autostart", action="store_true", default=True)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--no-shell", action="store_true")
    parser.add_argument("--no-color-output", "--no-colour-output", action="store_true")
    parser.add_argument("VMNAME")
    parser.add_argument("cmd")
    parser.add_argument("cmd_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    vm = args.VMNAME
    if vm not in ctx.scenario.vms:
        return _no_such_domain("qvm-run", vm)
    if not ctx.is_running(vm):
        if not args.autostart:
            err(f"Qube '{vm}' not started\n")
            return 1
        ctx.sleep(ctx.scenario.sim.vm_start_duration)
        if ctx.scenario.vms[vm].start_fails:
            err(f"{vm}: Start failed: simulated start failure of {vm}\n")
            return 255
        ctx.set_power(vm, "Running")
    shown = args.cmd if not args.cmd_args else shlex.join([args.cmd, *args.cmd_args])
    if not args.pass_io and not args.quiet:
        err(f"Running '{shown}' on {vm}\n")
    if args.service:
        if not args.pass_io:
            return 0  # from dom0, --service without -p does not wait for the service
        code, stdout, stderr = _service(ctx, vm, args.cmd)
    else:
        words = [args.cmd, *args.cmd_args] if args.cmd_args else shlex.split(args.cmd)
        code, stdout, stderr = _command(ctx, vm, words)
    if args.pass_io:
        out(stdout)
        err(stderr)
    if code != 0 and not args.quiet:
        err(f"{vm}: command failed with code: {code}\n")
    return code


def _service(ctx: Context, vm: str, service: str) -> tuple[int, str, str]:
    """A qrexec service call inside a VM."""
    name, _, argument = service.partition("+")
    if name == "qubes.StartApp":
        if vm == CLIENT_VM and argument in ctx.scenario.client.apps:
            ctx.sleep(ctx.scenario.client.start_duration)
            code = ctx.scenario.client.start_exit
            return code, "", "" if code == 0 else "securedrop-client: failed to start\n"
        return 1, "", f"No such application: {argument}\n"
    return 126, "", "Request refused\n"


def _command(ctx: Context, vm: str, words: list[str]) -> tuple[int, str, str]:
    """A command run inside a VM (only what the updater and a human would try)."""
    if not words:
        return 0, "", ""
    program = words[0]
    if program == "nmcli" and words[1:3] == ["networking", "connectivity"]:
        ctx.sleep(ctx.scenario.network.check_duration)
        if vm != NET_VM:
            return 8, "", "Error: NetworkManager is not running.\n"
        return 0, ctx.scenario.network.connectivity + "\n", ""
    if program == "true":
        return 0, "", ""
    if program == "false":
        return 1, "", ""
    if program == "echo":
        return 0, " ".join(words[1:]) + "\n", ""
    if program == "hostname":
        return 0, vm + "\n", ""
    if program == "uname":
        return 0, "Linux\n", ""
    if program in ("cat", "base64"):
        from sdw_sim import trust

        return trust.read_command(ctx.scenario, ctx.sim_dir, vm, words)
    return 127, "", f"bash: line 1: {program}: command not found\n"


def _qvm_start(ctx: Context, argv: list[str], as_root: bool) -> int:
    """R4.2 semantics: sequential; an already running qube stops the list (exit 1)."""
    parser = _Parser(prog="qvm-start")
    parser.add_argument("--skip-if-running", action="store_true")
    parser.add_argument("VMNAME", nargs="+")
    args = parser.parse_args(argv)
    for name in args.VMNAME:
        if name not in ctx.scenario.vms:
            return _no_such_domain("qvm-start", name)
    code = 0
    for name in args.VMNAME:
        if ctx.is_running(name):
            if args.skip_if_running:
                continue
            err(f"Error: domain {name} is already running\n")
            return 1
        ctx.sleep(ctx.scenario.sim.vm_start_duration)
        if ctx.scenario.vms[name].start_fails:
            err(f"Error: Start failed: simulated start failure of {name}\n")
            code = 1
            continue
        ctx.set_power(name, "Running")
    return code


def _qvm_shutdown(ctx: Context, argv: list[str], as_root: bool) -> int:
    """Shut qubes down (they always succeed here); halted qubes are fine."""
    parser = _Parser(prog="qvm-shutdown")
    parser.add_argument("--wait", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("VMNAME", nargs="*")
    args = parser.parse_args(argv)
    if args.all:
        names = [n for n in ctx.scenario.vms if n != "dom0" and n not in args.exclude]
    elif not args.VMNAME:
        parser.error("one of the arguments --all VMNAME is required")
    else:
        names = args.VMNAME
    for name in names:
        if name not in ctx.scenario.vms:
            return _no_such_domain("qvm-shutdown", name)
    running = [n for n in names if n != "dom0" and ctx.is_running(n)]
    if args.wait and running:
        ctx.sleep(ctx.scenario.sim.vm_shutdown_duration)
    with ctx.store.locked() as state:
        for name in running:
            set_power(state, name, "Halted")
    return 0


def _qvm_kill(ctx: Context, argv: list[str], as_root: bool) -> int:
    parser = _Parser(prog="qvm-kill")
    parser.add_argument("VMNAME", nargs="+")
    args = parser.parse_args(argv)
    for name in args.VMNAME:
        if name not in ctx.scenario.vms:
            return _no_such_domain("qvm-kill", name)
    with ctx.store.locked() as state:
        for name in args.VMNAME:
            if name != "dom0" and state.get("power", {}).get(name) != "Halted":
                set_power(state, name, "Halted")
    return 0


# ----- dom0 updates, Salt, sdw-admin ------------------------------------------------

_DOM0_PACKAGES = (
    "securedrop-workstation-dom0-config.noarch 1.2.0-1.fc37",
    "qubes-core-dom0.x86_64 4.2.30-1.fc37",
    "kernel.x86_64 6.6.63-1.qubes.fc37",
    "xen-hypervisor.x86_64 4.17.5-5.fc37",
)
_DOM0_PASSTHROUGH = (
    "--clean",
    "--gui",
    "--force-xen-upgrade",
    "--skip-boot-check",
    "--downloadonly",
    "--console",
    "--show-output",
    "--preserve-terminal",
)
_DNF_OPTIONS = ("-y", "--assumeyes", "-q", "-v", "--refresh", "--best", "--allowerasing")


def _dom0_update(ctx: Context, argv: list[str], as_root: bool) -> int:
    """``qubes-dom0-update``: ``--check-only`` (no root) or an update (root, via sudo)."""
    check_only = False
    quiet = False
    assume_yes = False
    for arg in argv:
        if arg == "--":
            break
        if arg == "--check-only":
            check_only = True
        elif arg in ("--quiet", "--silent"):
            quiet = True
        elif arg in _DOM0_PASSTHROUGH or arg.startswith(
            ("--action=", "--enablerepo=", "--disablerepo=", "--switch-audio-server-to=")
        ):
            continue
        elif arg.startswith("-"):
            if arg not in _DNF_OPTIONS:
                err(f"usage: dnf [options] COMMAND\ndnf: error: unrecognized arguments: {arg}\n")
                return 2
            assume_yes = assume_yes or arg in ("-y", "--assumeyes")
        # bare package names mean install mode, simulated as an update
    dom0 = ctx.scenario.dom0
    if not check_only and not as_root:
        err("ERROR: This tool must be run as root!\n")
        return 1
    err(f"Using {UPDATE_VM} as UpdateVM for Dom0\n")
    if check_only:
        if not ctx.is_running(UPDATE_VM):
            err("ERROR: UpdateVM not running, not starting it in non-interactive mode\n")
            return 1
        ctx.sleep(dom0.check_duration)
        pending = bool(ctx.store.read().get("dom0_updates_pending"))
        if dom0.check_exit is not None and dom0.check_exit != 100:
            code = dom0.check_exit
        else:
            code = 100 if pending else 0
        if code == 100:
            out("Available updates:\n" + "".join(f"  {p}\n" for p in _DOM0_PACKAGES))
            err("There are dom0 updates available\n")
        elif code == 0:
            out("No new updates available\n")
            err("No dom0 updates available\n")
        else:
            err("Failed to check for dom0 updates\n")
        return code
    if not ctx.is_running(UPDATE_VM):
        ctx.sleep(ctx.scenario.sim.vm_start_duration)
        ctx.set_power(UPDATE_VM, "Running")
    if not ctx.store.read().get("dom0_updates_pending"):
        ctx.sleep(dom0.check_duration)
        err("No updates available\n")
        _set_dom0_updated(ctx, installed=False)
        return 0
    if not quiet:
        out("Last metadata expiration check: 0:00:12 ago.\nDependencies resolved.\n")
        out("".join(f" Upgrading: {p}\n" for p in _DOM0_PACKAGES))
    if not assume_yes:
        out("Is this ok [y/N]: Operation aborted.\n")
        return 1
    steps = len(_DOM0_PACKAGES)
    for number, package in enumerate(_DOM0_PACKAGES, 1):
        ctx.sleep(dom0.update_duration / (steps + 1))
        if not quiet:
            out(f"  Upgrading        : {package}    {number}/{steps}\n")
    ctx.sleep(dom0.update_duration / (steps + 1))
    if dom0.update_exit != 0:
        err("Error: Transaction test error:\n  file /usr/lib/sim conflicts (simulated)\n")
        return dom0.update_exit
    if not quiet:
        out("Complete!\n")
    _set_dom0_updated(ctx, installed=True)
    return 0


def _set_dom0_updated(ctx: Context, installed: bool) -> None:
    with ctx.store.locked() as state:
        state["dom0_updates_pending"] = False
        features = state.setdefault("features", {}).setdefault("dom0", {})
        features["updates-available"] = ""
        if installed:
            features["last-update"] = time.strftime("%Y-%m-%d %H:%M:%S")


_SALT_STATES = (
    "dom0-rpm-test-key-absent",
    "dom0-workstation-rpm-repo",
    "sd-dom0-files",
    "sd-dom0-qvm-rpc",
    "sd-workstation-template-files",
    "sd-dom0-crontab",
)


def _qubesctl(ctx: Context, argv: list[str], as_root: bool) -> int:
    """``qubesctl [opts] state.highstate``: dom0's Salt run; may leave the migration flag."""
    parser = _Parser(prog="qubesctl")
    parser.add_argument("--skip-dom0", action="store_true")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--targets")
    group.add_argument("--all", action="store_true")
    parser.add_argument("--templates", action="store_true")
    parser.add_argument("--standalones", action="store_true")
    parser.add_argument("--app", action="store_true")
    parser.add_argument("--show-output", action="store_true")
    parser.add_argument("--force-color", action="store_true")
    parser.add_argument("--max-concurrency", type=int, default=4)
    parser.add_argument("--skip-top-check", action="store_true")
    parser.add_argument("--sync-extmods", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("the following arguments are required: command")
    if not as_root:
        err("ERROR: qubesctl must be run as root (salt-call: permission denied)\n")
        return 1
    highstate = args.command[0] == "state.highstate"
    dom0 = ctx.scenario.dom0
    code = dom0.highstate_exit if highstate else 0
    if not args.skip_dom0:
        out("local:\n")
        duration = dom0.highstate_duration if highstate else 5.0
        failed_at = len(_SALT_STATES) - 1 if code else -1
        for index, state_id in enumerate(_SALT_STATES):
            ctx.sleep(duration / len(_SALT_STATES))
            ok = index != failed_at
            out(
                "----------\n"
                f"          ID: {state_id}\n"
                "    Function: file.managed\n"
                f"      Result: {ok}\n"
                f"     Comment: {'File is in the correct state' if ok else 'Simulated failure'}\n"
            )
        failed = 1 if code else 0
        out(
            "\nSummary for local\n-------------\n"
            f"Succeeded: {len(_SALT_STATES) - failed} (changed=2)\nFailed:    {failed}\n"
            "-------------\n"
        )
        if code:
            err("DOM0 configuration failed, not continuing\n")
            return code
    if highstate and ctx.store.read().get("migration_pending"):
        set_migration_flag(ctx.root, True)
    targets = [t for t in (args.targets or "").split(",") if t in ctx.scenario.vms]
    for target in targets:
        if target != "dom0":
            out(f"{target}: OK\n")
    return 0


def _sdw_admin(ctx: Context, argv: list[str], as_root: bool) -> int:
    """``sdw-admin --apply``: the full provisioning run a migration needs."""
    parser = _Parser(prog="sdw-admin")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--apply", action="store_true")
    group.add_argument("--validate", action="store_true")
    group.add_argument("--uninstall", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--keep-template-rpm", action="store_true")
    args = parser.parse_args(argv)
    if not args.apply:
        out("Configuration is valid.\n" if args.validate else "Uninstall is not simulated.\n")
        return 0
    out("Applying configuration...\n")
    dom0 = ctx.scenario.dom0
    for step in ("dom0 configuration", "templates", "VMs", "VM configuration"):
        ctx.sleep(dom0.apply_duration / 4)
        out(f"Provisioning {step}...\n")
    if dom0.apply_exit != 0:
        err("Error applying configuration (simulated); see /var/log/qubes/mgmt-*.log\n")
        return dom0.apply_exit
    with ctx.store.locked() as state:
        state["migration_pending"] = False
    out("Configuration applied.\n")
    return 0


# ----- rm, reboot ----------------------------------------------------------------------


def _rm(ctx: Context, argv: list[str], as_root: bool) -> int:
    """``rm [-f] [-r] -- PATH``: absolute paths map INTO the fake root, never the real one."""
    force = recursive = False
    operands: list[str] = []
    options_done = False
    for arg in argv:
        if options_done or not arg.startswith("-") or arg == "-":
            operands.append(arg)
        elif arg == "--":
            options_done = True
        elif arg in ("--force", "--recursive", "--verbose"):
            force = force or arg == "--force"
            recursive = recursive or arg == "--recursive"
        elif arg.startswith("--"):
            err(f"rm: unrecognized option '{arg}'\n")
            return 1
        else:
            for letter in arg[1:]:
                if letter not in "frRvdI":
                    err(f"rm: invalid option -- '{letter}'\n")
                    return 1
                force = force or letter == "f"
                recursive = recursive or letter in "rR"
    if not operands:
        if force:
            return 0
        err("rm: missing operand\n")
        return 1
    import shutil

    root = ctx.root.resolve()
    code = 0
    for operand in operands:
        if not operand.startswith("/"):
            err(f"rm: cannot remove '{operand}': relative paths are not simulated\n")
            code = 1
            continue
        relative = os.path.normpath(operand).lstrip("/")
        if not relative:
            err("rm: it is dangerous to operate recursively on '/'\n")
            code = 1
            continue
        parent = Path(os.path.realpath((root / relative).parent))
        if parent != root and root not in parent.parents:
            err(f"rm: cannot remove '{operand}': outside the simulated root\n")
            code = 1
            continue
        target = parent / os.path.basename(relative)
        if not os.path.lexists(target):
            if not force:
                err(f"rm: cannot remove '{operand}': No such file or directory\n")
                code = 1
            continue
        if not as_root:
            err(f"rm: cannot remove '{operand}': Operation not permitted\n")
            code = 1
            continue
        if target.is_dir() and not target.is_symlink():
            if not recursive:
                err(f"rm: cannot remove '{operand}': Is a directory\n")
                code = 1
                continue
            shutil.rmtree(target)
        else:
            target.unlink()
    return code


def _reboot(ctx: Context, argv: list[str], as_root: bool) -> int:
    """dom0 reboots: uptime 0, VMs as at boot, /tmp (a tmpfs) empty."""
    now = time.time()
    with ctx.store.locked() as state:
        state["boot_time"] = now
        reset_power(state, ctx.scenario, now)
    set_migration_flag(ctx.root, False)
    write_uptime(ctx.root, now, now)
    return 0


def _vm_update(ctx: Context, argv: list[str], as_root: bool) -> int:
    from sdw_sim import vmupdate

    return vmupdate.run(ctx, argv)


def _rpm(ctx: Context, argv: list[str], as_root: bool) -> int:
    """dom0's rpm database: keys and SecureDrop package signatures (sim/trust.py)."""
    from sdw_sim import trust

    return trust.rpm(ctx.scenario, ctx.sim_dir, argv)


Handler = Callable[[Context, list[str], bool], int]

HANDLERS: dict[str, Handler] = {
    "qvm-run": _qvm_run,
    "qvm-start": _qvm_start,
    "qvm-shutdown": _qvm_shutdown,
    "qvm-kill": _qvm_kill,
    "qubes-dom0-update": _dom0_update,
    "qubesctl": _qubesctl,
    "sdw-admin": _sdw_admin,
    "qubes-vm-update": _vm_update,
    "rm": _rm,
    "reboot": _reboot,
    "rpm": _rpm,
}

assert set(HANDLERS) | {"sudo"} == set(TOOLS)
