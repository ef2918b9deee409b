#!/usr/bin/env bash
# Calls per second of CreateSession with a user check over each transport ZITADEL's SDKs use:
# @zitadel/client over gRPC (h2c), gRPC-Web, Connect binary (HTTP/2) and Connect JSON
# (HTTP/1.1), and the Python zitadel-client (JSON, one call at a time, as the SDK is
# synchronous), one after the other against one release server on SQLite with the rate limits
# off. One run; prints a table for BENCHMARKS.md.
#
#   scripts/bench-transports.sh [calls per transport, default 3000] [concurrency, default 16]
#   BENCH_PROFILE=debug scripts/bench-transports.sh   (the debug build, when a release build
#                                                     cannot be afforded; slower figures)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
calls="${1:-3000}"
concurrency="${2:-16}"

profile="${BENCH_PROFILE:-release}"
if [ ! -d scripts/connect-client/node_modules/@zitadel/client ] || ! .tools/venv/bin/python -c 'import zitadel_client' 2>/dev/null; then
  scripts/bootstrap.sh test
fi
if [ "$profile" = release ]; then
  cargo build --locked --release -p server
else
  cargo build --locked -p server
fi

dir=$(mktemp -d)
port=$(.tools/venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/config.toml" <<TOML
[rate_limits]
session_api_per_key = { limit = 0, window_secs = 60 }
session_api_per_address = { limit = 0, window_secs = 60 }
TOML
server=target/$profile/server
"$server" --config "$dir/config.toml" --data-dir "$dir/data" serve --listen "127.0.0.1:$port" --demo \
  --site-root "$dir" > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do grep -q "API key" "$dir/server.log" 2>/dev/null && break; sleep 0.2; done
key=$(grep -o 'vst_[A-Za-z0-9_-]*' "$dir/server.log" | head -1)
login=$(sed -n 's/.*login name: \([^ ]*\).*/\1/p' "$dir/server.log" | head -1)
[ -n "$key" ] && [ -n "$login" ] || { echo "bench: the demo data did not appear" >&2; cat "$dir/server.log" >&2; exit 1; }

export VESTIBULE_URL="http://localhost:$port" VESTIBULE_API_KEY="$key" VESTIBULE_LOGIN="$login"
export VESTIBULE_CALLS="$calls" VESTIBULE_CONCURRENCY="$concurrency"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); cores: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$calls calls per transport after a warm-up, $concurrency in flight (Python: 1), SQLite, $profile build"
printf '%-42s %10s\n' "transport (client)" "calls/s"
for t in grpc grpc-web connect-binary connect-json; do
  line=$(cd scripts/connect-client && VESTIBULE_TRANSPORT=$t node bench.mjs)
  printf '%-42s %10.1f\n' "$t (@zitadel/client 1.3.1)" "$(echo "$line" | .tools/venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["perSecond"])')"
done
py=$(.tools/venv/bin/python -W ignore - <<'PY'
import os, time
import zitadel_client as zc
from zitadel_client import models as m
api = zc.Zitadel.with_access_token(os.environ["VESTIBULE_URL"], os.environ["VESTIBULE_API_KEY"]).sessions
req = m.SessionServiceCreateSessionRequest(checks=m.SessionServiceChecks(
    user=m.SessionServiceCheckUser(login_name=os.environ["VESTIBULE_LOGIN"])))
n = max(200, int(os.environ["VESTIBULE_CALLS"]) // 4)
for _ in range(50):
    api.create_session(req)
start = time.perf_counter()
for _ in range(n):
    api.create_session(req)
print(n / (time.perf_counter() - start))
PY
)
printf '%-42s %10.1f\n' "connect-json (Python zitadel-client 4.1.9)" "$py"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
