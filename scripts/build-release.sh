#!/usr/bin/env bash
# Builds the release server and site (target/release/tinyobs, target/site).
#
# The WASM bundle is built with a nightly toolchain when one is installed with
# rust-src and the wasm32 target: std is rebuilt for size, a panic aborts at
# once instead of formatting a message (-Cpanic=immediate-abort), and `{:?}`
# formatting and panic locations are compiled out. That makes the bundle about
# 11 % smaller (docs/BENCHMARKS.md). The server itself is always built with the
# default toolchain. Without a usable nightly, or if its build fails, the whole
# build runs on the default toolchain and the bundle is larger.
set -euo pipefail
cd "$(dirname "$0")/.."
nightly="${TINYOBS_WASM_TOOLCHAIN:-nightly}"

has_nightly() {
    rustup component list --toolchain "$nightly" --installed 2>/dev/null | grep '^rust-src' >/dev/null &&
        rustup target list --toolchain "$nightly" --installed 2>/dev/null | grep '^wasm32-unknown-unknown' >/dev/null
}

if has_nightly; then
    default=$(rustup show active-toolchain | cut -d' ' -f1)
    # Target rustflags replace `build.rustflags` from .cargo/config.toml, so
    # the `erase_components` cfg is repeated here.
    if RUSTUP_TOOLCHAIN="$nightly" \
        LEPTOS_BIN_CARGO_COMMAND="cargo +$default" \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--cfg erase_components -Zunstable-options -Cpanic=immediate-abort -Zfmt-debug=none -Zlocation-detail=none" \
        cargo leptos build --release \
        --lib-cargo-args=-Zbuild-std=std,panic_abort; then
        exit 0
    fi
    echo "==> the nightly WASM build failed; building everything on $default" >&2
fi
cargo leptos build --release
