//! OpenID4VCI 1.0 over HTTP: the admin route that creates an offer
//! (`POST /tenants/{tenant}/offers`, the tenant's token, problem bodies like the rest of the
//! admin API), and the wallet-facing routes of each tenant's credential issuer
//! `<public url>/issuer/{tenant}`: the offer by reference (`GET /{tenant}/offers/{id}`), the
//! token endpoint (`POST /{tenant}/token`, form-encoded), the nonce endpoint
//! (`POST /{tenant}/nonce`) and the credential endpoint (`POST /{tenant}/credential`, the
//! access token as a bearer token). The well-known metadata documents live outside the issuer's
//! prefix (RFC 8414 §3.1 path insertion), in [`well_known_router`].
//!
//! The protocol endpoints answer errors as OAuth error bodies (`{error, error_description}`,
//! RFC 6749 §5.2, OpenID4VCI §6.3 and §8.3.1.2) with the status the specification names, and
//! `Cache-Control: no-store` on every answer; only conditions outside the protocol (no such
//! tenant, our own failure) are problems. Handlers only parse, call `IssuerService`, and map.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::tenants::tenant_id;
use super::{ApiError, Bearer, JsonBody, MAX_BODY_BYTES};
use crate::offers::{CreatedOffer, CredentialRequest, OfferRequest, ProtocolError, TokenRequest};
use crate::oid4vci::{OAuthError, OAuthErrorCode};
use crate::secrets::BearerToken;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/offers", post(create_offer))
        .route("/{tenant}/offers/{offer_id}", get(credential_offer))
        .route("/{tenant}/token", post(token))
        .route("/{tenant}/nonce", post(nonce))
        .route("/{tenant}/credential", post(credential))
}

/// The well-known metadata routes for an issuer mounted at `prefix` ("" or "/issuer"):
/// `/.well-known/openid-credential-issuer{prefix}/{tenant}` (§12.2.2) and
/// `/.well-known/oauth-authorization-server{prefix}/{tenant}` (RFC 8414 §3.1).
pub fn well_known_router(state: AppState, prefix: &str) -> Router {
    let prefix = prefix.trim_end_matches('/');
    Router::new()
        .route(
            &format!("/.well-known/openid-credential-issuer{prefix}/{{tenant}}"),
            get(issuer_metadata),
        )
        .route(
            &format!("/.well-known/oauth-authorization-server{prefix}/{{tenant}}"),
            get(authorization_server_metadata),
        )
        .with_state(state)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An OAuth error answer: the status the code names (or `status` when the specification names
/// none, such as an oversized body), the JSON error body, `no-store`, and for `invalid_token`
/// a `WWW-Authenticate` challenge (RFC 6750 §3).
fn oauth_error(error: &OAuthError, status: Option<StatusCode>) -> Response {
    let status = status.unwrap_or_else(|| {
        StatusCode::from_u16(error.error.status()).unwrap_or(StatusCode::BAD_REQUEST)
    });
    let mut response = no_store((status, axum::Json(error)).into_response());
    if error.error == OAuthErrorCode::InvalidToken {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    response
}

fn protocol_error(error: ProtocolError) -> Response {
    match error {
        ProtocolError::OAuth(error) => oauth_error(&error, None),
        ProtocolError::Service(error) => no_store(ApiError(error).into_response()),
    }
}

fn ok_json<T: serde::Serialize>(value: &T) -> Response {
    no_store(axum::Json(value).into_response())
}

/// The media type essence of a request (`application/json` of `application/json; charset=x`).
fn essence(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
}

/// The body, or the OAuth error (and its status) for one too large or unreadable.
fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    code: OAuthErrorCode,
) -> Result<Bytes, (OAuthError, StatusCode)> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let description = format!("the request body exceeds {MAX_BODY_BYTES} bytes");
            (
                OAuthError::new(code, description),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        } else {
            (
                OAuthError::new(code, "the request body could not be read"),
                StatusCode::BAD_REQUEST,
            )
        }
    })
}

/// Create a credential offer (pre-authorized code flow) of one of the tenant's types.
#[utoipa::path(post, path = "/tenants/{tenant}/offers", params(("tenant" = String, Path)),
    request_body = OfferRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedOffer), (status = 400, body = super::ProblemDoc),
              (status = 401, body = super::ProblemDoc), (status = 404, body = super::ProblemDoc),
              (status = 413, body = super::ProblemDoc), (status = 422, body = super::ProblemDoc)))]
pub async fn create_offer(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<OfferRequest>,
) -> Result<Response, ApiError> {
    let tenant = state
        .service
        .authenticate_tenant(&token, &tenant_id(&tenant)?)
        .await?;
    let created = state.service.create_offer(&tenant, body).await?;
    let mut response = ok_json(&created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// The credential offer, fetched by reference (`credential_offer_uri`, §4.1.3).
#[utoipa::path(get, path = "/{tenant}/offers/{offer_id}",
    params(("tenant" = String, Path), ("offer_id" = String, Path)),
    responses((status = 200, description = "the credential offer (OpenID4VCI §4.1.1)"),
              (status = 404, body = super::ProblemDoc)))]
pub async fn credential_offer(
    State(state): State<AppState>,
    Path((tenant, offer_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let offer = state.service.credential_offer(&tenant, &offer_id).await?;
    Ok(ok_json(&offer))
}

async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bad = |description: &str| {
        oauth_error(
            &OAuthError::new(OAuthErrorCode::InvalidRequest, description),
            None,
        )
    };
    if essence(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return bad("send the token request as application/x-www-form-urlencoded");
    }
    let bytes = match body_bytes(body, OAuthErrorCode::InvalidRequest) {
        Ok(bytes) => bytes,
        Err((error, status)) => return oauth_error(&error, Some(status)),
    };
    // RFC 6749 §3.2: parameters sent more than once are an error; unknown ones are ignored.
    let mut request = TokenRequest::default();
    for (name, value) in url::form_urlencoded::parse(&bytes) {
        let slot = match name.as_ref() {
            "grant_type" => &mut request.grant_type,
            "pre-authorized_code" => &mut request.pre_authorized_code,
            "tx_code" => &mut request.tx_code,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return bad(&format!("{name} is sent more than once"));
        }
    }
    match state.service.token(&tenant, request).await {
        Ok(response) => ok_json(&response),
        Err(error) => protocol_error(error),
    }
}

async fn nonce(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    match state.service.nonce(&tenant).await {
        Ok(response) => ok_json(&response),
        Err(error) => protocol_error(error),
    }
}

/// The access token of `Authorization: Bearer <token>`, if one is there.
fn access_token(headers: &HeaderMap) -> Option<BearerToken> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| BearerToken::new(token))
}

async fn credential(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bad = |description: String| {
        oauth_error(
            &OAuthError::new(OAuthErrorCode::InvalidCredentialRequest, description),
            None,
        )
    };
    let is_json = essence(&headers).is_some_and(|essence| essence == "application/json");
    if !is_json {
        return bad("send the credential request as application/json".into());
    }
    let bytes = match body_bytes(body, OAuthErrorCode::InvalidCredentialRequest) {
        Ok(bytes) => bytes,
        Err((error, status)) => return oauth_error(&error, Some(status)),
    };
    let value = match credence_registry::json::parse_strict(&bytes) {
        Ok(value) => value,
        Err(error) => return bad(format!("the body is not acceptable JSON: {error}")),
    };
    if !value.is_object() {
        return bad("the credential request is a JSON object".into());
    }
    let request: CredentialRequest = match serde_json::from_value(value) {
        Ok(request) => request,
        Err(error) => return bad(format!("the credential request: {error}")),
    };
    let token = access_token(&headers);
    match state
        .service
        .credential(&tenant, token.as_ref(), request)
        .await
    {
        Ok(response) => ok_json(&response),
        Err(error) => protocol_error(error),
    }
}

async fn issuer_metadata(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    Ok(axum::Json(state.service.issuer_metadata(&tenant).await?))
}

async fn authorization_server_metadata(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    Ok(axum::Json(
        state.service.authorization_server_metadata(&tenant).await?,
    ))
}
