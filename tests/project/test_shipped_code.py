"""What the RPM installs in dom0 (``launcher``, ``sdw_notify``, ``sdw_updater``) reaches C only
through public bindings: no module of ours imports ``ctypes`` or ``cffi``."""

from __future__ import annotations

import ast

from helpers import ROOT

#: What the RPM installs in dom0, and the foreign-function modules it must not use.
SHIPPED = ("launcher", "sdw_notify", "sdw_updater")
FOREIGN = ("ctypes", "_ctypes", "cffi")


def test_nothing_shipped_reaches_c_through_ctypes() -> None:
    """dom0's code uses public bindings only: no module of ours imports ctypes (or cffi)."""
    offenders = []
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names = [node.value]  # importlib.import_module("ctypes")
                else:
                    continue
                if any(name.split(".")[0] in FOREIGN for name in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
