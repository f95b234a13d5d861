//! The issuer side of credential status: one status list per [`IssuerStatusList`], its random
//! index allocation, the status of each allocated entry, and the signed documents the registry
//! accepts for it (IETF Token Status List `statuslist+jwt`, W3C Bitstring Status List
//! credentials as `vc+jwt`).
//!
//! One list serves every format of a credential: the entry at index `i` is referenced by a
//! `dc+sd-jwt` as `status.status_list {idx: i, uri}` (the Token Status List, 2 bits: valid,
//! invalid, suspended) and by a W3C credential as `BitstringStatusListEntry`s with
//! `statusListIndex` `i` in two 1-bit lists derived from the same statuses (revocation and
//! suspension). So all envelopes of one issuance revoke together.
//!
//! Indexes are drawn uniformly at random from the free ones with a CSPRNG (`rand`'s
//! `ThreadRng`, ChaCha seeded from the OS), never sequentially: an index must not tell a
//! verifier when, or in what order, a credential was issued (herd privacy, W3C Bitstring Status
//! List §6.1). The bits themselves are `ssi-status`'s types (`token_status_list::BitString`,
//! `bitstring_status_list::SizedBitString`), which own each format's bit order; the registry's
//! `credence_registry::status::compress_token_list` encodes the Token Status List the way the
//! registry decodes it.
//!
//! Pure: no clock (`now` is a parameter), no storage, no HTTP. Persisting allocations and
//! publishing the signed lists belong to the service.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use credence_registry::did::Did;
use credence_registry::status as registry_status;
use rand::{CryptoRng, Rng, RngCore};
use serde::Serialize;
use serde_json::{Value, json};
use ssi_status::{bitstring_status_list, token_status_list};

use crate::jws::IssuerKey;

/// Entries in a list unless asked otherwise: the W3C minimum (§6.1, 16 KiB of bits), which
/// is also the fewest the registry accepts.
pub const DEFAULT_ENTRIES: u32 = 131_072;
/// A list is nearly full once fewer than 1/`NEARLY_FULL_DIVISOR` of its entries are free
/// (13,107 of 131,072): time to start the next list while this one still has room.
pub const NEARLY_FULL_DIVISOR: u32 = 10;
/// Longest list name we hand out: the registry allows 64 characters, and the bitstring lists
/// append `.revocation` / `.suspension` (11) to it.
pub const MAX_LIST_NAME: usize = 64 - ".revocation".len();

/// The W3C VC Data Model 2.0 base context (§4.3).
pub(crate) const VC_CONTEXT_V2: &str = "https://www.w3.org/ns/credentials/v2";

/// Why a status operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// Every index of the list has been handed out; a new list should have been started when
    /// [`IssuerStatusList::is_nearly_full`] said so.
    #[error("status list {uri} is full: all {entries} indexes are allocated; start a new list")]
    ListFull { uri: String, entries: u32 },
    /// Fewer entries than herd privacy requires and than the registry accepts.
    #[error("a status list needs at least {min} entries, not {entries}")]
    TooFewEntries { entries: u32, min: u32 },
    /// An index past the end of the list.
    #[error("status index {index} is outside the list of {entries} entries")]
    IndexOutOfRange { index: u32, entries: u32 },
    /// An index this list never handed out: no credential refers to it, so there is nothing to
    /// revoke or suspend (restoring allocations must come before setting statuses).
    #[error("status index {0} was never allocated in this list")]
    NotAllocated(u32),
    /// The same index given twice when restoring a list's allocations.
    #[error("status index {0} is allocated twice")]
    AllocatedTwice(u32),
    /// A revoked credential stays revoked (Token Status List §7.1 INVALID; W3C Bitstring
    /// Status List §2.1: revocation is not reversible); only suspension can be lifted.
    #[error("status index {0} is revoked; revocation is final")]
    AlreadyRevoked(u32),
    /// Not a list name the registry accepts (1 to 53 of `A-Z a-z 0-9 . _ -`).
    #[error("invalid status list name {0:?}: 1 to {MAX_LIST_NAME} of A-Z a-z 0-9 . _ -")]
    InvalidListName(String),
    /// Not a list URI the registry assigns to this issuer
    /// (`<registry>/status-lists/<issuer DID>/<name>`).
    #[error("invalid status list URI: {0}")]
    InvalidUri(String),
    /// The key is not a key of the list's issuer: the registry would refuse the list.
    #[error("the list belongs to {list_issuer} but the key {kid} signs for another DID")]
    SignerNotListIssuer { list_issuer: String, kid: String },
    /// The signed list is larger than the registry accepts (`MAX_LIST_JWS_BYTES`).
    #[error("the signed status list is {bytes} bytes; the registry accepts at most {max}")]
    EncodedTooLarge { bytes: usize, max: usize },
}

/// The position of a credential's entry in a status list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StatusIndex(u32);

impl StatusIndex {
    /// An index read back from a record of issuance (the list checks it is in range).
    pub fn new(index: u32) -> Self {
        Self(index)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for StatusIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The status of one entry: Token Status List §7.1 values, which the 2-bit list stores as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 0x00 VALID.
    Valid,
    /// 0x01 INVALID: revoked, permanently.
    Invalid,
    /// 0x02 SUSPENDED: temporarily invalid; may return to valid.
    Suspended,
}

impl Status {
    /// The Token Status List value (§7.1).
    pub fn code(self) -> u8 {
        match self {
            Self::Valid => token_status_list::VALID,
            Self::Invalid => token_status_list::INVALID,
            Self::Suspended => token_status_list::SUSPENDED,
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            token_status_list::INVALID => Self::Invalid,
            token_status_list::SUSPENDED => Self::Suspended,
            // We only ever write the three codes above, so anything else is VALID's zero.
            _ => Self::Valid,
        }
    }
}

/// What a W3C status entry says a set bit means (Bitstring Status List §2.1 `statusPurpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusPurpose {
    /// Bit set: the credential is revoked ([`Status::Invalid`]).
    Revocation,
    /// Bit set: the credential is suspended ([`Status::Suspended`]).
    Suspension,
}

impl StatusPurpose {
    pub fn name(self) -> &'static str {
        match self {
            Self::Revocation => "revocation",
            Self::Suspension => "suspension",
        }
    }

    fn status(self) -> Status {
        match self {
            Self::Revocation => Status::Invalid,
            Self::Suspension => Status::Suspended,
        }
    }
}

/// The URI of a status list, as the registry assigns it: `<registry>/status-lists/<issuer
/// DID>/<name>` (checked with `credence_registry::status::check_list_uri`, the check the
/// registry runs when the list is published).
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct StatusListUri(String);

impl StatusListUri {
    /// Accepts `uri` if the registry would let `issuer` publish a list there.
    pub fn parse(uri: &str, issuer: &Did) -> Result<Self, StatusError> {
        registry_status::check_list_uri(uri, issuer)
            .map_err(|e| StatusError::InvalidUri(e.to_string()))?;
        Ok(Self(uri.to_owned()))
    }

    /// The URI of list `name` of `issuer` at the registry whose base URL is `registry`
    /// (for example `https://registry.example`).
    pub fn for_list(registry: &str, issuer: &Did, name: &str) -> Result<Self, StatusError> {
        if name.len() > MAX_LIST_NAME || !registry_status::is_list_name(name) {
            return Err(StatusError::InvalidListName(name.to_owned()));
        }
        let base = registry.trim_end_matches('/');
        Self::parse(
            &format!("{base}/{}/{issuer}/{name}", registry_status::URI_SEGMENT),
            issuer,
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI of the W3C bitstring list for `purpose` that goes with this Token Status List:
    /// this URI with `.revocation` or `.suspension` appended (a sibling list of the same
    /// issuer, which is why list names are at most [`MAX_LIST_NAME`] long).
    pub fn for_purpose(&self, purpose: StatusPurpose) -> Self {
        self.with_suffix(purpose)
    }

    fn with_suffix(&self, purpose: StatusPurpose) -> Self {
        Self(format!("{}.{}", self.0, purpose.name()))
    }
}

impl fmt::Display for StatusListUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StatusListUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusListUri({})", self.0)
    }
}

/// A credential's reference to its Token Status List entry: the `status.status_list` claim of
/// a `dc+sd-jwt` (Token Status List §6.1, §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenStatusReference {
    pub idx: StatusIndex,
    pub uri: StatusListUri,
}

/// A W3C `BitstringStatusListEntry` (Bitstring Status List §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitstringStatusEntry {
    pub purpose: StatusPurpose,
    pub index: StatusIndex,
    /// The URL of the `BitstringStatusListCredential`.
    pub list: StatusListUri,
}

impl BitstringStatusEntry {
    /// The entry as it appears in `credentialStatus`. `statusListIndex` is a string holding a
    /// base-10 integer (§2.1); the entry `id` is the list URL with the index as fragment, as
    /// in the specification's examples.
    pub fn to_json(&self) -> Value {
        json!({
            "id": format!("{}#{}", self.list, self.index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": self.purpose.name(),
            "statusListIndex": self.index.to_string(),
            "statusListCredential": self.list.as_str(),
        })
    }
}

/// How long a verifier may cache a published list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl {
    pub seconds: u64,
}

/// One status list of one issuer: which indexes are handed out, and the status of each.
#[derive(Clone)]
pub struct IssuerStatusList {
    issuer: Did,
    uri: StatusListUri,
    entries: u32,
    /// 2-bit statuses in Token Status List order (§4.1); every entry starts VALID.
    statuses: token_status_list::BitString,
    /// Indexes not yet handed out, in no meaningful order; allocation removes a random one.
    free: Vec<u32>,
    /// One bit per index, set once allocated.
    allocated: Vec<u64>,
}

impl fmt::Debug for IssuerStatusList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerStatusList")
            .field("uri", &self.uri)
            .field("entries", &self.entries)
            .field("free", &self.free.len())
            .finish_non_exhaustive()
    }
}

impl IssuerStatusList {
    /// A new, empty list of `entries` (at least [`DEFAULT_ENTRIES`]) at `uri`, which must be a
    /// URI of `issuer`'s lists at the registry.
    pub fn new(issuer: Did, uri: StatusListUri, entries: u32) -> Result<Self, StatusError> {
        Self::restore(issuer, uri, entries, [])
    }

    /// A list rebuilt from what was recorded: its allocated indexes and their statuses.
    pub fn restore(
        issuer: Did,
        uri: StatusListUri,
        entries: u32,
        allocated: impl IntoIterator<Item = (StatusIndex, Status)>,
    ) -> Result<Self, StatusError> {
        let min = u32::try_from(registry_status::MIN_ENTRIES).unwrap_or(DEFAULT_ENTRIES);
        if entries < min {
            return Err(StatusError::TooFewEntries { entries, min });
        }
        // The URI was checked against some issuer when parsed; it must be this one's.
        let uri = StatusListUri::parse(uri.as_str(), &issuer)?;
        let two_bits = token_status_list::StatusSize::try_from(2u8)
            .unwrap_or_else(|_| unreachable!("2 is a valid Token Status List size"));
        let mut list = Self {
            issuer,
            uri,
            entries,
            statuses: token_status_list::BitString::new_zeroed(two_bits, entries as usize),
            free: Vec::new(),
            allocated: vec![0; (entries as usize).div_ceil(64)],
        };
        for (index, status) in allocated {
            list.check_range(index)?;
            if list.is_allocated(index) {
                return Err(StatusError::AllocatedTwice(index.0));
            }
            list.mark_allocated(index);
            list.write(index, status);
        }
        list.free = (0..entries)
            .filter(|&i| !list.is_allocated(StatusIndex(i)))
            .collect();
        Ok(list)
    }

    pub fn issuer(&self) -> &Did {
        &self.issuer
    }

    /// The Token Status List URI (the `sub` of the `statuslist+jwt`).
    pub fn uri(&self) -> &StatusListUri {
        &self.uri
    }

    /// The URI of the W3C bitstring list for `purpose`: the list URI with `.revocation` or
    /// `.suspension` appended (a sibling name under the same issuer).
    pub fn bitstring_uri(&self, purpose: StatusPurpose) -> StatusListUri {
        self.uri.with_suffix(purpose)
    }

    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// How many indexes are still free.
    pub fn remaining(&self) -> u32 {
        // `free` never holds more than `entries` (a u32) items.
        u32::try_from(self.free.len()).unwrap_or(u32::MAX)
    }

    /// Whether it is time to start the next list: fewer than a tenth of the entries are free.
    pub fn is_nearly_full(&self) -> bool {
        self.remaining() < self.entries / NEARLY_FULL_DIVISOR
    }

    /// Hands out a free index chosen uniformly at random by the thread's CSPRNG.
    pub fn allocate(&mut self) -> Result<StatusIndex, StatusError> {
        self.allocate_with(&mut rand::thread_rng())
    }

    /// Hands out a free index chosen uniformly at random by `rng`.
    pub fn allocate_with(
        &mut self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<StatusIndex, StatusError> {
        if self.free.is_empty() {
            return Err(StatusError::ListFull {
                uri: self.uri.to_string(),
                entries: self.entries,
            });
        }
        let position = rng.gen_range(0..self.free.len());
        let index = StatusIndex(self.free.swap_remove(position));
        self.mark_allocated(index);
        Ok(index)
    }

    /// The status of an allocated entry.
    pub fn status(&self, index: StatusIndex) -> Result<Status, StatusError> {
        self.check_allocated(index)?;
        Ok(self.read(index))
    }

    /// Sets the status of an allocated entry and returns the previous one. Revocation is
    /// final; suspending or reinstating a revoked entry is refused.
    pub fn set(&mut self, index: StatusIndex, status: Status) -> Result<Status, StatusError> {
        self.check_allocated(index)?;
        let previous = self.read(index);
        if previous == Status::Invalid && status != Status::Invalid {
            return Err(StatusError::AlreadyRevoked(index.0));
        }
        self.write(index, status);
        Ok(previous)
    }

    /// The reference a `dc+sd-jwt` carries for `index`.
    pub fn token_reference(&self, index: StatusIndex) -> TokenStatusReference {
        TokenStatusReference {
            idx: index,
            uri: self.uri.clone(),
        }
    }

    /// The `BitstringStatusListEntry` a W3C credential carries for `index` and `purpose`.
    pub fn bitstring_entry(
        &self,
        index: StatusIndex,
        purpose: StatusPurpose,
    ) -> BitstringStatusEntry {
        BitstringStatusEntry {
            purpose,
            index,
            list: self.bitstring_uri(purpose),
        }
    }

    /// The list as a signed Token Status List JWT (draft-ietf-oauth-status-list §5.1):
    /// header `typ: statuslist+jwt`, payload `iss`, `sub` (the list URI), `iat`, `ttl` and
    /// `status_list {bits: 2, lst}` with `lst` the base64url of the zlib-compressed bytes (§4.1).
    pub fn token_status_list_jwt(
        &self,
        key: &IssuerKey,
        now: DateTime<Utc>,
        ttl: Ttl,
    ) -> Result<String, StatusError> {
        self.check_signer(key)?;
        let payload = registry_status::token_status_list_payload(
            &self.issuer,
            self.uri.as_str(),
            now,
            ttl.seconds,
            &self.statuses,
        );
        check_size(key.sign_jwt(token_status_list::JWT_TYPE, &payload))
    }

    /// The 1-bit list for `purpose` as a W3C `BitstringStatusListCredential` (Bitstring Status
    /// List §2.2) secured as a `vc+jwt` (VC-JOSE-COSE §3.1.1: the payload is the credential).
    /// `encodedList` is multibase base64url (`u`) of the GZIP-compressed bitstring (§2.2,
    /// §4.2); the credential `id` and `credentialSubject.id` are both the list URL, which is
    /// where the registry reads a list's identity; `ttl` is in milliseconds (§2.2).
    pub fn bitstring_status_list_jwt(
        &self,
        key: &IssuerKey,
        purpose: StatusPurpose,
        now: DateTime<Utc>,
        ttl: Ttl,
    ) -> Result<String, StatusError> {
        self.check_signer(key)?;
        let one_bit = bitstring_status_list::StatusSize::DEFAULT;
        let mut bits =
            bitstring_status_list::SizedBitString::new_zeroed(one_bit, self.entries as usize);
        let set = purpose.status();
        for index in 0..self.entries {
            if self.read(StatusIndex(index)) == set {
                bits.set(index as usize, 1)
                    .unwrap_or_else(|_| unreachable!("index within the list, 1 fits one bit"));
            }
        }
        let uri = self.bitstring_uri(purpose);
        let credential = json!({
            "@context": [VC_CONTEXT_V2],
            "id": uri.as_str(),
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": self.issuer.as_str(),
            "validFrom": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "credentialSubject": {
                "id": uri.as_str(),
                "type": "BitstringStatusList",
                "statusPurpose": purpose.name(),
                "encodedList": bits.encode(),
                "ttl": ttl.seconds.saturating_mul(1000),
            },
        });
        check_size(key.sign_jwt(crate::vc_jwt::JWT_TYPE, &credential))
    }

    fn check_signer(&self, key: &IssuerKey) -> Result<(), StatusError> {
        if key.issuer() != &self.issuer {
            return Err(StatusError::SignerNotListIssuer {
                list_issuer: self.issuer.to_string(),
                kid: key.kid().to_string(),
            });
        }
        Ok(())
    }

    fn check_range(&self, index: StatusIndex) -> Result<(), StatusError> {
        if index.0 >= self.entries {
            return Err(StatusError::IndexOutOfRange {
                index: index.0,
                entries: self.entries,
            });
        }
        Ok(())
    }

    fn check_allocated(&self, index: StatusIndex) -> Result<(), StatusError> {
        self.check_range(index)?;
        if !self.is_allocated(index) {
            return Err(StatusError::NotAllocated(index.0));
        }
        Ok(())
    }

    fn is_allocated(&self, index: StatusIndex) -> bool {
        self.allocated[(index.0 / 64) as usize] & (1 << (index.0 % 64)) != 0
    }

    fn mark_allocated(&mut self, index: StatusIndex) {
        self.allocated[(index.0 / 64) as usize] |= 1 << (index.0 % 64);
    }

    fn read(&self, index: StatusIndex) -> Status {
        Status::from_code(self.statuses.get(index.0 as usize).unwrap_or_default())
    }

    fn write(&mut self, index: StatusIndex, status: Status) {
        self.statuses
            .set(index.0 as usize, status.code())
            .unwrap_or_else(|_| unreachable!("index checked in range, codes fit 2 bits"));
    }
}

fn check_size(jws: String) -> Result<String, StatusError> {
    let max = registry_status::MAX_LIST_JWS_BYTES;
    if jws.len() > max {
        return Err(StatusError::EncodedTooLarge {
            bytes: jws.len(),
            max,
        });
    }
    Ok(jws)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Did {
        Did::parse("did:credence:issuer1").unwrap()
    }

    #[test]
    fn list_uris() {
        fn check(registry: &str, name: &str, expected: Option<&str>) {
            let uri = StatusListUri::for_list(registry, &issuer(), name).ok();
            assert_eq!(
                uri.as_ref().map(StatusListUri::as_str),
                expected,
                "{registry} {name}"
            );
        }
        check(
            "https://reg.example",
            "l1",
            Some("https://reg.example/status-lists/did:credence:issuer1/l1"),
        );
        check(
            "https://reg.example/",
            "l1",
            Some("https://reg.example/status-lists/did:credence:issuer1/l1"),
        );
        check(
            "http://127.0.0.1:8080/registry",
            "a.b_c-d",
            Some("http://127.0.0.1:8080/registry/status-lists/did:credence:issuer1/a.b_c-d"),
        );
        check("https://reg.example", "", None);
        check("https://reg.example", "a/b", None);
        check("https://reg.example", &"n".repeat(MAX_LIST_NAME + 1), None);
        check("ftp://reg.example", "l1", None);
        check("https://reg.example?x=1", "l1", None);
    }

    #[test]
    fn another_issuers_uri_is_refused() {
        let other = Did::parse("did:credence:other").unwrap();
        let uri = StatusListUri::for_list("https://reg.example", &other, "l1").unwrap();
        assert!(matches!(
            IssuerStatusList::new(issuer(), uri, DEFAULT_ENTRIES),
            Err(StatusError::InvalidUri(_))
        ));
    }
}
