"""One updater window at a time, and a way for a second launch to find the first.

The window takes the updater lock (``sdw-updater.lock``, the engine's own)
before its first screen and keeps it until it closes, handing it to each
engine run (``Runner(..., lock=...)``): so a second ``sdw-updater``, a
``--cli`` run or the notifier's hand-over learns at once, before any
introduction, that an updater is running.

From the moment it takes the lock, before it builds its window, it also
listens on a local socket beside the lock (``sdw-updater.window``): a
double click's second launch arrives while the first is still building.
A second launch that cannot take the lock connects (trying again for a
moment when nobody listens yet), asks "raise", and the first window comes
to the front and says it was opened again; the second then exits 5
without a window.  When nothing answers (the holder is a text run, or an
older updater), the second shows "another update is running" and names
the holder from the process id the lock file records.  A lock file that
cannot be used at all (``Lock.problem``) is no other updater: nothing is
asked, and the window says what is wrong with the file.  Everything read
here (the lock file, the holder's command line, the socket) is bounded and
parsed strictly.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from launcher.qt import QLocalServer, QLocalSocket, QObject, pyqtSignal
from sdw_updater.contract import UPDATER_LOCK
from sdw_updater.lock import Lock, lock_dir
from sdw_updater.status import read_bounded

log = logging.getLogger("sdw.launcher.single")

SOCKET_NAME = "sdw-updater.window"
REQUEST = b"raise\n"
ANSWER = b"raised\n"
CONNECT_WAIT_MS = 3000
# A window answers once it is built and shown: the second launch of a double
# click may connect while the first is still building, on a slow machine.
ANSWER_WAIT_MS = 10000
# How long a second launch keeps trying to reach a window that holds the lock
# and does not listen yet: it listens right after taking the lock, so only a
# first launch descheduled in between (a busy machine) needs more than one try.
CONNECT_WAIT_S = 0.5
CONNECT_RETRY_S = 0.05
# A Unix socket path must fit in sun_path (108 bytes with its terminator).
MAX_SOCKET_PATH = 100
PID_FILE_LIMIT = 64
CMDLINE_LIMIT = 4096
NAME_LIMIT = 80
_PRINTABLE = re.compile(r"[^A-Za-z0-9 ._/=:+-]")


def lock_path(state_directory: Path) -> Path:
    return lock_dir(state_directory) / UPDATER_LOCK


def socket_path(state_directory: Path) -> Path:
    return lock_dir(state_directory) / SOCKET_NAME


def take_lock(state_directory: Path) -> Lock:
    """The updater lock, tried once: held when its ``fd`` is set.

    A lock not taken tells why: ``problem`` is None when another process
    holds it (an updater runs, perhaps a window to bring forward), and says
    what is wrong with the file otherwise (a directory or a FIFO in its
    place, no permission, ...): then no updater runs, and none can until an
    administrator mends it.
    """
    lock = Lock(lock_path(state_directory))
    lock.acquire()
    return lock


def holder_pid(state_directory: Path) -> int | None:
    """The process id the lock's holder wrote into the lock file, if it is sane."""
    raw = read_bounded(lock_path(state_directory), PID_FILE_LIMIT)
    text = raw.decode("ascii", "replace").strip() if raw else ""
    if not text.isdigit() or len(text) > 9:
        return None
    pid = int(text)
    return pid if pid > 1 else None


def describe_holder(state_directory: Path) -> str:
    """The running updater in a few words: its program, flags and process id."""
    pid = holder_pid(state_directory)
    if pid is None:
        return ""
    raw = read_bounded(Path(f"/proc/{pid}/cmdline"), CMDLINE_LIMIT) or b""
    words = [w.decode("utf-8", "replace") for w in raw.split(b"\0") if w]
    # A console script runs as "python3 /path/sdw-updater --cli ...": name the script.
    start = next((i for i, w in enumerate(words) if Path(w).name.startswith("sdw-")), None)
    if start is None:
        program = Path(words[0]).name if words else "a program"
        shown = [program]
    else:
        shown = [Path(words[start]).name, *(w for w in words[start + 1 :] if w.startswith("--"))]
    text = _PRINTABLE.sub("?", " ".join(shown))[:NAME_LIMIT]
    return f"{text} (process {pid})"


class WindowServer(QObject):
    """Listens for "raise" from a second launch while this window holds the lock."""

    raise_requested = pyqtSignal()

    def __init__(self, state_directory: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.server.newConnection.connect(self._connection)
        path = str(socket_path(state_directory))
        self.listening = False
        if len(path.encode()) > MAX_SOCKET_PATH:
            log.warning("Not listening for other launches: %s is too long a socket path", path)
            return
        # We hold the lock: whatever socket is left there belongs to a window that is gone.
        QLocalServer.removeServer(path)
        self.listening = self.server.listen(path)
        if not self.listening:
            log.warning("Not listening for other launches: %s", self.server.errorString())

    def _connection(self) -> None:
        while self.server.hasPendingConnections():
            peer = self.server.nextPendingConnection()
            if peer is None:
                return
            peer.readyRead.connect(lambda peer=peer: self._read(peer))
            peer.disconnected.connect(peer.deleteLater)

    def _read(self, peer: QLocalSocket) -> None:
        if not peer.canReadLine() and peer.bytesAvailable() < len(REQUEST):
            return
        line = bytes(peer.readLine(len(REQUEST) + 1))
        if line == REQUEST:
            log.info("Another sdw-updater asked for this window")
            self.raise_requested.emit()
            peer.write(ANSWER)
            peer.flush()
        peer.disconnectFromServer()


def _connect(path: str, wait: float) -> QLocalSocket | None:
    """A connection to the window's socket, tried for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        peer = QLocalSocket()
        peer.connectToServer(path)
        if peer.waitForConnected(CONNECT_WAIT_MS):
            return peer
        peer.abort()
        if time.monotonic() >= deadline:
            return None
        time.sleep(CONNECT_RETRY_S)


def ask_running_window_to_raise(state_directory: Path, wait: float = CONNECT_WAIT_S) -> bool:
    """Ask the window holding the lock to come to the front; True once it says it did.

    The holder may be a window that took the lock an instant ago: the
    connection is tried again for up to ``wait`` seconds before the holder
    is taken for a program without a window (a ``--cli`` run).
    """
    path = str(socket_path(state_directory))
    peer = _connect(path, wait)
    if peer is None:
        return False
    peer.write(REQUEST)
    peer.flush()
    answered = b""
    while len(answered) < len(ANSWER) and peer.waitForReadyRead(ANSWER_WAIT_MS):
        answered += bytes(peer.read(len(ANSWER) - len(answered)))
    peer.abort()
    return answered == ANSWER
