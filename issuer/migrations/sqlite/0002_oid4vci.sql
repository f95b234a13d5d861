-- OpenID4VCI pre-authorized code flow: offers, the access tokens they are redeemed for, and
-- the nonces key proofs must carry. Every secret here (offer id, pre-authorized code,
-- transaction code, access token, nonce) is kept as SHA-256 only: each is random with at least
-- 128 bits of entropy except the short transaction code, whose guesses are limited by
-- `attempts_left` instead. Times are Unix milliseconds, as in 0001.

-- One row per credential offer. `id_hash` is the hash of the offer id the by-reference URL
-- carries; the pre-authorized code is derived from that id (so the offer can be served again)
-- and kept here only as `code_hash`. `claims` is the one personal thing the issuer keeps, and
-- only while the offer is open: it is set to NULL when the credential is issued or the offer
-- expires. `state`: 'offered' (code not redeemed yet), 'redeemed' (an access token was given
-- out), 'issued' (credentials were issued; claims gone), 'expired' (swept; claims gone).
-- Redemption is one conditional UPDATE (state, attempts and expiry in its WHERE), so two
-- concurrent redemptions of one code cannot both win.
CREATE TABLE offers (
    id_hash        BLOB PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    type_id        TEXT NOT NULL,
    formats        TEXT NOT NULL,
    claims         TEXT,
    tx_code_hint   TEXT,
    code_hash      BLOB NOT NULL UNIQUE,
    tx_code_hash   BLOB,
    attempts_left  BIGINT NOT NULL,
    state          TEXT NOT NULL,
    expires_ms     BIGINT NOT NULL,
    created_ms     BIGINT NOT NULL
);
CREATE INDEX offers_by_expiry ON offers (state, expires_ms);

-- Access tokens handed out by the token endpoint, each bound to its offer. `used` turns 1 when
-- the credential endpoint accepts a request with it (one conditional UPDATE: a token serves one
-- credential request, a batch included).
CREATE TABLE access_tokens (
    token_hash  BLOB PRIMARY KEY,
    offer_hash  BLOB NOT NULL REFERENCES offers (id_hash),
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    expires_ms  BIGINT NOT NULL,
    used        BIGINT NOT NULL
);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_ms);

-- Nonces (c_nonce) handed out by a tenant's nonce endpoint. The first credential request whose
-- proofs carry one deletes it (one conditional DELETE: of two requests, one wins), so a proof
-- is never replayed; expired ones are swept.
CREATE TABLE c_nonces (
    nonce_hash  BLOB PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX c_nonces_by_expiry ON c_nonces (expires_ms);
