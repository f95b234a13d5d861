-- Accreditations (trust registry): "DID `subject` may issue credential types `types` (and, if
-- `may_accredit`, accredit others for them) from `valid_from` until `valid_until`", signed by
-- `accreditor`, which must be a trust anchor or itself accredited to accredit. Rows are never
-- deleted; revocation sets `revoked_ms` once, in the same transaction as its log entry.

CREATE TABLE accreditations (
    -- base32 SHA-256 of the signed JWS
    id                TEXT    PRIMARY KEY,
    subject           TEXT    NOT NULL,
    accreditor        TEXT    NOT NULL,
    -- JSON array of credential types (vct values)
    types             TEXT    NOT NULL,
    may_accredit      BOOLEAN NOT NULL,
    valid_from_ms     BIGINT  NOT NULL,
    valid_until_ms    BIGINT  NOT NULL,
    jws               TEXT    NOT NULL,
    created_ms        BIGINT  NOT NULL,
    log_index         BIGINT  NOT NULL,
    revoked_ms        BIGINT,
    revoked_log_index BIGINT
);

CREATE INDEX accreditations_by_subject ON accreditations (subject);
