//! credence-wallet: the citizen's keystore and credential store (encrypted at rest), the
//! OpenID4VCI and OpenID4VP client, selective disclosure with consent, and encrypted backups.
//!
//! Not built yet: this crate exists so the workspace has its final shape. It will check what it
//! receives with the verifier library.
