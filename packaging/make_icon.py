"""Draw the application icon: ``resources/icons/sharegpt4v-setup.{svg,png}`` (used at run time) and
``packaging/windows/sharegpt4v-setup.ico`` / ``packaging/macos/sharegpt4v-setup.icns`` (used by
the Windows and macOS builds only, so they stay out of the Python package).

The SVG below is the source; Qt renders it to the PNG sizes, and the ``.ico`` and ``.icns`` are
assembled from those PNGs (both formats can hold PNG data). The generated files are committed;
run this again only after changing the drawing::

    .venv/bin/python packaging/make_icon.py
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
ICONS = HERE.parent / "resources" / "icons"
NAME = "sharegpt4v-setup"

# A photo card (the images) above a download arrow landing in a tray, on a blue tile.
SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <title>sharegpt4v-setup</title>
  <defs>
    <linearGradient id="tile" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#3b82c4"/>
      <stop offset="1" stop-color="#1d4e89"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="52" fill="url(#tile)"/>
  <rect x="56" y="34" width="144" height="104" rx="14" fill="#ffffff"/>
  <rect x="66" y="44" width="124" height="84" rx="6" fill="#d9ecfb"/>
  <circle cx="164" cy="68" r="11" fill="#f6a23c"/>
  <polygon points="66,128 104,84 128,110 146,92 190,128" fill="#2f9e5b"/>
  <rect x="116" y="122" width="24" height="40" fill="#f6a23c"/>
  <polygon points="94,156 162,156 128,194" fill="#f6a23c"/>
  <path d="M62 178 V204 A10 10 0 0 0 72 214 H184 A10 10 0 0 0 194 204 V178" fill="none"
        stroke="#ffffff" stroke-width="14" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
"""

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS chunk types that hold PNG data, by pixel size (ic11-ic14 are the @2x variants).
ICNS_TYPES = ((b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256),
              (b"ic09", 512), (b"ic10", 1024), (b"ic11", 32), (b"ic12", 64), (b"ic13", 256), (b"ic14", 512))


def render(renderer: QSvgRenderer, size: int) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def ico(pngs: dict[int, bytes]) -> bytes:
    """A Windows icon with one PNG-compressed image per size (Vista and later read these)."""
    sizes = [s for s in ICO_SIZES if s in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        blob = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
        blobs += blob
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    chunks = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks


def main() -> int:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841  (QPainter on QImage needs a GUI application)
    ICONS.mkdir(parents=True, exist_ok=True)
    (ICONS / f"{NAME}.svg").write_text(SVG, encoding="utf-8")
    renderer = QSvgRenderer(QByteArray(SVG.encode()))
    if not renderer.isValid():
        print("the SVG does not parse", file=sys.stderr)
        return 1
    pngs = {size: render(renderer, size) for size in PNG_SIZES}
    (ICONS / f"{NAME}.png").write_bytes(pngs[256])
    outputs = [ICONS / f"{NAME}.svg", ICONS / f"{NAME}.png", HERE / "windows" / f"{NAME}.ico",
               HERE / "macos" / f"{NAME}.icns"]
    outputs[2].parent.mkdir(exist_ok=True)
    outputs[2].write_bytes(ico(pngs))
    outputs[3].parent.mkdir(exist_ok=True)
    outputs[3].write_bytes(icns(pngs))
    for path in outputs:
        print(f"{path.relative_to(HERE.parent)}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
