"""Headings for screen readers, which PyQt5 alone cannot declare.

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

Only exported, documented symbols are used, looked up by their mangled
names in the Qt libraries already loaded.  When any is missing (another Qt
build), nothing is installed and the window works as before.
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
