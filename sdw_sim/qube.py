"""What a simulated qube does when dom0 asks it something.

Both tiers ask the same qubes: the fake ``qvm-run`` (``sdw_sim.tools``) and
the fake ``qrexec-client`` the real Qubes tools run in the box tier
(``sdw_sim.qrexec``) hand a command or a qrexec service to :func:`command`
or :func:`service`, so a qube answers alike whoever calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sdw_sim.state import app_ended, app_started
from sdw_sim.toolcall import ToolCall, err
from sdw_updater.contract import CLIENT_VM, NET_VM

#: What a qube answers: (exit code, stdout chunks, stderr).
Answer = tuple[int, Iterable[str], str]

#: Harmless commands a human (or a test) may try in any qube.
_SIMPLE: dict[str, Callable[[str, list[str]], Answer]] = {
    "true": lambda vm, words: (0, [], ""),
    "false": lambda vm, words: (1, [], ""),
    "echo": lambda vm, words: (0, [" ".join(words[1:]) + "\n"], ""),
    "hostname": lambda vm, words: (0, [vm + "\n"], ""),
    "uname": lambda vm, words: (0, ["Linux\n"], ""),
}


def command(ctx: ToolCall, vm: str, words: list[str]) -> Answer:
    """A command run inside a VM (only what the updater and a human would try)."""
    if not words:
        return 0, [], ""
    program = words[0]
    if program == "nmcli" and words[1:3] == ["networking", "connectivity"]:
        ctx.sleep(ctx.scenario.network.check_duration)
        if vm != NET_VM:
            return 8, [], "Error: NetworkManager is not running.\n"
        return 0, connectivity(ctx), ""
    simple = _SIMPLE.get(program)
    if simple is not None:
        return simple(vm, words)
    if program in ("cat", "base64"):
        from sdw_sim import trust  # key files and repositories: only these commands need it

        code, stdout, stderr = trust.read_command(ctx.scenario, ctx.sim_dir, vm, words)
        return code, [stdout], stderr
    return 127, [], f"bash: line 1: {program}: command not found\n"


def connectivity(ctx: ToolCall) -> Iterable[str]:
    """What sys-net's nmcli prints: the scenario's text (any text), repeated, then a newline."""
    network = ctx.scenario.network
    text = network.connectivity
    per_chunk = max(1, (64 * 1024) // max(1, len(text)))
    remaining = network.connectivity_repeat
    while remaining > 0:
        count = min(per_chunk, remaining)
        remaining -= count
        yield text * count
    yield "\n"


def service(ctx: ToolCall, vm: str, name: str, wait: bool, quiet: bool) -> int:
    """A qrexec service call from dom0 (docs/simulator.md, "Real-tool behaviour").

    Without waiting (``qvm-run`` without ``-p``) dom0 hears nothing of the
    service: 0 at once, whatever it does.  Waiting, ``qubes.StartApp``
    returns only when the app it launched exits, ``[client].run_duration``
    simulated seconds later.
    """
    base, _, argument = name.partition("+")
    installed = vm == CLIENT_VM and argument in ctx.scenario.client.apps
    if base == "qubes.StartApp" and installed and ctx.scenario.client.start_exit == 0:
        return _start_app(ctx, vm, argument, wait)
    if not wait:
        return 0  # the failure happens in the VM; dom0 never hears of it
    if base == "qubes.StartApp":
        if installed:
            ctx.sleep(ctx.scenario.client.start_duration)
            code = ctx.scenario.client.start_exit
            err("securedrop-app: failed to start (simulated)\n")
        else:
            code = 1
            err(f"No such application: {argument}\n")
    else:
        code = 126
        err("Request refused\n")
    if not quiet:
        err(f"{vm}: command failed with code: {code}\n")
    return code


def _start_app(ctx: ToolCall, vm: str, app_id: str, wait: bool) -> int:
    """The app starts, and runs ``[client].run_duration`` (until its VM stops at time_scale 0)."""
    client = ctx.scenario.client
    ctx.sleep(client.start_duration)
    scale = ctx.scenario.sim.time_scale
    # At time_scale 0 nothing waits: an app started in the background
    # then runs until its VM stops (``-p`` returns at once, as if it exited).
    lifetime = client.run_duration * scale
    with ctx.store.locked() as state:
        app_started(state, vm, app_id, time.time() + lifetime if scale > 0 else None)
    if not wait:
        return 0
    ctx.sleep(client.run_duration)
    with ctx.store.locked() as state:
        app_ended(state, vm, app_id)
    return 0
