"""The screen-reader tier's harness: a D-Bus session with AT-SPI, read as Orca reads it.

dom0 runs the window on Fedora's PyQt5 and Qt, whose xcb platform carries
Qt's AT-SPI bridge; the Qt inside PyPI's PyQt5 wheels has none, so the
programs of ``.venv`` cannot be read by any screen reader.  This tier starts
the console scripts of ``.venv-a11y`` (``make test`` builds it on the
distribution's python3 with ``--system-site-packages``: Debian's PyQt5 and
Qt) in a private D-Bus session bus, with the accessibility bus that
``at-spi-bus-launcher`` provides on demand, switches the screen-reader flag
on as Orca does, and reads the tree with ``atspi_tree.py``: names, roles,
states and values as a screen reader gets them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import needs

from window.xsession import DEADLINE, Session, wait_for

ROOT = Path(__file__).resolve().parents[2]
A11Y_BIN = ROOT / ".venv-a11y" / "bin"
WALKER = Path(__file__).with_name("atspi_tree.py")
BUS_SERVICE = Path("/usr/share/dbus-1/services/org.a11y.Bus.service")

Node = dict[str, Any]


def require() -> None:
    """What this tier needs, or the test fails naming the Debian package that brings it.

    ``.venv-a11y`` is built by ``make test`` from the distribution's Python and
    PyQt5 (``python3-venv``, ``python3-pyqt5``, ``python3-dbus``), once
    ``deps/install test`` has installed them.
    """
    needs.tool("dbus-daemon")
    if not BUS_SERVICE.exists():
        needs.missing(f"the accessibility bus ({BUS_SERVICE})", "at-spi2-core")
    if not (A11Y_BIN / "sdw-updater").exists():
        needs.missing(
            f"{A11Y_BIN.parent} (make test builds it on the system's Python and PyQt5)",
            "python3-venv python3-pyqt5 python3-dbus",
        )


@dataclass
class Reader:
    """A screen reader's view of one session: its bus, and the tree it reads."""

    session: Session
    address: str

    @property
    def env(self) -> dict[str, str]:
        """For programs started in the session: its D-Bus session bus."""
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def _walker(self, *args: str) -> str:
        result = subprocess.run(
            [str(A11Y_BIN / "python"), str(WALKER), *args],
            env={**self.session.env(), **self.env},
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"atspi_tree.py {' '.join(args)}: {result.stderr[-2000:]}")
        return result.stdout

    def enable(self) -> None:
        self._walker("enable")

    def tree(self) -> list[Node]:
        nodes: list[Node] = json.loads(self._walker())
        return nodes

    def wait(self, what: str, check: Callable[[list[Node]], Node | None]) -> Node:
        """Read the tree until ``check`` finds a node in it; fail naming ``what``."""
        seen: list[list[Node]] = []

        def found() -> Node | None:
            nodes = self.tree()
            seen[:] = [nodes]
            return check(nodes)

        try:
            return wait_for(what, found)  # type: ignore[return-value]
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nlast tree read:\n{render(seen[0] if seen else [])}"
            ) from exc

    def find(self, name: str, role: str) -> Node:
        """Wait until the tree holds a node called ``name`` with ``role``; return it."""
        return self.wait(f"{name!r} ({role})", lambda nodes: node(nodes, name, role))


def node(nodes: list[Node], name: str, role: str) -> Node | None:
    """The first node with this name and role (what a screen reader says: "NAME, ROLE")."""
    return next((n for n in nodes if n.get("name") == name and n.get("role") == role), None)


def render(nodes: list[Node]) -> str:
    return "\n".join(
        "  " * int(n.get("depth", 0)) + f"{n.get('name', '')!r} {n.get('role', n.get('error'))} "
        f"{' '.join(n.get('states', []))}"
        for n in nodes
    )


@contextmanager
def screen_reader(session: Session) -> Iterator[Reader]:
    """A private D-Bus session for ``session``, with the screen-reader flag on.

    The bus daemon runs in a process group of its own: the accessibility bus
    and registry it starts on demand are stopped with it.
    """
    require()
    env = {**session.env(), "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        assert address, "dbus-daemon printed no address"
        reader = Reader(session, address)
        reader.enable()
        yield reader
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=10)
