#!/usr/bin/env bash
# Builds the release site and server, then serves on 127.0.0.1:3000 with the embedded SQLite
# database under ./data/. Extra arguments go to `server serve` (for example --listen 0.0.0.0:8080;
# on an address other than loopback no demo data is made unless --demo is given).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/bootstrap.sh run
scripts/build-site.sh release
cargo build --locked -p server --release
exec target/release/server serve --site-root target/site "$@"
