-- The tamper-evident log (RFC 6962 Merkle tree, C2SP tlog-tiles/tlog-checkpoint).
--
-- Every accepted write appends one entry in the same transaction as the write itself, so there
-- is no write without its leaf and no leaf without its write. Entries and hashes are never
-- updated or deleted.

-- One row: the number of entries. Appenders lock it, which makes the database the single
-- sequencer even with several service instances.
CREATE TABLE log_state (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO log_state (id, size) VALUES (1, 0);

-- Entry i of the log: canonical (JCS) JSON of what was accepted.
CREATE TABLE log_entries (
    idx        BIGINT  PRIMARY KEY,
    kind       TEXT    NOT NULL,
    entry      BYTEA   NOT NULL,
    created_ms BIGINT  NOT NULL
);

-- The tree's stored hashes, keyed by tlog stored-hash index (golang.org/x/mod/sumdb/tlog
-- numbering, as the tlog_tiles crate computes it): leaf hashes and every complete subtree.
CREATE TABLE log_hashes (
    id   BIGINT  PRIMARY KEY,
    hash BYTEA   NOT NULL
);

-- Signed checkpoints as published (C2SP signed notes), newest has the largest size.
CREATE TABLE log_checkpoints (
    size       BIGINT  PRIMARY KEY,
    note       TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL
);

-- Which log entry recorded each DID operation.
ALTER TABLE did_ops ADD COLUMN log_index BIGINT;
