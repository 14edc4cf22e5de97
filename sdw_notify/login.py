"""``sdw-login``: at login, wait for the desktop, then run ``sdw-updater``.

XDG autostart entries start while the session is still coming up: the
display may not accept clients yet and the panel is not drawn, so a wizard
opened at once can fail or land behind everything.  This waits, for at most
``--wait`` seconds (default 60), polling every half second, until

* a display accepts connections: the Wayland socket named by
  ``WAYLAND_DISPLAY``, or the X server named by ``DISPLAY`` (its abstract or
  ``/tmp/.X11-unix`` socket, or TCP for a remote host); and
* the session bus accepts connections, when ``DBUS_SESSION_BUS_ADDRESS``
  names a Unix socket (other kinds cannot be probed cheaply and count as
  ready; no address at all means there is nothing to wait for),

then lets the desktop settle for ``--settle`` seconds (default 5, as the
existing ``sdw-login`` slept) and replaces itself with ``sdw-updater``,
passing ``--simulate`` through.  When the wait runs out it logs a warning
and runs ``sdw-updater`` anyway: on a fresh workstation the updater only
starts the client, which needs no display in dom0, and a journalist must
never be left without the SecureDrop app because a probe was wrong.

``exec`` rather than a child process: the updater may run for an hour, so
no timeout would fit, and there is nothing left for this program to do.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sdw_updater import contract, logs
from sdw_updater.status import state_dir

log = logging.getLogger("sdw.login")

DEFAULT_WAIT = 60.0
DEFAULT_SETTLE = 5.0
MAX_SECONDS = 600.0
POLL = 0.5
CONNECT_TIMEOUT = 1.0
UPDATER = "sdw-updater"

_DISPLAY = re.compile(r"^(?P<host>[^:]*):(?P<number>\d+)(?:\.\d+)?$")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SECONDS:.0f}: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdw-login",
        description="Wait for the desktop session, then run sdw-updater.",
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="longest wait for the display and session bus (default %(default).0f)",
    )
    parser.add_argument(
        "--settle",
        type=_seconds,
        default=DEFAULT_SETTLE,
        metavar="SECONDS",
        help="pause once the session is ready (default %(default).0f)",
    )
    parser.add_argument(
        "--simulate",
        nargs="?",
        const="",
        default=None,
        metavar="SCENARIO",
        help="passed through to sdw-updater",
    )
    return parser


#: ``man sdw-login`` beyond what the parser says (rendered by launcher/manpage.py).
MANUAL: dict[str, tuple[tuple[str, str], ...]] = {
    "DESCRIPTION": (
        (
            "",
            "Meant for a login autostart entry (Exec=sdw-login). It waits until a "
            "display (Wayland or X) and the session bus accept connections, for at most "
            "--wait seconds, pauses --settle seconds, and then replaces itself with "
            "sdw-updater (the one of its own install, else the one on PATH). When the wait "
            "runs out it logs a warning and starts sdw-updater anyway, so the SecureDrop "
            "app is never left unstarted because a probe was wrong.",
        ),
    ),
    "EXIT STATUS": (
        ("", "Once it has started sdw-updater, the exit status is sdw-updater's."),
        (str(int(contract.ExitCode.FAILED)), "sdw-updater was not found or could not be started."),
        (str(int(contract.ExitCode.USAGE)), "Usage error: a bad option."),
    ),
    "ENVIRONMENT": (
        ("WAYLAND_DISPLAY", "The Wayland display to wait for (relative to XDG_RUNTIME_DIR)."),
        ("DISPLAY", "The X display to wait for."),
        (
            "DBUS_SESSION_BUS_ADDRESS",
            "The session bus to wait for; without it there is no bus to wait for.",
        ),
    ),
    "FILES": (
        (
            f"~/{contract.STATE_DIR_NAME}/{contract.LOG_DIR_NAME}/{contract.UPDATER_LOG}",
            "How long the wait took, and what was started.",
        ),
    ),
    "SEE ALSO": (("", "sdw-updater(1), sdw-notify(1), securedrop-updater-switch(8)"),),
}


def _connectable(family: int, address: str | tuple[str, int]) -> bool:
    """Can a client connect to this socket address right now?"""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(address)
    except OSError:
        return False
    return True


def wayland_ready(env: Mapping[str, str]) -> bool:
    name = env.get("WAYLAND_DISPLAY")
    if not name:
        return False
    if not name.startswith("/"):
        runtime = env.get("XDG_RUNTIME_DIR")
        if not runtime:
            return False
        name = str(Path(runtime) / name)
    return _connectable(socket.AF_UNIX, name)


def x11_ready(env: Mapping[str, str]) -> bool:
    value = env.get("DISPLAY", "")
    if value.startswith("/"):
        return _connectable(socket.AF_UNIX, value)
    match = _DISPLAY.match(value)
    if match is None:
        return False
    host, number = match["host"], int(match["number"])
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        return _connectable(socket.AF_UNIX, "\0" + path) or _connectable(socket.AF_UNIX, path)
    return _connectable(socket.AF_INET, (host, 6000 + number))


def bus_ready(env: Mapping[str, str]) -> bool:
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        return True
    for entry in address.split(";"):
        transport, _, params = entry.partition(":")
        if transport != "unix":
            return True
        keys = dict(part.partition("=")[::2] for part in params.split(",") if part)
        if "path" in keys:
            if _connectable(socket.AF_UNIX, _unescape(keys["path"])):
                return True
        elif "abstract" in keys:
            if _connectable(socket.AF_UNIX, "\0" + _unescape(keys["abstract"])):
                return True
        else:
            return True  # e.g. unix:dir= or runtime=yes: nothing fixed to probe
    return False


def _unescape(value: str) -> str:
    """D-Bus addresses %-escape bytes; decode them."""
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), value)


def session_ready(env: Mapping[str, str]) -> bool:
    """A display accepts clients and the session bus (if any) does too."""
    return (wayland_ready(env) or x11_ready(env)) and bus_ready(env)


def wait_for_session(
    wait: float,
    env: Mapping[str, str],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Poll until the session is ready or ``wait`` seconds have passed."""
    deadline = clock() + wait
    while True:
        if session_ready(env):
            return True
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        sleep(min(POLL, remaining))


def find_updater(argv0: str) -> str | None:
    """``sdw-updater`` of the same install, else on ``PATH``.

    The same install is beside this program's real file (symbolic links
    followed: ``/usr/bin/securedrop-updater-login`` links into
    ``/usr/libexec/securedrop-updater/``, and beside the link is SecureDrop
    Workstation's own ``sdw-updater``), else beside the name it was started by.
    """
    if argv0:
        started = Path(argv0).absolute()
        for directory in (started.resolve().parent, started.parent):
            beside = directory / UPDATER
            if beside.is_file() and os.access(beside, os.X_OK):
                return str(beside)
    return shutil.which(UPDATER)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(state_dir() / "logs", detail=False)
    started = time.monotonic()
    if wait_for_session(args.wait, os.environ):
        log.info("Desktop session ready after %.1f s", time.monotonic() - started)
    else:
        log.warning(
            "Desktop session not ready after %.0f s; starting the updater anyway", args.wait
        )
    time.sleep(args.settle)
    program = find_updater(sys.argv[0] if sys.argv else "")
    if program is None:
        log.error("%s not found", UPDATER)
        print(f"sdw-login: {UPDATER} not found", file=sys.stderr)
        return 1
    command = [program]
    if args.simulate is not None:
        command.append("--simulate")
        if args.simulate:
            command.append(args.simulate)
    log.info("Starting %s", " ".join(command))
    logging.shutdown()
    try:
        os.execv(program, command)  # noqa: S606 (argument list, no shell)
    except OSError as exc:
        log.error("Could not start %s: %s", program, exc)
        print(f"sdw-login: could not start {program}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
