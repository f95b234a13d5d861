-- The issuer service's records. Times are Unix milliseconds (BIGINT), so one set of queries
-- serves SQLite and PostgreSQL. No claims are stored anywhere: a record of issuance says what
-- was issued, never to whom or about whom.

-- One row per agency. `sealed_keys` is the tenant's rotation and signing keys (private JWKs)
-- sealed with XChaCha20-Poly1305 under the service's master key, the tenant id as associated
-- data, so a sealed blob copied onto another tenant's row does not open.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    did         TEXT NOT NULL UNIQUE,
    sealed_keys BLOB NOT NULL,
    created_ms  BIGINT NOT NULL
);

-- API tokens of tenants, as SHA-256 of the 256-bit random token: a database leak gives no
-- usable token. The token itself is shown once, when created.
CREATE TABLE tenant_tokens (
    token_hash BLOB PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    created_ms BIGINT NOT NULL
);

-- What a tenant issues: a schema of the registry (by id), its vct / W3C type, the formats
-- offered and the claims that may be selectively disclosed (JSON arrays), validity, and which
-- status purposes credentials of the type carry (0/1).
CREATE TABLE credential_types (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    id               TEXT NOT NULL,
    schema_id        TEXT NOT NULL,
    vct              TEXT NOT NULL,
    w3c_type         TEXT NOT NULL,
    schema_json      TEXT NOT NULL,
    formats          TEXT NOT NULL,
    disclosable      TEXT NOT NULL,
    validity_seconds BIGINT NOT NULL,
    revocation       BIGINT NOT NULL,
    suspension       BIGINT NOT NULL,
    created_ms       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- A tenant's status lists. `version` grows with every change of a status in the list (and is
-- 1 for a new, unpublished list); `published_version` is the version the registry last
-- accepted. A list with version > published_version is dirty: the republisher's work.
CREATE TABLE status_lists (
    uri               TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    entries           BIGINT NOT NULL,
    allocated         BIGINT NOT NULL,
    version           BIGINT NOT NULL,
    published_version BIGINT NOT NULL,
    published_ms      BIGINT NOT NULL,
    created_ms        BIGINT NOT NULL
);
CREATE INDEX status_lists_by_tenant ON status_lists (tenant_id);

-- Allocated indexes and their Token Status List value (0 valid, 1 invalid, 2 suspended). The
-- primary key is what makes an index handed out once: allocation inserts here, in the
-- transaction that writes the record of issuance.
CREATE TABLE status_entries (
    list_uri TEXT NOT NULL REFERENCES status_lists (uri),
    idx      BIGINT NOT NULL,
    status   BIGINT NOT NULL,
    PRIMARY KEY (list_uri, idx)
);

-- The record of issuance: one row per issuance, whatever number of envelopes it produced.
-- `envelope_hashes` is a JSON object format -> hex SHA-256 of the envelope as handed out.
CREATE TABLE issuance_records (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    type_id           TEXT NOT NULL,
    formats           TEXT NOT NULL,
    list_uri          TEXT,
    idx               BIGINT,
    holder_thumbprint TEXT NOT NULL,
    valid_from_ms     BIGINT NOT NULL,
    valid_until_ms    BIGINT NOT NULL,
    issued_ms         BIGINT NOT NULL,
    envelope_hashes   TEXT NOT NULL
);
CREATE INDEX issuance_records_by_tenant ON issuance_records (tenant_id, issued_ms);
