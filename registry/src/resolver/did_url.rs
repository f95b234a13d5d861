//! The `DidUrl` type: a DID followed by an optional path, query and fragment (DID Core 1.0
//! §3.2), parsed once at the edge. A `kid` such as `did:credence:…#key-1` is one.
//!
//! This module knows DID URL *syntax* only. What a path, a query or a fragment selects is
//! decided by [`super::Resolver::dereference`].

use std::fmt;

use crate::did::Did;
use crate::error::Error;
use crate::wire::VersionSelector;

/// A syntactically valid DID URL. Path, query and fragment are kept as written (still
/// percent-encoded); the path keeps its leading `/` (RFC 3986 `path-abempty`), the query and
/// the fragment lose their `?` and `#`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DidUrl {
    did: Did,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

impl DidUrl {
    /// Parses a DID URL (DID Core §3.2):
    ///
    /// ```abnf
    /// did-url = did path-abempty [ "?" query ] [ "#" fragment ]
    /// ```
    ///
    /// with `path-abempty`, `query` and `fragment` from RFC 3986 §3.3-3.5. A bare DID is a DID
    /// URL too. Any syntax error is `InvalidDidUrl`, including one in the DID part.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |why: String| Error::InvalidDidUrl(format!("invalid DID URL: {why}"));
        // The method-specific id cannot contain '/', '?' or '#', so the first of them ends the
        // DID.
        let did_end = input.find(['/', '?', '#']).unwrap_or(input.len());
        let (did_text, rest) = input.split_at(did_end);
        let did = Did::parse(did_text).map_err(|e| invalid(e.to_string()))?;
        let (before_fragment, fragment) = match rest.split_once('#') {
            Some((before, fragment)) => (before, Some(fragment)),
            None => (rest, None),
        };
        let (path, query) = match before_fragment.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (before_fragment, None),
        };
        // RFC 3986 §3.3: segment = *pchar.
        if !path.split('/').all(is_pchars) {
            return Err(invalid(format!("bad character in path {path:?}")));
        }
        // RFC 3986 §3.4-3.5: query = fragment = *( pchar / "/" / "?" ).
        for (part, text) in [("query", query), ("fragment", fragment)] {
            if let Some(text) = text {
                if !text.split(['/', '?']).all(is_pchars) {
                    return Err(invalid(format!("bad character in {part} {text:?}")));
                }
            }
        }
        Ok(Self {
            did,
            path: path.to_owned(),
            query: query.map(str::to_owned),
            fragment: fragment.map(str::to_owned),
        })
    }

    /// The DID this URL starts with.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The path, with its leading `/`; empty if there is none.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query without its `?`, as written.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The fragment without its `#`, as written.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }

    /// True if this is a plain DID (no path, query or fragment).
    pub fn is_did(&self) -> bool {
        self.path.is_empty() && self.query.is_none() && self.fragment.is_none()
    }

    /// Reads the DID parameters of the query (DID Core §3.2.1): `versionId` and `versionTime`
    /// select a version. Returns the selector and the names of the parameters it did not
    /// understand, which the caller must not ignore. Malformed values, a repeated parameter, or
    /// both selectors are `InvalidOptions`.
    pub fn version_parameters(&self) -> Result<(VersionSelector, Vec<String>), Error> {
        let Some(query) = &self.query else {
            return Ok((VersionSelector::Latest, Vec::new()));
        };
        let mut options = ResolutionParameters::default();
        let mut unknown = Vec::new();
        // RFC 3986 gives `+` no meaning in a query, so it stays a `+` (a `versionTime` offset),
        // where form decoding would read a space.
        let query = query.replace('+', "%2B");
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match options.take(&name, &value) {
                Ok(true) => {}
                Ok(false) => unknown.push(name.into_owned()),
                Err(error) => return Err(error),
            }
        }
        Ok((options.selector()?, unknown))
    }
}

/// The version-selecting DID parameters (`versionId`, `versionTime`) as they are read one by
/// one from a query, with the checks every reader of them needs.
#[derive(Debug, Default)]
pub struct ResolutionParameters {
    version_id: Option<String>,
    version_time: Option<String>,
}

impl ResolutionParameters {
    /// Takes `name=value` if it is a version parameter (`Ok(true)`); `Ok(false)` for any other
    /// name. A parameter given twice is `InvalidOptions`.
    pub fn take(&mut self, name: &str, value: &str) -> Result<bool, Error> {
        let slot = match name {
            "versionId" => &mut self.version_id,
            "versionTime" => &mut self.version_time,
            _ => return Ok(false),
        };
        if slot.is_some() {
            return Err(Error::InvalidOptions(format!("{name} is given twice")));
        }
        *slot = Some(value.to_owned());
        Ok(true)
    }

    /// The selected version. Both parameters at once, or a `versionTime` that is not an
    /// RFC 3339 date-time (a date alone is not), is `InvalidOptions`.
    pub fn selector(self) -> Result<VersionSelector, Error> {
        VersionSelector::from_options(self.version_id, self.version_time.as_deref())
    }
}

/// RFC 3986 §3.3 `*pchar`: unreserved / pct-encoded / sub-delims / ":" / "@".
fn is_pchars(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => i += 1,
            b'-' | b'.' | b'_' | b'~' => i += 1,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => i += 1,
            b':' | b'@' => i += 1,
            b'%' if bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                i += 3
            }
            _ => return false,
        }
    }
    true
}

impl fmt::Display for DidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.did, self.path)?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(fragment) = &self.fragment {
            write!(f, "#{fragment}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DidUrl({self})")
    }
}

impl std::str::FromStr for DidUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
