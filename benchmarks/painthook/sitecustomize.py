"""Benchmark-only: time the phases of one launch of the window, up to its first paint.

``benchmarks/paint.py`` puts this directory on ``PYTHONPATH`` of each timed
``sdw-updater`` (Python imports ``sitecustomize`` as it starts) and names an
output file in ``SDW_BENCH_PAINT``.  Nothing of the product is replaced: the
hook notes the wall-clock time (``time.time()``, comparable with the
benchmark's own clock) when

- the interpreter is up (this module runs),
- ``launcher.qt`` starts and ends importing (the binding's modules and
  libraries),
- ``qtapp.application()`` starts and returns (the QApplication: display
  connection, platform plugin, style, palette, fonts, icon),
- the window (``wizard.Wizard``) starts and ends being built,
- the window's first paint has been handled (the next turn of Qt's loop
  after its first paint event: the backing store is flushed to the X
  server by then),

writes them as JSON and ends the process at once (exit 0).
"""

import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from types import ModuleType
from typing import Any

_OUT = os.environ.get("SDW_BENCH_PAINT", "")
_marks: dict[str, float] = {"interpreter": time.time()}


def _finish() -> None:
    _marks["painted"] = time.time()
    with open(_OUT, "w", encoding="utf-8") as out:
        json.dump(_marks, out)
    os._exit(0)


def _timed(label: str, function: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _marks.setdefault(f"{label}_start", time.time())
        result = function(*args, **kwargs)
        _marks.setdefault(f"{label}_end", time.time())
        return result

    return wrapper


def _watch_paint(module: ModuleType) -> None:
    from launcher.qt import QObject, QtCore, QTimer

    class FirstPaint(QObject):
        def eventFilter(self, watched: Any, event: Any) -> bool:
            if event.type() == QtCore.QEvent.Type.Paint and "paint_event" not in _marks:
                _marks["paint_event"] = time.time()
                QTimer.singleShot(0, _finish)
            return False

    build = module.Wizard.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        _marks.setdefault("window_start", time.time())
        build(self, *args, **kwargs)
        _marks.setdefault("window_end", time.time())
        self._bench_filter = FirstPaint(self)
        self.installEventFilter(self._bench_filter)

    module.Wizard.__init__ = init


def _after(name: str, module: ModuleType) -> None:
    if name == "launcher.qtapp":
        setattr(module, "application", _timed("application", module.application))  # noqa: B010
    elif name == "launcher.wizard":
        _watch_paint(module)


class _Timer(importlib.abc.MetaPathFinder):
    """Times the import of ``launcher.qt`` and patches two modules once they are loaded."""

    NAMES = ("launcher.qt", "launcher.qtapp", "launcher.wizard")

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.NAMES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            if name == "launcher.qt":
                _marks["binding_start"] = time.time()
            run(module)
            if name == "launcher.qt":
                _marks["binding_end"] = time.time()
            _after(name, module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if _OUT:
    sys.meta_path.insert(0, _Timer())
