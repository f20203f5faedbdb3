#!/usr/bin/env bash
# One entry point for a fresh machine: sets up what is missing, then runs the app or the tests.
#   ./dev.sh demo [DIR]   offline demo: the wizard (or, with no screen, the headless run) against
#                         a miniature ShareGPT4V world served on 127.0.0.1; DIR is its data root
#                         (default: the wizard's last demo root, else demo-root in the user's cache)
#   ./dev.sh app [ARGS]   the real app (same as the `sharegpt4v-setup` command)
#   ./dev.sh test [ARGS]  the test suite (what CI runs)
#   ./dev.sh build        the Linux bundle and release archive (packaging/build.sh) in dist/
set -euo pipefail
cd "$(dirname "$0")"

SYSTEM_PACKAGES=(python3-venv nginx-light aria2 curl unzip xvfb xauth libegl1 libgl1 libxkbcommon0
  libxkbcommon-x11-0 libfontconfig1 libglib2.0-0 libdbus-1-3 fonts-dejavu-core libxcb-cursor0
  libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0
  libxcb-xkb1 desktop-file-utils fonts-noto-cjk)  # Noto CJK: the Chinese UI and its screenshots

system_setup() {
  command -v dpkg-query >/dev/null || return 0
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "Please install: ${missing[*]}" >&2
  fi
}

python_setup() {
  local py=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
  fi
  if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    touch .venv/.installed
  fi
}

cmd=${1:-demo}
shift || true
[ "$cmd" = build ] && SYSTEM_PACKAGES+=(binutils)  # PyInstaller needs objdump, objcopy and strip
system_setup
python_setup
case "$cmd" in
  demo)
    # Default: demo-root in the user's cache folder (platformdirs), never a fixed path in the shared temp folder.
    dir=${1:-$(.venv/bin/python -c 'from wizard.paths import default_demo_root; print(default_demo_root())')}
    mkdir -p "$dir"
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      exec .venv/bin/sharegpt4v-setup --demo ${1:+--demo-root "$dir"}
    fi
    echo "No screen: running the offline demo headless into $dir"
    exec .venv/bin/sharegpt4v-setup run --demo --root "$dir" --yes
    ;;
  app) exec .venv/bin/sharegpt4v-setup "$@" ;;
  test)
    export QT_QPA_PLATFORM=offscreen
    .venv/bin/ruff check .
    .venv/bin/mypy
    exec .venv/bin/pytest -q "$@"
    ;;
  build) exec packaging/build.sh "$@" ;;
  *) echo "usage: ./dev.sh demo|app|test|build" >&2; exit 2 ;;
esac
