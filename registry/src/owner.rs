//! The DID owner's side of did:credence: a key directory (rotation key and signing key as
//! private JWK files, mode 0600) and the operations built from it. The protocols that keep an owner in
//! control through crashes ([`create`], [`rotate`]) are here; the CLI's `credence did ...`
//! commands are thin wrappers over this module.
//!
//! Keys never leave this module except as signatures; they are never printed or logged.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::client::RegistryClient;
use crate::did::Did;
use crate::error::Error;
use crate::keys::{KeyType, SecretKey};
use crate::ops::{
    OpHash, OperationBody, Purpose, ServiceSpec, SignedOperation, VerificationMethodSpec,
};
use crate::wire::Resolution;

const ROTATION_FILE: &str = "rotation-key.jwk";
const SIGNING_FILE: &str = "signing-key.jwk";
const DID_FILE: &str = "did.txt";
/// The signed genesis of a DID not yet registered: a creation that failed is finished by
/// submitting it again (the DID is the hash of this operation, so it must not be re-signed).
const GENESIS_FILE: &str = "genesis.json";
const PENDING_DIR: &str = "pending";
/// Fragment of the signing key in the DID document.
pub const SIGNING_FRAGMENT: &str = "key-1";

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("key directory {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("key directory {0} already holds keys; use another --keys directory")]
    AlreadyInitialised(PathBuf),
    #[error("key file {0} is not a usable private key: {1}")]
    BadKey(PathBuf, crate::keys::KeyError),
    #[error("{0} holds no DID yet; run `credence did create` first")]
    NoDid(PathBuf),
    #[error("saved genesis {0} is not usable: {1}")]
    BadGenesis(PathBuf, String),
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The two keys of a DID owner.
#[derive(Debug)]
pub struct OwnerKeys {
    /// Signs operations (listed in `rotationKeys`).
    pub rotation: SecretKey,
    /// Signs credentials and authentication (verification method `#key-1`).
    pub signing: SecretKey,
}

impl OwnerKeys {
    pub fn generate(key_type: KeyType) -> Self {
        Self {
            rotation: SecretKey::generate(key_type),
            signing: SecretKey::generate(key_type),
        }
    }

    /// The genesis operation for these keys and `services`.
    pub fn genesis(&self, services: Vec<ServiceSpec>) -> SignedOperation {
        SignedOperation::sign(
            OperationBody::Create {
                rotation_keys: vec![self.rotation.public().to_did_key()],
                verification_methods: vec![self.verification_method(SIGNING_FRAGMENT)],
                services,
            },
            &self.rotation,
        )
    }

    /// An update that states `next`'s keys and `services`, signed by *this* rotation key. Used
    /// for plain updates (`next` = self) and for key rotation (`next` = fresh keys).
    pub fn update(
        &self,
        prev: OpHash,
        next: &OwnerKeys,
        services: Vec<ServiceSpec>,
    ) -> SignedOperation {
        self.update_naming(prev, next, SIGNING_FRAGMENT, services)
    }

    /// [`update`](Self::update), with `next`'s signing key named `#<signing_fragment>`
    /// instead of `#key-1`: a rotation that gives the new key a new id, so a `kid` never names
    /// two keys (the issuer service rotates tenants to `key-2`, `key-3`, ...).
    pub fn update_naming(
        &self,
        prev: OpHash,
        next: &OwnerKeys,
        signing_fragment: &str,
        services: Vec<ServiceSpec>,
    ) -> SignedOperation {
        SignedOperation::sign(
            OperationBody::Update {
                prev,
                rotation_keys: vec![next.rotation.public().to_did_key()],
                verification_methods: vec![next.verification_method(signing_fragment)],
                services,
            },
            &self.rotation,
        )
    }

    pub fn deactivate(&self, prev: OpHash) -> SignedOperation {
        SignedOperation::sign(OperationBody::Deactivate { prev }, &self.rotation)
    }

    fn verification_method(&self, fragment: &str) -> VerificationMethodSpec {
        VerificationMethodSpec {
            id: fragment.to_owned(),
            kind: "Multikey".to_owned(),
            public_key_multibase: Some(self.signing.public().to_multikey()),
            public_key_jwk: None,
            purposes: vec![
                Purpose::Authentication,
                Purpose::AssertionMethod,
                Purpose::CapabilityInvocation,
            ],
        }
    }
}

/// A directory holding an owner's keys and DID.
#[derive(Debug, Clone)]
pub struct KeyDir {
    path: PathBuf,
}

impl KeyDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Refuses to overwrite existing keys.
    pub fn ensure_empty(&self) -> Result<(), OwnerError> {
        if self.path.join(ROTATION_FILE).exists() || self.path.join(DID_FILE).exists() {
            return Err(OwnerError::AlreadyInitialised(self.path.clone()));
        }
        Ok(())
    }

    /// Starts a creation, or finds the one a failed `did create` left: the signed genesis to
    /// submit, and whether it was resumed. A new creation saves the keys, then the genesis, so
    /// a crash between the two leaves keys and no genesis; that directory is resumed too (the
    /// genesis is built from the saved keys and `services`). A directory holding a DID is taken.
    pub fn begin_creation(
        &self,
        key_type: KeyType,
        services: Vec<ServiceSpec>,
    ) -> Result<(SignedOperation, bool), OwnerError> {
        if self.path.join(DID_FILE).exists() {
            return Err(OwnerError::AlreadyInitialised(self.path.clone()));
        }
        let genesis_path = self.path.join(GENESIS_FILE);
        if genesis_path.exists() {
            let text = fs::read_to_string(&genesis_path).map_err(|e| self.io(e))?;
            let genesis = serde_json::from_str(&text)
                .map_err(|e| OwnerError::BadGenesis(genesis_path.clone(), e.to_string()))?;
            return Ok((genesis, true));
        }
        let (keys, resumed) = if self.path.join(ROTATION_FILE).exists() {
            (self.load_keys()?, true)
        } else {
            let keys = OwnerKeys::generate(key_type);
            self.save_keys(&keys)?;
            (keys, false)
        };
        let genesis = keys.genesis(services);
        let text = serde_json::to_string(&genesis)
            .map_err(|e| OwnerError::BadGenesis(genesis_path, e.to_string()))?;
        self.write_secret(GENESIS_FILE, text.as_bytes())?;
        Ok((genesis, resumed))
    }

    /// Records the DID a creation registered; its genesis is no longer needed.
    pub fn finish_creation(&self, did: &Did) -> Result<(), OwnerError> {
        self.save_did(did)?;
        remove_if_present(&self.path.join(GENESIS_FILE)).map_err(|e| self.io(e))
    }

    /// Undoes a creation the registry refused: the keys and genesis were never registered, so
    /// the directory is left as it was found and a corrected command can start afresh.
    pub fn abandon_creation(&self) -> Result<(), OwnerError> {
        if self.path.join(DID_FILE).exists() {
            return Ok(());
        }
        for file in [GENESIS_FILE, ROTATION_FILE, SIGNING_FILE] {
            remove_if_present(&self.path.join(file)).map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    pub fn load_keys(&self) -> Result<OwnerKeys, OwnerError> {
        Ok(OwnerKeys {
            rotation: self.read_key(ROTATION_FILE)?,
            signing: self.read_key(SIGNING_FILE)?,
        })
    }

    /// Writes both keys (replacing any present) with owner-only permissions. Each file is
    /// written to a temporary name and renamed, so a crash never leaves half a key.
    pub fn save_keys(&self, keys: &OwnerKeys) -> Result<(), OwnerError> {
        fs::create_dir_all(&self.path).map_err(|e| self.io(e))?;
        self.write_secret(ROTATION_FILE, keys.rotation.to_private_jwk().as_bytes())?;
        self.write_secret(SIGNING_FILE, keys.signing.to_private_jwk().as_bytes())
    }

    /// Moves the current keys to `retired/<label>/` (kept: old signatures stay checkable and the
    /// owner may need them for audit) before new ones are saved.
    pub fn retire_keys(&self, label: &str) -> Result<(), OwnerError> {
        let retired = self.path.join("retired").join(label);
        fs::create_dir_all(&retired).map_err(|e| self.io(e))?;
        for file in [ROTATION_FILE, SIGNING_FILE] {
            fs::rename(self.path.join(file), retired.join(file)).map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Saves keys a rotation is about to install in `pending/`, before the registry sees them:
    /// if the process dies after the registry accepted the rotation, the keys that now control
    /// the DID are still on disk.
    pub fn save_pending(&self, keys: &OwnerKeys) -> Result<(), OwnerError> {
        KeyDir::new(self.path.join(PENDING_DIR)).save_keys(keys)
    }

    /// Keys of an unfinished rotation, if any.
    pub fn load_pending(&self) -> Result<Option<OwnerKeys>, OwnerError> {
        let pending = KeyDir::new(self.path.join(PENDING_DIR));
        if !pending.path.join(ROTATION_FILE).exists() {
            return Ok(None);
        }
        pending.load_keys().map(Some)
    }

    /// Makes the pending keys current (after the registry accepted them).
    pub fn promote_pending(&self) -> Result<(), OwnerError> {
        for file in [ROTATION_FILE, SIGNING_FILE] {
            fs::rename(self.path.join(PENDING_DIR).join(file), self.path.join(file))
                .map_err(|e| self.io(e))?;
        }
        fs::remove_dir(self.path.join(PENDING_DIR)).map_err(|e| self.io(e))
    }

    /// Moves the pending keys of a rotation the registry never accepted out of the way.
    pub fn abandon_pending(&self, label: &str) -> Result<(), OwnerError> {
        let target = self.path.join("retired").join(format!("abandoned-{label}"));
        fs::create_dir_all(self.path.join("retired")).map_err(|e| self.io(e))?;
        fs::rename(self.path.join(PENDING_DIR), target).map_err(|e| self.io(e))
    }

    pub fn save_did(&self, did: &Did) -> Result<(), OwnerError> {
        self.write_secret(DID_FILE, format!("{did}\n").as_bytes())
    }

    pub fn did(&self) -> Result<Did, OwnerError> {
        let text = fs::read_to_string(self.path.join(DID_FILE))
            .map_err(|_| OwnerError::NoDid(self.path.clone()))?;
        Did::parse(text.trim()).map_err(|_| OwnerError::NoDid(self.path.clone()))
    }

    fn read_key(&self, file: &str) -> Result<SecretKey, OwnerError> {
        let path = self.path.join(file);
        let text = zeroize::Zeroizing::new(
            fs::read_to_string(&path).map_err(|e| OwnerError::Io(path.clone(), e))?,
        );
        SecretKey::from_private_jwk(&text).map_err(|e| OwnerError::BadKey(path, e))
    }

    /// Writes `bytes` to `file` through a temporary file and a rename. The temporary is made
    /// afresh (`create_new`: `O_CREAT | O_EXCL`, which never follows a symlink), after removing
    /// whatever sits at its name: a symlink planted there is removed, not written through, and
    /// one planted again in between makes the write fail rather than leak the key.
    fn write_secret(&self, file: &str, bytes: &[u8]) -> Result<(), OwnerError> {
        let target = self.path.join(file);
        let temporary = self.path.join(format!(".{file}.tmp"));
        remove_if_present(&temporary).map_err(|e| self.io(e))?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut handle = options.open(&temporary).map_err(|e| self.io(e))?;
        handle
            .write_all(bytes)
            .and_then(|()| handle.sync_all())
            .map_err(|e| self.io(e))?;
        fs::rename(&temporary, &target).map_err(|e| self.io(e))
    }

    fn io(&self, error: std::io::Error) -> OwnerError {
        OwnerError::Io(self.path.clone(), error)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why an owner's action against a registry did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The key directory could not be read or written.
    #[error(transparent)]
    Keys(#[from] OwnerError),
    /// The registry refused, or gave no usable answer.
    #[error(transparent)]
    Registry(#[from] Error),
}

/// What [`create`] registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub did: Did,
    /// Whether it finished a creation an earlier run began (its keys and services).
    pub resumed: bool,
}

/// Why [`create`] did not register a DID, and what it left in the key directory.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Keys(#[from] OwnerError),
    /// The registry answered with another DID than the genesis creates: nothing was saved as
    /// the directory's DID.
    #[error(
        "the registry answered with {served}, but this genesis creates {computed}; nothing was saved as this directory's DID"
    )]
    WrongDid { served: Did, computed: Did },
    /// The registry refused the genesis. A creation begun in this run was undone (`kept`
    /// false); a resumed one keeps its keys, since an earlier run may have registered it at
    /// another registry.
    #[error("{error}")]
    Refused { error: Error, kept: bool },
    /// No verdict (unreachable, overloaded, rate-limited): the keys and the signed genesis are
    /// kept, and the same call finishes the creation.
    #[error("{0}")]
    Unfinished(Error),
}

/// Creates a DID whose keys live in `dir`, in the order that loses nothing: keys, then the
/// signed genesis, are saved before the registry sees them; the DID is computed from the
/// genesis, never taken from the registry; an answer lost after the registry accepted is
/// recognised on the next call (`replayed`), which then finishes.
pub async fn create(
    client: &RegistryClient,
    dir: &KeyDir,
    key_type: KeyType,
    services: Vec<ServiceSpec>,
) -> Result<Created, CreateError> {
    let (genesis, resumed) = dir.begin_creation(key_type, services)?;
    let computed = crate::ops::did_for_genesis(&genesis);
    let did = match client.create(&genesis).await {
        Ok((served, _)) if served == computed => computed,
        Ok((served, _)) => return Err(CreateError::WrongDid { served, computed }),
        // The registry took it before, and its answer was lost.
        Err(error) if error.problem().kind.ends_with("/replayed") => computed,
        Err(error) if error.is_refusal() && !resumed => {
            dir.abandon_creation()?;
            return Err(CreateError::Refused { error, kept: false });
        }
        Err(error) if error.is_refusal() => return Err(CreateError::Refused { error, kept: true }),
        Err(error) => return Err(CreateError::Unfinished(error)),
    };
    dir.finish_creation(&did)?;
    Ok(Created { did, resumed })
}

/// How [`rotate`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotated {
    /// Fresh keys were registered and are now the directory's keys.
    Submitted(Resolution),
    /// An earlier rotation had been accepted by the registry but died before installing its
    /// keys: they are installed now and nothing new was submitted.
    FinishedInterrupted,
}

/// Rotates the DID in `dir` to fresh keys of `key_type`, crash-safe. The next keys are saved
/// (`pending/`) before the registry sees them and installed only after it accepted them, so a
/// crash at any point leaves keys that control the DID on disk. A pending rotation found at the
/// start is finished if the registry's (re-validated) state shows its key, and set aside
/// (`retired/abandoned-<head>`) if not. The update is built on the DID's own signed operations
/// (`owner_state`), so a registry cannot slip a service into what the owner signs.
pub async fn rotate(
    client: &RegistryClient,
    dir: &KeyDir,
    key_type: KeyType,
) -> Result<Rotated, ActionError> {
    let did = dir.did()?;
    let state = client.owner_state(&did).await?;
    let head = state.head.clone();
    if let Some(pending) = dir.load_pending()? {
        let pending_rotation_key = pending.rotation.public().to_did_key();
        if state.rotation_keys.contains(&pending_rotation_key) {
            dir.retire_keys(&format!("before-{}", head.as_str()))?;
            dir.promote_pending()?;
            return Ok(Rotated::FinishedInterrupted);
        }
        dir.abandon_pending(head.as_str())?;
    }
    let owner = dir.load_keys()?;
    let next = OwnerKeys::generate(key_type);
    dir.save_pending(&next)?;
    let resolution = client
        .submit(
            &did,
            &owner.update(head.clone(), &next, state.services.clone()),
        )
        .await?;
    dir.retire_keys(head.as_str())?;
    dir.promote_pending()?;
    Ok(Rotated::Submitted(resolution))
}
