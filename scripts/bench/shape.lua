-- wrk script for `make bench`: sends one request shape read from a file.
--
--   BENCH_SHAPE=scripts/bench/shapes/form_post.http wrk -s scripts/bench/shape.lua URL
--
-- A shape file is an HTTP/1.1 request as text: the request line, headers, a blank line and
-- the body (one trailing newline of the file is not part of the body). wrk adds
-- Content-Length. The request is formatted once, so wrk sends it at full speed.
--
-- At the end one machine-readable line is printed:
--   BENCH requests=N duration_us=N rps=F p50_us=N p99_us=N status_4xx5xx=N
--         connect_errors=N read_errors=N write_errors=N timeouts=N

local function load_shape(path)
  local f = assert(io.open(path, "rb"), "cannot open shape file " .. tostring(path))
  local text = f:read("*a")
  f:close()
  local head, body = text:match("^(.-)\n\n(.*)$")
  if not head then head, body = text, "" end
  body = body:gsub("\n$", "", 1)
  local method, path_, version
  local headers = {}
  local first = true
  for line in (head .. "\n"):gmatch("(.-)\n") do
    if first then
      method, path_, version = line:match("^(%S+) (%S+) (%S+)$")
      assert(method, "bad request line in " .. path .. ": " .. line)
      first = false
    elseif line ~= "" then
      local k, v = line:match("^([^:]+):%s*(.-)%s*$")
      assert(k, "bad header line in " .. path .. ": " .. line)
      headers[k] = v
    end
  end
  return method, path_, headers, body
end

local shape_file = os.getenv("BENCH_SHAPE")
assert(shape_file and shape_file ~= "", "set BENCH_SHAPE to a shape file")
local m, p, h, b = load_shape(shape_file)
wrk.method = m
wrk.path = p
for k, v in pairs(h) do wrk.headers[k] = v end
if b ~= "" then wrk.body = b end

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d status_4xx5xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), e.status, e.connect, e.read, e.write, e.timeout))
end
