"""Whether Qt can start here, and what a window on screen is called (for the Qt fixtures).

Without a library Qt's platform plugin needs, creating the QApplication
aborts the whole test process (Qt's fatal "could not load the Qt platform
plugin"); without one the binding itself needs, pytest-qt's start-up fails
with an INTERNALERROR naming only the file.  These find the library first,
so that ``tests/conftest.py`` can fail the tests naming its Debian package.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import subprocess
from pathlib import Path

from helpers import needs


def qt_platform_plugin(platform: str) -> Path:
    """Where the Qt that pytest-qt uses keeps a platform plugin (``offscreen``, ``xcb``)."""
    from pytestqt.qt_compat import qt_api

    info = qt_api.QtCore.QLibraryInfo
    try:
        plugins = info.path(info.LibraryPath.PluginsPath)  # Qt 6
    except AttributeError:
        plugins = info.location(info.PluginsPath)  # Qt 5
    return Path(plugins) / "platforms" / f"libq{platform}.so"


@functools.cache
def platform_missing() -> tuple[str, str] | None:
    """The libraries Qt's platform plugin cannot load here, and their Debian packages."""
    platform = os.environ.get("QT_QPA_PLATFORM", "offscreen")
    plugin = qt_platform_plugin(platform)
    if not plugin.is_file():
        return None
    found = subprocess.run(
        [needs.tool("ldd"), str(plugin)], capture_output=True, text=True, timeout=60, check=False
    )
    lacking = needs.unresolved_libraries(found.stdout)
    if not lacking:
        return None
    packages = " ".join(sorted({needs.library_package(name) for name in lacking}))
    return f"{', '.join(lacking)} (for Qt's {platform} platform plugin)", packages


def import_missing() -> tuple[str, str] | None:
    """A library the Qt binding's own modules cannot load here, and its Debian package."""
    for binding in ("PyQt6", "PyQt5"):
        if importlib.util.find_spec(binding) is None:
            continue
        try:
            importlib.import_module(f"{binding}.QtGui")
        except ImportError as exc:
            found = re.search(r"(lib\S+?\.so[.\d]*): cannot open shared object file", str(exc))
            if found is None:
                raise
            return f"{found.group(1)} (for Qt, {binding})", needs.library_package(found.group(1))
        return None
    return None


def on_screen(widget: object) -> str:
    """A top-level widget as a failure names it: class, title and the screen it shows."""
    page = getattr(widget, "page", None)
    title = widget.windowTitle()  # type: ignore[attr-defined]
    return f"{type(widget).__name__} {title!r}" + (f" on its {page!r} screen" if page else "")
