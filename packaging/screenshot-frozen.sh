#!/usr/bin/env bash
# Screenshot of the BUILT application (dist/sharegpt4v-setup) in a real X11 window under Xvfb:
#
#   packaging/screenshot-frozen.sh [OUT.png]     (default docs/screenshots/10-frozen-app.png)
#
# Needs xvfb (xvfb-run), x11-utils (xwininfo) and imagemagick (import). The app runs with a
# throw-away HOME, opens the offline demo, and its window is captured once it is mapped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/screenshots/10-frozen-app.png}
APP=dist/sharegpt4v-setup/sharegpt4v-setup
[ -x "$APP" ] || { echo "screenshot-frozen.sh: build first (packaging/build.sh)" >&2; exit 1; }
for tool in xvfb-run xwininfo import; do
  command -v "$tool" >/dev/null || { echo "screenshot-frozen.sh: $tool is missing" >&2; exit 1; }
done

if [ -z "${_SHOT_INSIDE_XVFB:-}" ]; then
  exec env _SHOT_INSIDE_XVFB=1 xvfb-run -a -s "-screen 0 1280x900x24" "$0" "$OUT"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
HOME=$scratch XDG_CACHE_HOME=$scratch/cache XDG_CONFIG_HOME=$scratch/config QT_QPA_PLATFORM=xcb \
  "$APP" --demo >"$scratch/app.log" 2>&1 &
pid=$!
wid=""
for _ in $(seq 1 60); do
  wid=$(xwininfo -root -tree 2>/dev/null | awk '/"ShareGPT4V data setup/ { print $1; exit }')
  [ -n "$wid" ] && break
  sleep 0.5
done
if [ -z "$wid" ]; then
  kill "$pid" 2>/dev/null || true
  echo "screenshot-frozen.sh: no wizard window appeared; the app said:" >&2
  cat "$scratch/app.log" >&2
  exit 1
fi
sleep 2  # let it paint
mkdir -p "$(dirname "$OUT")"
import -window "$wid" "$OUT"
kill "$pid"
wait "$pid" 2>/dev/null || true
echo "Saved $OUT"
