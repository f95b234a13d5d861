-- The key this database's log belongs to: one database holds one log, signed by one key.
--
-- The first instance to start claims the log for its key by inserting the one row; the insert
-- is atomic, so of two instances starting at once with different keys exactly one wins, and
-- every later start with another key is refused. A database whose log was started before
-- this table existed gets its row from the first start whose key verifies its latest
-- checkpoint (`Transparency::check_key`).

CREATE TABLE log_key (
    id           BIGINT PRIMARY KEY CHECK (id = 1),
    -- the C2SP note verifier key, <origin>+<key id>+<base64 key>
    verifier_key TEXT   NOT NULL
);
