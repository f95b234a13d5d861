//! did:key (W3C CCG did:key v0.9): the DID *is* the public key; the document is derived, never
//! fetched. Error conditions are the ones the spec names (§3.1.x): `invalidDid`,
//! `invalidPublicKeyLength`, `invalidPublicKeyType`, `invalidPublicKey`.
//!
//! Documents use the Multikey representation with the four verification relationships the spec
//! gives a signing key. X25519 key agreement derivation is not offered (the spec makes it
//! optional and off by default).

use serde_json::{Value, json};

use crate::did::Did;
use crate::error::Error;
use crate::keys::PublicKey;

/// The DID document for a did:key.
pub fn document(did: &Did) -> Result<Value, Error> {
    let msid = did.method_specific_id();
    // §3.1.1: the method-specific id is `z` + base58btc(multicodec || key); version 1 only.
    if msid.contains(':') || !msid.starts_with('z') {
        return Err(Error::InvalidDid(
            "did:key method-specific id must be a base58btc multibase value starting with 'z'"
                .into(),
        ));
    }
    let key = PublicKey::from_multikey(msid)?;
    let vm_id = format!("{did}#{msid}");
    Ok(json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did.as_str(),
        "verificationMethod": [{
            "id": vm_id,
            "type": "Multikey",
            "controller": did.as_str(),
            "publicKeyMultibase": key.to_multikey(),
        }],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityDelegation": [vm_id],
        "capabilityInvocation": [vm_id],
    }))
}
