#!/usr/bin/env bash
# Memory soak of a running registry (BENCHMARKS.md, "Memory soak without a metrics scraper"):
# wrk keeps GET /registry/log/key busy on loopback for DURATION while nobody scrapes /metrics,
# and the server's resident set size is sampled every SAMPLE seconds. Before the fix of issue 8
# item 2, every request left its latency sample in the Prometheus recorder until the next
# scrape, so RSS grew by about 19 bytes per request; it must now stay flat.
#
#   scripts/soak.sh
#   DURATION=600 CREDENCE_BIN=/path/to/other/credence scripts/soak.sh   # another build
#
# Environment: DURATION (seconds, 300), SAMPLE (seconds, 10), CONNECTIONS (16), THREADS (2),
# PORT (18083), SKIP_BUILD (set: use target/release/credence or CREDENCE_BIN). Prints one line
# per sample ("t_s requests rss_kib") and a RESULT line. Needs wrk (apt-get install -y wrk) and
# curl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
duration="${DURATION:-300}"
sample="${SAMPLE:-10}"
connections="${CONNECTIONS:-16}"
threads="${THREADS:-2}"
port="${PORT:-18083}"
require_tools wrk curl

if [[ -z "${SKIP_BUILD:-}" && -z "${CREDENCE_BIN:-}" ]]; then
    cargo build --release -p credence --bin credence
fi

work="$(mktemp -d)"
trap 'stop_server; rm -rf "$work"' EXIT
start_server "$port" "$work/server.log" --data-dir "$work/data"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }

url="http://127.0.0.1:$port"
lua="$work/result.lua"
echo 'wrk.path = "/registry/log/key"' >"$lua"
write_result_lua "$lua"
start_rss=$(rss)
wrk -t"$threads" -c"$connections" -d"${duration}s" -s "$lua" "$url" >"$work/wrk.out" &
wrk_pid=$!
echo "t_s rss_kib"
echo "0 $start_rss"
elapsed=0
peak=$start_rss
while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep "$sample"
    elapsed=$((elapsed + sample))
    now=$(rss)
    ((now > peak)) && peak=$now
    echo "$elapsed $now"
done
wait "$wrk_pid"
end_rss=$(rss)
cat "$work/wrk.out"
total=$(grep '^RESULT' "$work/wrk.out" | sed -E 's/.*requests=([0-9]+).*/\1/')
echo "RESULT requests=$total seconds=$duration rss_start_kib=$start_rss rss_end_kib=$end_rss" \
    "rss_peak_kib=$peak bytes_per_request=$(awk -v a="$start_rss" -v b="$end_rss" -v n="$total" \
    'BEGIN {printf "%.2f", (b - a) * 1024 / n}')"
