"""The system libraries the graphical wizard needs on Linux, checked before Qt starts.

PySide6 wheels (and the PyInstaller bundle built from them) carry Qt itself but rely on the
system for OpenGL/EGL, fonts, keyboard maps and the X11/Wayland client libraries. When one is
missing, Qt fails with a linker error or aborts with a terse "could not load the Qt platform
plugin" message. :func:`check_gui` finds out first, with ``ctypes``, and returns a readable
message naming the Debian/Ubuntu and Fedora packages to install. The headless commands
(``plan``, ``run``, ``status``, ``verify``, ``repair``) never need any of this.

No Qt import here: this module must work when Qt cannot be loaded at all.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Library:
    """A shared library Qt loads, with the packages that provide it."""

    soname: str
    debian: str  # Debian and Ubuntu package
    fedora: str  # Fedora / RHEL package


#: What Qt's GUI libraries link against, whatever the platform plugin (offscreen too).
BASE = (
    Library("libEGL.so.1", "libegl1", "libglvnd-egl"),
    Library("libGL.so.1", "libgl1", "libglvnd-glx"),
    Library("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    Library("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    Library("libfreetype.so.6", "libfreetype6", "freetype"),
    Library("libX11.so.6", "libx11-6", "libX11"),
    Library("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    Library("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)
#: The X11 (xcb) platform plugin. Qt says "xcb-cursor0 is needed" when any of these is missing.
XCB = (
    Library("libxcb.so.1", "libxcb1", "libxcb"),  # never bundled: the bundled helpers below need it
    Library("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    Library("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    Library("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    Library("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    Library("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    Library("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    Library("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    Library("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    Library("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    Library("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
)
#: The Wayland platform plugin.
WAYLAND = (
    Library("libwayland-client.so.0", "libwayland-client0", "libwayland-client"),
    Library("libwayland-cursor.so.0", "libwayland-cursor0", "libwayland-cursor"),
)
PLATFORM_LIBRARIES: dict[str, tuple[Library, ...]] = {"xcb": XCB, "wayland": WAYLAND, "wayland-egl": WAYLAND}

Loader = Callable[[str], str | None]  # soname -> None when it loads, else the loader's error text


def load_library(soname: str) -> str | None:
    """Try to load ``soname`` (the copy inside a PyInstaller bundle when there is one: that is the
    copy Qt loads); the error text or None. A bundled copy's error names the system library it
    lacks, which a second try by name would hide behind "not found"."""
    bundled = getattr(sys, "_MEIPASS", None)
    copy = Path(bundled) / soname if bundled else None
    try:
        ctypes.CDLL(str(copy) if copy is not None and copy.is_file() else soname)
    except OSError as exc:
        # In the bundle PyInstaller's ctypes hook raises "Failed to load dynlib/dll ... not found
        # when the application was frozen" from dlopen's own error, which names the culprit.
        return str(exc.__cause__ or exc) or f"{soname}: not found"
    return None


def candidate_platforms(env: Mapping[str, str]) -> list[str]:
    """The Qt platform plugins Qt may use here: from ``QT_QPA_PLATFORM``, else from the session."""
    wanted = env.get("QT_QPA_PLATFORM", "").strip()
    if wanted:
        # "wayland;xcb" is a fallback list; "xcb:option=value" carries options after the colon.
        return [item.split(":", 1)[0].strip() for item in wanted.split(";") if item.strip()]
    found = []
    if env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland":
        found.append("wayland")
    if env.get("DISPLAY"):
        found.append("xcb")
    return found


def missing_libraries(platform: str, loader: Loader = load_library) -> list[tuple[Library, str]]:
    """The libraries of ``platform`` (plus the base ones) that do not load, with the reason."""
    missing = []
    for lib in (*BASE, *PLATFORM_LIBRARIES.get(platform, ())):
        error = loader(lib.soname)
        if error is not None:
            missing.append((lib, error))
    return missing


DisplayCheck = Callable[[str, Mapping[str, str]], str | None]  # (platform, env) -> None or a message


def display_error(platform: str, env: Mapping[str, str]) -> str | None:
    """None when the display of ``platform`` answers, else why not (``xcb``: the X server that
    ``DISPLAY`` names; ``wayland``: the compositor's socket).

    Qt aborts (SIGABRT, "xcb-cursor0 is needed ... Reinstalling the application may fix this")
    when DISPLAY is set but no X server takes the connection: a stale DISPLAY over ssh, under
    sudo, or with no X running. libxcb's own connect is what Qt's xcb plugin does first.
    """
    if platform in ("wayland", "wayland-egl"):
        return _wayland_error(env)
    if platform != "xcb":
        return None
    display = env.get("DISPLAY", "")
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None  # missing_libraries reports it
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    error = int(xcb.xcb_connection_has_error(connection))
    xcb.xcb_disconnect(connection)  # also frees the error object xcb returns on failure
    if error == 0:
        return None
    return (f"The graphical wizard cannot open the X display {display!r} (DISPLAY): no X server accepts "
            f"the connection there (libxcb error {error}).\n"
            "Over ssh, connect with 'ssh -X' (or -Y); check DISPLAY and XAUTHORITY (e.g. under sudo); or,\n"
            "on a machine without a screen, use the headless commands, e.g.\n"
            "  sharegpt4v-setup run --root /data/sharegpt4v --preset sft --yes\n"
            "(see sharegpt4v-setup --help).")


def _wayland_error(env: Mapping[str, str]) -> str | None:
    """None when a Wayland compositor listens where WAYLAND_DISPLAY says (libwayland's rule: a
    name relative to XDG_RUNTIME_DIR), else why not; Qt's wayland plugin aborts there too."""
    if env.get("WAYLAND_SOCKET"):
        return None  # an inherited connection: nothing to look for
    name = env.get("WAYLAND_DISPLAY") or "wayland-0"
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if not name.startswith("/") and not runtime:
        reason = "XDG_RUNTIME_DIR is not set"
    else:
        path = name if name.startswith("/") else os.path.join(runtime, name)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(path)
            except OSError as exc:
                reason = f"{path}: {exc.strerror or exc}"
            else:
                return None
    return (f"The graphical wizard cannot reach the Wayland display {name!r} (WAYLAND_DISPLAY): {reason}.\n"
            "Run it inside the desktop session (or unset WAYLAND_DISPLAY to use X11); on a machine\n"
            "without a screen use the headless commands, e.g.\n"
            "  sharegpt4v-setup run --root /data/sharegpt4v --preset sft --yes\n"
            "(see sharegpt4v-setup --help).")


def check_gui(env: Mapping[str, str] | None = None, loader: Loader = load_library,
              system: str = sys.platform, display: DisplayCheck = display_error) -> str | None:
    """None when Qt can start a window here; otherwise a message saying what to install (or that
    the display does not answer).

    On Linux only (the Windows and macOS builds carry everything they need).
    """
    if not system.startswith("linux"):
        return None
    env = os.environ if env is None else env
    platforms = candidate_platforms(env)
    if not platforms:
        return ("No graphical display was found (neither DISPLAY nor WAYLAND_DISPLAY is set).\n"
                "On a server without a screen use the headless commands, e.g.\n"
                "  sharegpt4v-setup run --root /data/sharegpt4v --preset sft --yes\n"
                "(see sharegpt4v-setup --help), or set QT_QPA_PLATFORM to choose a Qt platform plugin.")
    problems: dict[str, str] = {}
    for platform in platforms:
        missing = missing_libraries(platform, loader)
        problem = format_missing(missing, platform) if missing else display(platform, env)
        if problem is None:
            return None  # Qt falls back along the list: one usable platform is enough
        problems[platform] = problem
    # Report the problem of the platform Qt tries first.
    return problems[platforms[0]]


def format_missing(missing: Sequence[tuple[Library, str]], platform: str) -> str:
    """The message for missing libraries: what is missing and the install commands."""
    lines = [f"The graphical wizard cannot start: these system libraries are missing "
             f"(Qt platform '{platform}'):"]
    to_install = []
    for lib, error in missing:
        # A library that only fails for another missing one of the list (a bundled libxcb-cursor
        # without the system's libxcb.so.1) needs that one installed, not its own package.
        culprit = error.split(":", 1)[0]  # dlopen names the library it could not load first
        cause = next((other.soname for other, _ in missing if other is not lib
                      and (culprit == other.soname or culprit.endswith(f"/{other.soname}"))), None)
        if cause is not None:
            lines.append(f"  {lib.soname} (needs {cause})")
            continue
        to_install.append(lib)
        # The loader's text only adds something when another library (a dependency) is the culprit.
        lines.append(f"  {lib.soname}" if not error or lib.soname in error else f"  {lib.soname} ({error})")
    debian = " ".join(dict.fromkeys(lib.debian for lib in to_install))
    fedora = " ".join(dict.fromkeys(lib.fedora for lib in to_install))
    lines += ["Install them with:",
              f"  Debian/Ubuntu:  sudo apt install {debian}",
              f"  Fedora/RHEL:    sudo dnf install {fedora}",
              "The headless commands (sharegpt4v-setup run/plan/status/verify/repair) work without them."]
    return "\n".join(lines)


def report(message: str) -> None:
    """Print ``message`` to stderr and, when nobody reads stderr, try a desktop dialog too."""
    stream = sys.stderr
    if stream is not None:
        print(message, file=stream)
    interactive = stream is not None and hasattr(stream, "isatty") and stream.isatty()
    if interactive or (not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        return
    import shutil  # only on this path: check_gui() runs before every window opens
    import subprocess

    for tool, args in (("zenity", ["--error", "--no-markup", "--text"]), ("kdialog", ["--error"]),
                       ("xmessage", ["-center"])):
        path = shutil.which(tool)
        if path is None:
            continue
        try:
            subprocess.run([path, *args, message], timeout=600, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            continue
        return
