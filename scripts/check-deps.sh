#!/usr/bin/env bash
# The crates a citizen's phone or an enterprise embeds must not carry the registry server's
# stack (ARCHITECTURE.md, "Invariants"): fails if the normal dependency tree of the wallet or
# the verifier lists axum, utoipa, the Prometheus exporter, sqlx's PostgreSQL driver, or
# tower-http for anything but reqwest's redirect following (reqwest 0.13 always depends on it,
# with the `follow-redirect` feature only; a server would enable trace, limit or timeout).
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for package in credence-wallet credence-verifier credence-registry; do
  tree=$(cargo tree -p "$package" -e normal --prefix none --locked -f '{p} [{f}]' | sort -u)
  banned=$(grep -E '^(axum|axum-core|utoipa|metrics-exporter-prometheus|sqlx-postgres|hyper-tls|native-tls) ' <<<"$tree" || true)
  tower_http=$(grep -E '^tower-http ' <<<"$tree" || true)
  # Features reqwest's redirect following enables, and nothing else.
  extra=$(sed -E 's/.*\[(.*)\]$/\1/' <<<"$tower_http" | tr ',' '\n' \
    | grep -vE '^(follow-redirect|futures-util|tower|)$' || true)
  if [ -n "$extra" ]; then
    banned="$banned"$'\n'"$tower_http"
  fi
  if [ -n "${banned//[$'\n']/}" ]; then
    echo "FAIL: $package depends on server crates:" >&2
    grep -v '^$' <<<"$banned" >&2
    status=1
  else
    echo "ok: $package carries no server crate ($(wc -l <<<"$tree") crates in its normal tree)"
  fi
done
exit $status
