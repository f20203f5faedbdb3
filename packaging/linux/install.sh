#!/usr/bin/env bash
# Install the sharegpt4v-setup bundle for the current user (no root needed).
#
#   ./install.sh [--force]      run from the unpacked release archive
#
# What it creates (and records, one path a line, in install-manifest.txt so that uninstall.sh
# removes exactly that):
#   ${XDG_DATA_HOME:-~/.local/share}/sharegpt4v-setup/          the application (one folder)
#   ~/.local/bin/sharegpt4v-setup                               a symlink to it (the command)
#   ${XDG_DATA_HOME:-~/.local/share}/applications/sharegpt4v-setup.desktop
#   ${XDG_DATA_HOME:-~/.local/share}/icons/hicolor/256x256/apps/sharegpt4v-setup.png
# plus any of those folders that did not exist yet. Installing again replaces the earlier
# installation (through its manifest). --force also replaces a ~/.local/bin/sharegpt4v-setup
# that is not ours (for example a `pip install --user` of the same command).
#
# The application needs these system libraries (Debian/Ubuntu names): libegl1 libgl1
# libxkbcommon0 libfontconfig1 libfreetype6 libglib2.0-0 libdbus-1-3, and for X11
# libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0
# libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 (Wayland: libwayland-client0 libwayland-cursor0).
# It checks for them when the wizard starts and names what is missing.
# `sh install.sh` runs this with dash: go on in bash (this line is plain POSIX sh).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

APP=sharegpt4v-setup
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

BUNDLE=${SHAREGPT4V_BUNDLE:-$HERE/$APP}
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
case "$DATA" in /*) ;; *) DATA=$HOME/.local/share ;; esac  # a relative XDG_DATA_HOME is invalid (XDG spec)
BIN_DIR=$HOME/.local/bin
APP_DIR=$DATA/$APP
APPS_DIR=$DATA/applications
ICON_DIR=$DATA/icons/hicolor/256x256/apps
LAUNCHER=$BIN_DIR/$APP
DESKTOP=$APPS_DIR/$APP.desktop
ICON=$ICON_DIR/$APP.png
MANIFEST=$APP_DIR/install-manifest.txt

die() { echo "install.sh: $*" >&2; exit 1; }

# An installation for one user goes into that user's home: under `sudo` that keeps HOME it would
# leave root-owned folders there that the user's own programs can no longer write to.
if [ -d "$HOME" ] && [ "$(stat -c %u "$HOME")" != "$(id -u)" ]; then
  die "$HOME belongs to another user: run install.sh as that user, without sudo"
fi
[ -x "$BUNDLE/$APP" ] || die "no application at $BUNDLE/$APP (run this script from the unpacked archive)"
[ -f "$HERE/$APP.desktop" ] || die "missing $HERE/$APP.desktop"
[ -f "$HERE/$APP.png" ] || die "missing $HERE/$APP.png"
[ -f "$HERE/uninstall.sh" ] || die "missing $HERE/uninstall.sh"

# An earlier installation: remove it first, exactly as its manifest says.
if [ -f "$MANIFEST" ]; then
  echo "Replacing the installation in $APP_DIR"
  bash "$HERE/uninstall.sh" --quiet
elif [ -e "$APP_DIR" ] && [ -n "$(ls -A "$APP_DIR" 2>/dev/null)" ]; then
  die "$APP_DIR exists and was not made by this installer; move it away first"
fi
if [ -e "$LAUNCHER" ] || [ -L "$LAUNCHER" ]; then
  # A link into the application folder is ours (that folder was deleted by hand, without uninstall.sh).
  if [ -L "$LAUNCHER" ] && [ "$(readlink "$LAUNCHER")" = "$APP_DIR/$APP" ] && [ ! -f "$MANIFEST" ]; then
    rm -f "$LAUNCHER"
  elif [ "$FORCE" = 1 ]; then
    rm -f "$LAUNCHER"
  else
    die "$LAUNCHER already exists (another installation, e.g. pip --user?); remove it or pass --force"
  fi
fi

# Folders that do not exist yet are created, and recorded so uninstall.sh can remove them again.
created_dirs=()
written=()  # the files outside the application folder this run put in place
# A failure from here on (a full disk, a folder that cannot be created) takes back what this run
# made: a half-copied application folder without a manifest would block every later install.
rollback() {
  local status=$? i
  [ "$status" = 0 ] && return 0
  trap - EXIT
  trap '' INT TERM HUP  # let the clean-up finish
  set +e  # remove all it can
  echo "install.sh: the installation failed; removing what it had put in place" >&2
  # In the application folder, only what the bundle holds (a file of the user's kept there stays).
  rm -f -- "$APP_DIR/uninstall.sh" "$APP_DIR/$APP" "${tmp_desktop:-}" "${tmp_manifest:-}"
  while IFS= read -r -d '' i; do rm -f -- "$APP_DIR/$i"; done < <(cd "$BUNDLE" && find . -mindepth 1 ! -type d -print0)
  while IFS= read -r -d '' i; do rmdir -- "$APP_DIR/$i" 2>/dev/null; done < <(cd "$BUNDLE" && find . -mindepth 1 -depth -type d -print0)
  for i in "${written[@]}"; do rm -f -- "$i"; done
  for ((i = ${#created_dirs[@]} - 1; i >= 0; i--)); do rmdir -- "${created_dirs[i]}" 2>/dev/null; done
  exit "$status"
}
trap rollback EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP  # Ctrl-C, kill, a closed terminal
make_dir() {
  local dir=$1 missing=()
  while [ ! -d "$dir" ]; do
    missing=("$dir" "${missing[@]}")
    dir=$(dirname "$dir")
  done
  for dir in "${missing[@]}"; do
    mkdir "$dir"
    created_dirs+=("$dir")
  done
}
make_dir "$APP_DIR"
make_dir "$BIN_DIR"
make_dir "$APPS_DIR"
make_dir "$ICON_DIR"

# The application folder, then the files outside it.
cp -R "$BUNDLE/." "$APP_DIR/"
# It must start from there: a noexec file system (hardened /home) or a too old glibc stops it.
if ! started=$("$APP_DIR/$APP" --version 2>&1); then
  die "the application does not start from $APP_DIR: ${started:-no output}
(a file system mounted noexec? see: findmnt -T \"$DATA\"; install elsewhere with XDG_DATA_HOME=/other/folder)"
fi
install -m 755 "$HERE/uninstall.sh" "$APP_DIR/uninstall.sh"
written+=("$LAUNCHER")
ln -s "$APP_DIR/$APP" "$LAUNCHER"
written+=("$ICON")
install -m 644 "$HERE/$APP.png" "$ICON"

# The desktop entry runs the launcher by its absolute path: ~/.local/bin is not always on the
# PATH of a graphical session. Inside a quoted Exec argument, " ` $ and \ are escaped.
quoted=$(printf '%s' "$LAUNCHER" | sed -e 's/\\/\\\\\\\\/g' -e 's/["`$]/\\\\&/g')
exec_line="\"$quoted\""
tmp_desktop=$(mktemp)
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    Exec=*) printf 'Exec=%s%s\n' "$exec_line" "${line#Exec="$APP"}" ;;
    TryExec=*) printf 'TryExec=%s\n' "$LAUNCHER" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$HERE/$APP.desktop" > "$tmp_desktop"
written+=("$DESKTOP")
install -m 644 "$tmp_desktop" "$DESKTOP"
rm -f "$tmp_desktop"
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$DESKTOP" || echo "install.sh: warning: desktop-file-validate does not accept $DESKTOP" >&2
fi

# The manifest: files and links first, then the folders this run created (outermost first).
tmp_manifest=$(mktemp)
{
  echo "# sharegpt4v-setup install manifest: written by install.sh, read by uninstall.sh"
  find "$APP_DIR" -mindepth 1 \( -type f -o -type l \) -print | LC_ALL=C sort | sed 's/^/f /'
  printf 'f %s\n' "$LAUNCHER" "$DESKTOP" "$ICON"
  find "$APP_DIR" -mindepth 1 -type d -print | LC_ALL=C sort | sed 's/^/d /'
  for dir in "${created_dirs[@]}"; do printf 'd %s\n' "$dir"; done
} > "$tmp_manifest"
install -m 644 "$tmp_manifest" "$MANIFEST"
rm -f "$tmp_manifest"
trap - EXIT INT TERM HUP

echo "Installed sharegpt4v-setup in $APP_DIR"
echo "  command:       $LAUNCHER"
echo "  menu entry:    $DESKTOP"
echo "  uninstall:     $APP_DIR/uninstall.sh"
case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) echo "Note: $BIN_DIR is not on your PATH; add it (e.g. in ~/.profile) to type 'sharegpt4v-setup'." ;;
esac
