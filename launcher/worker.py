"""Background work for the wizard: the update run and the other slow host calls.

The old updater ran its network check on the GUI thread and the window
froze.  Here every call that can block (the whole update run, starting the
client, rebooting) runs in a ``QThread``; the UI thread only draws.

Engine events cross threads through :class:`EventPump`, a locked queue the
UI drains on a timer, rather than one queued Qt signal per event: a template
that floods megabytes of output would otherwise bury the event loop in
signals and the window would stop repainting.  Tool output waiting to be
shown is bounded; what does not fit is counted and the full text stays in
``updater-detail.log``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from launcher.qt import QObject, QThread, pyqtSignal
from sdw_updater import events as ev
from sdw_updater.context import Context
from sdw_updater.contract import ExitCode
from sdw_updater.lastrun import Retry
from sdw_updater.lock import Lock
from sdw_updater.plan import Runner
from sdw_updater.result import RunResult

log = logging.getLogger("sdw.launcher.worker")

# Tool output lines that may wait for the UI; the rest is counted, not kept.
PENDING_OUTPUT_LIMIT = 2000


@dataclass(frozen=True)
class Skipped:
    """Stands for ``count`` output lines dropped because the UI fell behind."""

    count: int


PumpItem = ev.Event | Skipped


class EventPump:
    """A thread-safe, bounded hand-off of engine events to the UI thread.

    Every event except tool output is kept (they are few and each changes
    what the window shows).  Tool output is kept up to ``limit`` pending
    lines; beyond that new lines are dropped and a :class:`Skipped` marker
    takes their place, in order, once there is room again.
    """

    def __init__(self, limit: int = PENDING_OUTPUT_LIMIT) -> None:
        self._lock = threading.Lock()
        self._items: list[PumpItem] = []
        self._pending_output = 0
        self._dropped = 0
        self.limit = limit

    def put(self, event: ev.Event) -> None:
        """The runner's listener: called on the worker thread."""
        with self._lock:
            if isinstance(event, ev.LogLine) and event.level == "output":
                if self._pending_output >= self.limit:
                    self._dropped += 1
                    return
                self._flush_dropped()
                self._pending_output += 1
            self._items.append(event)

    def _flush_dropped(self) -> None:
        if self._dropped:
            self._items.append(Skipped(self._dropped))
            self._dropped = 0

    def drain(self) -> list[PumpItem]:
        """Everything queued so far, in order (called on the UI thread)."""
        with self._lock:
            self._flush_dropped()
            items, self._items = self._items, []
            self._pending_output = 0
        return items


class RunWorker(QThread):
    """Runs one update (a fresh engine ``Runner``) off the UI thread.

    ``result_ready`` carries the ``RunResult``; it is emitted after the last
    event was put in the pump, so the UI drains the pump, then shows the
    outcome.  The runner never raises by contract; if it does anyway, the
    run is reported as failed, never as fine.
    """

    result_ready = pyqtSignal(object)

    def __init__(
        self,
        ctx: Context,
        skip_netcheck: bool,
        pump: EventPump,
        parent: QObject | None = None,
        *,
        lock: Lock | None = None,
        retry: Retry | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        # "Try again": only what the run before left undone (None: a full run).
        self.retry = retry
        self.skip_netcheck = skip_netcheck
        self.pump = pump
        # The updater lock the window took before its first screen: the
        # runner uses it and leaves it held (the window releases it).
        self.lock = lock

    def run(self) -> None:
        try:
            runner = Runner(
                self.ctx.host,
                self.ctx.store,
                self.pump.put,
                skip_netcheck=self.skip_netcheck,
                trust=self.ctx.make_trust(),
                lock=self.lock,
                retry=self.retry,
            )
            result = runner.run()
        except Exception as exc:
            log.exception("The update run raised")
            result = RunResult(ExitCode.FAILED, f"Unexpected error: {exc}")
        self.result_ready.emit(result)


class CallWorker(QThread):
    """Runs one blocking host call (start the client, reboot) off the UI thread.

    ``call_done`` carries ``(value, error)``: the call's return value, or
    None and the exception text when it raised.
    """

    call_done = pyqtSignal(object, object)

    def __init__(self, call: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.call = call

    def run(self) -> None:
        try:
            value = self.call()
        except Exception as exc:
            log.exception("A host call raised")
            self.call_done.emit(None, str(exc) or type(exc).__name__)
            return
        self.call_done.emit(value, None)
