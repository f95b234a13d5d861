//! [`IssuerService`]: what every domain operation of the issuer service needs (the store, the
//! master key, the registry, the clock, the republisher's doorbell), and the tenant's keys as
//! the domain uses them ([`TenantKeys`]). The operations themselves live in `tenants.rs`,
//! `types.rs`, `issue.rs`, `status_service.rs` and `rotation.rs`, each an `impl IssuerService`
//! block.
//!
//! No axum and no SQL here or in those modules: they are called by `http/` and by tests alike.

use std::sync::Arc;
use std::time::Duration;

use credence_registry::client::RegistryClient;
use credence_registry::clock::Clock;
use credence_registry::keys::{KeyType, SecretKey};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::ids::TenantId;
use crate::jws::{IssuerKey, Kid};
use crate::secrets::MasterKey;
use crate::status::{DEFAULT_ENTRIES, Ttl};
use crate::store::{IssuerStore, StoredTenant};

/// Tunables of the service, so tests and the binary build it the same way.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    /// Base URL of the registry (`http://127.0.0.1:8080/registry`): DIDs are registered and
    /// lists published there, and status list URIs in credentials start with it.
    pub registry_url: String,
    /// Entries per status list (at least the registry's minimum, 131,072).
    pub list_entries: u32,
    /// How long verifiers may cache a published list.
    pub status_ttl: Ttl,
    /// Key type of new tenants' keys.
    pub key_type: KeyType,
    /// How long the republisher waits after a change for more changes to join it.
    pub coalesce: Duration,
    /// How often the republisher looks for lists changed by another instance or left
    /// unpublished (the registry was down, or a publication would not be newer).
    pub republish_interval: Duration,
    /// The public base URL of the server (`https://agency.example`), without the issuer's
    /// prefix: OpenID4VCI issuer identifiers are `<public_url><prefix>/<tenant>`.
    pub public_url: String,
    /// Where the issuer's routes are mounted under `public_url` (`/issuer`; "" alone).
    pub prefix: String,
    /// How often expired OpenID4VCI offers' claims, access tokens and nonces are deleted.
    pub sweep_interval: Duration,
}

impl ServiceOptions {
    pub fn new(registry_url: &str) -> Self {
        Self {
            registry_url: registry_url.trim_end_matches('/').to_owned(),
            list_entries: DEFAULT_ENTRIES,
            status_ttl: Ttl {
                seconds: credence_registry::status::DEFAULT_TTL_SECONDS,
            },
            key_type: KeyType::Ed25519,
            coalesce: Duration::from_millis(200),
            republish_interval: Duration::from_millis(500),
            public_url: "http://127.0.0.1:8080".to_owned(),
            prefix: "/issuer".to_owned(),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

/// The issuer service's domain: one per process, shared by every request.
pub struct IssuerService {
    pub(crate) store: Arc<dyn IssuerStore>,
    pub(crate) master_key: MasterKey,
    pub(crate) registry: RegistryClient,
    pub(crate) clock: Clock,
    pub(crate) options: ServiceOptions,
    /// Rung on every status change; the republisher wakes up on it.
    pub(crate) republish: Arc<tokio::sync::Notify>,
    /// Held by a key rotation (`rotation.rs`) from reading the DID's state to installing keys.
    pub(crate) rotations: tokio::sync::Mutex<()>,
    /// Records of issuance waiting to be committed together.
    pub(crate) commits: crate::group_commit::GroupCommit,
    /// Credential types read and compiled for issuance (types never change once stored).
    pub(crate) types: crate::types::TypeCache,
    /// Held while a status list is started, so racing issuances start one, not one each.
    pub(crate) new_list: tokio::sync::Mutex<()>,
    /// Tenants' signing keys as opened, with the sealed bytes they were opened from: a tenant
    /// row read with other sealed keys (a rotation, here or on another instance) opens them
    /// afresh. Opening costs an AEAD decryption and, for P-256, a scalar multiplication per
    /// request otherwise. The process holds the master key anyway, so keeping opened keys
    /// exposes nothing a memory read would not.
    pub(crate) signing_keys:
        std::sync::RwLock<std::collections::HashMap<TenantId, (Vec<u8>, IssuerKey)>>,
}

impl std::fmt::Debug for IssuerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerService")
            .field("registry", &self.options.registry_url)
            .finish_non_exhaustive()
    }
}

impl IssuerService {
    pub fn new(
        store: Arc<dyn IssuerStore>,
        master_key: MasterKey,
        options: ServiceOptions,
        clock: Clock,
    ) -> Result<Self, Error> {
        let registry = RegistryClient::new(&options.registry_url).map_err(Error::from_registry)?;
        Ok(Self {
            store,
            master_key,
            registry,
            clock,
            options,
            republish: Arc::new(tokio::sync::Notify::new()),
            rotations: tokio::sync::Mutex::new(()),
            commits: Default::default(),
            types: Default::default(),
            new_list: Default::default(),
            signing_keys: Default::default(),
        })
    }

    pub fn store(&self) -> &Arc<dyn IssuerStore> {
        &self.store
    }
}

/// A tenant's two keys: the rotation key (controls its DID: updates, rotation) and the
/// signing key (credentials and status lists), with the fragment that names the signing key
/// in the DID document (`key-1` at creation; each rotation names its key anew, `key-2`, ...,
/// so that a `kid` never names two keys). `Debug` redacts (through `SecretKey`'s own), and
/// the sealed form is wiped after use.
#[derive(Debug)]
pub struct TenantKeys {
    pub rotation: SecretKey,
    pub signing: SecretKey,
    pub signing_fragment: String,
}

impl TenantKeys {
    /// The keys as sealed under the master key, the tenant id as associated data. The
    /// plaintext is the two private JWKs (compact JSON, so without newlines) and the signing
    /// key's fragment, on three lines. Sealing the fragment with the keys keeps a key and its
    /// name from ever being stored apart.
    pub fn seal(&self, master: &MasterKey, tenant: &TenantId) -> Vec<u8> {
        let rotation = self.rotation.to_private_jwk();
        let signing = self.signing.to_private_jwk();
        let mut plaintext = Zeroizing::new(Vec::with_capacity(
            rotation.len() + signing.len() + self.signing_fragment.len() + 2,
        ));
        plaintext.extend_from_slice(rotation.as_bytes());
        plaintext.push(b'\n');
        plaintext.extend_from_slice(signing.as_bytes());
        plaintext.push(b'\n');
        plaintext.extend_from_slice(self.signing_fragment.as_bytes());
        master.seal(tenant.as_str().as_bytes(), &plaintext)
    }

    pub fn open(master: &MasterKey, tenant: &StoredTenant) -> Result<Self, Error> {
        Self::open_sealed(master, &tenant.id, &tenant.sealed_keys)
    }

    /// Opens keys sealed by [`seal`](Self::seal) for `tenant`. Keys sealed before rotation
    /// existed hold two lines; their signing key is `key-1`.
    pub fn open_sealed(
        master: &MasterKey,
        tenant: &TenantId,
        sealed: &[u8],
    ) -> Result<Self, Error> {
        Self::with_lines(master, tenant, sealed, |rotation, signing, fragment| {
            let key = |jwk: &str| {
                SecretKey::from_private_jwk(jwk).map_err(|_| corrupt(tenant, "bad sealed JWK"))
            };
            Ok(Self {
                rotation: key(rotation)?,
                signing: key(signing)?,
                signing_fragment: fragment.to_owned(),
            })
        })
    }

    /// The signing key and its fragment alone (the rotation key is needed only to update the
    /// DID). Reading a private key derives its public key (for P-256 a scalar multiplication,
    /// as costly as a signature): issuance opening both keys spent a third of its CPU here
    /// with ES256 (BENCHMARKS.md, issuer session 5).
    pub(crate) fn open_signing(
        master: &MasterKey,
        tenant: &StoredTenant,
    ) -> Result<(SecretKey, String), Error> {
        Self::with_lines(
            master,
            &tenant.id,
            &tenant.sealed_keys,
            |_, signing, fragment| {
                let key = SecretKey::from_private_jwk(signing)
                    .map_err(|_| corrupt(&tenant.id, "bad sealed JWK"))?;
                Ok((key, fragment.to_owned()))
            },
        )
    }

    /// Opens the sealed keys and hands their lines (rotation JWK, signing JWK, signing key
    /// fragment — `key-1` for keys sealed before rotation existed, which hold two lines) to
    /// `parse`; the plaintext is wiped after.
    fn with_lines<T>(
        master: &MasterKey,
        tenant: &TenantId,
        sealed: &[u8],
        parse: impl FnOnce(&str, &str, &str) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let plaintext = master
            .open(tenant.as_str().as_bytes(), sealed)
            .map_err(|e| corrupt(tenant, &e.to_string()))?;
        let text = std::str::from_utf8(&plaintext)
            .map_err(|_| corrupt(tenant, "sealed keys not UTF-8"))?;
        let mut lines = text.split('\n');
        let (Some(rotation), Some(signing), fragment, None) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(corrupt(tenant, "sealed keys not two JWKs and a fragment"));
        };
        parse(
            rotation,
            signing,
            fragment.unwrap_or(credence_registry::owner::SIGNING_FRAGMENT),
        )
    }
}

impl IssuerService {
    /// The key a tenant signs credentials and lists with: its signing key, named
    /// `<DID>#<fragment>` (`#key-1` until the first rotation).
    pub(crate) fn issuer_key(&self, tenant: &StoredTenant) -> Result<IssuerKey, Error> {
        if let Some((sealed, key)) = self
            .signing_keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&tenant.id)
        {
            if *sealed == tenant.sealed_keys {
                return Ok(key.clone());
            }
        }
        let key = self.open_issuer_key(tenant)?;
        self.signing_keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant.id.clone(), (tenant.sealed_keys.clone(), key.clone()));
        Ok(key)
    }

    fn open_issuer_key(&self, tenant: &StoredTenant) -> Result<IssuerKey, Error> {
        let (signing, fragment) = TenantKeys::open_signing(&self.master_key, tenant)?;
        let kid = Kid::parse(&format!("{}#{fragment}", tenant.did))
            .map_err(|e| Error::Internal(e.to_string()))?;
        IssuerKey::for_issuer(signing, kid, &tenant.did).map_err(|e| Error::Internal(e.to_string()))
    }
}

/// A tenant's sealed keys that do not open or parse: an internal error naming the tenant.
fn corrupt(tenant: &TenantId, what: &str) -> Error {
    Error::Internal(format!("tenant {tenant}: {what}"))
}
