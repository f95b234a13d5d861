#!/usr/bin/env bash
# HTTP load test of the issuer (issue 11, BENCHMARKS.md "Issuer (issue 11), session 5"):
# `POST /issuer/tenants/{t}/credentials` (a dc+sd-jwt with 8 selectively disclosable claims,
# revocation and suspension status) on the all-in-one release binary `credence serve` over
# SQLite, with wrk on loopback, keep-alive, on the same cores as the server.
#
#   BIN=target/release/credence scripts/issuer-load.sh
#
# Builds nothing. In a temporary directory: starts the server once to create the trust anchor's
# DID, restarts it with that anchor, publishes a schema with the anchor's key, creates a tenant
# (`credence issuer tenant create`), accredits its DID for the schema's vct, registers the type
# (`credence issuer type add`), checks one issuance, then for each connection count runs a wrk
# warm-up and a measured run and prints rate and latency percentiles. With `burst` in PARTS it
# then runs scripts/revocation-burst.sh against the same server and tenant.
#
# Environment: BIN (target/release/credence), CONNECTIONS ("16 64"), DURATION (30s), WARMUP
# (5s), THREADS (2, wrk threads), PORT (18090), PARTS ("load burst"), BURST (10000, for the
# burst), DATA_DIR (a fresh temporary directory; kept when given). Needs wrk, curl, python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
BIN="$(realpath "${BIN:-$root/target/release/credence}")"
read -r -a connections <<<"${CONNECTIONS:-16 64}"
duration="${DURATION:-30s}"
warmup="${WARMUP:-5s}"
threads="${THREADS:-2}"
port="${PORT:-18090}"
read -r -a parts <<<"${PARTS:-load burst}"

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
require_tools wrk curl python3
[[ -x "$BIN" ]] || {
    echo "error: $BIN is not an executable (build it: cargo build --release --bin credence)" >&2
    exit 1
}
export CREDENCE_BIN="$BIN"

if [[ -n "${DATA_DIR:-}" ]]; then
    work="$DATA_DIR"
    mkdir -p "$work"
    trap 'stop_server' EXIT
else
    mkdir -p "${TMPDIR_BENCH:-$root/target}"
    work="$(mktemp -d -p "${TMPDIR_BENCH:-$root/target}" issuer-load.XXXXXX)"
    trap 'stop_server; rm -rf "$work"' EXIT
fi
base="http://127.0.0.1:$port"
export CREDENCE_REGISTRY="$base/registry" CREDENCE_ISSUER="$base/issuer"
export CREDENCE_LOG_STATE="$work/log-state" HOME="$work"
export CREDENCE_ADMIN_TOKEN
CREDENCE_ADMIN_TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
serve_args=(--data-dir "$work/data" --issuer-data-dir "$work/data/issuer")

echo "== setup in $work ($BIN)"
start_server "$port" "$work/server.log" "${serve_args[@]}"
anchor="$("$BIN" did create --keys "$work/anchor-keys")"
stop_server
start_server "$port" "$work/server.log" "${serve_args[@]}" --trust-anchor "$anchor"

vct="https://credence.example/vct/bench-pid"
python3 - "$vct" >"$work/schema.json" <<'PY'
import json, sys
s = {"type": "string", "minLength": 1}
print(json.dumps({
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Bench person identification",
        "type": "object",
        "properties": {
            "given_name": s, "family_name": s, "email": s,
            "birthdate": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            "address": {"type": "object", "properties": {
                "street_address": s, "locality": s, "country": s}},
            "nationalities": {"type": "array", "items": {"type": "string"}},
            "degree": {"type": "object"},
        },
        "required": ["given_name", "family_name", "birthdate"],
    },
    "typeMetadata": {"vct": sys.argv[1], "display": [{"lang": "en", "name": "Bench PID"}]},
}))
PY
schema_id="$("$BIN" schema publish --keys "$work/anchor-keys" "$work/schema.json")"
tenant_json="$("$BIN" issuer tenant create bench --name "Bench agency")"
tenant_did="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["did"])' "$tenant_json")"
export CREDENCE_TENANT=bench CREDENCE_TOKEN
CREDENCE_TOKEN="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$tenant_json")"
"$BIN" trust accredit --keys "$work/anchor-keys" "$tenant_did" --type "$vct" \
    --until 2099-01-01T00:00:00Z >/dev/null
"$BIN" issuer type add pid --schema "$schema_id" --formats dc+sd-jwt \
    --disclosable /given_name,/family_name,/email,/birthdate,/address,/address/street_address,/address/locality,/nationalities/1 \
    --status revocation,suspension >/dev/null

# The request body: the 8-disclosable-claim credential of the criterion bench, bound to one
# holder key (every issuance still differs: its id, salts, decoys and status index).
python3 >"$work/body.json" <<'PY'
import json
print(json.dumps({
    "type": "pid", "formats": ["dc+sd-jwt"],
    "claims": {
        "given_name": "Erika", "family_name": "Mustermann", "email": "erika@example.com",
        "birthdate": "1963-08-12",
        "address": {"street_address": "Heidestraße 17", "locality": "Köln", "country": "DE"},
        "nationalities": ["DE", "FR"], "degree": {"type": "BachelorDegree", "gpa": 3.7},
    },
    "holderJwk": {"kty": "OKP", "crv": "Ed25519",
                  "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
}, ensure_ascii=False))
PY
issue_path="/issuer/tenants/bench/credentials"
# One issuance by hand: the setup works and the answer is a dc+sd-jwt with a status entry.
curl -fsS -H "authorization: Bearer $CREDENCE_TOKEN" -H 'content-type: application/json' \
    --data-binary "@$work/body.json" "$base$issue_path" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
assert answer["credentials"]["dc+sd-jwt"].count("~") >= 9, answer
print("one issuance OK:", answer["id"], "status index", answer["status"]["index"])'

if [[ " ${parts[*]} " == *" load "* ]]; then
    cat >"$work/issue.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("ISSUE_PATH")
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CREDENCE_TOKEN")
LUA
    write_result_lua "$work/issue.lua"
    export BODY_FILE="$work/body.json" ISSUE_PATH="$issue_path"
    touch "$work/paths.txt"
    summary=()
    for c in "${connections[@]}"; do
        echo "-- $c connections; load before the run: $(uptime)"
        run_wrk "$base" "$work/paths.txt" "$work/issue.lua" "$threads" "$c" "$warmup" "$duration"
        summary+=("issue dc+sd-jwt, $c conns: $result")
    done
    counts="$(python3 - "$work/data/issuer/issuer.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(" ".join(f"{t}={db.execute(f'SELECT count(*) FROM {t}').fetchone()[0]}"
               for t in ("issuance_records", "status_entries", "status_lists")))
PY
)"
    echo
    echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, wrk -t$threads -d$duration, server $BIN"
    echo "   (server_cpu_s, server_disk_read_mib: the server's CPU time and storage reads during the run)"
    printf '%s\n' "${summary[@]}"
    echo "issuer store after the runs: $counts"
fi

if [[ " ${parts[*]} " == *" burst "* ]]; then
    echo
    echo "-- revocation burst; load before: $(uptime)"
    scripts/revocation-burst.sh --base "$base" --tenant bench --token "$CREDENCE_TOKEN" \
        --body "$work/body.json" --count "${BURST:-10000}"
fi
