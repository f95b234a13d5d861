-- OpenID4VP authorization requests made by the verifier, one row each. The nonce and state are
-- single use: a response moves a row out of 'pending' with one conditional UPDATE, so a replay
-- (or two racing responses) finds it gone. No secret is stored: the request's response
-- encryption key is derived from the verifier's key and the request id when needed.
CREATE TABLE openid4vp_requests (
    id            TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL UNIQUE,
    state         TEXT NOT NULL,
    response_mode TEXT NOT NULL CHECK (response_mode IN ('direct_post', 'direct_post.jwt')),
    -- The validated DCQL query, as JSON text.
    dcql_query    TEXT NOT NULL,
    purpose       TEXT,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL,
    -- pending -> verifying (a response consumed it) -> verified | failed; or pending -> failed
    -- (a response after expiry).
    status        TEXT NOT NULL CHECK (status IN ('pending', 'verifying', 'verified', 'failed')),
    -- The outcome as JSON: the requested claims and per-step reports, or the error.
    result        TEXT,
    answered_ms   BIGINT
);
