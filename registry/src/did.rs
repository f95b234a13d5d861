//! The `Did` newtype: a syntactically valid DID (W3C DID Core 1.0 §3.1), parsed once at the edge.
//!
//! This module knows DID *syntax* only; what a method-specific id means belongs to the method
//! modules (`ops` for did:credence, `resolver::*` for the others).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest DID we accept anywhere. DID Core sets no limit; every real method stays far below it.
pub const MAX_DID_LEN: usize = 2048;

/// A DID such as `did:credence:abcd...` or `did:key:z6Mk...`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Did(String);

/// Why a string is not a DID. The message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DID: {0}")]
pub struct InvalidDid(pub &'static str);

impl Did {
    /// Parses `did:<method-name>:<method-specific-id>` (DID Core §3.1 ABNF).
    pub fn parse(input: &str) -> Result<Self, InvalidDid> {
        if input.len() > MAX_DID_LEN {
            return Err(InvalidDid("longer than 2048 characters"));
        }
        let rest = input
            .strip_prefix("did:")
            .ok_or(InvalidDid("must start with \"did:\""))?;
        let (method, msid) = rest
            .split_once(':')
            .ok_or(InvalidDid("missing method-specific id"))?;
        // method-name = 1*method-char; method-char = %x61-7A / DIGIT
        if method.is_empty()
            || !method
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(InvalidDid(
                "method name must be lowercase letters and digits",
            ));
        }
        // method-specific-id = *( *idchar ":" ) 1*idchar
        if msid.is_empty() || msid.ends_with(':') {
            return Err(InvalidDid(
                "method-specific id must not be empty or end with ':'",
            ));
        }
        let bytes = msid.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b':' => i += 1,
                b'%' => {
                    let hex = |b: u8| b.is_ascii_hexdigit();
                    if i + 2 >= bytes.len() {
                        return Err(InvalidDid("truncated percent-encoding"));
                    }
                    if !(hex(bytes[i + 1]) && hex(bytes[i + 2])) {
                        return Err(InvalidDid("bad percent-encoding"));
                    }
                    i += 3;
                }
                _ => {
                    return Err(InvalidDid(
                        "method-specific id may contain only letters, digits, '.', '-', '_', ':' and %-escapes",
                    ));
                }
            }
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The method name, e.g. `credence`.
    pub fn method(&self) -> &str {
        let rest = &self.0[4..];
        &rest[..rest.find(':').unwrap_or(rest.len())]
    }

    /// Everything after `did:<method>:`.
    pub fn method_specific_id(&self) -> &str {
        &self.0[4 + self.method().len() + 1..]
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({})", self.0)
    }
}

impl TryFrom<String> for Did {
    type Error = InvalidDid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Did> for String {
    fn from(did: Did) -> Self {
        did.0
    }
}

impl std::str::FromStr for Did {
    type Err = InvalidDid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
