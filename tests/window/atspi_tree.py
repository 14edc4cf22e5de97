"""Read the accessibility tree over AT-SPI, as a screen reader (Orca) does.

Run by the screen-reader tier with the Python of ``.venv-a11y`` or
``.venv-a11y-qt5`` (the distribution's python3-dbus is on their path),
inside the test's own D-Bus session (``DBUS_SESSION_BUS_ADDRESS``):

- ``atspi_tree.py enable`` switches the session's screen-reader flag on, as
  Orca does when it starts; Qt programs started afterwards then join the
  accessibility bus of their own accord;
- ``atspi_tree.py`` prints every application on the accessibility bus as a
  JSON list of nodes (depth, name, description, role, states, value and
  maximum of value interfaces), walking only what is showing, with a bound
  on the count.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import dbus  # the distribution's python3-dbus

ACCESSIBLE = "org.a11y.atspi.Accessible"
VALUE = "org.a11y.atspi.Value"
PROPERTIES = "org.freedesktop.DBus.Properties"
REGISTRY = "org.a11y.atspi.Registry"
ROOT = "/org/a11y/atspi/accessible/root"
MAX_NODES = 2000
MAX_DEPTH = 40
TIMEOUT = 10.0  # seconds for one call: a program that hangs must not hang the test
#: AT-SPI's state numbers (``AtspiStateType``), in order.
STATES = (
    "invalid active armed busy checked collapsed defunct editable enabled expandable "
    "expanded focusable focused has-tooltip horizontal iconified modal multi-line "
    "multiselectable opaque pressed resizable selectable selected sensitive showing "
    "single-line stale transient vertical visible manages-descendants indeterminate "
    "required truncated animated invalid-entry supports-autocompletion selectable-text "
    "is-default visited checkable has-popup read-only"
).split()


def status(bus: Any) -> Any:
    return dbus.Interface(bus.get_object("org.a11y.Bus", "/org/a11y/bus"), PROPERTIES)


def enable() -> None:
    """What Orca does on start: say a screen reader is running, then wait for the registry.

    The accessibility bus and its registry start on demand; a program that
    comes before they answer fails to register (Qt then logs "Not connected
    to D-Bus server") and stays unreadable, so they are asked first.
    """
    flags = status(dbus.SessionBus())
    flags.Set("org.a11y.Status", "IsEnabled", True)
    flags.Set("org.a11y.Status", "ScreenReaderEnabled", True)
    root = accessibility_bus().get_object(REGISTRY, ROOT, introspect=False)
    dbus.Interface(root, ACCESSIBLE).GetChildren(timeout=TIMEOUT)


def accessibility_bus() -> Any:
    launcher = dbus.SessionBus().get_object("org.a11y.Bus", "/org/a11y/bus", introspect=False)
    address = dbus.Interface(launcher, "org.a11y.Bus").GetAddress(timeout=TIMEOUT)
    return dbus.bus.BusConnection(str(address))


def state_names(words: Any) -> list[str]:
    bits = sum(int(word) << (32 * index) for index, word in enumerate(words))
    return [name for index, name in enumerate(STATES) if bits >> index & 1]


def describe(bus: Any, sender: str, path: str, depth: int) -> tuple[dict[str, Any], list[Any]]:
    node = bus.get_object(sender, path, introspect=False)
    properties = dbus.Interface(node, PROPERTIES)
    accessible = dbus.Interface(node, ACCESSIBLE)
    found: dict[str, Any] = {
        "depth": depth,
        "name": str(properties.Get(ACCESSIBLE, "Name", timeout=TIMEOUT)),
        "description": str(properties.Get(ACCESSIBLE, "Description", timeout=TIMEOUT)),
        "role": str(accessible.GetRoleName(timeout=TIMEOUT)),
        "states": state_names(accessible.GetState(timeout=TIMEOUT)),
    }
    if VALUE in [str(name) for name in accessible.GetInterfaces(timeout=TIMEOUT)]:
        found["value"] = float(properties.Get(VALUE, "CurrentValue", timeout=TIMEOUT))
        found["maximum"] = float(properties.Get(VALUE, "MaximumValue", timeout=TIMEOUT))
    # The desktop and the applications are not "showing"; in a window, what
    # is not showing (a screen not in front) is not walked.
    showing = depth < 2 or "showing" in found["states"]
    return found, list(accessible.GetChildren(timeout=TIMEOUT)) if showing else []


def walk() -> list[dict[str, Any]]:
    bus = accessibility_bus()
    nodes: list[dict[str, Any]] = []
    pending: list[tuple[str, str, int]] = [(REGISTRY, ROOT, 0)]
    while pending and len(nodes) < MAX_NODES:
        sender, path, depth = pending.pop()
        try:
            node, children = describe(bus, sender, path, depth)
        except dbus.DBusException as exc:  # a node that went away while walking
            nodes.append({"depth": depth, "error": exc.get_dbus_name() or str(exc)})
            continue
        nodes.append(node)
        if depth < MAX_DEPTH:
            pending.extend((str(s), str(p), depth + 1) for s, p in reversed(children))
    return nodes


def main(argv: list[str]) -> int:
    if argv[1:] == ["enable"]:
        enable()
        return 0
    json.dump(walk(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
