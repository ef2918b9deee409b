#!/usr/bin/env bash
# Installs what building and testing Vestibule need, from the package registries only.
# Idempotent: each tool is checked (at its exact version where it matters) and installed only
# when missing, so a second run takes seconds.
#
#   scripts/bootstrap.sh run    tools for `make run`  (wasm target, wasm-bindgen, npm deps with wasm-opt)
#   scripts/bootstrap.sh test   the above, plus Chromium and a reachable PostgreSQL
#   scripts/bootstrap.sh bench  wrk and jq for scripts/bench.sh (PostgreSQL as for test, if wanted)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
mode="${1:-test}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

# The HTTP benchmark (scripts/bench.sh) needs only its load generator and jq from Debian.
if [ "$mode" = bench ]; then
  command -v wrk >/dev/null || { say "installing wrk"; apt_install wrk; }
  command -v jq >/dev/null || { say "installing jq"; apt_install jq; }
  command -v curl >/dev/null || apt_install curl
  exit 0
fi

# 1. The wasm target of the Rust toolchain.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# 2. wasm-bindgen CLI at exactly the version Cargo.lock pins for the crate.
wbg_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$wbg_version" ]; then echo "bootstrap: wasm-bindgen is missing from Cargo.lock" >&2; exit 1; fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $wbg_version" ]; then
  say "installing wasm-bindgen-cli $wbg_version (about 3 minutes)"
  # Not --locked: its lockfile names a webpki-roots release the registry mirror does not have.
  cargo install wasm-bindgen-cli --version "$wbg_version" --force
fi

# 3. npm packages of end2end/ from the committed lockfile: Playwright (no browser download)
#    and binaryen, whose wasm-opt the release build uses.
lock_sum=$(sha256sum end2end/package-lock.json | cut -d' ' -f1)
if [ "$(cat end2end/node_modules/.vestibule-lock 2>/dev/null || true)" != "$lock_sum" ]; then
  say "installing end2end npm packages (npm ci)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-fund --no-audit --loglevel=error)
  echo "$lock_sum" > end2end/node_modules/.vestibule-lock
fi

[ "$mode" = test ] || exit 0

# 4. Debian's Chromium for Playwright.
if [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null; then
  say "installing Debian's chromium"
  apt_install chromium
fi

# 5. A real SMTP server for the notifier tests: aiosmtpd from PyPI, in a venv of our own.
aiosmtpd_version=1.4.6
if ! .tools/venv/bin/python -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$aiosmtpd_version')" 2>/dev/null; then
  say "installing aiosmtpd $aiosmtpd_version into .tools/venv"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q --disable-pip-version-check "aiosmtpd==$aiosmtpd_version"
fi
# 5b. The OpenAPI 3.1 validator for server/tests/openapi.rs, in the same venv.
osv_version=0.9.0
if ! .tools/venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('openapi-spec-validator') != '$osv_version')" 2>/dev/null; then
  say "installing openapi-spec-validator $osv_version into .tools/venv"
  [ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q --disable-pip-version-check "openapi-spec-validator==$osv_version"
fi
# `requests` for the seed's Python example (server/tests/python), which the handoff tests run
# (2.34: zitadel-client 4.1 needs requests >= 2.32.4).
requests_version=2.34.2
if ! .tools/venv/bin/python -c "import requests, sys; sys.exit(requests.__version__ != '$requests_version')" 2>/dev/null; then
  say "installing requests $requests_version into .tools/venv"
  .tools/venv/bin/pip install -q --disable-pip-version-check "requests==$requests_version"
fi
# ZITADEL's Python SDK for server/tests/sdk_clients.rs, unmodified from PyPI.
zitadel_client_version=4.1.9
if ! .tools/venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('zitadel-client') != '$zitadel_client_version')" 2>/dev/null; then
  say "installing zitadel-client $zitadel_client_version into .tools/venv"
  .tools/venv/bin/pip install -q --disable-pip-version-check "zitadel-client==$zitadel_client_version" "requests==$requests_version"
fi
# schemathesis for server/tests/schemathesis.rs: property-based requests from /openapi.json.
schemathesis_version=4.32.5
if ! .tools/venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$schemathesis_version')" 2>/dev/null; then
  say "installing schemathesis $schemathesis_version into .tools/venv"
  .tools/venv/bin/pip install -q --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
command -v openssl >/dev/null || apt_install openssl

# 6. The clients the Session API tests drive: connect-es with ZITADEL's published protos, and
#    ZITADEL's TypeScript SDK @zitadel/client (gRPC, gRPC-Web, Connect) for sdk_clients.rs.
npm_ci_stamped() {
  local dir=$1 sum
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$dir/node_modules/.vestibule-lock" 2>/dev/null || true)" != "$sum" ]; then
    say "installing $dir npm packages (npm ci)"
    (cd "$dir" && npm ci --no-fund --no-audit --loglevel=error)
    echo "$sum" > "$dir/node_modules/.vestibule-lock"
  fi
}
npm_ci_stamped scripts/connect-client

# 6. PostgreSQL on 127.0.0.1:5432 with a database `test` (the storage tests always run on it).
pg_url="${VESTIBULE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt_install postgresql
  fi
  cluster=$(ls /etc/postgresql | sort -V | tail -n1)
  hba="/etc/postgresql/$cluster/main/pg_hba.conf"
  if ! grep -q '^# vestibule-test' "$hba"; then
    # Test machines only: let local TCP connections in without a password, as CI machines do.
    as_root sh -c "printf '# vestibule-test\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | cat - '$hba' > '$hba.new' && mv '$hba.new' '$hba'"
  fi
  say "starting PostgreSQL $cluster"
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! psql "$pg_url" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  say "creating the test database"
  if command -v runuser >/dev/null; then
    as_root runuser -u postgres -- psql -qc 'CREATE DATABASE test' || true
  fi
  psql "$pg_url" -Atqc 'SELECT 1' >/dev/null || { echo "bootstrap: PostgreSQL at $pg_url is not reachable" >&2; exit 1; }
fi
