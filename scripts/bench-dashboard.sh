#!/usr/bin/env bash
# Dashboard performance figures (issue 3): release WASM bundle size, time to
# the first chart with 50 series x 1,000 points, redraw of a 10,000-point
# chart. Builds the release site, runs a throw-away server on port 3998, and
# drives Debian's Chromium with end2end/bench/dashboard.js.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test >/dev/null
scripts/setup.sh build >/dev/null
scripts/build-release.sh >/dev/null 2>&1

echo "| file | bytes | gzip -9 bytes |"
echo "|---|---|---|"
total=0
for f in target/site/pkg/tinyobs.wasm target/site/pkg/tinyobs.js target/site/pkg/tinyobs.css; do
  raw=$(stat -c %s "$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  total=$((total + gz))
  echo "| $(basename "$f") | $raw | $gz |"
done
echo "| **all** | | **$total** (target <= 409,600) |"
echo

data=$(mktemp -d)
target/release/tinyobs --listen 127.0.0.1:3998 --data-dir "$data" --site-root target/site \
  --self-metrics-secs 0 >"$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:3998/health >/dev/null && break; sleep 0.2; done
(cd end2end && node bench/dashboard.js http://127.0.0.1:3998)
