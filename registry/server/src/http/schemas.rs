//! `/schemas` and `/type-metadata`: publish and read credential schemas and SD-JWT VC type
//! metadata.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Jose, RegistryState, Typed};
use crate::http::ApiError;
use credence_registry::error::Error;

pub(super) fn router() -> Router<RegistryState> {
    Router::new()
        .route("/schemas", axum::routing::post(publish))
        .route("/schemas/{id}", get(show))
        .route("/schemas/{id}/schema", get(json_schema))
        .route("/type-metadata", get(type_metadata))
}

/// Publish a schema: the body is a compact JWS by the publisher's DID (assertionMethod) over
/// `{"schema": <JSON Schema 2020-12>, "typeMetadata": <SD-JWT VC type metadata>}`.
#[utoipa::path(post, path = "/schemas", request_body(content = String, content_type = "application/jose", description = "compact JWS"),
    responses((status = 201, description = "published"), (status = 200, description = "already published (same content)"),
              (status = 400, body = crate::http::ProblemDoc), (status = 403, body = crate::http::ProblemDoc),
              (status = 409, body = crate::http::ProblemDoc), (status = 413, body = crate::http::ProblemDoc),
              (status = 415, description = "Content-Type is not application/jose", body = crate::http::ProblemDoc)))]
pub async fn publish(
    State(state): State<RegistryState>,
    body: Typed<Jose>,
) -> Result<Response, ApiError> {
    let (schema, created) = state.schemas.publish(body.jws()?).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, axum::Json(&schema)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("schemas/{}", schema.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn immutable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

/// A published schema with its type metadata, publisher and log index.
#[utoipa::path(get, path = "/schemas/{id}", params(("id" = String, Path, description = "content-addressed schema id")),
    responses((status = 200, description = "the schema"), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn show(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(immutable(
        axum::Json(state.schemas.get(&id).await?).into_response(),
    ))
}

/// The bare JSON Schema, for validators.
#[utoipa::path(get, path = "/schemas/{id}/schema", params(("id" = String, Path, description = "content-addressed schema id")),
    responses((status = 200, description = "JSON Schema", content_type = "application/schema+json"), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn json_schema(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let schema = state.schemas.get(&id).await?;
    let mut response = axum::Json(schema.schema).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/schema+json"),
    );
    Ok(immutable(response))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VctQuery {
    /// The credential type (`vct` claim of an SD-JWT VC).
    vct: String,
}

/// The newest SD-JWT VC type metadata for a `vct`, with `schema_uri` pointing at its schema.
#[utoipa::path(get, path = "/type-metadata", params(VctQuery),
    responses((status = 200, description = "type metadata"), (status = 404, body = crate::http::ProblemDoc)))]
pub async fn type_metadata(
    State(state): State<RegistryState>,
    query: Result<Query<VctQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| Error::InvalidQuery(e.body_text()))?;
    let schema = state.schemas.latest_for_vct(&query.vct).await?;
    let mut metadata = schema.type_metadata.clone();
    if let Some(object) = metadata.as_object_mut() {
        object.insert(
            "schema_uri".into(),
            format!("schemas/{}/schema", schema.id).into(),
        );
    }
    let mut response = axum::Json(metadata).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
