#!/usr/bin/env bash
# Build the Linux one-folder bundle and its release archive with the project's venv.
#
#   packaging/build.sh            -> dist/sharegpt4v-setup/sharegpt4v-setup
#                                    dist/sharegpt4v-setup-<version>-linux-<arch>.tar.gz
#
# Needs the venv that `./dev.sh test` (or `./dev.sh app`) sets up; installs the pinned
# PyInstaller into it when missing. Environment: PYTHON (default .venv/bin/python).
# The archive holds the bundle, install.sh, uninstall.sh, the desktop entry and the icon.
set -euo pipefail
cd "$(dirname "$0")/.."

PYINSTALLER_VERSION=6.22.3  # keep in step with the "packaging" extra in pyproject.toml
APP=sharegpt4v-setup
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || { echo "build.sh: $PY not found; run ./dev.sh test first (it creates the venv)" >&2; exit 1; }

start=$(date +%s)
"$PY" packaging/check_versions.py
VERSION=$("$PY" -c 'import re,pathlib; print(re.search(r"^__version__ = \"([^\"]+)\"", pathlib.Path("wizard/__init__.py").read_text(), re.M).group(1))')
ARCH=$(uname -m)

if [ "$("$PY" -m PyInstaller --version 2>/dev/null || true)" != "$PYINSTALLER_VERSION" ]; then
  echo "Installing PyInstaller $PYINSTALLER_VERSION into the venv"
  "$PY" -m pip install -q "pyinstaller==$PYINSTALLER_VERSION"
fi

rm -rf "dist/$APP" build/pyinstaller build/third-party
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
  "packaging/$APP.spec"

"$PY" packaging/check_bundle.py "dist/$APP"
"dist/$APP/$APP" --version

# The release archive: unpack, then ./install.sh (or run sharegpt4v-setup/sharegpt4v-setup in place).
name="$APP-$VERSION-linux-$ARCH"
stage="build/archive/$name"
rm -rf build/archive
mkdir -p "$stage"
cp -a "dist/$APP" "$stage/$APP"
install -m 755 packaging/linux/install.sh packaging/linux/uninstall.sh "$stage/"
install -m 644 "packaging/linux/$APP.desktop" "$stage/"
install -m 644 "resources/icons/$APP.png" "$stage/"
cat > "$stage/README.txt" <<EOF
sharegpt4v-setup $VERSION for Linux ($ARCH)

  ./install.sh                      install for this user (see its header for what it creates)
  ~/.local/share/$APP/uninstall.sh  remove it again
  ./$APP/$APP                       or run it in place, without installing

Headless use: $APP run --root /data/sharegpt4v --preset sft --yes   ($APP --help)
Check an installation: $APP --self-test
The wizard needs: libegl1 libgl1 libxkbcommon0 libfontconfig1 libfreetype6 libglib2.0-0 libdbus-1-3
and for X11 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
libxcb-randr0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 (Debian/Ubuntu package names).
Licenses: $APP/_internal/resources/licenses/
EOF
tar -C build/archive --owner=0 --group=0 --numeric-owner -czf "dist/$name.tar.gz" "$name"

echo "Bundle:  dist/$APP/ ($(du -sh "dist/$APP" | cut -f1) unpacked)"
echo "Archive: dist/$name.tar.gz ($(du -h "dist/$name.tar.gz" | cut -f1))"
echo "Built in $(( $(date +%s) - start )) s"
