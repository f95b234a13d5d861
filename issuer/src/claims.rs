//! The open claim set a credential carries ([`Claims`]) and paths into it ([`ClaimPath`]).
//!
//! This module owns only the shape of claims: a JSON object, and RFC 6901 JSON Pointer syntax
//! for naming a claim inside it. Which claims a format reserves, and what may be selectively
//! disclosed, is decided by the format modules (`sd_jwt`, `vc_jwt`). No schema validation here:
//! that is the credential type's job, before issuance.

use std::fmt;

use serde_json::{Map, Value};

/// Why claims or a claim path were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// Claims are a JSON object (claim name to value), never a bare value or array.
    #[error("claims must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    /// Not an RFC 6901 JSON Pointer to a claim: it must start with `/`, name at least one
    /// claim, and escape `~` and `/` as `~0` and `~1`.
    #[error("invalid claim path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
}

/// An open set of claims (a JSON object). The only place this crate holds claims as
/// `serde_json` values: their shape is the credential type's schema, not ours.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims(Map<String, Value>);

impl Claims {
    pub fn new(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// Claims from a JSON value, which must be an object.
    pub fn from_value(value: Value) -> Result<Self, ClaimsError> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            other => Err(ClaimsError::NotAnObject(json_kind(&other))),
        }
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Whether a claim exists at `path` (array elements by decimal index).
    pub fn contains(&self, path: &ClaimPath) -> bool {
        let (first, rest) = match path.segments() {
            [first, rest @ ..] => (first, rest),
            [] => return false,
        };
        let mut value = match self.0.get(first) {
            Some(value) => value,
            None => return false,
        };
        for segment in rest {
            let next = match value {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(next) => value = next,
                None => return false,
            }
        }
        true
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A path to one claim: an RFC 6901 JSON Pointer such as `/address/locality` or
/// `/nationalities/0`, never the root. A segment of digits names an array element when the
/// value it is applied to is an array and an object member otherwise (RFC 6901 §4).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimPath {
    /// Decoded segments (`~1` is `/`, `~0` is `~`), at least one.
    segments: Vec<String>,
}

impl ClaimPath {
    /// Parses an RFC 6901 JSON Pointer (§3 syntax, §4 unescaping).
    pub fn parse(pointer: &str) -> Result<Self, ClaimsError> {
        let bad = |reason| ClaimsError::InvalidPath {
            path: pointer.to_owned(),
            reason,
        };
        let rest = pointer
            .strip_prefix('/')
            .ok_or_else(|| bad("a claim path starts with '/' (the root cannot be a claim)"))?;
        let segments = rest
            .split('/')
            .map(|segment| {
                let mut decoded = String::with_capacity(segment.len());
                let mut chars = segment.chars();
                while let Some(c) = chars.next() {
                    if c != '~' {
                        decoded.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('0') => decoded.push('~'),
                        Some('1') => decoded.push('/'),
                        _ => return Err(bad("'~' must be followed by '0' or '1'")),
                    }
                }
                Ok(decoded)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { segments })
    }

    /// A path to the top-level claim `name`.
    pub fn top_level(name: &str) -> Self {
        Self {
            segments: vec![name.to_owned()],
        }
    }

    /// Decoded segments, outermost first; never empty.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The top-level claim this path is in.
    pub fn top_level_name(&self) -> &str {
        &self.segments[0]
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            write!(f, "/{}", segment.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({self})")
    }
}

impl std::str::FromStr for ClaimPath {
    type Err = ClaimsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_paths() {
        fn check(input: &str, expected: Option<&[&str]>) {
            let parsed = ClaimPath::parse(input).ok();
            assert_eq!(
                parsed.as_ref().map(|p| p.segments().to_vec()),
                expected.map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                "{input}"
            );
            if let Some(path) = parsed {
                assert_eq!(path.to_string(), input, "round trip");
            }
        }
        check("/given_name", Some(&["given_name"]));
        check("/address/locality", Some(&["address", "locality"]));
        check("/nationalities/0", Some(&["nationalities", "0"]));
        check("/a~1b/c~0d", Some(&["a/b", "c~d"]));
        check("/", Some(&[""]));
        check("", None);
        check("given_name", None);
        check("/a~2", None);
        check("/a~", None);
    }

    #[test]
    fn contains_follows_members_and_indexes() {
        let claims = Claims::from_value(serde_json::json!({
            "name": "Li", "address": {"city": "Shanghai"}, "degrees": ["BSc", "MSc"]
        }))
        .unwrap();
        let has = |pointer: &str| claims.contains(&ClaimPath::parse(pointer).unwrap());
        assert!(has("/name"));
        assert!(has("/address/city"));
        assert!(has("/degrees/1"));
        assert!(!has("/degrees/2"));
        assert!(!has("/degrees/x"));
        assert!(!has("/address/street"));
        assert!(!has("/name/first"));
        assert!(!has("/registeredCapital"));
    }

    #[test]
    fn claims_must_be_an_object() {
        assert!(Claims::from_value(serde_json::json!({"a": 1})).is_ok());
        assert_eq!(
            Claims::from_value(serde_json::json!([1])),
            Err(ClaimsError::NotAnObject("an array"))
        );
    }
}
