//! The issuer's admin API as a client: the transport of the `credence issuer` commands (an
//! agency operator's tool), over the base crate's `JsonApiClient`.

use credence_registry::client::JsonApiClient;
use credence_registry::error::Error;
use reqwest::Method;
use serde_json::Value;

/// Where the CLI finds the issuer when neither `--issuer` nor `CREDENCE_ISSUER` says.
pub const DEFAULT_ISSUER_URL: &str = "http://127.0.0.1:8080/issuer";

/// What a status change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusAction {
    Revoke,
    Suspend,
    Reinstate,
}

impl StatusAction {
    fn path_word(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
        }
    }
}

/// A client of one issuer service, with the bearer token it presents (the operator's admin
/// token to create tenants, a tenant's token for the rest).
#[derive(Clone, Debug)]
pub struct IssuerClient {
    api: JsonApiClient,
}

impl IssuerClient {
    /// A client of the issuer at `base` (e.g. `http://127.0.0.1:8080/issuer`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self, Error> {
        Ok(Self {
            api: JsonApiClient::new(base, token, "issuer", "--issuer (CREDENCE_ISSUER)")?,
        })
    }
    /// `POST tenants` (the admin token): `{tenant, did, token}`, the token shown this once.
    pub async fn create_tenant(&self, id: &str, name: &str) -> Result<Value, Error> {
        let body = serde_json::json!({"id": id, "name": name});
        self.call(Method::POST, &["tenants"], Some(&body)).await
    }

    /// `GET tenants/{tenant}`.
    pub async fn tenant(&self, tenant: &str) -> Result<Value, Error> {
        self.call(Method::GET, &["tenants", tenant], None).await
    }

    /// `POST tenants/{tenant}/rotate`: rotates the tenant's keys; `{did, kid, versionId}`.
    pub async fn rotate_keys(&self, tenant: &str) -> Result<Value, Error> {
        self.call(Method::POST, &["tenants", tenant, "rotate"], None)
            .await
    }

    /// `POST tenants/{tenant}/types`: registers a credential type (the API's `TypeRequest`).
    pub async fn add_type(&self, tenant: &str, request: &Value) -> Result<Value, Error> {
        self.call(Method::POST, &["tenants", tenant, "types"], Some(request))
            .await
    }

    /// `GET tenants/{tenant}/types`.
    pub async fn types(&self, tenant: &str) -> Result<Value, Error> {
        self.call(Method::GET, &["tenants", tenant, "types"], None)
            .await
    }

    /// `POST tenants/{tenant}/credentials`: issues (the API's `IssueRequest`).
    pub async fn issue(&self, tenant: &str, request: &Value) -> Result<Value, Error> {
        self.call(
            Method::POST,
            &["tenants", tenant, "credentials"],
            Some(request),
        )
        .await
    }

    /// `GET tenants/{tenant}/credentials`: what the tenant issued.
    pub async fn credentials(&self, tenant: &str) -> Result<Value, Error> {
        self.call(Method::GET, &["tenants", tenant, "credentials"], None)
            .await
    }

    /// `GET tenants/{tenant}/credentials/{id}`: one record and its status.
    pub async fn credential(&self, tenant: &str, id: &str) -> Result<Value, Error> {
        self.call(Method::GET, &["tenants", tenant, "credentials", id], None)
            .await
    }

    /// `POST tenants/{tenant}/offers`: an OpenID4VCI credential offer (the API's
    /// `OfferRequest`); the answer holds the offer URIs and the transaction code, if any.
    pub async fn create_offer(&self, tenant: &str, request: &Value) -> Result<Value, Error> {
        self.call(Method::POST, &["tenants", tenant, "offers"], Some(request))
            .await
    }

    /// `POST tenants/{tenant}/credentials/{id}/{revoke|suspend|reinstate}`.
    pub async fn set_status(
        &self,
        tenant: &str,
        id: &str,
        action: StatusAction,
    ) -> Result<Value, Error> {
        self.call(
            Method::POST,
            &["tenants", tenant, "credentials", id, action.path_word()],
            None,
        )
        .await
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        self.api.call(method, segments, body).await
    }
}
