#!/usr/bin/env bash
# Installs what building and testing TinyObs needs, skipping what is already
# there. Usage: scripts/setup.sh [build|test|bench]
#   build: wasm target, cargo-leptos, wasm-bindgen-cli, sass, wasm-opt
#   test:  build + Chromium + the end-to-end npm packages + promtool
#   bench: build + Debian's prometheus and victoria-metrics (the peers)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-build}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
need_root() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        $(need_root) apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $(need_root) apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

rustup target list --installed | grep -q wasm32-unknown-unknown || {
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
}

# cargo-leptos downloads missing tools at run time, which fails offline: put
# sass and wasm-opt (binaryen 132; Debian's 108 breaks the release wasm) on PATH.
command -v sass >/dev/null || { say "npm i -g sass"; npm i -g --silent sass@1.108.2; }
wasm-opt --version 2>/dev/null | grep -q "version 132" || {
    say "npm i -g binaryen@132"
    npm i -g --silent binaryen@132.0.0
}

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly.
wbg_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
wasm-bindgen --version 2>/dev/null | grep -q "$wbg_version" || {
    say "cargo install wasm-bindgen-cli $wbg_version (about 3 min)"
    cargo install -q wasm-bindgen-cli --version "$wbg_version"
}
command -v cargo-leptos >/dev/null || {
    say "cargo install cargo-leptos 0.3.10 (about 12 min, once)"
    cargo install -q cargo-leptos@0.3.10 --locked
}

# A nightly with rust-src makes the release WASM bundle about 11 % smaller
# (scripts/build-release.sh); without one it is built on the default toolchain.
install_nightly() {
    rustup component list --toolchain nightly --installed 2>/dev/null | grep '^rust-src' >/dev/null &&
        rustup target list --toolchain nightly --installed 2>/dev/null | grep '^wasm32-unknown-unknown' >/dev/null &&
        return
    say "rustup toolchain install nightly (rust-src, wasm32 target), for the release WASM"
    rustup toolchain install nightly --profile minimal --component rust-src \
        --target wasm32-unknown-unknown ||
        echo "no nightly toolchain: the release WASM is built on the default one" >&2
}

case "$what" in
test)
    # prometheus: its promtool checks TinyObs's Prometheus HTTP API.
    apt_install chromium chromium-driver prometheus
    [ -d end2end/node_modules/@playwright/test ] || {
        say "npm ci in end2end/"
        (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
    }
    ;;
bench)
    apt_install prometheus victoria-metrics
    install_nightly
    ;;
build) install_nightly ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac
