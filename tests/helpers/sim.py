"""The simulated workstation's own tools, run as the engine runs them (for the simulator's tests).

The wrapper executables, an argument list, never a shell, always a timeout,
and stdin at EOF unless a test answers a prompt.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from sdw_sim import SimEnv, setup

#: The templates of the default workstation (SecureDrop Workstation 1.7 on Qubes 4.3).
TEMPLATES = (
    "fedora-43-xfce",
    "sd-viewer-debian-13",
    "sd-inbox-debian-13",
    "whonix-gateway-17",
)
#: The engine's qubes-vm-update call (docs/qubes-tools.md), without its targets' value.
VM_UPDATE = [
    "qubes-vm-update",
    "--apply-to-all",
    "--force-update",
    "--show-output",
    "--just-print-progress",
    "--targets",
]
# Real time passes, but only where a test says so: every other duration is 0.
REAL_TIME = (
    "[sim]\ntime_scale = 1.0\nvm_start_duration = 0\nvm_shutdown_duration = 0\n"
    "[network]\ncheck_duration = 0\n"
    "[dom0]\ncheck_duration = 0\nupdate_duration = 0\nhighstate_duration = 0\napply_duration = 0\n"
)


def make_env(tmp_path: Path, toml: str | None = None) -> SimEnv:
    path = None
    if toml is not None:
        path = tmp_path / "scenario.toml"
        path.write_text(toml)
    return setup(path, tmp_path / "state")


def tool(
    env: SimEnv, name: str, *args: str, answer: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a fake tool; stdin is at EOF (as the engine runs them) unless ``answer`` is given."""
    return subprocess.run(
        [str(env.bin_dir / name), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        input=answer,
        stdin=subprocess.DEVNULL if answer is None else None,
    )


def sudo(
    env: SimEnv, name: str, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    return tool(env, "sudo", "-n", str(env.bin_dir / name), *args, answer=answer)


def power(env: SimEnv, name: str) -> str:
    return str(env.app.domains[name].get_power_state())


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
