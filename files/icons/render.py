"""Render ``securedrop-updater.svg`` into the hicolor PNG sizes.

Run from anywhere (``QT_QPA_PLATFORM=offscreen python files/icons/render.py``)
after changing the SVG, and commit the PNGs: the RPM installs them as they
are, so the build needs no Qt.  Qt's own SVG renderer keeps the toolchain to
what the project already depends on; Qt comes through ``launcher.qt`` (PyQt6,
else PyQt5), as in the window.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 32, 48, 64, 128, 256)
NAME = "securedrop-updater"
HERE = Path(__file__).resolve().parent


def png_path(size: int, root: Path = HERE) -> Path:
    return root / "hicolor" / f"{size}x{size}" / "apps" / f"{NAME}.png"


def render(svg: Path = HERE / f"{NAME}.svg", root: Path = HERE) -> list[Path]:
    """Write one PNG per size (transparent background); return their paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from launcher.qt import QGuiApplication, QImage, QPainter, Qt, svg_module

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = svg_module().QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        target = png_path(size, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise SystemExit(f"cannot write {target}")
        written.append(target)
    del app
    return written


if __name__ == "__main__":
    for path in render():
        print(path)
