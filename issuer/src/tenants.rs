//! Tenants (agencies): creating one (keys generated, its did:credence registered at the
//! registry, keys sealed under the master key, a one-time API token), and finding the tenant a
//! request's token speaks for.
//!
//! Order of creation: the DID is registered first and the tenant stored after. A crash between
//! the two leaves a DID at the registry that nobody uses (it holds no personal data) and
//! nothing acknowledged to the operator; the other order would leave a tenant whose token works
//! but whose DID does not resolve. The DID is computed from the signed genesis, never taken
//! from the registry's answer.

use chrono::{DateTime, Utc};
use credence_registry::did::Did;
use credence_registry::owner::OwnerKeys;
use serde::Serialize;

use crate::error::Error;
use crate::ids::TenantId;
use crate::secrets::BearerToken;
use crate::service::{IssuerService, TenantKeys};
use crate::store::{StoreError, StoredTenant};

/// Longest tenant display name.
pub const MAX_NAME: usize = 200;

/// What the operator asks for.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    /// A display name ("Land Bureau of X").
    pub name: String,
}

/// A tenant as the API shows it (never its keys).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    #[schema(value_type = String)]
    pub id: TenantId,
    pub name: String,
    #[schema(value_type = String)]
    pub did: Did,
    #[schema(value_type = String, format = DateTime)]
    pub created: DateTime<Utc>,
}

impl From<&StoredTenant> for TenantView {
    fn from(tenant: &StoredTenant) -> Self {
        Self {
            id: tenant.id.clone(),
            name: tenant.name.clone(),
            did: tenant.did.clone(),
            created: tenant.created,
        }
    }
}

/// A new tenant and its API token, shown this once (only its hash is kept).
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant: TenantView,
    pub token: BearerToken,
}

impl IssuerService {
    /// Creates a tenant: generates its keys, registers its DID at the registry, stores it
    /// with its keys sealed and a fresh token's hash.
    pub async fn create_tenant(&self, new: NewTenant) -> Result<CreatedTenant, Error> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(Error::InvalidRequest(format!(
                "name must be 1 to {MAX_NAME} characters without control characters"
            )));
        }
        // Checked before registering, so a taken id costs the registry nothing; the insert
        // below decides races.
        if self.store.tenant(&new.id).await?.is_some() {
            return Err(Error::TenantExists(new.id.to_string()));
        }
        let owner = OwnerKeys::generate(self.options.key_type);
        let genesis = owner.genesis(Vec::new());
        let did = credence_registry::ops::did_for_genesis(&genesis);
        match self.registry.create(&genesis).await {
            Ok((served, _)) if served == did => {}
            Ok((served, _)) => {
                return Err(Error::RegistryRefused(format!(
                    "it registered {served}, but the genesis creates {did}"
                )));
            }
            // Registered before and the answer lost: the DID is ours all the same.
            Err(error) if error.problem().kind.ends_with("/replayed") => {}
            Err(error) => return Err(Error::from_registry(error)),
        }
        let keys = TenantKeys {
            rotation: owner.rotation,
            signing: owner.signing,
            signing_fragment: credence_registry::owner::SIGNING_FRAGMENT.to_owned(),
        };
        let tenant = StoredTenant {
            sealed_keys: keys.seal(&self.master_key, &new.id),
            id: new.id,
            name: name.to_owned(),
            did,
            created: self.clock.now(),
        };
        let token = BearerToken::generate();
        match self.store.create_tenant(&tenant, &token.hash()).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(Error::TenantExists(tenant.id.to_string()));
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!(tenant = %tenant.id, did = %tenant.did, "tenant created");
        Ok(CreatedTenant {
            tenant: TenantView::from(&tenant),
            token,
        })
    }

    /// The tenant `token` speaks for, if it is `tenant`. An unknown token is
    /// `Unauthenticated`; another tenant's token is `TenantNotFound`, exactly as for a
    /// tenant that does not exist.
    pub async fn authenticate_tenant(
        &self,
        token: &BearerToken,
        tenant: &TenantId,
    ) -> Result<StoredTenant, Error> {
        let owner = self
            .store
            .tenant_by_token(&token.hash())
            .await?
            .ok_or(Error::Unauthenticated)?;
        if &owner.id != tenant {
            return Err(Error::TenantNotFound(tenant.to_string()));
        }
        Ok(owner)
    }
}
