#!/usr/bin/env bash
# HTTP load test of DID resolution (BENCHMARKS.md): GET /registry/1.0/identifiers/{did} for
# random DIDs of a seeded store, on loopback with keep-alive, with wrk.
#
#   scripts/load.sh                 # 10,000 and 100,000 DIDs of 10 operations each
#   SIZES=1000000 OPS_PER_DID=1 scripts/load.sh   # 1,000,000 DIDs of one operation each
#
# For each size: build (release), seed target/bench-data/did-<N>x<OPS>.db and its .dids.txt
# unless they exist (examples/seed.rs), read the file once (warm page cache), start
# `credence serve` on it, warm up with wrk, run wrk with latency percentiles, stop the server,
# print the results. The server and wrk share the machine.
#
# Environment: SIZES, OPS_PER_DID (10), DURATION (30s), WARMUP (5s), CONNECTIONS ("16 64",
# one wrk run per value), THREADS (2, wrk threads), PORT (18080), SKIP_BUILD (set: use the
# binaries already in target/release). Needs wrk (apt-get install -y wrk) and curl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
read -r -a sizes <<<"${SIZES:-10000 100000}"
ops="${OPS_PER_DID:-10}"
duration="${DURATION:-30s}"
warmup="${WARMUP:-5s}"
read -r -a connections <<<"${CONNECTIONS:-16 64}"
threads="${THREADS:-2}"
port="${PORT:-18080}"
data="${CREDENCE_BENCH_DATA:-$root/target/bench-data}"

for tool in wrk curl; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool not found (apt-get install -y $tool)" >&2
        exit 1
    }
done

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release -p credence --bin credence
    cargo build --release -p credence-registry --example seed
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Each wrk thread loads the DID list and asks for uniformly random DIDs.
cat >"$work/random-did.lua" <<'LUA'
local dids = {}
for line in io.lines(os.getenv("DIDS_FILE")) do
  dids[#dids + 1] = line
end
local prefix = "/registry/1.0/identifiers/"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  return wrk.format("GET", prefix .. dids[math.random(#dids)])
end

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

summary=()
for n in "${sizes[@]}"; do
    db="$data/did-${n}x${ops}.db"
    dids="${db%.db}.dids.txt"
    echo "== $n DIDs x $ops operations: $db"
    target/release/examples/seed --dids "$n" --ops-per-did "$ops" --db "$db"

    # Read the file once so the run starts from a warm OS page cache (this VM's kernel also
    # reclaims idle page cache on its own, so a data set not touched for a while is cold).
    cat "$db" >/dev/null

    # The checkpoint key belongs with the database (the server checks it against the log).
    RUST_LOG=warn target/release/credence serve \
        --database-url "sqlite://$db" \
        --log-key-file "${db%.db}.log-key" \
        --listen "127.0.0.1:$port" \
        >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || {
            cat "$work/server.log" >&2
            exit 1
        }
        sleep 0.1
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$port/registry/1.0/identifiers/$(head -n1 "$dids")"

    for c in "${connections[@]}"; do
        echo "-- $c connections; load before the run: $(uptime)"
        DIDS_FILE="$dids" wrk -t"$threads" -c"$c" -d"$warmup" \
            -s "$work/random-did.lua" "http://127.0.0.1:$port" >/dev/null
        ticks_before=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
        disk_before=$(awk '/^read_bytes/ {print $2}' "/proc/$server_pid/io")
        DIDS_FILE="$dids" wrk -t"$threads" -c"$c" -d"$duration" --latency \
            -s "$work/random-did.lua" "http://127.0.0.1:$port" | tee "$work/wrk.out"
        ticks_after=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
        disk_after=$(awk '/^read_bytes/ {print $2}' "/proc/$server_pid/io")
        server_cpu=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" \
            'BEGIN {printf "%.1f", t / hz}')
        summary+=("$n DIDs x $ops ops, $c conns: $(grep '^RESULT' "$work/wrk.out" | cut -d' ' -f2-) server_cpu_s=$server_cpu server_disk_read_mib=$(((disk_after - disk_before) >> 20))")
    done

    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
done

echo
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, wrk -t$threads -d$duration"
echo "   (server_cpu_s, server_disk_read_mib: the server's CPU time and storage reads during the run)"
printf '%s\n' "${summary[@]}"
