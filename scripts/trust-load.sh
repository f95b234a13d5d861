#!/usr/bin/env bash
# HTTP load test of the trust registry and status list hosting (BENCHMARKS.md, "Trust registry
# and status lists"), on loopback with keep-alive, with wrk:
#
#   status         GET /registry/status-lists/{key} of a random list (served from memory)
#   authorization  GET /registry/issuers/{did}/authorization?type=T of a random district, whose
#                  answer is a 3-level chain (agency -> ministry -> root anchor)
#
#   scripts/trust-load.sh
#   KINDS=authorization CONNECTIONS=64 scripts/trust-load.sh
#
# Seeds target/bench-data/trust/ once (examples/seed_trust.rs: 1,000 districts, each with a
# 131,072-entry status list), starts `credence serve` on it trusting the seeded anchor, and runs
# wrk for each kind and connection count. The server and wrk share the machine.
#
# Environment: DISTRICTS (1000, used when seeding), KINDS ("status authorization"), DURATION
# (20s), WARMUP (5s), CONNECTIONS ("16 64"), THREADS (2), PORT (18082), SKIP_BUILD (set: use the
# binaries in target/release). Needs wrk (apt-get install -y wrk) and curl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
dir="${CREDENCE_BENCH_DATA:-$root/target/bench-data}/trust"
read -r -a kinds <<<"${KINDS:-status authorization}"
duration="${DURATION:-20s}"
warmup="${WARMUP:-5s}"
read -r -a connections <<<"${CONNECTIONS:-16 64}"
threads="${THREADS:-2}"
port="${PORT:-18082}"
require_tools wrk curl

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release -p credence --bin credence
    cargo build --release -p credence-registry-server --example seed_trust
fi
[[ -f "$dir/registry.db" ]] || target/release/examples/seed_trust --dir "$dir" --districts "${DISTRICTS:-1000}"

work="$(mktemp -d)"
trap 'stop_server; rm -rf "$work"' EXIT
write_random_paths_lua "$work/random.lua"
start_server "$port" "$work/server.log" \
    --database-url "sqlite://$dir/registry.db" \
    --log-key-file "$dir/log-signing.key" \
    --trust-anchor "$(cat "$dir/anchor.txt")"

# One request of each kind, checked, before measuring.
first_auth="$(head -n1 "$dir/authorization-paths.txt")"
curl -fsS "http://127.0.0.1:$port$first_auth" | grep -q '"allowed":true' || {
    echo "error: the seeded district is not authorized: $(curl -sS "http://127.0.0.1:$port$first_auth")" >&2
    exit 1
}
curl -fsS -o /dev/null "http://127.0.0.1:$port$(head -n1 "$dir/status-paths.txt")"

summary=()
for kind in "${kinds[@]}"; do
    for c in "${connections[@]}"; do
        echo "-- $kind, $c connections; load before the run: $(uptime)"
        run_wrk "http://127.0.0.1:$port" "$dir/$kind-paths.txt" "$work/random.lua" \
            "$threads" "$c" "$warmup" "$duration"
        summary+=("$kind, $c conns: $result")
    done
done
stop_server

echo
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(wc -l <"$dir/status-paths.txt") lists / districts, wrk -t$threads -d$duration"
echo "   (server_cpu_s: the server's CPU time during the run)"
printf '%s\n' "${summary[@]}"
