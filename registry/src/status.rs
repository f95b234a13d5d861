//! Status list hosting: issuers publish signed status lists (W3C Bitstring Status List v1.0
//! credentials secured as `vc+jwt`, and IETF Token Status Lists as `statuslist+jwt`); the
//! registry checks them and serves them at stable URLs, every version logged.
//!
//! A version is accepted only if its publisher is a trust anchor or an accredited issuer (status
//! lists exist for credentials, and only those of accredited issuers count; nobody else can
//! make the registry store and log permanent data), its URI is one the registry assigns to
//! that issuer (`<base>/status-lists/<issuer DID>/<name>`, so nobody can take another
//! issuer's URL), it is at most `MAX_LIST_JWS_BYTES`, it is signed by a key the issuer's DID
//! document lists under `assertionMethod` both now and at the list's issuance time, names that
//! issuer, is newer than the version it replaces, and decodes to at least `MIN_ENTRIES` entries
//! (herd privacy) without inflating past `MAX_DECODED_BYTES` (decompression bombs are cut off
//! while inflating, not after). Cheap checks run first: size, URI and publisher before the
//! signature (a DID resolution), the signature before inflating.
//!
//! The lists themselves are `ssi-status`'s bit strings (`token_status_list::BitString`,
//! `bitstring_status_list::SizedBitString`): they own each format's bit order and status sizes,
//! and build lists for issuers. Only the transport decoding is ours, because `ssi-status` 0.8's
//! decoders are looser than the specs and than a registry must be: `JsonStatusList::decode`
//! expects *padded* base64url (the Token Status List's own example `eNrbuRgAAhcBXQ` fails),
//! `EncodedList::decode` accepts any multibase prefix where the W3C spec requires `u`, and both
//! cut output at the limit silently instead of refusing a list that inflates past it. Ours
//! refuses each of those. Checked against the spec vectors. No HTTP and no SQL here.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use ssi_status::{bitstring_status_list, token_status_list};

use crate::did::Did;
use crate::error::Error;
use crate::resolver::Resolver;
pub use crate::wire::{StatusFormat, StatusListVersion};

/// Fewest entries a list may have: W3C Bitstring Status List §6.1 (131,072 = 16 KiB of bits).
pub const MIN_ENTRIES: u64 = 131_072;
/// Most bytes a list may inflate to (2^24 entries of 8 bits).
pub const MAX_DECODED_BYTES: u64 = 16 * 1024 * 1024;
/// Response header naming the log index of the version served, so a client can prove it
/// (`RegistryClient::prove_entry` with `StatusListVersion::log_entry`).
pub const LOG_INDEX_HEADER: &str = "credence-log-index";
/// Cache lifetime when the list names no `ttl`, in seconds.
pub const DEFAULT_TTL_SECONDS: u64 = 300;
/// Longest cache lifetime served (`Cache-Control: max-age`), whatever the list's `ttl` says:
/// a verifier must see a revocation within a day.
pub const MAX_TTL_SECONDS: u64 = 86_400;
/// Largest signed list accepted (the JWS). A 131,072-entry 1-bit list with every other entry
/// revoked compresses to about 16 KiB, 30 KiB once base64url-encoded twice; with its log
/// entry's other members it stays under `log::MAX_ENTRY_BYTES`.
pub const MAX_LIST_JWS_BYTES: usize = 48 * 1024;
/// Longest list URI.
pub const MAX_URI_BYTES: usize = 512;
/// The path segment under which list URIs live: `<base>/status-lists/<issuer DID>/<name>`.
pub const URI_SEGMENT: &str = "status-lists";

/// A decoded list, in `ssi-status`'s representation of its format. Bit order differs: the IETF
/// Token Status List puts index 0 in the least significant bits of byte 0 (§4.1), the W3C
/// bitstring in the most significant bit (Bitstring Status List §4.2).
#[derive(Debug, Clone)]
pub enum DecodedList {
    Token(token_status_list::BitString),
    Bitstring(bitstring_status_list::SizedBitString),
}

impl DecodedList {
    fn new(format: StatusFormat, bits: u64, bytes: Vec<u8>) -> Result<Self, Error> {
        let bits = u8::try_from(bits)
            .ok()
            .filter(|b| matches!(b, 1 | 2 | 4 | 8))
            .ok_or_else(|| {
                Error::InvalidStatusList("bits per status must be 1, 2, 4 or 8".into())
            })?;
        let invalid = || Error::InvalidStatusList(format!("bits per status {bits}"));
        Ok(match format {
            StatusFormat::TokenStatusListJwt => {
                Self::Token(token_status_list::BitString::from_parts(
                    bits.try_into().map_err(|_| invalid())?,
                    bytes,
                ))
            }
            StatusFormat::BitstringVcJwt => {
                Self::Bitstring(bitstring_status_list::SizedBitString::from_bytes(
                    bits.try_into().map_err(|_| invalid())?,
                    bytes,
                ))
            }
        })
    }

    pub fn format(&self) -> StatusFormat {
        match self {
            Self::Token(_) => StatusFormat::TokenStatusListJwt,
            Self::Bitstring(_) => StatusFormat::BitstringVcJwt,
        }
    }

    /// Bits per status.
    pub fn bits(&self) -> u8 {
        match self {
            Self::Token(list) => list.status_size().into(),
            Self::Bitstring(list) => list.status_size().into(),
        }
    }

    /// Number of statuses.
    pub fn len(&self) -> u64 {
        match self {
            Self::Token(list) => list.len() as u64,
            Self::Bitstring(list) => list.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The status at `index`, `None` outside the list.
    pub fn status(&self, index: u64) -> Option<u8> {
        let index = usize::try_from(index).ok()?;
        match self {
            Self::Token(list) => list.get(index),
            Self::Bitstring(list) => list.get(index),
        }
    }
}

/// What a status list version says about itself.
#[derive(Debug, Clone)]
pub struct ListClaims {
    pub format: StatusFormat,
    /// The list's URI (`sub` / `credentialSubject.id`): its identity across versions.
    pub uri: String,
    pub issuer: Did,
    /// When this version was issued (`iat` / `validFrom`).
    pub issued: DateTime<Utc>,
    pub ttl_seconds: u64,
    pub list: DecodedList,
}

/// The stable key of a list URI: base32 SHA-256 of `<issuer DID>/<name>` for a URI of the
/// registry's form (so every host the registry is reached through names the same list), of the
/// whole URI otherwise (no such list can be published, so its key finds nothing).
pub fn list_key(uri: &str) -> crate::ids::ListKey {
    match split_list_uri(uri) {
        Some((did, name)) => key_for(did, name),
        None => hash_key(uri),
    }
}

/// The key of list `name` of `issuer` (what `GET /status-lists/{did}/{name}` serves).
pub fn key_for(issuer: &str, name: &str) -> crate::ids::ListKey {
    hash_key(&format!("{issuer}/{name}"))
}

fn hash_key(text: &str) -> crate::ids::ListKey {
    crate::ids::ListKey::computed(
        data_encoding::BASE32_NOPAD
            .encode(&Sha256::digest(text.as_bytes()))
            .to_ascii_lowercase()[..32]
            .to_owned(),
    )
}

/// `(issuer DID, name)` of a URI ending in `/status-lists/<DID>/<name>`.
fn split_list_uri(uri: &str) -> Option<(&str, &str)> {
    let (head, name) = uri.rsplit_once('/')?;
    let (head, did) = head.rsplit_once('/')?;
    head.ends_with(&format!("/{URI_SEGMENT}"))
        .then_some((did, name))
}

/// Whether `name` may name a list: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn is_list_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks that `uri` is a list URI the registry assigns to `issuer`: an absolute `https` (or
/// `http`, for local deployments) URL without credentials, query or fragment, at most
/// `MAX_URI_BYTES`, whose path ends in `/status-lists/<issuer DID>/<name>`. Only the issuer can
/// sign a list naming its own DID, so nobody can take another issuer's list URL, whoever
/// published first. The host is not checked: the registry may be reached under several names.
pub fn check_list_uri(uri: &str, issuer: &Did) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::InvalidStatusList(format!(
            "the list URI {uri:?} {why}; a list URI has the form \
             https://<registry>/{URI_SEGMENT}/{issuer}/<name>"
        ))
    };
    if uri.len() > MAX_URI_BYTES {
        return Err(bad(&format!("is longer than {MAX_URI_BYTES} bytes")));
    }
    let url = url::Url::parse(uri).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("is not an https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("carries credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() || url.as_str() != uri {
        return Err(bad("has a query or fragment, or is not in canonical form"));
    }
    match split_list_uri(url.path()) {
        Some((did, name)) if did == issuer.as_str() && is_list_name(name) => Ok(()),
        Some((did, _)) if did != issuer.as_str() => Err(Error::Forbidden(format!(
            "the list URI {uri:?} belongs to {did}, not to the publisher {issuer}"
        ))),
        _ => Err(bad("does not end in /status-lists/<issuer DID>/<name>")),
    }
}

/// Reads the claims of a signed status list (the signature is checked by the caller).
pub fn parse_claims(header: &Value, payload: &Value) -> Result<ListClaims, Error> {
    let bad = |detail: String| Error::InvalidStatusList(detail);
    let str_at =
        |value: &Value, name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    match header.get("typ").and_then(Value::as_str) {
        // draft-ietf-oauth-status-list §5.1: typ statuslist+jwt; sub, iat, status_list{bits,lst}.
        Some("statuslist+jwt") => {
            let issuer = str_at(payload, "iss").ok_or_else(|| bad("iss is required".into()))?;
            let uri = str_at(payload, "sub")
                .ok_or_else(|| bad("sub (the list's URI) is required".into()))?;
            let iat = payload
                .get("iat")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("iat is required".into()))?;
            let status_list = payload
                .get("status_list")
                .ok_or_else(|| bad("status_list is required".into()))?;
            let bits = status_list.get("bits").and_then(Value::as_u64).unwrap_or(0);
            let lst = str_at(status_list, "lst")
                .ok_or_else(|| bad("status_list.lst is required".into()))?;
            let compressed = URL_SAFE_NO_PAD
                .decode(lst.as_bytes())
                .map_err(|e| bad(format!("lst is not base64url: {e}")))?;
            let bytes = inflate(flate2::read::ZlibDecoder::new(compressed.as_slice()))?;
            Ok(ListClaims {
                format: StatusFormat::TokenStatusListJwt,
                uri,
                issuer: Did::parse(&issuer)?,
                issued: Utc
                    .timestamp_opt(iat, 0)
                    .single()
                    .ok_or_else(|| bad("iat out of range".into()))?,
                ttl_seconds: payload
                    .get("ttl")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_TTL_SECONDS),
                list: DecodedList::new(StatusFormat::TokenStatusListJwt, bits, bytes)?,
            })
        }
        // VC-JOSE-COSE: typ vc+jwt, the payload is the credential (Bitstring Status List §2.2).
        Some("vc+jwt") => {
            let types = payload
                .get("type")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !types.iter().any(|t| t == "BitstringStatusListCredential") {
                return Err(bad("type must include BitstringStatusListCredential".into()));
            }
            let issuer = payload
                .get("issuer")
                .and_then(|i| i.as_str().map(str::to_owned).or_else(|| str_at(i, "id")))
                .ok_or_else(|| bad("issuer is required".into()))?;
            let subject = payload
                .get("credentialSubject")
                .ok_or_else(|| bad("credentialSubject is required".into()))?;
            let uri = str_at(subject, "id")
                .ok_or_else(|| bad("credentialSubject.id (the list's URI) is required".into()))?;
            if str_at(subject, "type").as_deref() != Some("BitstringStatusList") {
                return Err(bad(
                    "credentialSubject.type must be BitstringStatusList".into()
                ));
            }
            let valid_from =
                str_at(payload, "validFrom").ok_or_else(|| bad("validFrom is required".into()))?;
            let issued = DateTime::parse_from_rfc3339(&valid_from)
                .map_err(|e| bad(format!("validFrom: {e}")))?
                .with_timezone(&Utc);
            let encoded = str_at(subject, "encodedList")
                .ok_or_else(|| bad("encodedList is required".into()))?;
            // §4.2: multibase base64url ('u') of the GZIP-compressed bitstring.
            let body = encoded
                .strip_prefix('u')
                .ok_or_else(|| bad("encodedList must be multibase base64url ('u')".into()))?;
            let compressed = URL_SAFE_NO_PAD
                .decode(body.as_bytes())
                .map_err(|e| bad(format!("encodedList is not base64url: {e}")))?;
            let bytes = inflate(flate2::read::GzDecoder::new(compressed.as_slice()))?;
            let bits = subject
                .get("statusSize")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let ttl_ms = subject.get("ttl").and_then(Value::as_u64);
            Ok(ListClaims {
                format: StatusFormat::BitstringVcJwt,
                uri,
                issuer: Did::parse(&issuer)?,
                issued,
                ttl_seconds: ttl_ms.map_or(DEFAULT_TTL_SECONDS, |ms| ms / 1000),
                list: DecodedList::new(StatusFormat::BitstringVcJwt, bits, bytes)?,
            })
        }
        other => Err(bad(format!(
            "JWS typ must be statuslist+jwt or vc+jwt, not {other:?}"
        ))),
    }
}

/// A 1-bit Token Status List of `entries` statuses with the entries in `set` set to 1
/// (INVALID); `Err` names an entry outside the list.
pub fn one_bit_token_list(
    entries: usize,
    set: impl IntoIterator<Item = u64>,
) -> Result<token_status_list::BitString, u64> {
    let one_bit = token_status_list::StatusSize::try_from(1u8).map_err(|_| 0u64)?;
    let mut list = token_status_list::BitString::new_zeroed(one_bit, entries);
    for index in set {
        let position = usize::try_from(index).map_err(|_| index)?;
        list.set(position, token_status_list::INVALID)
            .map_err(|_| index)?;
    }
    Ok(list)
}

/// The payload of a Token Status List token (draft-ietf-oauth-status-list §5.1): `iss` the
/// issuer, `sub` the list's URI (where it is served), `iat`, `ttl`, and `status_list` with the
/// list's bits per entry and its compressed bytes. The issuer signs it as `statuslist+jwt`.
pub fn token_status_list_payload(
    issuer: &Did,
    uri: &str,
    issued: DateTime<Utc>,
    ttl_seconds: u64,
    list: &token_status_list::BitString,
) -> Value {
    serde_json::json!({
        "iss": issuer,
        "sub": uri,
        "iat": issued.timestamp(),
        "ttl": ttl_seconds,
        "status_list": {
            "bits": u8::from(list.status_size()),
            "lst": compress_token_list(list),
        },
    })
}

/// What an unverified list says about who publishes it and where: `(issuer, uri)`, read from
/// the payload without checking the signature or inflating the list, so the cheap checks
/// (URI, publisher) can run before the costly ones. Nothing read here is trusted beyond that:
/// [`verify_list`] checks the signer is this issuer.
pub fn peek(jws: &str) -> Result<(Did, String), Error> {
    let bad = |detail: String| Error::InvalidStatusList(detail);
    let payload_b64 = jws
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::BadSignature("expected a compact JWS".into()))?;
    let payload = crate::json::parse_strict(
        &crate::keys::decode_b64url(payload_b64)
            .map_err(|e| Error::BadSignature(format!("JWS payload: {e}")))?,
    )?;
    fn str_at<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
        value.get(name).and_then(Value::as_str)
    }
    let issuer = str_at(&payload, "iss")
        .or_else(|| str_at(&payload, "issuer"))
        .or_else(|| payload.get("issuer").and_then(|i| str_at(i, "id")))
        .ok_or_else(|| bad("the list names no issuer (iss / issuer)".into()))?;
    let uri = str_at(&payload, "sub")
        .or_else(|| {
            payload
                .get("credentialSubject")
                .and_then(|subject| str_at(subject, "id"))
        })
        .ok_or_else(|| bad("the list has no URI (sub / credentialSubject.id)".into()))?;
    Ok((Did::parse(issuer)?, uri.to_owned()))
}

/// Verifies a signed status list (either format) against its issuer's current DID document and
/// reads it: the signer must be the issuer the list names. What publishers and readers share;
/// publication checks more (`StatusLists::publish`).
pub async fn verify_list(
    resolver: &Resolver,
    jws: &str,
) -> Result<(crate::signed::SignedByDid, ListClaims), Error> {
    let signed = crate::signed::verify(resolver, jws, "assertionMethod").await?;
    let claims = parse_claims(&signed.header, &signed.payload)?;
    if claims.issuer != signed.did {
        return Err(Error::Forbidden(format!(
            "the list names issuer {} but is signed by {}",
            claims.issuer, signed.did
        )));
    }
    Ok((signed, claims))
}

impl ListClaims {
    /// The log entry that records this list as signed (`jws`).
    pub fn log_entry(&self, jws: &str) -> crate::log::Entry {
        crate::log::Entry::StatusList {
            key: list_key(&self.uri).to_string(),
            uri: self.uri.clone(),
            issuer: self.issuer.clone(),
            jws: jws.trim().to_owned(),
        }
    }
}

/// The `lst` value of a Token Status List: base64url (unpadded) of the zlib-compressed bytes
/// (§4.1).
pub fn compress_token_list(list: &token_status_list::BitString) -> String {
    URL_SAFE_NO_PAD.encode(list.to_compressed_bytes(ssi_status::Compression::best()))
}

/// Inflates with a hard bound: a compressed list that grows past `MAX_DECODED_BYTES` is
/// refused as soon as it does.
fn inflate(decoder: impl std::io::Read) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    decoder
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::InvalidStatusList(format!("list does not decompress: {e}")))?;
    if bytes.len() as u64 > MAX_DECODED_BYTES {
        return Err(Error::InvalidStatusList(format!(
            "list inflates past {MAX_DECODED_BYTES} bytes"
        )));
    }
    Ok(bytes)
}
