#!/usr/bin/env bash
# The README walkthrough, command for command, against a built binary: BIN=target/release/credence
# by default (the README uses `cargo run --release`). Serves on 127.0.0.1:8080 from a temporary
# directory and prints each answer; ends with WALKTHROUGH-OK. Keep it in step with README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${BIN:-$ROOT/target/release/credence}")
cd "$(mktemp -d)"
export CREDENCE_LOG_STATE=$PWD/log-state HOME=$PWD
c() { "$BIN" "$@"; }
"$BIN" serve --data-dir ./credence-data >server.log 2>&1 & SERVER=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:8080/health >/dev/null && break; sleep 0.2; done
DID=$(c did create --keys ./agency-keys --service site=LinkedDomains=https://agency.example); echo "DID $DID"
c did resolve "$DID" | head -3
V1=$(c did resolve "$DID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["didDocumentMetadata"]["versionId"])')
c did rotate --keys ./agency-keys >/dev/null && echo rotated
c did resolve "$DID" --version-id "$V1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("old version", d["didDocumentMetadata"]["versionId"])'
c did resolve did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp | head -2
curl -s http://127.0.0.1:8080/registry/1.0/identifiers/$DID | head -c 120; echo
curl -s -H 'Accept: application/did+json' http://127.0.0.1:8080/registry/1.0/identifiers/$DID | head -c 120; echo
c did deactivate --keys ./agency-keys | python3 -c 'import json,sys; print("deactivated", json.load(sys.stdin)["didDocumentMetadata"]["deactivated"])'
ANCHOR=$(c did create --keys ./authority-keys); echo "ANCHOR $ANCHOR"
kill -INT $SERVER; wait $SERVER || true
export BANK_TOKEN=bank-api-token-0123456789abcdef
"$BIN" serve --data-dir ./credence-data --trust-anchor "$ANCHOR" --verifier-api-token "$BANK_TOKEN" --verifier-name "Harbour Bank" >server2.log 2>&1 & SERVER=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:8080/health >/dev/null && break; sleep 0.2; done
ID=$(c schema publish --keys ./authority-keys $ROOT/examples/schemas/business-licence.json); echo "SCHEMA $ID"
c schema show "$ID" | head -3
curl -s "http://127.0.0.1:8080/registry/type-metadata?vct=https://credence.example/vct/business-licence" | head -c 100; echo
AGENCY=$(c did create --keys ./bureau-keys)
OFFICE=$(c did create --keys ./office-keys)
LICENCE=https://credence.example/vct/business-licence
c trust accredit --keys ./authority-keys "$AGENCY" --type "$LICENCE" --may-accredit --until 2030-01-01T00:00:00Z
c trust accredit --keys ./bureau-keys "$OFFICE" --type "$LICENCE" --until 2029-01-01T00:00:00Z
c trust show "$OFFICE" --type "$LICENCE" | python3 -c 'import json,sys; print("allowed", json.load(sys.stdin)["allowed"])'
DEGREE=https://credence.example/vct/university-degree
c trust accredit --keys ./authority-keys "$AGENCY" --type "$DEGREE" --until 2030-01-01T00:00:00Z
c schema publish --keys ./bureau-keys $ROOT/examples/schemas/university-degree.json
URL=$(c status publish --keys ./bureau-keys --uri "http://127.0.0.1:8080/registry/status-lists/$AGENCY/1" --set 42); echo "LIST $URL"
c status show "$URL" --index 42 | python3 -c 'import json,sys; print("status", json.load(sys.stdin)["status"])'
# Issuing credentials
export CREDENCE_ADMIN_TOKEN=$(cat ./credence-data/issuer/admin-token)
c issuer tenant create market-regulator --name "Market Regulator" | tee tenant.json
export CREDENCE_TENANT=market-regulator
export CREDENCE_TOKEN=$(python3 -c 'import json; print(json.load(open("tenant.json"))["token"])')
REGULATOR=$(python3 -c 'import json; print(json.load(open("tenant.json"))["did"])')
c trust accredit --keys ./authority-keys "$REGULATOR" --type "$LICENCE" --until 2030-01-01T00:00:00Z >/dev/null
sleep 1  # an accreditation counts from when it is recorded; iat is in whole seconds
c issuer type add business-licence --schema "$ID" \
  --formats dc+sd-jwt,vc+jwt,ldp_vc \
  --disclosable /companyName,/unifiedSocialCreditCode,/legalRepresentative,/registeredCapital \
  --status revocation,suspension | head -3
c issuer issue --type business-licence --formats dc+sd-jwt,vc+jwt,ldp_vc \
  --holder-jwk @$ROOT/examples/holder-key.jwk \
  --claims '{"companyName": "Blue Harbour Trading Co.", "unifiedSocialCreditCode": "91310000MA1K3YJ12X", "legalRepresentative": "Li Wei", "registrationStatus": "active"}' > issued.json
python3 -c 'import json; d=json.load(open("issued.json")); print("issued", d["id"], sorted(d["credentials"]))'
CREDENTIAL=$(python3 -c 'import json; print(json.load(open("issued.json"))["id"])')
c issuer credentials | python3 -c 'import json,sys; print("records", len(json.load(sys.stdin)))'
c issuer offer --type business-licence --tx-code-length 6 --qr --png offer.png \
  --claims '{"companyName": "Blue Harbour Trading Co.", "unifiedSocialCreditCode": "91310000MA1K3YJ12X", "registrationStatus": "active"}' 2>qr.txt \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print("offer", d["offer_uri_by_reference"][:60], "tx_code", len(d["tx_code"]))'
test -s offer.png && test -s qr.txt && echo "qr drawn"
curl -s http://127.0.0.1:8080/.well-known/openid-credential-issuer/issuer/market-regulator | python3 -c 'import json,sys; print("metadata", sorted(json.load(sys.stdin)["credential_configurations_supported"]))'
python3 -c 'import json; print(json.load(open("issued.json"))["credentials"]["vc+jwt"])' > licence.jwt
for _ in $(seq 20); do c verify licence.jwt > report.txt && break; sleep 0.5; done
grep -E "^ *(signature|status|accreditation|schema): passed" report.txt
curl -s -X POST http://127.0.0.1:8080/verifier/credentials/verify -H 'Content-Type: application/json' \
  -d "{\"verifiableCredential\": \"$(cat licence.jwt)\"}" | python3 -c 'import json,sys; print("vc api verified", json.load(sys.stdin)["verified"])'
c issuer revoke "$CREDENTIAL"
STATUS_URI=$(python3 -c 'import json; print(json.load(open("issued.json"))["status"]["uri"])')
STATUS_INDEX=$(python3 -c 'import json; print(json.load(open("issued.json"))["status"]["index"])')
sleep 2; c status show "$STATUS_URI" --index "$STATUS_INDEX" | python3 -c 'import json,sys; s=json.load(sys.stdin)["status"]; print("revoked status", s); assert s == 1'
for _ in $(seq 20); do c verify licence.jwt > report.txt || break; sleep 0.5; done
grep "status: FAILED" report.txt
# Wallet and the journey
export CREDENCE_WALLET=$PWD/wallet.db CREDENCE_WALLET_PASSPHRASE="correct horse battery staple"
c wallet init
c issuer offer --type business-licence --tx-code-length 6 \
  --claims '{"companyName": "Blue Harbour Trading Co.", "unifiedSocialCreditCode": "91310000MA1K3YJ12X", "legalRepresentative": "Li Wei", "registrationStatus": "active"}' > offer.json
OFFER_URI=$(python3 -c 'import json; print(json.load(open("offer.json"))["offer_uri_by_reference"])')
TX_CODE=$(python3 -c 'import json; print(json.load(open("offer.json"))["tx_code"])')
c wallet receive "$OFFER_URI" --tx-code "$TX_CODE" --allow-insecure
c wallet list | head -5
DCQL='{"credentials": [{"id": "licence", "format": "dc+sd-jwt", "meta": {"vct_values": ["https://credence.example/vct/business-licence"]}, "claims": [{"path": ["companyName"]}, {"path": ["registrationStatus"]}]}]}'
c verifier request --token "$BANK_TOKEN" --purpose "account opening" --dcql "$DCQL" > request.json
REQUEST_ID=$(python3 -c 'import json; print(json.load(open("request.json"))["id"])')
REQUEST_URI=$(python3 -c 'import json; print(json.load(open("request.json"))["authorization_request_uri"])')
c wallet present "$REQUEST_URI" --yes --allow-insecure
c verifier result --token "$BANK_TOKEN" "$REQUEST_ID" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("bank sees", d["status"], d["claims"]); assert d["status"] == "verified"'
c wallet history | head -5
c wallet backup wallet.backup
CREDENCE_WALLET=$PWD/phone2.db c wallet restore wallet.backup | python3 -c 'import json,sys; d=json.load(sys.stdin); print("restored", d); assert d["credentials"] >= 1 and d["history"] >= 1'
c issuer tenant rotate | python3 -c 'import json,sys; print("rotated to", json.load(sys.stdin)["kid"].split("#")[1])'
KEY=$(curl -s http://127.0.0.1:8080/registry/log/key)
c trust show "$OFFICE" --type "$LICENCE" --log-key "$KEY" --trust-anchor "$ANCHOR" | python3 -c 'import json,sys; print("proven allowed", json.load(sys.stdin)["allowed"])'
c schema show "$ID" --log-key "$KEY" | head -2
c status show "$URL" --index 42 --log-key "$KEY" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("proven status", d["status"], d["logProof"])'
c audit --state ./audit-state | tail -2
c did resolve "$DID" --log-key "$KEY" | python3 -c 'import json,sys; print("proven deactivated", json.load(sys.stdin)["didDocumentMetadata"]["deactivated"])'
kill -INT $SERVER; wait $SERVER || true
echo WALKTHROUGH-OK
