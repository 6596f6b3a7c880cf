#!/usr/bin/env bash
# Builds TinyObs (server + dashboard, release) and runs it. Any arguments go to
# the server, e.g. `scripts/run.sh --listen 0.0.0.0:8080 --data-dir /srv/tinyobs`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
scripts/build-release.sh
exec target/release/tinyobs "$@"
