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

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
require_tools wrk curl

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release -p credence --bin credence
    cargo build --release -p credence-registry-server --example seed
fi

work="$(mktemp -d)"
trap 'stop_server; rm -rf "$work"' EXIT
write_random_paths_lua "$work/random.lua"

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
    start_server "$port" "$work/server.log" \
        --database-url "sqlite://$db" \
        --log-key-file "${db%.db}.log-key"
    curl -fsS -o /dev/null "http://127.0.0.1:$port/registry/1.0/identifiers/$(head -n1 "$dids")"
    sed 's|^|/registry/1.0/identifiers/|' "$dids" >"$work/paths.txt"

    for c in "${connections[@]}"; do
        echo "-- $c connections; load before the run: $(uptime)"
        run_wrk "http://127.0.0.1:$port" "$work/paths.txt" "$work/random.lua" \
            "$threads" "$c" "$warmup" "$duration"
        summary+=("$n DIDs x $ops ops, $c conns: $result")
    done
    stop_server
done

echo
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, wrk -t$threads -d$duration"
echo "   (server_cpu_s, server_disk_read_mib: the server's CPU time and storage reads during the run)"
printf '%s\n' "${summary[@]}"
