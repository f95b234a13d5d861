//! The verifier service's relying-party API as a client (the `credence verifier` commands), over
//! the base crate's `JsonApiClient`: create an OpenID4VP request with a DCQL query, read its
//! result.

use credence_registry::client::JsonApiClient;
use credence_registry::error::Error;
use reqwest::Method;
use serde_json::{Value, json};

/// Where the CLI finds the verifier when neither `--verifier` nor `CREDENCE_VERIFIER` says.
pub const DEFAULT_VERIFIER_URL: &str = "http://127.0.0.1:8080/verifier";

/// A client of one verifier service, presenting the relying party's API token.
#[derive(Clone, Debug)]
pub struct VerifierClient {
    api: JsonApiClient,
}

impl VerifierClient {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, Error> {
        Ok(Self {
            api: JsonApiClient::new(base, token, "verifier", "--verifier (CREDENCE_VERIFIER)")?,
        })
    }

    /// `POST requests`: `{id, request_uri, authorization_request_uri, expires_at}`.
    pub async fn create_request(
        &self,
        dcql_query: &Value,
        response_mode: Option<&str>,
        purpose: Option<&str>,
    ) -> Result<Value, Error> {
        let mut body = json!({"dcql_query": dcql_query});
        if let Some(mode) = response_mode {
            body["response_mode"] = json!(mode);
        }
        if let Some(purpose) = purpose {
            body["purpose"] = json!(purpose);
        }
        self.api
            .call(Method::POST, &["requests"], Some(&body))
            .await
    }

    /// `GET requests/{id}`: `{status, claims, report, error?}`.
    pub async fn result(&self, id: &str) -> Result<Value, Error> {
        self.api.call(Method::GET, &["requests", id], None).await
    }
}
