# Shared helpers of the HTTP load scripts (sourced, not run): a server on loopback, wrk over a
# file of request paths, and the summary line each run prints. Needs wrk and curl.

require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || {
            echo "error: $tool not found (apt-get install -y $tool)" >&2
            exit 1
        }
    done
}

# A wrk script: each request GETs a uniformly random line of $PATHS_FILE; at the end one
# "RESULT ..." line (write_result_lua).
write_random_paths_lua() {
    cat >"$1" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do
  paths[#paths + 1] = line
end
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
LUA
    write_result_lua "$1"
}

# Appends to a wrk script the done() that prints one "RESULT ..." line: throughput, latency
# percentiles and errors, which run_wrk picks up.
write_result_lua() {
    cat >>"$1" <<'LUA'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.1f req_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f " ..
    "p99.9_ms=%.2f max_ms=%.2f socket_errors=%d non_2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
}

server_pid=""

# start_server PORT LOGFILE ARGS...: runs `$CREDENCE_BIN serve ARGS` (default
# target/release/credence; another build, for side-by-side runs) on 127.0.0.1:PORT and waits
# for /health (30 s at most). Returns 1, with the server's log on stderr, if the server exits
# instead.
start_server() {
    local port="$1" log="$2"
    shift 2
    RUST_LOG=warn "${CREDENCE_BIN:-target/release/credence}" serve --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        kill -0 "$server_pid" 2>/dev/null || {
            server_pid=""
            cat "$log" >&2
            return 1
        }
        sleep 0.1
    done
    echo "error: the server did not answer /health within 30 s" >&2
    exit 1
}

stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}

# run_wrk URL PATHS_FILE LUA THREADS CONNECTIONS WARMUP DURATION: a warm-up run, then the
# measured run with latency percentiles; prints wrk's output and sets $result to the RESULT
# fields plus the server's CPU seconds and storage reads (MiB) during the measured run.
run_wrk() {
    local url="$1" paths="$2" lua="$3" threads="$4" c="$5" warmup="$6" duration="$7"
    PATHS_FILE="$paths" wrk -t"$threads" -c"$c" -d"$warmup" -s "$lua" "$url" >/dev/null
    local ticks_before ticks_after disk_before disk_after out
    ticks_before=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    disk_before=$(awk '/^read_bytes/ {print $2}' "/proc/$server_pid/io")
    out="$(PATHS_FILE="$paths" wrk -t"$threads" -c"$c" -d"$duration" --latency -s "$lua" "$url")"
    ticks_after=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    disk_after=$(awk '/^read_bytes/ {print $2}' "/proc/$server_pid/io")
    echo "$out"
    result="$(grep '^RESULT' <<<"$out" | cut -d' ' -f2-) server_cpu_s=$(awk \
        -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}')"
    result+=" server_disk_read_mib=$(((disk_after - disk_before) >> 20))"
}
