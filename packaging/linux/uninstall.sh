#!/usr/bin/env bash
# Remove what install.sh installed for the current user — exactly the paths in its manifest
# (${XDG_DATA_HOME:-~/.local/share}/sharegpt4v-setup/install-manifest.txt), nothing else.
#
#   ~/.local/share/sharegpt4v-setup/uninstall.sh [--quiet]
#
# Folders are removed only when they are empty. Your data roots, settings
# (~/.config/sharegpt4v-setup) and logs (~/.local/state/sharegpt4v-setup) are left alone.
# `sh uninstall.sh` runs this with dash: go on in bash (this line is plain POSIX sh).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

APP=sharegpt4v-setup
QUIET=0
for arg in "$@"; do
  case "$arg" in
    --quiet|-q) QUIET=1 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

DATA=${XDG_DATA_HOME:-$HOME/.local/share}
case "$DATA" in /*) ;; *) DATA=$HOME/.local/share ;; esac  # a relative XDG_DATA_HOME is invalid (XDG spec)
# When XDG_DATA_HOME is not what it was at install time, the copy inside an installation still
# removes that installation.
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -f "$DATA/$APP/install-manifest.txt" ] && [ "$(basename "$SELF_DIR")" = "$APP" ] \
   && [ -f "$SELF_DIR/install-manifest.txt" ]; then
  DATA=$(dirname "$SELF_DIR")
fi
APP_DIR=$DATA/$APP
MANIFEST=$APP_DIR/install-manifest.txt
# Everything the manifest may name; anything else in it is refused (a damaged or foreign file).
ALLOWED_FILES=("$HOME/.local/bin/$APP" "$DATA/applications/$APP.desktop" "$DATA/icons/hicolor/256x256/apps/$APP.png")

say() { [ "$QUIET" = 1 ] || echo "$@"; }

if [ ! -f "$MANIFEST" ]; then
  echo "uninstall.sh: nothing to do: $MANIFEST not found (not installed by install.sh?)" >&2
  exit 1
fi

allowed_file() {
  local path=$1 known
  case "$path" in "$APP_DIR"/*) return 0 ;; esac
  for known in "${ALLOWED_FILES[@]}"; do [ "$path" = "$known" ] && return 0; done
  return 1
}
allowed_dir() {  # the app folder, its subfolders, or a folder on the way to an allowed file
  local path=$1 known
  case "$path/" in "$APP_DIR"/*) return 0 ;; esac
  for known in "${ALLOWED_FILES[@]}"; do
    case "$known" in "$path"/*) return 0 ;; esac
  done
  return 1
}

files=() dirs=()
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    "f "*) files+=("${line#f }") ;;
    "d "*) dirs+=("${line#d }") ;;
    ""|"#"*) ;;
    *) echo "uninstall.sh: skipping a line it does not understand: $line" >&2 ;;
  esac
done < "$MANIFEST"

removed=0
for path in "${files[@]}"; do
  if ! allowed_file "$path"; then
    echo "uninstall.sh: refusing to remove $path (outside what install.sh creates)" >&2
    continue
  fi
  if [ -L "$path" ] || [ -f "$path" ]; then
    rm -f -- "$path"
    removed=$((removed + 1))
  fi
done
rm -f -- "$MANIFEST"

# Deepest folders first; only empty ones go.
kept=()
while IFS= read -r dir; do
  [ -n "$dir" ] || continue
  if ! allowed_dir "$dir"; then
    echo "uninstall.sh: refusing to remove folder $dir (outside what install.sh creates)" >&2
    continue
  fi
  if [ -d "$dir" ] && ! rmdir -- "$dir" 2>/dev/null; then
    kept+=("$dir")
  fi
done < <(printf '%s\n' "${dirs[@]}" | awk '{ print length($0) "\t" $0 }' | LC_ALL=C sort -rn -k1,1 | cut -f2-)

say "Removed sharegpt4v-setup ($removed files) from $APP_DIR."
for dir in "${kept[@]}"; do
  say "Kept $dir: it holds files install.sh did not put there."
done
