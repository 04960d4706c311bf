//! The one error type of the query API, and how each failure is answered.
//!
//! Every failure leaves as JSON, `{ "error": code, "message": ... }`, with
//! the status in one `match`: a bad parameter is a 400 that names it, an
//! unknown id a 404, an index that has not started or a database that does
//! not answer a 503. Database failures are logged with their cause and
//! answered with a fixed sentence, so nothing about the database leaks.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// Why a request of the query API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A path or query parameter is missing, malformed, out of range or
    /// not one the route takes.
    #[error("parameter `{name}`: {reason}")]
    BadParameter {
        /// The parameter, as the client spelled it.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing is indexed under this id.
    #[error("no {what} {id} in the index")]
    NotFound {
        /// The kind of thing asked for (`record`, `participant`...).
        what: &'static str,
        /// The id, as the client sent it.
        id: String,
    },
    /// No route answers this path.
    #[error("no route for this path")]
    NoRoute,
    /// The route answers GET only.
    #[error("this route answers GET only")]
    MethodNotAllowed,
    /// The index has not indexed a block yet, or is too far behind to answer.
    #[error("the index is not ready: {reason}")]
    NotReady {
        /// Why, in a few words.
        reason: &'static str,
    },
    /// The request took longer than the API allows.
    #[error("the request timed out")]
    Timeout,
    /// The database did not answer (pool exhausted, connection lost).
    #[error("the index database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure: a bug or corrupted data, logged.
    #[error("the index database failed")]
    Database(#[source] sqlx::Error),
    /// A stored value that the API cannot read back (a malformed address,
    /// an out-of-range number): the index is corrupt, logged.
    #[error("a stored value is malformed: {what}")]
    Corrupt {
        /// Which value.
        what: &'static str,
    },
}

impl ApiError {
    /// A 400 naming `name`.
    pub fn bad(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadParameter { name: name.into(), reason: reason.into() }
    }

    /// A 404 for `what` `id`.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound { what, id: id.to_string() }
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotReady { .. } | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Database(_) | Self::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadParameter { .. } => "bad_parameter",
            Self::NotFound { .. } => "not_found",
            Self::NoRoute => "no_route",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotReady { .. } => "not_ready",
            Self::Timeout => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Database(_) | Self::Corrupt { .. } => "internal",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err)
            }
            err => Self::Database(err),
        }
    }
}

/// The JSON body of every error.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The cause stays in the log; the client gets the fixed sentence.
            tracing::error!(error = ?self, code = self.code(), "query failed");
        }
        let parameter = match &self {
            Self::BadParameter { name, .. } => Some(name.as_str()),
            _ => None,
        };
        let body = ErrorBody { error: self.code(), parameter, message: self.to_string() };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(err: ApiError) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_bad_parameter_is_a_400_that_names_it() {
        let (status, json) = body(ApiError::bad("limit", "at most 500")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["error"], "bad_parameter");
        assert_eq!(json["parameter"], "limit");
        assert_eq!(json["message"], "parameter `limit`: at most 500");
    }

    #[tokio::test]
    async fn database_causes_are_logged_not_echoed() {
        let cause = sqlx::Error::Protocol("secret table medical_values is gone".into());
        let (status, json) = body(ApiError::from(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["error"], "internal");
        assert!(!json.to_string().contains("medical_values"), "{json}");

        let (status, json) = body(ApiError::from(sqlx::Error::PoolTimedOut)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["error"], "unavailable");
    }
}
