-- Status lists: every accepted version of every list, never updated or deleted. A list is
-- identified by its URI (key = base32 SHA-256 of it); versions are ordered by the time the
-- issuer put in them (iat / validFrom), and each must be newer than the last.

CREATE TABLE status_lists (
    key         TEXT    NOT NULL,
    uri         TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    -- iat / validFrom, Unix milliseconds
    version     BIGINT  NOT NULL,
    ttl_seconds BIGINT  NOT NULL,
    -- the issuer's signed list, served as is
    jws         TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    log_index   BIGINT  NOT NULL,
    PRIMARY KEY (key, version)
);
