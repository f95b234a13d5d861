//! Validated identifiers the registry APIs carry as strings on the wire: a credential type
//! (`vct`), a schema id, an accreditation id, a status list key, a log index. Each is parsed
//! once, at the edge (deserialization or `parse`), and passed on as its type. They read as
//! `&str` (`Deref`), so printing and comparing them needs no conversion.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not the identifier it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} is malformed: {rule}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub rule: &'static str,
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $rule:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, InvalidId> {
                Self::try_from(text.to_owned())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For values this crate computes in the right shape (content hashes); not every
            /// identifier is computed.
            #[allow(dead_code)]
            pub(crate) fn computed(value: String) -> Self {
                debug_assert!(Self::try_from(value.clone()).is_ok(), "{value}");
                Self(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(value: String) -> Result<Self, InvalidId> {
                let check: fn(&str) -> bool = $check;
                if check(&value) {
                    Ok(Self(value))
                } else {
                    Err(InvalidId {
                        kind: $kind,
                        value: value.chars().take(80).collect(),
                        rule: $rule,
                    })
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(text: &str) -> Result<Self, InvalidId> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
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
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// Lowercase RFC 4648 base32 without padding, as our content hashes are written.
fn is_base32_lower(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
}

string_id!(
    /// A credential type: an SD-JWT VC `vct` (a URI), which accreditations and schemas name.
    CredentialType,
    "credential type",
    "a URI of 1 to 512 characters without whitespace",
    |text| !text.is_empty()
        && text.len() <= 512
        && text.contains(':')
        && !text.chars().any(char::is_whitespace)
);

string_id!(
    /// A published schema's content-addressed id: base32 SHA-256 of its canonical content.
    SchemaId,
    "schema id",
    "52 characters of lowercase base32",
    |text| text.len() == 52 && is_base32_lower(text)
);

string_id!(
    /// An accreditation's id: base32 SHA-256 of its JWS (`trust::accreditation_id`).
    AccreditationId,
    "accreditation id",
    "52 characters of lowercase base32",
    |text| text.len() == 52 && is_base32_lower(text)
);

string_id!(
    /// A status list's stable key: base32 SHA-256 of `<issuer DID>/<name>`, 32 characters.
    ListKey,
    "status list key",
    "32 characters of lowercase base32",
    |text| text.len() == 32 && is_base32_lower(text)
);

/// An entry's position in the registry's log.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogIndex(pub u64);

impl LogIndex {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for LogIndex {
    fn from(index: u64) -> Self {
        Self(index)
    }
}

impl From<LogIndex> for u64 {
    fn from(index: LogIndex) -> u64 {
        index.0
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogIndex({})", self.0)
    }
}

impl PartialEq<u64> for LogIndex {
    fn eq(&self, other: &u64) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_parse_at_the_edge() {
        let hash52 = "a".repeat(52);
        let cases: [(&str, bool, bool); 7] = [
            // (text, a credential type?, a schema id?)
            ("https://credence.example/vct/licence", true, false),
            ("urn:example:licence", true, false),
            ("licence", false, false),
            ("https://a.example/with space", false, false),
            (&hash52, false, true),
            ("", false, false),
            ("A".repeat(52).leak(), false, false),
        ];
        for (text, vct, schema) in cases {
            assert_eq!(CredentialType::parse(text).is_ok(), vct, "{text:?}");
            assert_eq!(SchemaId::parse(text).is_ok(), schema, "{text:?}");
        }
        assert!(CredentialType::parse(&format!("urn:{}", "x".repeat(600))).is_err());
        // On the wire they are plain strings, checked when read.
        let vct: CredentialType = serde_json::from_str(r#""urn:example:licence""#).unwrap();
        assert_eq!(
            serde_json::to_string(&vct).unwrap(),
            r#""urn:example:licence""#
        );
        assert!(serde_json::from_str::<CredentialType>(r#""not a type""#).is_err());
        assert!(serde_json::from_str::<ListKey>(r#""short""#).is_err());
        assert_eq!(serde_json::to_string(&LogIndex(7)).unwrap(), "7");
    }
}
