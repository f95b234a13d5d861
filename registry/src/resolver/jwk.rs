//! did:jwk (did-jwk spec): the method-specific id is base64url(UTF-8 JSON of a public JWK). The
//! document has one verification method, `#0`, of type JsonWebKey.

use serde_json::{Value, json};

use crate::did::Did;
use crate::error::Error;
use crate::keys::{PublicKey, decode_b64url};

/// The DID document for a did:jwk.
pub fn document(did: &Did) -> Result<Value, Error> {
    let bytes = decode_b64url(did.method_specific_id())
        .map_err(|e| Error::InvalidDid(format!("did:jwk id is not base64url: {e}")))?;
    let jwk = crate::json::parse_strict(&bytes)
        .map_err(|e| Error::InvalidDid(format!("did:jwk id is not a JSON JWK: {e}")))?;
    // Validate the key (and refuse private members) before echoing it back.
    PublicKey::from_jwk(&jwk)?;
    let vm_id = format!("{did}#0");
    // did:jwk spec §2.2 (Read): signing relationships unless "use" is "enc"; keyAgreement
    // unless "use" is "sig".
    let key_use = jwk.get("use").and_then(Value::as_str);
    let (signing, agreement) = (key_use != Some("enc"), key_use != Some("sig"));
    let mut doc = json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"],
        "id": did.as_str(),
        "verificationMethod": [{
            "id": vm_id,
            "type": "JsonWebKey",
            "controller": did.as_str(),
            "publicKeyJwk": jwk,
        }],
    });
    if signing {
        for relation in [
            "authentication",
            "assertionMethod",
            "capabilityInvocation",
            "capabilityDelegation",
        ] {
            doc[relation] = json!([vm_id]);
        }
    }
    if agreement {
        doc["keyAgreement"] = json!([vm_id]);
    }
    Ok(doc)
}
