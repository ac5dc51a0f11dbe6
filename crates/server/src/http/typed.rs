//! `Json`, `Query` and `Path` extractors whose rejections are the typed JSON error (`invalid_request`,
//! or `body_too_large`) instead of axum's plain-text answers, so no malformed request gets an untyped
//! reply (found by the REST fuzz test, `python/tests/test_fuzz_rest.py`).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use symphony_protocol::{ErrorBody, ErrorCode};

use super::error::ApiError;

/// A JSON request body (`Content-Type: application/json`); as a response, `axum::Json`'s.
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// The query string.
pub struct Query<T>(pub T);

/// The path parameters.
pub struct Path<T>(pub T);

fn invalid(what: &str, status: StatusCode, text: String) -> ApiError {
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::BodyTooLarge
    } else {
        ErrorCode::InvalidRequest
    };
    ErrorBody::new(code, format!("{what}: {text}")).into()
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(e @ JsonRejection::MissingJsonContentType(_)) => Err(ErrorBody::new(
                ErrorCode::InvalidRequest,
                format!("the request body: {}", e.body_text()),
            )
            .with_hint("send the body as JSON with `Content-Type: application/json`")
            .into()),
            Err(e) => Err(invalid("the request body", e.status(), e.body_text())),
        }
    }
}

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e: QueryRejection| invalid("the query string", e.status(), e.body_text()))
    }
}

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e: PathRejection| invalid("the path", e.status(), e.body_text()))
    }
}
