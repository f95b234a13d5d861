//! The state HTTP handlers share: the domain service and the hash of the operator's admin
//! token (the token itself is not kept).

use std::sync::Arc;

use crate::secrets::{BearerToken, TokenHash};
use crate::service::IssuerService;

#[derive(Clone, Debug)]
pub struct AppState {
    pub service: Arc<IssuerService>,
    pub admin_token: TokenHash,
}

impl AppState {
    pub fn new(service: Arc<IssuerService>, admin_token: &BearerToken) -> Self {
        Self {
            service,
            admin_token: admin_token.hash(),
        }
    }
}
