#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (server and wasm sides), unit
# and integration tests, and the end-to-end tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy (server side)"
cargo clippy -p tinyobs -p app --all-targets --features app/ssr -- -D warnings
echo "==> cargo clippy (wasm side)"
cargo clippy -p frontend -p app --target wasm32-unknown-unknown --features app/hydrate -- -D warnings
echo "==> cargo test"
cargo test --workspace --exclude frontend

echo "==> end-to-end (Chromium)"
data_dir=$(mktemp -d)
trap 'rm -rf "$data_dir"' EXIT
TINYOBS_LISTEN=127.0.0.1:3000 TINYOBS_DATA_DIR="$data_dir" cargo leptos end-to-end
echo "all tests passed"
