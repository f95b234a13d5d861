-- Key rotation of tenants (`rotation.rs`). A rotation stores the tenant's next keys here,
-- sealed like `tenants.sealed_keys` (and with the signing key's fragment sealed beside them),
-- BEFORE it submits the DID update to the registry: if the process dies after the registry
-- accepted the update, the keys that now control the DID are not lost. Once the registry
-- accepted, one transaction copies them into `tenants.sealed_keys` and deletes this row; a
-- rotation the registry refused deletes the row alone. A row found later (the next rotation,
-- or start-up) is finished or discarded by what the registry's DID state says.
-- The primary key makes one rotation per tenant at a time.
CREATE TABLE tenant_rotations (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants (id),
    sealed_keys BLOB NOT NULL,
    started_ms  BIGINT NOT NULL
);
