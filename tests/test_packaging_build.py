"""The packaging, fast: install.sh/uninstall.sh into a temporary HOME with a fake bundle, the
version strings across pyproject/spec/.iss, the start-up library check and the spec's helpers.

The real PyInstaller build is too slow for the suite (about 25 s); ``.ci/run`` builds it and
smoke-runs ``--version`` and ``--self-test`` on the result.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from helpers import require_tool

from wizard import __version__, syslibs

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
APP = "sharegpt4v-setup"
FAKE_APP = f"""#!/bin/sh
if [ "$1" = --version ]; then echo "{APP} {__version__} (fake bundle)"; else echo "args: $*"; fi
"""


def load(name: str) -> ModuleType:
    """A module of packaging/ (not a package: PyInstaller runs these files by path)."""
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) + ("/" if p.is_dir() and not p.is_symlink() else "") for p in root.rglob("*")}


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An unpacked release archive whose bundle is a small fake application."""
    top = tmp_path / f"{APP}-{__version__}-linux-x86_64"
    bundle = top / APP
    (bundle / "_internal" / "resources").mkdir(parents=True)
    (bundle / APP).write_text(FAKE_APP)
    (bundle / APP).chmod(0o755)
    (bundle / "_internal" / "resources" / "catalog.toml").write_text("schema = 1\n")
    (bundle / "_internal" / "libfake.so.1").write_bytes(b"\x7fELF fake")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(PACKAGING / "linux" / script, top / script)
    shutil.copy2(PACKAGING / "linux" / f"{APP}.desktop", top / f"{APP}.desktop")
    shutil.copy2(ROOT / "resources" / "icons" / f"{APP}.png", top / f"{APP}.png")
    return top


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with something of the user's in every folder the installer touches."""
    home = tmp_path / "home dir"  # a space: the desktop entry must quote the path
    for folder in (".local/bin", ".local/share/applications"):
        (home / folder).mkdir(parents=True)
    (home / ".local/bin/other-tool").write_text("#!/bin/sh\n")
    (home / ".local/share/applications/other.desktop").write_text("[Desktop Entry]\n")
    return home


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(home: Path) -> Run:
    def run(*cmd: str | Path, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
        environ.update(HOME=str(home), PATH=f"{home}/.local/bin:{os.environ['PATH']}")
        environ.update(env)
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=environ, timeout=60)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    return run


def test_install_then_uninstall_leaves_home_as_it_was(archive: Path, home: Path, run: Run) -> None:
    before = tree(home)
    out = run("bash", archive / "install.sh").stdout
    data = home / ".local/share"
    app_dir = data / APP
    launcher = home / ".local/bin" / APP
    desktop = data / "applications" / f"{APP}.desktop"
    icon = data / "icons/hicolor/256x256/apps" / f"{APP}.png"
    assert f"Installed sharegpt4v-setup in {app_dir}" in out
    assert (app_dir / APP).is_file() and (app_dir / "_internal/resources/catalog.toml").is_file()
    assert launcher.is_symlink() and launcher.resolve() == (app_dir / APP).resolve()
    assert icon.read_bytes() == (archive / f"{APP}.png").read_bytes()
    assert (app_dir / "uninstall.sh").is_file()

    # The launcher works from PATH, and the desktop entry runs it by its absolute path.
    assert run(APP, "--version").stdout.strip() == f"{APP} {__version__} (fake bundle)"
    entry = desktop.read_text()
    assert f'Exec="{launcher}"\n' in entry and f'Exec="{launcher}" --demo\n' in entry
    assert f"TryExec={launcher}\n" in entry and "Icon=sharegpt4v-setup\n" in entry
    if shutil.which("desktop-file-validate"):
        run("desktop-file-validate", desktop)

    manifest = (app_dir / "install-manifest.txt").read_text().splitlines()
    assert f"f {launcher}" in manifest and f"f {desktop}" in manifest and f"f {icon}" in manifest
    assert f"d {app_dir}" in manifest and f"d {data / 'icons'}" in manifest
    assert f"d {home / '.local/bin'}" not in manifest, "folders that existed are not ours"

    run("bash", app_dir / "uninstall.sh")
    assert tree(home) == before


def test_reinstall_replaces_and_xdg_data_home_is_honoured(archive: Path, home: Path, run: Run,
                                                          tmp_path: Path) -> None:
    data = tmp_path / "xdg data"
    before = tree(home)
    run("bash", archive / "install.sh", XDG_DATA_HOME=str(data))
    (archive / APP / "_internal" / "libfake.so.1").unlink()  # the new version has one file less
    (archive / APP / "_internal" / "new.txt").write_text("new")
    out = run("bash", archive / "install.sh", XDG_DATA_HOME=str(data)).stdout
    assert "Replacing the installation" in out
    assert not (data / APP / "_internal" / "libfake.so.1").exists()
    assert (data / APP / "_internal" / "new.txt").is_file()
    assert (data / "applications" / f"{APP}.desktop").is_file()
    assert not (home / ".local/share" / APP).exists()
    run("bash", data / APP / "uninstall.sh", XDG_DATA_HOME=str(data))
    assert not data.exists(), "every folder install.sh created is gone again"
    assert tree(home) == before


def test_the_installed_uninstaller_finds_its_installation_without_xdg_data_home(archive: Path, home: Path,
                                                                                run: Run, tmp_path: Path) -> None:
    """Installed with XDG_DATA_HOME set (a desktop session's profile), removed from a shell without it:
    the uninstall.sh inside the installation knows where it is."""
    data = tmp_path / "xdg data"
    before = tree(home)
    run("bash", archive / "install.sh", XDG_DATA_HOME=str(data))
    out = run("bash", data / APP / "uninstall.sh").stdout  # XDG_DATA_HOME not set
    assert f"from {data / APP}" in out
    assert not data.exists() and tree(home) == before


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_says(archive: Path, home: Path, run: Run,
                                                             tmp_path: Path) -> None:
    """XDG_DATA_HOME=rel (not absolute: invalid per the XDG spec) gave a launcher symlink to
    'rel/sharegpt4v-setup/...', which resolves inside ~/.local/bin: the command was not found."""
    before = tree(home)
    proc = subprocess.run(["bash", str(archive / "install.sh")], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, HOME=str(home), XDG_DATA_HOME="rel"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert run(home / ".local/bin" / APP, "--version").stdout.startswith(f"{APP} {__version__}")
    assert (home / ".local/share/applications" / f"{APP}.desktop").is_file() and not (tmp_path / "rel").exists()
    run("bash", home / ".local/share" / APP / "uninstall.sh", XDG_DATA_HOME="rel")
    assert tree(home) == before


def test_the_scripts_work_when_run_with_sh(archive: Path, home: Path, run: Run) -> None:
    """`sh install.sh` (dash on Debian/Ubuntu) stopped at once: 'set: Illegal option -o pipefail'."""
    before = tree(home)
    assert "Installed sharegpt4v-setup" in run("sh", archive / "install.sh").stdout
    assert run(APP, "--version").stdout.startswith(f"{APP} {__version__}")
    run("sh", home / ".local/share" / APP / "uninstall.sh")
    assert tree(home) == before


def test_sudo_with_the_users_home_is_refused(archive: Path, home: Path, run: Run) -> None:
    """`sudo ./install.sh` where sudo keeps HOME (older Ubuntu, sudo -E): root-owned ~/.local folders
    in the user's home, which the user's own programs can then no longer write to."""
    if os.geteuid() == 0:
        os.chown(home, 65534, 65534)  # the home of another user (nobody)
        target = home
    else:
        target = Path("/")  # a folder this user does not own
    before = tree(target) if target == home else None
    proc = run("bash", archive / "install.sh", check=False, HOME=str(target))
    assert proc.returncode == 1
    assert "belongs to another user" in proc.stderr and "without sudo" in proc.stderr
    if before is not None:
        assert tree(home) == before


def test_reinstall_after_the_folder_was_deleted_by_hand(archive: Path, home: Path, run: Run) -> None:
    """The user removed ~/.local/share/sharegpt4v-setup with rm -rf instead of uninstall.sh: the
    launcher left behind points into that folder, so it is ours, not 'another installation'."""
    run("bash", archive / "install.sh")
    shutil.rmtree(home / ".local/share" / APP)
    run("bash", archive / "install.sh")
    assert run(APP, "--version").stdout.startswith(f"{APP} {__version__}")
    other = home / ".local/bin/other-tool"
    run("bash", home / ".local/share" / APP / "uninstall.sh")
    assert other.is_file() and not (home / ".local/bin" / APP).exists()


def test_a_foreign_launcher_is_kept_unless_forced(archive: Path, home: Path, run: Run) -> None:
    foreign = home / ".local/bin" / APP
    foreign.write_text("#!/bin/sh\necho pip-installed\n")
    proc = run("bash", archive / "install.sh", check=False)
    assert proc.returncode == 1 and "pass --force" in proc.stderr
    assert foreign.read_text().endswith("pip-installed\n")
    assert not (home / ".local/share" / APP).exists()
    run("bash", archive / "install.sh", "--force")
    assert foreign.is_symlink()


def test_uninstall_touches_nothing_outside_what_install_made(archive: Path, home: Path, run: Run,
                                                            tmp_path: Path) -> None:
    run("bash", archive / "install.sh")
    app_dir = home / ".local/share" / APP
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    mine = app_dir / "_internal" / "my-notes.txt"  # put there by the user, not in the manifest
    with (app_dir / "install-manifest.txt").open("a") as fh:
        fh.write(f"f {victim}\nd {tmp_path}\n")
    mine.write_text("mine")
    proc = run("bash", app_dir / "uninstall.sh")
    assert victim.read_text() == "keep me"
    assert "refusing to remove" in proc.stderr
    assert mine.is_file() and f"Kept {app_dir}" in proc.stdout
    assert not (home / ".local/bin" / APP).exists()


def test_a_failed_install_leaves_nothing_behind_and_can_be_retried(archive: Path, home: Path, run: Run,
                                                                   tmp_path: Path) -> None:
    """The disk fills up while the bundle is copied: install.sh must take back what it made (a
    half-copied application folder without a manifest would block every later install)."""
    data = tmp_path / "xdg data"
    before = tree(home)
    tools = tmp_path / "tools"  # a cp that copies part of the bundle, then runs out of space
    tools.mkdir()
    (tools / "cp").write_text('#!/bin/sh\nmkdir -p "$3/_internal"; printf "\\\\177EL" > "$3/_internal/libfake.so.1"\n'
                              'echo "cp: error writing \'$3/_internal/libfake.so.1\': No space left on device" >&2\n'
                              "exit 1\n")
    (tools / "cp").chmod(0o755)
    proc = run("bash", archive / "install.sh", check=False, XDG_DATA_HOME=str(data),
               PATH=f"{tools}:{os.environ['PATH']}")
    assert proc.returncode != 0 and "No space left on device" in proc.stderr
    assert "install.sh: the installation failed" in proc.stderr
    assert not data.exists(), "every folder this run created is removed again"
    assert tree(home) == before
    out = run("bash", archive / "install.sh", XDG_DATA_HOME=str(data)).stdout  # space freed: a retry works
    assert f"Installed sharegpt4v-setup in {data / APP}" in out


@pytest.mark.parametrize("signal_name", ["INT", "TERM", "HUP"])
def test_an_interrupted_install_leaves_nothing_behind(archive: Path, home: Path, run: Run, tmp_path: Path,
                                                      signal_name: str) -> None:
    """Ctrl-C (or a closed terminal, or kill) while the bundle is copied: the same as a failure."""
    data = tmp_path / "xdg data"
    before = tree(home)
    tools = tmp_path / "tools"  # a cp during which the installer gets the signal
    tools.mkdir()
    (tools / "cp").write_text('#!/bin/sh\nmkdir -p "$3/_internal"; printf "\\\\177EL" > "$3/_internal/libfake.so.1"\n'
                              f"kill -{signal_name} $PPID $$\n")  # as Ctrl-C does: the whole foreground group
    (tools / "cp").chmod(0o755)
    proc = run("bash", archive / "install.sh", check=False, XDG_DATA_HOME=str(data),
               PATH=f"{tools}:{os.environ['PATH']}")
    assert proc.returncode != 0 and "install.sh: the installation failed" in proc.stderr
    assert not data.exists() and tree(home) == before
    run("bash", archive / "install.sh", XDG_DATA_HOME=str(data))


def test_an_application_that_cannot_start_there_is_not_installed(archive: Path, home: Path, run: Run,
                                                                  tmp_path: Path) -> None:
    """On a noexec file system (hardened /home, some clusters) the install said 'Installed' and the
    command then failed with a bare 'Permission denied' (exit 126). Here the bundle fails to start
    the way it does on such a mount or with a too old glibc."""
    data = tmp_path / "xdg data"
    (archive / APP / APP).write_text("#!/bin/sh\necho \"$0: Permission denied\" >&2\nexit 126\n")
    before = tree(home)
    proc = run("bash", archive / "install.sh", check=False, XDG_DATA_HOME=str(data))
    assert proc.returncode == 1
    assert f"the application does not start from {data / APP}" in proc.stderr
    assert "Permission denied" in proc.stderr and "noexec" in proc.stderr
    assert not data.exists() and tree(home) == before


def test_the_desktop_entry_for_pip_installs_is_valid() -> None:
    entry = (PACKAGING / "linux" / f"{APP}.desktop").read_text()
    assert "Exec=sharegpt4v-setup\n" in entry and "Icon=sharegpt4v-setup\n" in entry
    require_tool("desktop-file-validate", "desktop-file-utils")
    proc = subprocess.run(["desktop-file-validate", str(PACKAGING / "linux" / f"{APP}.desktop")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_scripts_pass_shellcheck() -> None:
    require_tool("shellcheck", "shellcheck")
    scripts = [PACKAGING / "linux" / "install.sh", PACKAGING / "linux" / "uninstall.sh", PACKAGING / "build.sh",
               PACKAGING / "screenshot-frozen.sh"]
    proc = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


# -- versions ----------------------------------------------------------------------------------
def test_versions_agree_across_pyproject_spec_and_iss() -> None:
    check = load("check_versions")
    assert check.mismatches() == []
    assert check.iss_version() == check.spec_version() == __version__


def test_a_stale_iss_version_is_caught(tmp_path: Path) -> None:
    check = load("check_versions")
    for rel in ("wizard/__init__.py", "pyproject.toml", "packaging/sharegpt4v-setup.spec",
                "packaging/windows/sharegpt4v-setup.iss"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    iss = tmp_path / "packaging/windows/sharegpt4v-setup.iss"
    iss.write_text(iss.read_text().replace(f'"{__version__}"', '"0.0.9"'))
    assert check.mismatches(tmp_path) == [
        f"packaging/windows/sharegpt4v-setup.iss: 0.0.9 (wizard/__init__.py says {__version__})"]


# -- the start-up check of system libraries ------------------------------------------------------
def loader(missing: set[str]) -> Callable[[str], str | None]:
    return lambda soname: f"{soname}: cannot open shared object file" if soname in missing else None


def answers(platform: str, env: object) -> None:
    """A display check for the tests of the libraries alone: every display answers."""


def test_all_libraries_present_means_no_message() -> None:
    assert syslibs.check_gui({"DISPLAY": ":0"}, loader(set()), "linux", answers) is None


def test_missing_egl_names_the_packages() -> None:
    message = syslibs.check_gui({"DISPLAY": ":0"}, loader({"libEGL.so.1"}), "linux", answers)
    assert message is not None
    assert "libEGL.so.1" in message and "sudo apt install libegl1" in message
    assert "sudo dnf install libglvnd-egl" in message and "headless commands" in message


def test_offscreen_needs_no_x11_libraries() -> None:
    missing = loader({"libxcb-cursor.so.0", "libwayland-client.so.0"})
    assert syslibs.check_gui({"QT_QPA_PLATFORM": "offscreen"}, missing, "linux", answers) is None
    message = syslibs.check_gui({"DISPLAY": ":0"}, missing, "linux", answers)
    assert message is not None and "libxcb-cursor0" in message and "xcb-util-cursor" in message


def test_one_usable_platform_is_enough() -> None:
    no_wayland = loader({"libwayland-cursor.so.0"})
    assert syslibs.check_gui({"QT_QPA_PLATFORM": "wayland;xcb"}, no_wayland, "linux", answers) is None
    assert syslibs.check_gui({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, no_wayland, "linux", answers) is None
    message = syslibs.check_gui({"WAYLAND_DISPLAY": "wayland-0"}, no_wayland, "linux", answers)
    assert message is not None and "libwayland-cursor0" in message and "'wayland'" in message


def test_no_display_is_said_plainly_and_other_systems_are_not_checked() -> None:
    message = syslibs.check_gui({}, loader(set()), "linux")
    assert message is not None and message.startswith("No graphical display was found")
    assert syslibs.check_gui({}, loader({"libEGL.so.1"}), "win32") is None


def test_a_broken_dependency_is_shown_with_the_loader_text() -> None:
    def broken(soname: str) -> str | None:
        return "libxcb-util.so.1: cannot open shared object file" if soname == "libxcb-cursor.so.0" else None

    message = syslibs.check_gui({"DISPLAY": ":0"}, broken, "linux", answers)
    assert message is not None and "libxcb-cursor.so.0 (libxcb-util.so.1: cannot open" in message


def test_bundled_x11_helpers_blame_the_system_libxcb_they_need(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle carries libxcb-cursor & co., but they need the system's libxcb.so.1: on a system
    without libxcb1 the message must name libxcb1, not the ten helper packages the bundle already has."""
    bundled = ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-image.so.0",
               "libxcb-render-util.so.0", "libxcb-randr.so.0", "libxcb-shape.so.0", "libxcb-xkb.so.1",
               "libxkbcommon-x11.so.0", "libxkbcommon.so.0"]
    for name in bundled:
        (tmp_path / name).write_bytes(b"\x7fELF")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    absent = {"libxcb.so.1", "libX11-xcb.so.1", *bundled}  # a minimal system: none of these installed

    def dlopen(name: str) -> object:  # what glibc's dlopen says, by path (the bundled copy) or by name
        if name.startswith(str(tmp_path)):
            raise OSError("libxcb.so.1: cannot open shared object file: No such file or directory")
        if name in absent:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        return object()

    monkeypatch.setattr(syslibs.ctypes, "CDLL", dlopen)
    message = syslibs.check_gui({"DISPLAY": ":0"}, system="linux", display=answers)
    assert message is not None
    apt = next(line for line in message.splitlines() if "sudo apt install" in line).split()
    assert "libxcb1" in apt and "libx11-xcb1" in apt
    assert not {"libxcb-cursor0", "libxcb-icccm4", "libxkbcommon-x11-0"} & set(apt), apt
    assert "libxcb-cursor.so.0 (needs libxcb.so.1)" in message


def test_in_the_bundle_the_loader_text_survives_pyinstallers_ctypes_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyInstaller's ctypes hook (PyInstaller/loader/pyimod03_ctypes.py) replaces dlopen's error with
    "Failed to load dynlib/dll ... not found when the application was frozen", chained from the real one."""
    class PyInstallerImportError(OSError):
        pass

    def frozen_cdll(name: str) -> object:
        if name in ("libxcb-cursor.so.0", "libxcb.so.1"):
            try:
                raise OSError("libxcb.so.1: cannot open shared object file: No such file or directory")
            except OSError as base_error:
                raise PyInstallerImportError(f"Failed to load dynlib/dll {name!r}. Most likely this dynlib/dll "
                                             "was not found when the application was frozen.") from base_error
        return object()

    monkeypatch.setattr(syslibs.ctypes, "CDLL", frozen_cdll)
    assert syslibs.load_library("libxcb-cursor.so.0") == ("libxcb.so.1: cannot open shared object file: "
                                                          "No such file or directory")
    message = syslibs.check_gui({"DISPLAY": ":0"}, system="linux", display=answers)
    assert message is not None and "libxcb-cursor.so.0 (needs libxcb.so.1)" in message
    assert "when the application was frozen" not in message


def test_a_display_no_x_server_answers_is_said_instead_of_a_qt_abort() -> None:
    """DISPLAY set, every library there, but nobody listens (a stale DISPLAY over ssh or sudo): Qt
    aborts with "xcb-cursor0 is needed ... Reinstalling the application may fix this problem"."""
    message = syslibs.check_gui({"DISPLAY": ":7391"}, loader(set()), "linux")  # the real libxcb connect
    assert message is not None and message.startswith("The graphical wizard cannot open the X display ':7391'")
    assert "ssh -X" in message and "sharegpt4v-setup run --root" in message
    assert syslibs.display_error("xcb", {"DISPLAY": ":7391"}) == message
    assert syslibs.display_error("offscreen", {}) is None


def test_a_display_that_answers_passes_the_check() -> None:
    xvfb = require_tool("Xvfb", "xvfb")
    read, write = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write), "-nolisten", "tcp"], pass_fds=(write,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as fd:
            number = fd.readline().strip()  # Xvfb writes its display number once it accepts connections
        assert number.isdigit()
        assert syslibs.display_error("xcb", {"DISPLAY": f":{number}"}) is None
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_wayland_display_nobody_listens_on_is_said_instead_of_a_qt_abort() -> None:
    import socket
    import tempfile

    with tempfile.TemporaryDirectory(prefix="wl") as runtime:  # short: a socket path has 108 bytes
        env = {"WAYLAND_DISPLAY": "wayland-7", "XDG_RUNTIME_DIR": runtime}
        message = syslibs.check_gui(env, loader(set()), "linux")
        assert message is not None
        assert message.startswith("The graphical wizard cannot reach the Wayland display 'wayland-7'")
        assert f"{runtime}/wayland-7: " in message and "headless commands" in message
        no_runtime = syslibs.check_gui({"WAYLAND_DISPLAY": "wayland-7"}, loader(set()), "linux")
        assert no_runtime is not None and "XDG_RUNTIME_DIR is not set" in no_runtime
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as compositor:
            compositor.bind(f"{runtime}/wayland-7")
            compositor.listen(1)
            assert syslibs.check_gui(env, loader(set()), "linux") is None


def test_the_real_loader_finds_libc_and_not_a_made_up_library() -> None:
    assert syslibs.load_library("libc.so.6") is None
    assert syslibs.load_library("libdoes-not-exist.so.7") is not None


# -- the frozen entry point and the spec's helpers -----------------------------------------------
def test_entry_knows_which_arguments_open_a_window(capsys: pytest.CaptureFixture[str]) -> None:
    entry = load("entry")
    assert entry.opens_window([]) and entry.opens_window(["--demo"])
    assert not entry.opens_window(["run", "--root", "/tmp/x", "--preset", "sft"])
    assert not entry.opens_window(["--self-test"])
    assert not entry.opens_window(["--version"]) and not entry.opens_window(["--no-such-option"])
    assert capsys.readouterr() == ("", ""), "the trial parse prints nothing"


def test_entry_gives_a_windowed_app_somewhere_to_write(monkeypatch: pytest.MonkeyPatch,
                                                       platformdirs_isolated: Path) -> None:
    entry = load("entry")
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    entry.ensure_streams()
    try:
        assert sys.stdout is not None and sys.stdout is sys.stderr
        print("hello from a windowed build")
        sys.stdout.flush()
        log = Path(sys.stdout.name)
        assert log.name == "sharegpt4v-setup.log" and "hello from a windowed build" in log.read_text()
    finally:
        if sys.stdout is not None:
            sys.stdout.close()


def test_prune_keeps_what_the_modules_need() -> None:
    elfdeps = load("elfdeps")
    qt = Path(importlib.util.find_spec("PySide6").origin).parent  # type: ignore[arg-type,union-attr]
    core = next(qt.glob("QtCore.*so"))
    libs = qt / "Qt" / "lib"
    assert "libQt6Core.so.6" in elfdeps.needed(core)
    binaries = [("PySide6/QtCore.abi3.so", str(core), "BINARY")] + [
        (f"PySide6/Qt/lib/{name}", str(libs / name), "BINARY")
        for name in ("libQt6Core.so.6", "libicuuc.so.73", "libicui18n.so.73", "libicudata.so.73",
                     "libQt6Widgets.so.6", "libQt6Gui.so.6")]
    kept, dropped = elfdeps.prune(binaries)
    assert {Path(dest).name for dest, _, _ in kept} >= {"QtCore.abi3.so", "libQt6Core.so.6", "libicudata.so.73"}
    assert dropped == ["libQt6Gui.so.6", "libQt6Widgets.so.6"]
    assert elfdeps.needed(ROOT / "pyproject.toml") is None
