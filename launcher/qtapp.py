"""One QApplication per process, shared by the updater's window and the reminder.

Qt allows one application object per process, and every widget needs it to
exist *and stay referenced* while the widget lives: a QApplication that is
created and dropped at once leaves the next widget aborting the process
("Must construct a QApplication before a QWidget").  ``application()``
creates it once, keeps it in this module for the life of the process, and
returns the same object to the window and to the notifier's reminder (whose
"Check for updates" opens the window in the same process).

Qt is PyQt6, else PyQt5 (``qt.py``); the log names which, and its version.
It also sets what both share: high-DPI scaling, the Fusion style with the
palette of ``style.py`` (so every text keeps its contrast whatever the
desktop theme), and the window icon.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from launcher import qt, style
from launcher.qt import QApplication, QColor, QIcon, QPalette, QSocketNotifier

log = logging.getLogger("sdw.launcher.qtapp")

ICON_NAME = "securedrop-updater"
DESKTOP_FILE = "press.freedom.SecureDropUpdater"
# Where the icon is when the theme does not know it: installed by the RPM,
# or in a development checkout (``files/icons``).
ICON_ROOTS = (
    Path("/usr/share/icons/hicolor"),
    Path(__file__).resolve().parent.parent / "files" / "icons" / "hicolor",
)
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)

_app: QApplication | None = None
_term_notifier: QSocketNotifier | None = None


def on_terminate(handler: Callable[[], object]) -> None:
    """Run ``handler`` on the UI thread soon after SIGTERM (a logout, ``kill``, systemd).

    Python runs a signal handler only when the interpreter gets control, and
    Qt's event loop can sleep in C for as long as nothing happens on screen.
    The signal's wake-up byte goes to a socket Qt watches, so the handler runs
    at once, on the UI thread, where it may touch widgets.
    """
    global _term_notifier
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    pending: list[bool] = []

    def on_signal(_signum: int, _frame: object) -> None:
        pending.append(True)

    def on_wakeup() -> None:
        try:
            reader.recv(64)
        except BlockingIOError:
            pass
        if pending:
            pending.clear()
            handler()

    signal.signal(signal.SIGTERM, on_signal)
    _term_notifier = QSocketNotifier(qt.voidptr(reader.fileno()), QSocketNotifier.Type.Read)
    _term_notifier.activated.connect(on_wakeup)
    _term_notifier.setProperty("sdw_sockets", (reader, writer))  # kept alive with it


def has_display() -> bool:
    """Whether Qt can open a window at all (it aborts the process when it cannot)."""
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def application(name: str = "sdw-updater") -> QApplication:
    """The process's QApplication: created on the first call, the same one afterwards."""
    global _app
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        qt.before_application()
        log.info("Qt: %s", qt.describe())
        app = QApplication([sys.argv[0] if sys.argv else name])
        app.setApplicationName(name)
        app.setDesktopFileName(DESKTOP_FILE)
    if app is not _app:
        # Also an application made by someone else (a test harness): the
        # window must look the same, and keep its contrast, everywhere.
        app.setStyle("Fusion")
        app.setPalette(palette())
        app.setWindowIcon(window_icon())
        _app = app
    return app


def palette() -> QPalette:
    """The colours of ``style.py`` for every role a text or its background uses."""
    result = QPalette()
    roles = {
        QPalette.ColorRole.Window: style.WINDOW,
        QPalette.ColorRole.WindowText: style.TEXT,
        QPalette.ColorRole.Base: style.BASE,
        QPalette.ColorRole.AlternateBase: style.WINDOW,
        QPalette.ColorRole.Text: style.TEXT,
        QPalette.ColorRole.Button: style.BUTTON,
        QPalette.ColorRole.ButtonText: style.TEXT,
        QPalette.ColorRole.BrightText: style.BASE,
        QPalette.ColorRole.Highlight: style.HIGHLIGHT,
        QPalette.ColorRole.HighlightedText: style.HIGHLIGHT_TEXT,
        QPalette.ColorRole.ToolTipBase: style.TOOLTIP_BG,
        QPalette.ColorRole.ToolTipText: style.TEXT,
        QPalette.ColorRole.Link: style.LINK,
        QPalette.ColorRole.LinkVisited: style.LINK,
        QPalette.ColorRole.PlaceholderText: style.PLACEHOLDER,
    }
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for role, colour in roles.items():
            result.setColor(group, role, QColor(colour))
    return result


def window_icon() -> QIcon:
    """The SecureDrop updater icon, from the icon theme or the files beside it."""
    icon = QIcon.fromTheme(ICON_NAME)
    if not icon.isNull():
        return icon
    icon = QIcon()
    for root in ICON_ROOTS:
        for size in ICON_SIZES:
            path = root / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
            if path.is_file():
                icon.addFile(str(path))
        if not icon.isNull():
            break
    return icon
