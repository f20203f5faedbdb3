"""Prune shared libraries that nothing in a Linux bundle loads (used by the PyInstaller spec).

PyInstaller collects the dependencies of every Qt plugin it sees *before* the spec drops the
plugins the app does not use, so libraries that only those plugins needed (the GTK theme's
cairo/pango stack, QtNetwork's Kerberos) would stay behind. :func:`prune` keeps a library only
when a kept extension module, plugin or library needs it (``DT_NEEDED``, followed
transitively). The ELF reader is a few lines of ``struct``: no binutils needed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

SHT_DYNAMIC, DT_NEEDED = 6, 1


def needed(path: str | Path) -> list[str] | None:
    """The ``DT_NEEDED`` names of a 64-bit little-endian ELF file; None when it is not one."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # ELFCLASS64, little-endian
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names: list[str] = []
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != SHT_DYNAMIC:
            continue
        strtab_offset = sections[link][4]
        for pos in range(offset, offset + size, entsize or 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            if tag == 0:
                break
            if tag == DT_NEEDED:
                start = strtab_offset + value
                names.append(data[start:data.index(b"\0", start)].decode())
    return names


def is_library(dest: str) -> bool:
    """A plain shared library (top level or Qt's lib folder), as opposed to a module or plugin."""
    parts = dest.replace("\\", "/").split("/")
    return ".so" in parts[-1] and (len(parts) == 1 or parts[:-1] == ["PySide6", "Qt", "lib"])


def prune(binaries: Sequence[tuple[str, str, str]], always: Iterable[str] = ()) -> tuple[list, list[str]]:
    """``binaries`` (PyInstaller TOC entries) without the libraries no kept binary needs.

    Extension modules, plugins and anything that is not a plain library are the roots; so are
    the names in ``always`` (e.g. libpython, which the bootloader opens by itself). Returns the
    kept entries and the names of the dropped libraries.
    """
    libraries = {Path(dest).name: (dest, src) for dest, src, kind in binaries if kind == "BINARY" and is_library(dest)}
    keep_names = {name for name in libraries if any(name.startswith(prefix) for prefix in always)}
    todo = [src for dest, src, kind in binaries if not (kind == "BINARY" and is_library(dest))]
    todo += [libraries[name][1] for name in keep_names]
    seen_files: set[str] = set()
    while todo:
        src = todo.pop()
        if src in seen_files:
            continue
        seen_files.add(src)
        deps = needed(src)
        if deps is None:
            continue
        for dep in deps:
            if dep in libraries and dep not in keep_names:
                keep_names.add(dep)
                todo.append(libraries[dep][1])
    kept = [entry for entry in binaries
            if not (entry[2] == "BINARY" and is_library(entry[0])) or Path(entry[0]).name in keep_names]
    dropped = sorted(set(libraries) - keep_names)
    return kept, dropped
