"""Headings and disclosure states for screen readers, which PyQt5 alone cannot declare.

Qt gives a ``QLabel`` the accessible role "static text", whatever its font;
a screen reader then cannot jump from screen title to screen title.  Qt has
a *Heading* role, but PyQt5 wraps none of Qt's accessibility classes, so a
label cannot be given it from Python.

This module uses Qt's public C++ API through ``ctypes``, and nothing else:
``QAccessible::installFactory`` registers a function that Qt asks first
whenever it builds the accessible interface of an object.  For the labels
marked with :func:`mark_heading` it returns Qt's own generic
``QAccessibleWidget`` constructed with the role Heading (the label's
accessible name is what is read); for every other object it returns
nothing, so Qt builds its usual interface.  Qt owns and deletes what the
factory returns, so it is allocated with C++ ``operator new``.

Disclosure buttons ("Show details") get the *expandable* state and either
*expanded* or *collapsed*, which a Qt push button never reports.  Qt's own
interface for the button (``QAccessibleButton``, with its press action) is
kept; only its ``state()`` answer is extended.  The interface's class is not
exported, so this is done on its virtual table: the table is copied once per
class, the ``state()`` entry of the copy points to a function here that asks
Qt's original and adds the two states, and the button's interface is made to
use the copy.  The entry's position is not guessed: it is where the exported
``QAccessibleWidget::state`` sits in ``QAccessibleWidget``'s own table, and
the patch is made only when the button's table holds the exported
``QAccessibleObject::object`` where ``QAccessibleWidget``'s does and the
interface answers ``object()`` with the button itself.

Only exported symbols are used, looked up by their mangled names in the Qt
libraries already loaded.  When any is missing or a check fails (another
Qt build), nothing is installed or patched and the window works as before:
titles read as plain text, and the disclosure buttons' names and
descriptions ("Hide details", "expanded") still say what is open.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any, cast

from PyQt5 import sip
from PyQt5.QtCore import QObject
from PyQt5.QtWidgets import QWidget

log = logging.getLogger("sdw.launcher.a11y")

#: ``QAccessible::Heading`` (Qt uses IAccessible2's value).
HEADING_ROLE = 0x414
HEADING_PROPERTY = "sdw_heading"
# Room for a QAccessibleWidget (two vtable pointers and two private
# pointers, 32 bytes on x86-64), with margin.
INTERFACE_BYTES = 64

_FACTORY = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
# Addresses of the labels marked as headings: a quick filter for the factory,
# which Qt calls for every object it makes accessible.
_headings: set[int] = set()
_state: dict[str, Any] = {}


def _symbols() -> dict[str, Any] | None:
    """The C++ entry points, or None when this Qt build does not export them."""
    try:
        gui = ctypes.CDLL("libQt5Gui.so.5")
        widgets = ctypes.CDLL("libQt5Widgets.so.5")
        core = ctypes.CDLL("libQt5Core.so.5")
        cxx = ctypes.CDLL("libstdc++.so.6")
        install = gui[
            "_ZN11QAccessible14installFactoryEPFP20QAccessibleInterfaceRK7QStringP7QObjectE"
        ]
        construct = widgets["_ZN17QAccessibleWidgetC1EP7QWidgetN11QAccessible4RoleERK7QString"]
        operator_new = cxx["_Znwm"]
        null_data = ctypes.c_void_p.in_dll(core, "_ZN10QArrayData11shared_nullE")
    except (OSError, AttributeError, ValueError) as exc:
        log.info("No heading roles for screen readers: %s", exc)
        return None
    install.argtypes = [_FACTORY]
    install.restype = None
    construct.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    construct.restype = None
    operator_new.argtypes = [ctypes.c_size_t]
    operator_new.restype = ctypes.c_void_p
    # A null QString is a pointer to QArrayData::shared_null: an empty name
    # makes QAccessibleWidget read the widget's accessible name.
    empty = ctypes.c_void_p(ctypes.addressof(null_data))
    return {"install": install, "construct": construct, "new": operator_new, "empty": empty}


def _factory(_key: int | None, obj: int | None) -> int | None:
    """Qt's question "how is this object accessible?": an answer for headings only.

    The address alone is not proof: a heading that is gone may have left its
    address to another object, so the live object must carry the mark too.
    """
    if obj is None or obj not in _headings:
        return None
    live = cast(QObject, sip.wrapinstance(obj, QObject))  # type: ignore[arg-type]
    if live.property(HEADING_PROPERTY) is not True:
        return None
    symbols = _state["symbols"]
    memory = symbols["new"](INTERFACE_BYTES)
    symbols["construct"](memory, obj, HEADING_ROLE, ctypes.byref(symbols["empty"]))
    return int(memory)


def install() -> bool:
    """Register the factory once per process (before any interface is built)."""
    if "installed" in _state:
        return bool(_state["installed"])
    symbols = _symbols()
    _state["installed"] = symbols is not None
    if symbols is None:
        return False
    _state["symbols"] = symbols
    _state["callback"] = _FACTORY(_factory)  # kept: Qt calls it for the life of the process
    symbols["install"](_state["callback"])
    return True


def mark_heading(widget: QWidget) -> None:
    """Expose ``widget`` (a title label with an accessible name) as a heading.

    Call it before the widget gets a text or a name: Qt builds and caches
    an object's accessible interface at the first such change.
    """
    install()
    address = cast(int, sip.unwrapinstance(widget))
    _headings.add(address)
    widget.setProperty(HEADING_PROPERTY, True)


# ----- disclosure buttons: expandable, and expanded or collapsed ---------------

#: Bits of Qt's ``QAccessible::State``, a 64-bit bit field returned by value.
STATE_EXPANDED = 1 << 11
STATE_COLLAPSED = 1 << 12
STATE_EXPANDABLE = 1 << 14
EXPANDED_PROPERTY = "sdw_expanded"
#: Entries searched in ``QAccessibleWidget``'s table, and copied of a patched
#: table: more than the interfaces of Qt 5 have (the copy may take some of
#: what follows a table in memory; nothing ever calls those entries).
VTABLE_SLOTS = 64
POINTER = ctypes.sizeof(ctypes.c_void_p)

_STATE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)
_QUERY = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
_disclosure: dict[str, Any] = {}


def _address(function: Any) -> int:
    return int(ctypes.cast(function, ctypes.c_void_p).value or 0)


def _slots(table: int) -> Any:
    """The first entries of a virtual table (``table`` points at its first function)."""
    return (ctypes.c_void_p * VTABLE_SLOTS).from_address(table)


def _first_slot(table: int, target: int) -> int | None:
    slots = _slots(table)
    return next((index for index in range(VTABLE_SLOTS) if slots[index] == target), None)


def _disclosure_symbols() -> dict[str, Any] | None:
    """Qt's entry points and the two table positions, or None on another Qt build."""
    try:
        gui = ctypes.CDLL("libQt5Gui.so.5")
        widgets = ctypes.CDLL("libQt5Widgets.so.5")
        query = _QUERY(_address(gui["_ZN11QAccessible24queryAccessibleInterfaceEP7QObject"]))
        object_at = _address(gui["_ZNK17QAccessibleObject6objectEv"])
        state_at = _address(widgets["_ZNK17QAccessibleWidget5stateEv"])
        # The symbol of a class's virtual table names its start: the offset to
        # the top and the type information come before the first function.
        widget_table = _address(widgets["_ZTV17QAccessibleWidget"]) + 2 * POINTER
    except (OSError, AttributeError, ValueError) as exc:
        log.info("No expanded/collapsed states for screen readers: %s", exc)
        return None
    object_slot = _first_slot(widget_table, object_at)
    state_slot = _first_slot(widget_table, state_at)
    if object_slot is None or state_slot is None or object_slot >= state_slot:
        log.info("No expanded/collapsed states: unexpected QAccessibleWidget table")
        return None
    return {
        "query": query,
        "object": _QUERY(object_at),
        "object_at": object_at,
        "object_slot": object_slot,
        "state_slot": state_slot,
        "copies": {},  # Qt's table -> (its copy, the callback, Qt's state function)
    }


def _with_disclosure_state(original: Any, interface: int | None) -> int:
    """Qt's state of a disclosure button's interface, plus expandable and expanded/collapsed."""
    state = int(original(interface))
    try:
        obj = _disclosure["symbols"]["object"](interface)
        if obj:
            live = cast(QObject, sip.wrapinstance(obj, QObject))  # type: ignore[arg-type]
            expanded = live.property(EXPANDED_PROPERTY)
            if isinstance(expanded, bool):
                state |= STATE_EXPANDABLE | (STATE_EXPANDED if expanded else STATE_COLLAPSED)
    except Exception:  # a screen reader's question must never end the program
        log.exception("Disclosure state for a screen reader")
    return state


def _patched_table(symbols: dict[str, Any], table: int) -> int:
    """The copy of ``table`` whose ``state()`` adds the disclosure states (made once)."""
    copies = symbols["copies"]
    if table not in copies:
        original = _STATE(_slots(table)[symbols["state_slot"]])
        callback = _STATE(lambda interface: _with_disclosure_state(original, interface))
        copy = (ctypes.c_void_p * (VTABLE_SLOTS + 2))()
        ctypes.memmove(copy, table - 2 * POINTER, ctypes.sizeof(copy))
        copy[2 + symbols["state_slot"]] = _address(callback)
        # Kept for the life of the process: Qt calls them as long as it runs.
        copies[table] = (copy, callback, original)
    return ctypes.addressof(copies[table][0]) + 2 * POINTER


def mark_disclosure(widget: QWidget, expanded: bool) -> bool:
    """Make ``widget`` (a push button) report expandable and expanded or collapsed.

    Returns whether the button's accessible interface now reports them.
    """
    set_expanded(widget, expanded)
    if "symbols" not in _disclosure:
        _disclosure["symbols"] = _disclosure_symbols()
    symbols = _disclosure["symbols"]
    if symbols is None:
        return False
    address = cast(int, sip.unwrapinstance(widget))
    interface = symbols["query"](address)
    if not interface:
        return False
    vptr = ctypes.c_void_p.from_address(interface)
    table = int(vptr.value or 0)
    patched = {ctypes.addressof(entry[0]) + 2 * POINTER for entry in symbols["copies"].values()}
    if table in patched:
        return True
    # Qt's widget table, and an interface of this very button: else leave it be.
    if _slots(table)[symbols["object_slot"]] != symbols["object_at"]:
        log.info("No expanded/collapsed states: the button's table is not Qt's widget table")
        return False
    if symbols["object"](interface) != address:
        return False
    vptr.value = _patched_table(symbols, table)
    return True


def set_expanded(widget: QWidget, expanded: bool) -> None:
    """Record what a disclosure button shows; its interface reads it on each question."""
    widget.setProperty(EXPANDED_PROPERTY, expanded)


def disclosure_states(widget: QWidget) -> set[str]:
    """The disclosure states Qt reports for ``widget`` now, as a screen reader asks them.

    The question goes through the interface's own table, the way Qt's
    screen-reader bridge calls ``state()``; empty when Qt's interfaces
    could not be read on this build.
    """
    symbols = _disclosure.get("symbols")
    if not symbols:
        return set()
    interface = symbols["query"](cast(int, sip.unwrapinstance(widget)))
    if not interface:
        return set()
    table = int(ctypes.c_void_p.from_address(interface).value or 0)
    state_function = _slots(table)[symbols["state_slot"]]
    state = int(_STATE(state_function)(interface))
    names = {
        "expandable": STATE_EXPANDABLE,
        "expanded": STATE_EXPANDED,
        "collapsed": STATE_COLLAPSED,
    }
    return {name for name, bit in names.items() if state & bit}
