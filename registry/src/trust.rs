//! The trust registry: accreditation chains in the manner of EBSI's Trusted Issuers Registry.
//!
//! An accreditation says "DID `subject` may issue credential types T1, T2 (and, if
//! `mayAccredit`, accredit others for them) from `validFrom` until `validUntil`". It is a
//! compact JWS by the accreditor's DID (`assertionMethod`). The registry accepts it only if the
//! accreditor is a configured trust anchor, or holds an accreditation that lets it accredit
//! every listed type for the whole window, itself chained to an anchor. Accreditations and
//! their revocations are log entries. They never contain personal data: subjects are
//! organisations' DIDs.
//!
//! An accreditation takes effect when the registry records it, or at `validFrom` if that is
//! later: an answer about time t never depends on anything recorded after t. So an accreditor
//! whose own accreditation was revoked cannot backdate a new one into the time it was still
//! trusted, and a verifier asking about a past date gets the answer the registry gave then.
//!
//! The query "was X allowed to issue T at time t?" walks the chain back to an anchor and
//! returns it with the log indexes that prove each link. No HTTP and no SQL here.

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::error::Error;
pub use crate::wire::{
    AccreditationClaims, AccreditationView, Authorization, IssuerAccreditations, RevocationClaims,
};

/// Longest chain followed from an issuer to an anchor.
pub const MAX_CHAIN: usize = 8;
pub const MAX_TYPES: usize = 32;
/// Largest signed accreditation or revocation (the JWS): 32 types of 512 characters fit.
pub const MAX_ACCREDITATION_JWS_BYTES: usize = 32 * 1024;

/// An accreditation's id: lowercase base32 of the SHA-256 of its JWS (trimmed).
pub fn accreditation_id(jws: &str) -> crate::ids::AccreditationId {
    crate::ids::AccreditationId::computed(
        data_encoding::BASE32_NOPAD
            .encode(&Sha256::digest(jws.trim().as_bytes()))
            .to_ascii_lowercase(),
    )
}

pub fn check_claims(claims: &AccreditationClaims, now: DateTime<Utc>) -> Result<(), Error> {
    let bad = |detail: &str| Err(Error::InvalidAccreditation(detail.to_owned()));
    if claims.kind != "Accreditation" {
        return bad("type must be \"Accreditation\"");
    }
    if claims.credential_types.is_empty() || claims.credential_types.len() > MAX_TYPES {
        return bad("credentialTypes must list 1 to 32 types");
    }
    if claims
        .credential_types
        .iter()
        .any(|t| t.is_empty() || t.len() > 512 || !t.contains(':'))
    {
        return bad("each credential type must be a vct URI of at most 512 characters");
    }
    if claims.valid_until <= claims.valid_from {
        return bad("validUntil must be after validFrom");
    }
    if claims.valid_until <= now {
        return bad("validUntil is in the past: the accreditation would never take effect");
    }
    Ok(())
}
