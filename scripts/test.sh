#!/usr/bin/env bash
# Every check and every test: formatting, clippy for the server and the wasm builds, all Rust
# tests (the storage tests on SQLite and PostgreSQL), then Playwright in Chromium against a freshly
# built server on a free port with a fresh database. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$(date +%s)
say() { printf '\n\033[1m==> %s (%ss)\033[0m\n' "$*" "$(( $(date +%s) - started ))"; }

say "bootstrap"
scripts/bootstrap.sh test

say "cargo fmt --check"
cargo fmt --all --check

# Never both features at once: the server build compiles `app` with `ssr`, the wasm build with `hydrate`.
say "clippy: server build"
cargo clippy --locked -p server -p app -p domain -p storage --all-targets -- -D warnings
say "clippy: wasm build"
cargo clippy --locked -p frontend --target wasm32-unknown-unknown -- -D warnings

say "rust tests (SQLite and PostgreSQL)"
export VESTIBULE_TEST_POSTGRES_URL="${VESTIBULE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo test --locked -p domain -p storage -p app -p server

say "build: site (debug) and server"
scripts/build-site.sh debug
cargo build --locked -p server
# The weight test (end2end/tests/weight.spec.ts) measures the release site, served by a second
# server; E2E_REQUIRE_RELEASE makes it fail rather than skip when that build is missing.
say "build: site (release, for the weight test)"
SITE_DIR=target/site-release scripts/build-site.sh release

say "playwright (chromium)"
cd end2end
CI=1 E2E_REQUIRE_RELEASE=1 npx playwright test

say "all tests passed"
