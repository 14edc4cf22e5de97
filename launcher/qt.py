"""The one door to Qt: PyQt6 when it can be imported, else PyQt5.

dom0 has the Qt its Qubes release ships: PyQt6 on Qubes 4.3 (Fedora 41),
PyQt5 on older ones.  The window, the notifier's dialog and the icon
renderer import every Qt name from here and nowhere else, so the two
bindings' differences stay in this file:

* the modules' package (``PyQt6`` or ``PyQt5``) and its ``sip``;
* ``QShortcut`` (and ``QAction``), in QtGui since Qt 6, in QtWidgets before;
* Qt 5's high-DPI switches, which Qt 6 has always on (and deprecates);
* the optional QtSvg module, imported only by the icon renderer.

What both bindings already agree on is used directly by the callers:
scoped enum names (``Qt.AlignmentFlag.AlignTop``, which PyQt5 5.11 and
later accept too), flags combined with ``|`` (never the Qt 5 wrapper types
such as ``Qt.Alignment(...)``, which PyQt6 lacks), ``exec()`` (PyQt5 has it
beside ``exec_()``) and ``QFontMetrics.horizontalAdvance``.

There is no setting to choose the binding: the first that imports wins.
Importing this module loads Qt; the launcher's fast path (a fresh
workstation, the client started at once) never imports it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Type-checked against PyQt6, the binding of current dom0s.
    from PyQt6 import QtCore, QtGui, QtNetwork, QtWidgets, sip

    BINDING = "PyQt6"
else:
    try:
        from PyQt6 import QtCore, QtGui, QtNetwork, QtWidgets, sip

        BINDING = "PyQt6"
    except ImportError:
        from PyQt5 import QtCore, QtGui, QtNetwork, QtWidgets, sip

        BINDING = "PyQt5"

QT6 = BINDING == "PyQt6"
#: The Qt the binding runs on, and the binding's own version ("6.4.2", "5.15.9").
QT_VERSION = QtCore.qVersion()
BINDING_VERSION = QtCore.PYQT_VERSION_STR

# ----- QtCore ------------------------------------------------------------------
Qt = QtCore.Qt
QCoreApplication = QtCore.QCoreApplication
QEventLoop = QtCore.QEventLoop
QObject = QtCore.QObject
QRect = QtCore.QRect
QSize = QtCore.QSize
QSocketNotifier = QtCore.QSocketNotifier
QThread = QtCore.QThread
QTimer = QtCore.QTimer
pyqtSignal = QtCore.pyqtSignal

# ----- QtGui -------------------------------------------------------------------
QClipboard = QtGui.QClipboard
QCloseEvent = QtGui.QCloseEvent
QColor = QtGui.QColor
QCursor = QtGui.QCursor
QFont = QtGui.QFont
QFontDatabase = QtGui.QFontDatabase
QFontMetrics = QtGui.QFontMetrics
QGuiApplication = QtGui.QGuiApplication
QIcon = QtGui.QIcon
QImage = QtGui.QImage
QKeyEvent = QtGui.QKeyEvent
QKeySequence = QtGui.QKeySequence
QPainter = QtGui.QPainter
QPalette = QtGui.QPalette
QShowEvent = QtGui.QShowEvent

# ----- QtWidgets ---------------------------------------------------------------
QApplication = QtWidgets.QApplication
QFrame = QtWidgets.QFrame
QGridLayout = QtWidgets.QGridLayout
QHBoxLayout = QtWidgets.QHBoxLayout
QLabel = QtWidgets.QLabel
QMessageBox = QtWidgets.QMessageBox
QPlainTextEdit = QtWidgets.QPlainTextEdit
QProgressBar = QtWidgets.QProgressBar
QPushButton = QtWidgets.QPushButton
QScrollArea = QtWidgets.QScrollArea
QSizePolicy = QtWidgets.QSizePolicy
QStackedWidget = QtWidgets.QStackedWidget
QStyle = QtWidgets.QStyle
QVBoxLayout = QtWidgets.QVBoxLayout
QWidget = QtWidgets.QWidget

# ----- moved between Qt 5 and Qt 6 ---------------------------------------------
if TYPE_CHECKING or QT6:
    QAction = QtGui.QAction
    QShortcut = QtGui.QShortcut
else:
    QAction = QtWidgets.QAction
    QShortcut = QtWidgets.QShortcut

# ----- QtNetwork ---------------------------------------------------------------
QLocalServer = QtNetwork.QLocalServer
QLocalSocket = QtNetwork.QLocalSocket

#: ``sip.voidptr``: a file descriptor as Qt's ``qintptr`` (``QSocketNotifier``).
voidptr = sip.voidptr


def before_application() -> None:
    """What must be set before the ``QApplication`` exists.

    Qt 5 scales for the screen's DPI (``QT_SCALE_FACTOR`` included) and
    draws sharp icons only when asked; Qt 6 always does both and warns that
    the switches are deprecated, so they are set on Qt 5 only.
    """
    if not QT6:
        for name in ("AA_EnableHighDpiScaling", "AA_UseHighDpiPixmaps"):
            QApplication.setAttribute(getattr(Qt.ApplicationAttribute, name), True)


def svg_module() -> ModuleType:
    """The binding's QtSvg, for the icon renderer (a build tool: the window never needs it)."""
    return importlib.import_module(f"{BINDING}.QtSvg")


def describe() -> str:
    """The binding and Qt in use, for the log: "PyQt6 6.4.2 on Qt 6.4.2"."""
    return f"{BINDING} {BINDING_VERSION} on Qt {QT_VERSION}"
