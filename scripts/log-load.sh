#!/usr/bin/env bash
# HTTP load test of transparency-log proofs (BENCHMARKS-log.md): GET /registry/log/proof/inclusion
# and /registry/log/proof/consistency for random index/size (from/to) pairs on a 1,000,000-leaf
# SQLite log, on loopback with keep-alive, with wrk. Optionally times `credence audit` of the
# whole log against the same server.
#
#   scripts/log-load.sh                       # inclusion, consistency, mixed; 16 and 64 connections
#   AUDIT=1 scripts/log-load.sh               # then time `credence audit --skip-served-check`
#   KINDS=inclusion CONNECTIONS=64 scripts/log-load.sh
#
# The log is a COPY of target/bench-data/did-100000x10.db (100,000 DIDs x 10 operations, written
# by `cargo run --release -p credence-registry-server --example seed`), made once as
# target/bench-data/log-bench/proofs-1m.db with its own checkpoint key beside it
# (proofs-1m.log-key): serving a log publishes checkpoints into it, and the original must stay as
# the seed wrote it. A copy whose log_checkpoints were signed by another key is refused by the
# server; the script then clears log_checkpoints in the copy (never in the original).
#
# Pairs: inclusion asks index uniform in [0, size) with size uniform in [1, N] (SIZE_MODE=random,
# the default) or size = N (SIZE_MODE=whole); consistency asks from uniform in [1, to] with to
# uniform in [1, N] or to = N. N is the log size read from /log/checkpoint before the runs.
#
# Environment: SOURCE_DB (the seeded database), DB (the copy), KINDS ("inclusion consistency
# mixed"), SIZE_MODE (random|whole), DURATION (20s), WARMUP (5s), CONNECTIONS ("16 64"), THREADS
# (2, wrk threads), PORT (18081), AUDIT (0|1), SKIP_BUILD (set: no cargo build), CREDENCE_BIN
# (the binary to serve and audit with; default target/release/credence). Needs wrk
# (apt-get install -y wrk), curl, sqlite3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="${CREDENCE_BENCH_DATA:-$root/target/bench-data}"
source_db="${SOURCE_DB:-$data/did-100000x10.db}"
db="${DB:-$data/log-bench/proofs-1m.db}"
key="${db%.db}.log-key"
read -r -a kinds <<<"${KINDS:-inclusion consistency mixed}"
size_mode="${SIZE_MODE:-random}"
duration="${DURATION:-20s}"
warmup="${WARMUP:-5s}"
read -r -a connections <<<"${CONNECTIONS:-16 64}"
threads="${THREADS:-2}"
port="${PORT:-18081}"
audit="${AUDIT:-0}"

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
require_tools wrk curl sqlite3

[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release -p credence --bin credence

if [[ ! -f "$db" ]]; then
    [[ -f "$source_db" ]] || {
        echo "error: $source_db is missing; seed it first:" >&2
        echo "  cargo run --release -p credence-registry-server --example seed -- --dids 100000 --ops-per-did 10" >&2
        exit 1
    }
    mkdir -p "$(dirname "$db")"
    echo "copying $source_db to $db (once)"
    cp "$source_db" "$db.partial"
    mv "$db.partial" "$db"
    rm -f "$key"
fi

work="$(mktemp -d)"
trap 'stop_server; rm -rf "$work"' EXIT
serve() {
    start_server "$port" "$work/server.log" --database-url "sqlite://$db" --log-key-file "$key"
}

if ! serve; then
    if grep -q "not signed by this log key" "$work/server.log"; then
        # The copy's checkpoints were signed with another key: only the copy is touched.
        echo "the copy's checkpoints are from another key; clearing log_checkpoints in $db"
        sqlite3 "$db" "DELETE FROM log_checkpoints;"
        serve || exit 1
    else
        exit 1
    fi
fi

base="http://127.0.0.1:$port/registry"
size="$(curl -fsS "$base/log/checkpoint" | sed -n 2p)"
echo "log size $size; checkpoint key $(curl -fsS "$base/log/key")"

cat >"$work/proofs.lua" <<'LUA'
-- Random proof requests. KIND: inclusion | consistency | mixed; SIZE_MODE: random | whole.
local kind = os.getenv("KIND")
local whole = os.getenv("SIZE_MODE") == "whole"
local n = tonumber(os.getenv("LOG_SIZE"))
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

-- Uniform integer in [lo, hi] (math.random(m, n) is limited to 2^31 on LuaJIT; n is 1e6).
local function uniform(lo, hi)
  return lo + math.floor(math.random() * (hi - lo + 1))
end

local function size()
  if whole then return n end
  return uniform(1, n)
end

local function inclusion()
  local s = size()
  return wrk.format("GET", "/registry/log/proof/inclusion?index=" .. uniform(0, s - 1) .. "&size=" .. s)
end

local function consistency()
  local to = size()
  return wrk.format("GET", "/registry/log/proof/consistency?from=" .. uniform(1, to) .. "&to=" .. to)
end

local flip = false
function request()
  if kind == "inclusion" then return inclusion() end
  if kind == "consistency" then return consistency() end
  flip = not flip
  if flip then return inclusion() end
  return consistency()
end
LUA
write_result_lua "$work/proofs.lua"

# One sanity request of each kind: they must answer 200 with a proof.
curl -fsS "$base/log/proof/inclusion?index=12345&size=$size" | head -c 200
echo
curl -fsS "$base/log/proof/consistency?from=12345&to=$size" | head -c 200
echo

summary=()
for kind in "${kinds[@]}"; do
    for c in "${connections[@]}"; do
        echo "-- $kind, $c connections, sizes $size_mode; load before the run: $(uptime)"
        KIND="$kind" SIZE_MODE="$size_mode" LOG_SIZE="$size" run_wrk "http://127.0.0.1:$port" \
            /dev/null "$work/proofs.lua" "$threads" "$c" "$warmup" "$duration"
        summary+=("$kind ($size_mode sizes), $c conns: $result")
    done
done

if [[ "$audit" == 1 ]]; then
    echo "-- credence audit of the whole log; load before the run: $(uptime)"
    audit_out="$work/audit.out"
    start=$(date +%s.%N)
    /usr/bin/time -v "${CREDENCE_BIN:-target/release/credence}" audit --registry "$base" --skip-served-check \
        >"$audit_out" 2>"$work/audit.time" || true
    end=$(date +%s.%N)
    cat "$audit_out"
    grep -E "Elapsed|Maximum resident|User time|System time|Percent of CPU" "$work/audit.time" || true
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
    verified=$(sed -n 's/^entries verified: *\([0-9]*\).*/\1/p' "$audit_out")
    summary+=("audit: ${verified:-?} entries in ${seconds}s = $(awk -v n="${verified:-0}" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}') entries/s; $(grep '^result' "$audit_out" | tr -s ' ')")
fi

stop_server

echo
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, log of $size leaves, wrk -t$threads -d$duration (server_cpu_s: server CPU time during the run)"
printf '%s\n' "${summary[@]}"
