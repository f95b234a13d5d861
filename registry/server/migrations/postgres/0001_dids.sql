-- did:credence storage (PostgreSQL).
--
-- `did_ops` is the source of truth: every accepted, signed operation in canonical (JCS) form,
-- never updated or deleted. `dids` is a cache of the state after the last operation so that
-- resolving the current document is one row read; it is written in the same transaction as the
-- operation it reflects.

CREATE TABLE dids (
    did         TEXT    PRIMARY KEY,
    -- hash of the last operation; the next operation's `prev` must equal it
    head        TEXT    NOT NULL,
    -- JSON of ops::DidState after `head`
    state       TEXT    NOT NULL,
    op_count    BIGINT  NOT NULL,
    deactivated BOOLEAN NOT NULL,
    -- acceptance times of the genesis and of the last operation, Unix milliseconds
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL
);

CREATE TABLE did_ops (
    did        TEXT    NOT NULL REFERENCES dids (did),
    -- 0 for the genesis operation, then 1, 2, ...
    position   BIGINT  NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    -- NULL only for the genesis; UNIQUE (did, prev) makes a fork impossible even if the
    -- application check were bypassed
    prev       TEXT,
    operation  TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    PRIMARY KEY (did, position),
    UNIQUE (did, prev)
);

-- Per-DID write limits count recent operations.
CREATE INDEX did_ops_by_time ON did_ops (did, created_ms);
