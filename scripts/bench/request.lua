-- One request shape for wrk, from the environment: BENCH_BODY (JSON; POST when set, else GET),
-- BENCH_AUTH (a bearer token), BENCH_COOKIE, BENCH_DELAY_MS (a pause before each request, for
-- the soak's reduced rate), BENCH_USERS (a body's %USER% becomes bench0, bench1, … round
-- robin, a different start per thread). At the end it prints one line the bench script reads:
--   RESULT <req/s> <p50 ms> <p99 ms> <p99.9 ms> <errors> <requests>
-- where errors are connection errors, timeouts and answers of 400 or more.
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")
local cookie = os.getenv("BENCH_COOKIE")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if auth and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
local users = tonumber(os.getenv("BENCH_USERS") or "0")
if body and users > 0 and string.find(body, "%%USER%%") then
  local bodies = {}
  for i = 0, users - 1 do
    bodies[i + 1] = string.gsub(body, "%%USER%%", "bench" .. i)
  end
  local next_user = math.random(users)
  function request()
    next_user = next_user % users + 1
    return wrk.format(nil, nil, nil, bodies[next_user])
  end
end

if pause > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d\n",
    summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, errors, summary.requests))
end
