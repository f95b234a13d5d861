//! The issuer's admin API as a client: the transport of the `credence issuer` commands (an
//! agency operator's tool) and of tests that drive a running issuer. Answers are the API's JSON
//! bodies; a refusal comes back as the service's problem (`Error::Remote`), an unreachable or
//! misbehaving service as `Error::Upstream` naming the URL to check.

use credence_registry::client::{causes, plain_http_client, read_capped};
use credence_registry::error::{Error, Problem};
use reqwest::Method;
use serde_json::Value;
use url::Url;

/// Where the CLI finds the issuer when neither `--issuer` nor `CREDENCE_ISSUER` says.
pub const DEFAULT_ISSUER_URL: &str = "http://127.0.0.1:8080/issuer";

/// Largest answer read (a page of issuance records, a credential in three envelopes).
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

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
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl IssuerClient {
    /// A client of the issuer at `base` (e.g. `http://127.0.0.1:8080/issuer`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self, Error> {
        let mut base =
            Url::parse(base).map_err(|e| Error::Upstream(format!("issuer URL {base:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Upstream(format!("issuer URL {base} is not http(s)")));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http: plain_http_client()?,
            base,
            token,
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

    /// Sends one request to `segments` under the base (each percent-encoded as one path
    /// segment, so an id can never add a segment of its own) and reads its JSON answer.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Upstream(format!("issuer URL {} has no path", self.base)))?
            .pop_if_empty()
            .extend(segments);
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            Error::Upstream(format!(
                "issuer unreachable at {}: {}; is it running, and is --issuer \
                 (CREDENCE_ISSUER) the right URL?",
                self.base,
                causes(&e)
            ))
        })?;
        let status = response.status();
        let bytes = read_capped(response, MAX_RESPONSE_BYTES, "issuer response").await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::Upstream(format!("issuer answered {status} with non-JSON: {e}"))
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(Error::Remote(problem)),
            Err(_) => Err(Error::Upstream(format!(
                "issuer answered {status} to {url} without a problem body"
            ))),
        }
    }
}
