//! Identifiers the issuer service hands out and parses at its edge: [`TenantId`],
//! [`CredentialTypeId`], [`RecordId`], and the envelope [`Format`]s a credential type offers.
//! Each is validated once, when parsed, and passed around as its type, never as a `String`.
//! No I/O here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Tenant and credential type ids appear in URLs (and in OpenID4VCI issuer identifiers),
    /// so they are short lowercase slugs.
    #[error("invalid {what} {text:?}: 1 to 64 of a-z 0-9 and '-', starting with a letter or digit")]
    InvalidSlug { what: &'static str, text: String },
    /// A format this service does not issue.
    #[error("unknown format {0:?}; formats issued here: dc+sd-jwt, vc+jwt, ldp_vc")]
    UnknownFormat(String),
    /// A word the routes use where a tenant id stands (`/tenants/...` beside `/{tenant}/...`).
    #[error("{0:?} is reserved and cannot be a tenant id")]
    ReservedTenantId(String),
    /// Not a record id (`urn:uuid:` and a UUID).
    #[error("invalid credential id {0:?}: expected urn:uuid:<uuid>")]
    InvalidRecordId(String),
}

fn check_slug(what: &'static str, text: &str) -> Result<(), IdError> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && !text.starts_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(IdError::InvalidSlug {
            what,
            text: text.to_owned(),
        })
    }
}

/// Words the issuer's routes use at the `{tenant}` level, so no tenant can be named after
/// them: `/tenants/{tenant}/...` (the admin API) beside `/{tenant}/token`,
/// `/{tenant}/nonce`, `/{tenant}/credential` and `/{tenant}/offers/{id}` (OpenID4VCI).
pub const RESERVED_TENANT_IDS: &[&str] = &["tenants"];

macro_rules! slug_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $reserved:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, IdError> {
                check_slug($what, text)?;
                let reserved: &[&str] = $reserved;
                if reserved.contains(&text) {
                    return Err(IdError::ReservedTenantId(text.to_owned()));
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

slug_type!(
    /// A tenant (agency): the `{tenant}` of `/tenants/{tenant}/...`.
    TenantId,
    "tenant id",
    RESERVED_TENANT_IDS
);
slug_type!(
    /// A credential type of one tenant: the `{type}` of `/tenants/{tenant}/types/{type}`.
    CredentialTypeId,
    "credential type id",
    &[]
);

/// The id of one issuance (its record and every envelope's `id` / `jti`): `urn:uuid:` and a
/// random (v4) UUID.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RecordId(String);

impl RecordId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(format!("urn:uuid:{}", uuid::Uuid::new_v4()))
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let uuid = text
            .strip_prefix("urn:uuid:")
            .and_then(|rest| uuid::Uuid::try_parse(rest).ok())
            .ok_or_else(|| IdError::InvalidRecordId(text.to_owned()))?;
        // Canonical lowercase form, so one credential has one id.
        Ok(Self(format!("urn:uuid:{uuid}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.0)
    }
}

/// An envelope format, named by its OpenID4VCI 1.0 credential format identifier (Appendix A):
/// the media type suffixes for the JOSE ones, `ldp_vc` for Data Integrity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Format {
    /// IETF SD-JWT VC.
    #[serde(rename = "dc+sd-jwt")]
    DcSdJwt,
    /// W3C VC-JOSE-COSE.
    #[serde(rename = "vc+jwt")]
    VcJwt,
    /// W3C VCDM 2.0 with a Data Integrity proof, cryptosuite `eddsa-rdfc-2022`
    /// (OpenID4VCI 1.0 §A.1.2 `ldp_vc`; see `data_integrity`).
    #[serde(rename = "ldp_vc")]
    LdpVc,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::DcSdJwt, Format::VcJwt, Format::LdpVc];

    pub fn name(self) -> &'static str {
        match self {
            Self::DcSdJwt => "dc+sd-jwt",
            Self::VcJwt => "vc+jwt",
            Self::LdpVc => "ldp_vc",
        }
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        Self::ALL
            .into_iter()
            .find(|format| format.name() == text)
            .ok_or_else(|| IdError::UnknownFormat(text.to_owned()))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_ids() {
        fn check(input: &str, ok: bool) {
            assert_eq!(TenantId::parse(input).is_ok(), ok, "{input:?}");
        }
        check("land-bureau", true);
        check("a1", true);
        check("", false);
        check("-x", false);
        check("Land", false);
        check("a/b", false);
        check(&"a".repeat(65), false);
        check("tenants", false);
        assert!(CredentialTypeId::parse("tenants").is_ok());
        assert!(RecordId::parse("urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5").is_ok());
        assert!(RecordId::parse("3978344f-8596-4c3a-a978-8fcaba3903c5").is_err());
        assert_eq!(Format::parse("vc+jwt"), Ok(Format::VcJwt));
        assert_eq!(Format::parse("ldp_vc"), Ok(Format::LdpVc));
        assert!(Format::parse("jwt_vc_json").is_err());
    }
}
