"""Inside the box: lay out dom0 in this (private) mount namespace, serve qubesd, run one program.

Run by ``dom0.Box.run`` as ``unshare --mount --propagation private -- python
inside.py CONFIG.json``, as root.  Nothing here outlives the namespace: the
mounts vanish with it.  The layout (docs/simulator.md, "The box"):

- ``/run``: a fresh tmpfs, where qubesd listens (``/run/qubesd.sock``, and
  ``/var/run/qubesd.sock`` through the ``/var/run`` link);
- ``/etc``, ``/usr/share``, ``/usr/bin``, ``/usr/lib``: read-only overlays of
  the simulator's files (``/etc/qubes-release``, ``/etc/os-release``, the
  repository and key files of ``[trust]``, ``config.json``) and the box's
  executables (the real tools' wrappers, the simulated ones, and
  ``/usr/lib/qubes/qrexec-client``) over the host's;
- ``/proc/uptime`` and ``/proc/sys/kernel/random/boot_id``: the simulated boot;
- ``/tmp``: the simulator's ``root/tmp`` (where the migration flag lives),
  with the host paths the run needs (its HOME, the repository, Python) bound
  back in at their own place;
- ``/var/log/qubes``: a directory of the box (the tools' logs stay readable).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sdw_sim import qubesd

KEEP = "/run/box-keep"
MARKER = "SDW_BOX_RUN"  # in the environment of every process of one box run


def marked(marker: str) -> list[int]:
    """Live PIDs whose environment carries this run's marker."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
                state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z" and needle in environ.split(b"\0"):
                found.append(int(entry))
    return found


def kill_marked(marker: str) -> None:
    """End every process of the run (SIGKILL), including orphans that hold its pipes."""
    for _ in range(50):
        pids = marked(marker)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, timeout=30)


def overlay(target: str, layers: list[str]) -> None:
    """A read-only overlay: ``layers`` (top first) over what ``target`` holds now."""
    present = [layer for layer in layers if Path(layer).is_dir()]
    if present:
        lower = ":".join([*present, target])
        mount("-t", "overlay", "overlay", "-o", f"lowerdir={lower}", target)


def under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def lay_out(config: dict[str, object]) -> None:
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
    # /tmp becomes the simulator's; keep reachable what the run needs from the host's /tmp.
    keep = [p for p in config["keep"] if under(str(p), "/tmp")]  # type: ignore[attr-defined]
    keep = [p for p in keep if not any(under(p, q) and p != q for q in keep)]
    for index, path in enumerate(keep):
        os.makedirs(f"{KEEP}/{index}")
        mount("--bind", path, f"{KEEP}/{index}")
    mount("--bind", str(config["tmp"]), "/tmp")
    for index, path in enumerate(keep):
        os.makedirs(path, exist_ok=True)
        mount("--bind", f"{KEEP}/{index}", path)
    for target, layers in config["overlays"]:  # type: ignore[attr-defined]
        overlay(target, layers)
    for target, source in config["files"]:  # type: ignore[attr-defined]
        mount("--bind", source, target)
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/var/log")
    os.makedirs("/var/log/qubes")
    mount("--bind", str(config["var_log_qubes"]), "/var/log/qubes")


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    lay_out(config)
    log = open(config["qubesd_log"], "a", buffering=1)
    server, thread = qubesd.serve(
        Path(config["sim_dir"]), qubesd.SOCKET_PATH, lambda line: print(line, file=log)
    )
    try:
        proc = subprocess.run(
            config["command"],
            env=config["env"],
            cwd=config["cwd"],
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        # The box ends with its program: what it left running (e.g. the workers
        # of a killed qubes-vm-update, holding its output pipes) ends too.
        kill_marked(config["env"].get(MARKER, ""))
        qubesd.stop(server, thread)
        log.close()
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


if __name__ == "__main__":
    sys.exit(main())
