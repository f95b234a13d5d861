-- Credential schemas: a JSON Schema (2020-12) and SD-JWT VC type metadata, published by a
-- trusted party at a content-addressed id. Rows are never updated or deleted; a new version
-- of a credential type (`vct`) is a new row with a new id. Each row has its log entry.

CREATE TABLE schemas (
    -- base32 SHA-256 of the JCS of {"schema", "typeMetadata"}
    id         TEXT    PRIMARY KEY,
    vct        TEXT    NOT NULL,
    publisher  TEXT    NOT NULL,
    -- JCS of {"schema": ..., "typeMetadata": ...}
    content    TEXT    NOT NULL,
    -- the publisher's signed submission (compact JWS), for re-verification
    jws        TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    log_index  BIGINT  NOT NULL
);

CREATE INDEX schemas_by_vct ON schemas (vct, created_ms);
