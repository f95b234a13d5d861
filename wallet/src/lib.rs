//! credence-wallet: the citizen's wallet engine, a library a phone or desktop app embeds.
//!
//! What exists (issue 13):
//! - [`store`]: one SQLite wallet file; a header with the Argon2id parameters, the salt and a
//!   key-check value; every holder key, credential, copy use and history entry sealed with
//!   XChaCha20-Poly1305; writes in transactions. [`Wallet::create`], [`Wallet::open`].
//! - [`crypto`]: the passphrase, key derivation and AEAD (zeroized, redacting `Debug`).
//! - [`holder`]: a fresh holder key per credential copy (Ed25519, P-256), copies per type, and
//!   the unlinkable choice of a copy per relying party.
//! - [`credentials`]: received SD-JWT VCs and `vc+jwt`s parsed into claims (path, selectively
//!   disclosable or not; a `vc+jwt` is always disclosed whole), stored after the
//!   [`credentials::CredentialCheck`] seam accepts them; list, show, delete.
//! - [`present`]: the consent view, SD-JWT presentations with key-binding JWTs and `vp+jwt`
//!   presentations of `vc+jwt`s, pure.
//! - [`history`]: every disclosure recorded, and the verifier's answer.
//!
//! - [`check`]: the verifier library (`credence_verifier::pipeline`) as the credential check;
//!   "could not check" is its own error, never a refusal.
//! - [`oid4vci`]: the OpenID4VCI 1.0 client (pre-authorized code, tx_code, nonce, proofs with a
//!   fresh key per copy, batch), async; credentials stored only once all of them verified.
//! - [`openid4vp`]: the OpenID4VP 1.0 client (request by reference, signature against the
//!   client id — [`client_id`]: did:key, or X.509 `x509_san_dns` / `x509_hash` to trusted
//!   CAs — DCQL matching of several credential queries and credential sets, a consent view per
//!   credential, one `vp_token` keyed by query id, `direct_post` and `direct_post.jwt`).
//! - [`http`]: the one URL policy of both protocol clients (https, no private targets, DNS
//!   filtered), as the registry's resolver applies it.
//! - [`backup`]: encrypted backups (a compact JWE, `dir` + `A256GCM` under an Argon2id key).
//!
//! Not built yet: passphrase change, receiving `vc+jwt`s over OpenID4VCI (`oid4vci` takes
//! `dc+sd-jwt`; a `vc+jwt` is stored with `Wallet::store_received` / `store_credential`), Data
//! Integrity credentials. This crate carries no server crate (`scripts/check-deps.sh`).

pub mod backup;
pub mod check;
pub mod client_id;
pub mod credentials;
pub mod crypto;
pub mod error;
pub mod history;
pub mod holder;
pub mod http;
pub mod oid4vci;
pub mod openid4vp;
pub mod present;
pub mod store;

pub use crypto::{KdfParams, Passphrase};
pub use error::{TamperedPart, WalletError};
pub use store::Wallet;
