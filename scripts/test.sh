#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (server and wasm sides), unit
# and integration tests, and the end-to-end tests in Chromium.
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

# One closing line for everything that ran.
unit=$(awk '/^test result:/ { sum += $4 } END { print sum + 0 }' "$log/cargo.txt")
e2e=$(sed -n 's/^ *\([0-9]*\) passed (.*/\1/p' "$log/e2e.txt" | tail -1)
echo "tests: $((unit + ${e2e:-0})) passed, 0 failed"
