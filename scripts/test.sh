#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (server and wasm sides), unit
# and integration tests, and the end-to-end tests in Chromium, against the
# debug build and again against the release build that scripts/run.sh ships.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy (server side)"
cargo clippy -p tinyobs -p app -p tinyobs-sdk -p tinyobs-example --all-targets --features app/ssr -- -D warnings
echo "==> cargo clippy (wasm side)"
cargo clippy -p frontend -p app --target wasm32-unknown-unknown --features app/hydrate -- -D warnings
log=$(mktemp -d)
data_dir=$(mktemp -d)
trap 'rm -rf "$log" "$data_dir"' EXIT

echo "==> cargo test"
cargo test --workspace --exclude frontend 2>&1 | tee "$log/cargo.txt"

echo "==> end-to-end (Chromium)"
TINYOBS_LISTEN=127.0.0.1:3000 TINYOBS_DATA_DIR="$data_dir" cargo leptos end-to-end 2>&1 | tee "$log/e2e.txt"

# The build `scripts/run.sh` ships (release; the WASM on nightly when there
# is one), under the same end-to-end tests.
echo "==> release build (scripts/build-release.sh), end-to-end against it"
scripts/build-release.sh >"$log/release-build.txt" 2>&1 || {
    tail -n 40 "$log/release-build.txt"
    exit 1
}
release_data=$(mktemp -d)
target/release/tinyobs --listen 127.0.0.1:3002 --data-dir "$release_data" \
    --site-root target/site --self-metrics-secs 0 >"$log/release-server.txt" 2>&1 &
release_server=$!
trap 'kill $release_server 2>/dev/null; rm -rf "$log" "$data_dir" "$release_data"' EXIT
(cd end2end && BASE_URL=http://127.0.0.1:3002 npx playwright test) 2>&1 | tee "$log/e2e-release.txt"

# One closing line for everything that ran.
unit=$(awk '/^test result:/ { sum += $4 } END { print sum + 0 }' "$log/cargo.txt")
e2e=$(sed -n 's/^ *\([0-9]*\) passed (.*/\1/p' "$log/e2e.txt" | tail -1)
e2e_release=$(sed -n 's/^ *\([0-9]*\) passed (.*/\1/p' "$log/e2e-release.txt" | tail -1)
echo "tests: $((unit + ${e2e:-0} + ${e2e_release:-0})) passed, 0 failed"
