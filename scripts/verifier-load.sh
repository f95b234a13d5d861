#!/usr/bin/env bash
# HTTP load test of the verifier (issue 12, BENCHMARKS.md "Session 6"): `POST
# /verifier/presentations/verify` (W3C VC API) with an SD-JWT VC presentation (8 Disclosures +
# a key-binding JWT over the request's challenge and domain) on the all-in-one release binary
# `credence serve` over SQLite, with wrk on loopback, keep-alive, on the same cores as the server.
#
#   BIN=target/release/credence scripts/verifier-load.sh
#
# Builds nothing. In a temporary directory: starts the server once to create the trust anchor's
# DID, restarts it with that anchor (and `--verifier-allow-private-targets`: the credential's
# status list is this server's own, on loopback), publishes a schema, creates an issuer tenant,
# accredits it for the schema's vct, registers a dc+sd-jwt type with 8 disclosable paths and
# revocation status, and issues one credential bound to a holder key made here (Ed25519; the
# issuer's tenants sign with Ed25519, so this is the EdDSA case). Then for each connection
# count it makes a fresh presentation (every Disclosure, KB-JWT `iat` now: the verifier takes
# key-binding JWTs up to 300 s old), checks one verification by hand (200, `errors` empty), and
# runs a wrk warm-up and a measured run, printing rate and latency percentiles. Every response
# must be 200 (wrk counts others as non_2xx). The server verifies each request through the
# whole pipeline: issuer DID, accreditation, schema and status list come from its caches after
# the first request, as in the criterion bench (verifier/benches/verify.rs).
#
# Environment: BIN (target/release/credence), CONNECTIONS ("16 64"), DURATION (30s), WARMUP
# (5s), THREADS (2, wrk threads), PORT (18090), DATA_DIR (a fresh temporary directory; kept when
# given). Needs wrk, curl, python3 with the `cryptography` package (Debian: python3-cryptography).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
BIN="$(realpath "${BIN:-$root/target/release/credence}")"
read -r -a connections <<<"${CONNECTIONS:-16 64}"
duration="${DURATION:-30s}"
warmup="${WARMUP:-5s}"
threads="${THREADS:-2}"
port="${PORT:-18090}"

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
require_tools wrk curl python3
python3 -c 'import cryptography' 2>/dev/null || {
    echo "error: python3's cryptography package is missing (apt-get install -y python3-cryptography)" >&2
    exit 1
}
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
    work="$(mktemp -d -p "${TMPDIR_BENCH:-$root/target}" verifier-load.XXXXXX)"
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
start_server "$port" "$work/server.log" "${serve_args[@]}" --trust-anchor "$anchor" \
    --verifier-allow-private-targets

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
# Credentials carry `iat` in whole seconds: one issued in the accreditation's own second would be
# dated before it (and fail the accreditation step, rightly).
sleep 1
"$BIN" issuer type add pid --schema "$schema_id" --formats dc+sd-jwt \
    --disclosable /given_name,/family_name,/email,/birthdate,/address,/address/street_address,/address/locality,/nationalities/1 \
    --status revocation >/dev/null

# The holder's Ed25519 key (PKCS#8 PEM, kept in the work directory) and the issuance request
# binding the credential to it: the 8-disclosable-claim credential of the issuer's bench.
python3 - "$work/holder.pem" >"$work/issue.json" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
key = Ed25519PrivateKey.generate()
with open(sys.argv[1], "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))
x = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
print(json.dumps({
    "type": "pid", "formats": ["dc+sd-jwt"],
    "claims": {
        "given_name": "Erika", "family_name": "Mustermann", "email": "erika@example.com",
        "birthdate": "1963-08-12",
        "address": {"street_address": "Heidestraße 17", "locality": "Köln", "country": "DE"},
        "nationalities": ["DE", "FR"], "degree": {"type": "BachelorDegree", "gpa": 3.7},
    },
    "holderJwk": {"kty": "OKP", "crv": "Ed25519",
                  "x": base64.urlsafe_b64encode(x).rstrip(b"=").decode()},
}, ensure_ascii=False))
PY
curl -fsS -H "authorization: Bearer $CREDENCE_TOKEN" -H 'content-type: application/json' \
    --data-binary "@$work/issue.json" "$base/issuer/tenants/bench/credentials" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["credentials"]["dc+sd-jwt"], end="")' \
        >"$work/credential.txt"
echo "issued one credential with $(($(tr -cd '~' <"$work/credential.txt" | wc -c) - 1)) Disclosures"

# present: writes $work/body.json, a VerifyPresentationRequest whose presentation discloses
# everything and carries a KB-JWT (EdDSA, typ kb+jwt, iat now, the challenge as nonce, the
# domain as aud, sd_hash over the SD-JWT; RFC 9901 §4.3).
present() {
    python3 - "$work/holder.pem" "$work/credential.txt" >"$work/body.json" <<'PY'
import base64, hashlib, json, secrets, sys, time
from cryptography.hazmat.primitives import serialization
b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
with open(sys.argv[1], "rb") as f:
    key = serialization.load_pem_private_key(f.read(), password=None)
sd_jwt = open(sys.argv[2]).read().strip()
assert sd_jwt.endswith("~") and sd_jwt.count("~") == 9, "8 Disclosures expected"
nonce, audience = secrets.token_urlsafe(16), "https://verifier.bench.example"
header = b64(json.dumps({"alg": "EdDSA", "typ": "kb+jwt"}).encode())
payload = b64(json.dumps({"nonce": nonce, "aud": audience, "iat": int(time.time()),
                          "sd_hash": b64(hashlib.sha256(sd_jwt.encode()).digest())}).encode())
signing_input = f"{header}.{payload}"
kb_jwt = f"{signing_input}.{b64(key.sign(signing_input.encode()))}"
print(json.dumps({"verifiablePresentation": sd_jwt + kb_jwt,
                  "options": {"challenge": nonce, "domain": audience}}))
PY
}
verify_path="/verifier/presentations/verify"

cat >"$work/verify.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("VERIFY_PATH")
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
LUA
write_result_lua "$work/verify.lua"
export BODY_FILE="$work/body.json" VERIFY_PATH="$verify_path"
touch "$work/paths.txt"
summary=()
for c in "${connections[@]}"; do
    present
    # One verification by hand: valid, every step passed (status, accreditation, schema too).
    curl -sS -o "$work/answer.json" -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary "@$work/body.json" "$base$verify_path" >"$work/status.txt"
    python3 - "$work/answer.json" "$(cat "$work/status.txt")" <<'PY'
import json, sys
answer, status = json.load(open(sys.argv[1])), sys.argv[2]
assert status == "200" and not answer.get("errors") and not answer.get("warnings"), (status, answer)
print("one verification OK:", ", ".join(answer["checks"]))
PY
    echo "-- $c connections; load before the run: $(uptime)"
    run_wrk "$base" "$work/paths.txt" "$work/verify.lua" "$threads" "$c" "$warmup" "$duration"
    summary+=("verify dc+sd-jwt presentation (EdDSA, 8 Disclosures + KB-JWT), $c conns: $result")
done
echo
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, wrk -t$threads -d$duration, server $BIN"
echo "   (server_cpu_s, server_disk_read_mib: the server's CPU time and storage reads during the run)"
printf '%s\n' "${summary[@]}"
