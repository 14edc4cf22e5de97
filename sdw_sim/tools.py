"""The fake dom0 tools behind the wrapper scripts in ``sim/bin``.

Each wrapper calls ``main(TOOL, argv, sim_dir)``.  A call is journaled when
it starts, its faults (``[faults."TOOL"]``) are applied, then the tool does
what the real one does to the simulated workstation (docs/qubes-tools.md): same
command lines, messages that matter, exit codes.

Root: the simulator treats a tool as running as root only when it was
started through the fake ``sudo``, whatever the real user is, so a missing
``sudo`` in the engine shows up as it would in dom0.

Every tool ends on SIGTERM (the engine's timeout kills the process group);
the journal then says ``"exit": -15``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from sdw_sim import journal, qube
from sdw_sim.scenario import TOOLS, Fault
from sdw_sim.state import (
    reboot,
    record_rpm_transaction,
    register_process,
    set_migration_flag,
    set_power,
    unregister_process,
    write_boot_files,
)
from sdw_sim.toolcall import (
    Parser,
    ToolCall,
    ToolExit,
    err,
    no_such_domain,
    out,
    read_answer,
)

# ----- entry points --------------------------------------------------------------


def main(tool: str, argv: list[str], sim_dir: str) -> int:
    """Run one fake tool; the wrappers in ``sim/bin`` call this."""
    try:
        ctx = ToolCall(Path(sim_dir))
    except (OSError, ValueError, KeyError) as exc:
        err(f"{tool}: the simulated workstation is not set up ({exc})\n")
        return 1
    if tool == "sudo":
        return _sudo(ctx, argv)
    return run_tool(ctx, tool, argv, as_root=False)


def run_tool(ctx: ToolCall, tool: str, argv: list[str], as_root: bool) -> int:
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
            write_boot_files(ctx.root, ctx.sim_dir, ctx.store.read())
        except (OSError, TypeError, ValueError):
            pass
        fault = ctx.scenario.fault(tool, argv)
        if fault is not None:
            if tool == "qubes-dom0-update":
                _installed_before_fault(ctx, argv, as_root)
            code = _apply_fault(ctx, tool, fault)
        else:
            code = HANDLERS[tool](ctx, argv, as_root)
    except ToolExit as exc:
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


def _apply_fault(ctx: ToolCall, tool: str, fault: Fault) -> int:
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


def _sudo(ctx: ToolCall, argv: list[str]) -> int:
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


def _qvm_run(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    parser = Parser(prog="qvm-run")
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
    parser.add_argument("--filter-escape-chars", action="store_true")
    parser.add_argument("VMNAME")
    parser.add_argument("cmd")
    parser.add_argument("cmd_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    vm = args.VMNAME
    if vm not in ctx.vms:
        return no_such_domain("qvm-run", vm)
    if not ctx.is_running(vm):
        if not args.autostart:
            err(f"Qube '{vm}' not started\n")
            return 1
        if not ctx.start_vm(vm):
            err(f"{vm}: Start failed: simulated start failure of {vm}\n")
            return 255
    shown = args.cmd if not args.cmd_args else shlex.join([args.cmd, *args.cmd_args])
    if not args.pass_io and not args.quiet:
        err(f"Running '{shown}' on {vm}\n")
    if args.service:
        return qube.service(ctx, vm, args.cmd, args.pass_io, args.quiet)
    words = [args.cmd, *args.cmd_args] if args.cmd_args else shlex.split(args.cmd)
    code, stdout, stderr = qube.command(ctx, vm, words)
    if args.pass_io:
        for chunk in stdout:
            out(chunk)
        err(stderr)
    if code != 0 and not args.quiet:
        err(f"{vm}: command failed with code: {code}\n")
    return code


def _qvm_start(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """R4.2/R4.3 semantics: one qube after the other; an already running one stops the list."""
    parser = Parser(prog="qvm-start")
    parser.add_argument("--skip-if-running", action="store_true")
    parser.add_argument("VMNAME", nargs="+")
    args = parser.parse_args(argv)
    vms = ctx.vms
    for name in args.VMNAME:
        if name not in vms:
            return no_such_domain("qvm-start", name)
    code = 0
    for name in args.VMNAME:
        if ctx.is_running(name):
            if args.skip_if_running:
                continue
            err(f"Error: domain {name} is already running\n")
            return 1
        if not ctx.start_vm(name):
            err(f"Error: Start failed: simulated start failure of {name}\n")
            code = 1
    return code


def _qvm_shutdown(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """Shut qubes down (they always succeed here); halted qubes are fine."""
    parser = Parser(prog="qvm-shutdown")
    parser.add_argument("--wait", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("VMNAME", nargs="*")
    args = parser.parse_args(argv)
    vms = ctx.vms
    if args.all:
        names = [n for n in vms if n != "dom0" and n not in args.exclude]
    elif not args.VMNAME:
        parser.error("one of the arguments --all VMNAME is required")
    else:
        names = args.VMNAME
    for name in names:
        if name not in vms:
            return no_such_domain("qvm-shutdown", name)
    running = [n for n in names if n != "dom0" and ctx.is_running(n)]
    if args.wait and running:
        ctx.sleep(ctx.scenario.sim.vm_shutdown_duration)
    with ctx.store.locked() as state:
        for name in running:
            set_power(state, name, "Halted")
    return 0


def _qvm_kill(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    parser = Parser(prog="qvm-kill")
    parser.add_argument("VMNAME", nargs="+")
    args = parser.parse_args(argv)
    vms = ctx.vms
    for name in args.VMNAME:
        if name not in vms:
            return no_such_domain("qvm-kill", name)
    with ctx.store.locked() as state:
        for name in args.VMNAME:
            if name != "dom0" and state.get("power", {}).get(name) != "Halted":
                set_power(state, name, "Halted")
    return 0


# ----- dom0 updates, Salt, sdw-admin ------------------------------------------------

_DOM0_PACKAGES = (
    "securedrop-workstation-dom0-config.noarch 1.7.1-1.fc41",
    "qubes-core-dom0.x86_64 4.3.32-1.fc41",
    "kernel.x86_64 6.12.58-1.qubes.fc41",
)
_XEN_PACKAGES = ("xen-libs.x86_64 2001:4.21.0-1.fc41", "xen-hypervisor.x86_64 2001:4.21.0-1.fc41")
_XEN_RUNNING = "4.19"
_XEN_NEW = "4.21"
#: Options qubes-dom0-update (R4.2/R4.3) handles itself; every other ``-...``
#: goes to dnf, in the UpdateVM first.  (``--quiet``/``--silent`` are not among
#: them before 4.4; ``--quiet`` is a dnf option, ``--silent`` is not.)
_DOM0_OWN = (
    "--clean",
    "--gui",
    "--force-xen-upgrade",
    "--skip-boot-check",
    "--downloadonly",
    "--console",
    "--show-output",
    "--preserve-terminal",
    "--check-only",
)
_DOM0_OWN_PREFIXES = ("--action=", "--enablerepo=", "--disablerepo=", "--switch-audio-server-to=")
_DNF_OPTIONS = (
    "-y",
    "--assumeyes",
    "-q",
    "--quiet",
    "-v",
    "--verbose",
    "--refresh",
    "--best",
    "--allowerasing",
)
LOCK_MESSAGE = "Another instance of qubes-dom0-update is already running!"
SALT_VM_DURATION = 30.0  # simulated seconds of one VM's salt-ssh run


def _passed_to_dnf(options: list[str]) -> list[str]:
    """Options the script does not know and dnf refuses (they reach dnf in the UpdateVM)."""
    return [
        o
        for o in options
        if o not in _DOM0_OWN and o not in _DNF_OPTIONS and not o.startswith(_DOM0_OWN_PREFIXES)
    ]


def _dnf_rejects(arg: str) -> str:
    return f"usage: dnf [options] COMMAND\ndnf: error: unrecognized arguments: {arg}\n"


def _dom0_update(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """``qubes-dom0-update`` of R4.2/R4.3 (docs/simulator.md, "Real-tool behaviour").

    ``--check-only`` needs no root and only asks the UpdateVM (``[sim].updatevm``);
    an update (``sudo ... -y``) downloads there, then installs in dom0 with dnf.
    Prompts (a major Xen upgrade) read stdin whatever ``-y`` says.
    """
    options = _dom0_options(argv)
    updatevm = ctx.updatevm
    refusal = _dom0_refusal(ctx, options, as_root, updatevm)
    if refusal is not None or updatevm is None:
        err(refusal or "")
        return 1
    err(f"Using {updatevm} as UpdateVM for Dom0\n")
    if "--check-only" in options:
        return _dom0_check(ctx, options, updatevm)
    if not ctx.is_running(updatevm):
        ctx.start_vm(updatevm)  # without --check-only the script starts it (qvm-run)
    bad = _passed_to_dnf(options)
    if bad:
        # The UpdateVM's dnf refuses the option; the download step fails with its code.
        err(_dnf_rejects(bad[0]))
        return 2
    if not ctx.store.read().get("dom0_updates_pending"):
        ctx.sleep(ctx.scenario.dom0.check_duration)
        _dom0_features(ctx, cleared=True, installed=False)
        err("No updates available\n")
        return 0
    return _dom0_install(ctx, options, updatevm)


def _dom0_refusal(
    ctx: ToolCall, options: list[str], as_root: bool, updatevm: str | None
) -> str | None:
    """Why qubes-dom0-update exits 1 before it asks the UpdateVM anything, if it does."""
    dom0 = ctx.scenario.dom0
    check_only = "--check-only" in options
    if not check_only and not as_root:
        return "qubes-dom0-update must run as root in console mode: use sudo\n"
    if dom0.lock_held:
        return LOCK_MESSAGE + "\n"
    if not check_only and not dom0.boot_mounted and "--skip-boot-check" not in options:
        return "ERROR: /boot is not mounted; refusing to update dom0 without a terminal to ask\n"
    if updatevm is None:
        return "ERROR: no UpdateVM is set (qubes-prefs updatevm is empty)\n"
    return None


def _dom0_options(argv: list[str]) -> list[str]:
    """The options of the command line (package names after ``--`` are not simulated)."""
    options = []
    for arg in argv:
        if arg == "--":
            break
        if arg.startswith("-"):
            options.append(arg)
    return options


def _dom0_check(ctx: ToolCall, options: list[str], updatevm: str) -> int:
    """``--check-only``: the UpdateVM's dnf decides; any dnf failure but 1 reads as "none".

    A halted UpdateVM is refused, not started: only an interactive run starts it.
    """
    dom0 = ctx.scenario.dom0
    if not ctx.is_running(updatevm):
        err("ERROR: UpdateVM not running, not starting it in non-interactive mode\n")
        return 1
    ctx.sleep(dom0.check_duration)
    pending = bool(ctx.store.read().get("dom0_updates_pending"))
    rejected = _passed_to_dnf(options)
    if dom0.check_exit is not None and dom0.check_exit != 100:
        code = dom0.check_exit
    elif dom0.check_dnf_error or rejected:
        # docs/qubes-tools.md, "qubes-dom0-update --check-only exits 0 for most dnf
        # failures": the UpdateVM's script exits 0 for every dnf exit but 1 and 100.
        if rejected:
            err(_dnf_rejects(rejected[0]))
        else:
            err(
                "Error: Failed to download metadata for repo 'qubes-dom0-cached': "
                "Cannot download repomd.xml (simulated)\n"
            )
        code = 0
    else:
        code = 100 if pending else 0
    if code == 100:
        packages = _DOM0_PACKAGES + (_XEN_PACKAGES if dom0.xen_upgrade else ())
        out("Available updates:\n" + "".join(f"  {p}\n" for p in packages))
        err("There are dom0 updates available\n")
    elif code == 0:
        out("No new updates available\n")
        err("No dom0 updates available\n")
    else:
        if dom0.failure is not None:
            err(DOM0_FAILURE_LINES[dom0.failure])
        err("Failed to check for dom0 updates\n")
    return code


_DOM0_CONFLICT = "Error: Transaction test error:\n  file /usr/lib/sim conflicts (simulated)\n"
#: What dnf in dom0 (or the UpdateVM's, for the download) prints for ``[dom0].failure``.
DOM0_FAILURE_LINES = {
    "disk_full": "Error: Transaction test error:\n  installing package "
    "securedrop-workstation-dom0-config-1.7.1-1.fc41.noarch needs 24MB more space on the / "
    "filesystem\n",
    "network": "Curl error (6): Couldn't resolve host name for "
    "https://yum.qubes-os.org/r4.3/current/dom0/fc41/repodata/repomd.xml [Could not resolve "
    "host: yum.qubes-os.org]\nError: Failed to download metadata for repo "
    "'qubes-dom0-current': Cannot download repomd.xml\n",
    "key_expired": "Error: Failed to download metadata for repo "
    "'securedrop-workstation-dom0': repomd.xml GPG signature verification error: key "
    "0x0123456789ABCDEF has expired (simulated)\n",
}


def _dom0_install(ctx: ToolCall, options: list[str], updatevm: str) -> int:
    """Download, the Xen prompts, dnf's transaction, the reboot prompt."""
    dom0 = ctx.scenario.dom0
    quiet = "-q" in options or "--quiet" in options
    packages = _DOM0_PACKAGES + (_XEN_PACKAGES if dom0.xen_upgrade else ())
    err(f"Downloading {len(packages)} packages in {updatevm} (simulated)\n")
    ctx.sleep(dom0.update_duration / 4)
    if dom0.xen_upgrade and not _xen_may_continue(ctx, options):
        return 1
    if not quiet:
        out("Last metadata expiration check: 0:00:12 ago.\nDependencies resolved.\n")
        out("".join(f" Upgrading: {p}\n" for p in packages))
    if "-y" not in options and "--assumeyes" not in options:
        answer = read_answer()
        out("Is this ok [y/N]: ")
        if answer is None or answer.strip().lower() not in ("y", "yes"):
            out("Operation aborted.\n")
            return 1
    if dom0.installed_before_failure:
        _dom0_packages_installed(ctx)  # a failure or kill from here on leaves them installed
    steps = len(packages)
    for number, package in enumerate(packages, 1):
        ctx.sleep(dom0.update_duration * 3 / 4 / (steps + 1))
        if not quiet:
            out(f"  Upgrading        : {package}    {number}/{steps}\n")
    ctx.sleep(dom0.update_duration * 3 / 4 / (steps + 1))
    if dom0.update_exit != 0:
        err(DOM0_FAILURE_LINES.get(dom0.failure or "", _DOM0_CONFLICT))
        # The script then asks dnf whether anything is left: only when nothing
        # is, dom0's features say "up to date".
        _dom0_features(ctx, cleared=dom0.installed_before_failure, installed=True)
        return dom0.update_exit
    if not quiet:
        out("Complete!\n")
    _dom0_packages_installed(ctx)
    _dom0_features(ctx, cleared=True, installed=True)
    if dom0.xen_upgrade:
        out("This upgrade requires a restart of the system before anything else is done.\n")
        out("Do you want to restart now? [Y/n] ")
        answer = read_answer()
        if answer is None or answer.strip() not in ("n", "N"):
            # EOF is not "no": dom0 restarts under whoever ran the update.
            out("\n")
            _reboot_now(ctx)
            ctx.die(signal.SIGTERM)  # the shutdown ends this process too
        out("\n")
    return 0


def _xen_may_continue(ctx: ToolCall, options: list[str]) -> bool:
    """A major Xen upgrade with qubes running asks to shut them all down first."""
    running = sorted(n for n in ctx.vms if n != "dom0" and ctx.is_running(n))
    if not running:
        return True
    out(
        f"WARNING: a major Xen upgrade ({_XEN_RUNNING} -> {_XEN_NEW}) while qubes are running\n"
        "WARNING: they cannot be used or shut down cleanly until the system restarts\n"
        "Running qubes:\n" + "".join(f"  {name}\n" for name in running)
    )
    if "--force-xen-upgrade" in options:
        out("Continuing, as --force-xen-upgrade asks\n")
        return True
    out("Shut down all qubes now? [y/N] ")
    answer = read_answer()
    out("\n")
    if answer is not None and answer.strip() in ("y", "Y"):
        with ctx.store.locked() as state:
            for name in running:
                set_power(state, name, "Halted")
        return True
    out("Shut down every qube, then resume the update with 'sudo dnf upgrade'\n")
    return False


def _dom0_packages_installed(ctx: ToolCall) -> None:
    """The transaction's packages are in dom0's rpm database (the SecureDrop ones' %post ran)."""
    with ctx.store.locked() as state:
        state["dom0_updates_pending"] = False
        state["dom0_installed"] = True
        migration = bool(state.get("migration_pending"))
    record_rpm_transaction(ctx.root, "upgrade")
    if migration:
        set_migration_flag(ctx.root, True, ctx.scenario.dom0.migration_form)


def _dom0_features(ctx: ToolCall, cleared: bool, installed: bool) -> None:
    """dom0's ``updates-available``/``last-update``, set only once nothing is left to install."""
    if not cleared:
        return
    when = ctx.stamp()
    with ctx.store.locked() as state:
        features = state.setdefault("features", {}).setdefault("dom0", {})
        features["updates-available"] = ""
        if installed:
            features["last-update"] = when


def _installed_before_fault(ctx: ToolCall, argv: list[str], as_root: bool) -> None:
    """A faulty ``qubes-dom0-update -y`` (crash, hang, exit) may already have installed."""
    options = _dom0_options(argv)
    if (
        ctx.scenario.dom0.installed_before_failure
        and as_root
        and "--check-only" not in options
        and ctx.store.read().get("dom0_updates_pending")
    ):
        _dom0_packages_installed(ctx)


_SALT_STATES = (
    "dom0-rpm-test-key-absent",
    "dom0-workstation-rpm-repo",
    "sd-dom0-files",
    "sd-dom0-qvm-rpc",
    "sd-workstation-template-files",
    "sd-dom0-crontab",
)


def _qubesctl(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """``qubesctl [opts] state.highstate`` (docs/qubes-tools.md, "qubesctl").

    dom0 first (``salt-call --local``); when it fails: "DOM0 configuration
    failed, not continuing" and exit 1, whatever salt-call's own code.
    Then the targeted VMs; the exit code is the largest of theirs.
    """
    parser = Parser(prog="qubesctl")
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
    if not args.skip_dom0:
        salt_code = dom0.highstate_exit if highstate else 0
        out("local:\n")
        duration = dom0.highstate_duration if highstate else 5.0
        failed_at = len(_SALT_STATES) - 1 if salt_code else -1
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
        failed = 1 if salt_code else 0
        out(
            "\nSummary for local\n-------------\n"
            f"Succeeded: {len(_SALT_STATES) - failed} (changed=2)\nFailed:    {failed}\n"
            "-------------\n"
        )
        if salt_code:
            err("DOM0 configuration failed, not continuing\n")
            return 1
    code = 0
    for name in _salt_targets(ctx, args):
        vm_code = ctx.scenario.vms[name].salt_exit
        ctx.sleep(SALT_VM_DURATION)
        code = max(code, vm_code)
        if args.show_output:
            out(f"{name}:\n  local:\n      Result: {'True' if vm_code == 0 else 'False'}\n")
        elif vm_code:
            out(f"{name}: ERROR (exit code {vm_code}, details in /var/log/qubes/mgmt-{name}.log)\n")
        else:
            out(f"{name}: OK\n")
    return code


def _salt_targets(ctx: ToolCall, args: argparse.Namespace) -> list[str]:
    """Which VMs qubesctl configures: templates first, then the rest; dom0 never."""
    vms = ctx.vms
    if args.targets is not None:
        chosen = {t for t in args.targets.split(",") if t in vms}  # unknown: silently ignored
    elif args.all:
        chosen = {n for n, s in vms.items() if s.klass != "DispVM"}
    else:
        chosen = set()
        for wanted, klass in (
            (args.templates, "TemplateVM"),
            (args.standalones, "StandaloneVM"),
            (args.app, "AppVM"),
        ):
            if wanted:
                chosen |= {n for n, s in vms.items() if s.klass == klass}
    chosen.discard("dom0")
    return sorted(chosen, key=lambda n: (vms[n].klass != "TemplateVM", n))


def _sdw_admin(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """``sdw-admin --apply``: the full provisioning run a migration needs.

    It may ask a question (``[dom0].apply_prompt``): ``input()`` at EOF
    raises and the tool exits 1.  A successful apply creates and removes
    the VMs the scenario marks, and clears the pending migration (the flag
    is left for the caller to remove, as SecureDrop's updater does).
    """
    parser = Parser(prog="sdw-admin")
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
    dom0 = ctx.scenario.dom0
    if dom0.apply_prompt:
        out("Some VMs will be shut down and recreated. Continue? [y/N]: ")
        answer = read_answer()
        if answer is None:
            err(
                "Traceback (most recent call last):\n"
                '  File "/usr/bin/sdw-admin", line 1, in <module> (simulated)\n'
                "EOFError: EOF when reading a line\n"
            )
            return 1
        if answer.strip().lower() not in ("y", "yes"):
            out("Aborted.\n")
            return 1
    out("Applying configuration...\n")
    for step in ("dom0 configuration", "templates", "VMs", "VM configuration"):
        ctx.sleep(dom0.apply_duration / 4)
        out(f"Provisioning {step}...\n")
    if dom0.apply_exit != 0:
        err("Error applying configuration (simulated); see /var/log/qubes/mgmt-*.log\n")
        return dom0.apply_exit
    with ctx.store.locked() as state:
        state["migration_pending"] = False
        state["applied"] = True
    out("Configuration applied.\n")
    return 0


# ----- rm, reboot ----------------------------------------------------------------------


def _rm(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """``rm [-f] [-r] -- PATH``: absolute paths map INTO the fake root, never the real one."""
    force, recursive, operands = _rm_options(argv)
    if not operands:
        if force:
            return 0
        err("rm: missing operand\n")
        return 1
    root = ctx.root.resolve()
    problems = [_rm_one(root, operand, force, recursive, as_root) for operand in operands]
    for problem in problems:
        if problem:
            err(f"rm: {problem}\n")
    return 1 if any(problems) else 0


def _rm_options(argv: list[str]) -> tuple[bool, bool, list[str]]:
    """(force, recursive, operands); an option rm does not know ends the call (exit 1)."""
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
            raise ToolExit(1)
        else:
            unknown = [letter for letter in arg[1:] if letter not in "frRvdI"]
            if unknown:
                err(f"rm: invalid option -- '{unknown[0]}'\n")
                raise ToolExit(1)
            force = force or "f" in arg
            recursive = recursive or "r" in arg or "R" in arg
    return force, recursive, operands


def _rm_one(root: Path, operand: str, force: bool, recursive: bool, as_root: bool) -> str:
    """Remove one path under the simulated root; what went wrong, or "" (also when skipped)."""
    import shutil

    relative = os.path.normpath(operand).lstrip("/")
    if not operand.startswith("/"):
        return f"cannot remove '{operand}': relative paths are not simulated"
    if not relative:
        return "it is dangerous to operate recursively on '/'"
    parent = Path(os.path.realpath((root / relative).parent))
    target = parent / os.path.basename(relative)
    if parent != root and root not in parent.parents:
        problem = "outside the simulated root"
    elif not os.path.lexists(target):
        problem = "" if force else "No such file or directory"
    elif not as_root:
        problem = "Operation not permitted"
    elif target.is_dir() and not target.is_symlink():
        problem = "" if recursive else "Is a directory"
        if recursive:
            shutil.rmtree(target)
    else:
        problem = ""
        target.unlink()
    return f"cannot remove '{operand}': {problem}" if problem else ""


def _reboot(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """dom0 reboots: a new boot id, uptime 0, VMs as at boot, /tmp (a tmpfs) empty."""
    _reboot_now(ctx)
    return 0


def _reboot_now(ctx: ToolCall) -> None:
    now = time.time()
    with ctx.store.locked() as state:
        reboot(state, ctx.scenario, now)
        after = dict(state)
    set_migration_flag(ctx.root, False)
    write_boot_files(ctx.root, ctx.sim_dir, after, now)


def _vm_update(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    from sdw_sim import vmupdate

    return vmupdate.run(ctx, argv)


def _rpm(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """dom0's rpm database: keys and SecureDrop package signatures (sim/trust.py)."""
    from sdw_sim import trust

    return trust.rpm(ctx.scenario, ctx.sim_dir, argv)


def _qrexec_client(ctx: ToolCall, argv: list[str], as_root: bool) -> int:
    """dom0's ``qrexec-client``: what the VMs do for qubesadmin and the real tools."""
    from sdw_sim import qrexec

    return qrexec.handle(ctx, argv)


Handler = Callable[[ToolCall, list[str], bool], int]

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
    "qrexec-client": _qrexec_client,
}

assert set(HANDLERS) | {"sudo"} == set(TOOLS)
