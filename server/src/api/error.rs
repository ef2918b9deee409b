//! The API's one error value and its two wire forms: the contract's REST shape (grpc-gateway
//! style, numeric gRPC code) and Connect's error JSON (string code).
//!
//! Handlers and extractors only build an [`ApiError`]; its `IntoResponse` writes the REST shape
//! and stores the error in the response extensions, so a Connect route layer
//! ([`connect_errors`]) can re-render the same error in Connect's shape. That keeps every
//! extractor protocol-agnostic.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine as _};
use domain::{DomainError, ErrorKind};
use serde_json::{json, Value};

/// gRPC status codes used by the API (the numbers are the wire values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unknown = 2,
    InvalidArgument = 3,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl Code {
    /// The numeric gRPC code of the REST shape.
    pub fn number(self) -> i32 {
        self as i32
    }

    /// The HTTP status of the REST shape (contract §2.5: FailedPrecondition is 400 too).
    pub fn http_status(self) -> StatusCode {
        match self {
            Self::InvalidArgument | Self::FailedPrecondition => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::Aborted => StatusCode::CONFLICT,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Self::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unknown | Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Connect's name for the code.
    pub fn connect_name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::InvalidArgument => "invalid_argument",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::PermissionDenied => "permission_denied",
            Self::ResourceExhausted => "resource_exhausted",
            Self::FailedPrecondition => "failed_precondition",
            Self::Aborted => "aborted",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::Unauthenticated => "unauthenticated",
        }
    }

    /// The HTTP status Connect's protocol specifies for the code.
    pub fn connect_status(self) -> StatusCode {
        // Same table as REST for every code we use (Connect also answers failed_precondition
        // with 400 since its 2023 protocol revision).
        self.http_status()
    }
}

impl From<ErrorKind> for Code {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => Self::InvalidArgument,
            ErrorKind::FailedPrecondition => Self::FailedPrecondition,
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::AlreadyExists => Self::AlreadyExists,
            ErrorKind::PermissionDenied => Self::PermissionDenied,
            ErrorKind::Unauthenticated => Self::Unauthenticated,
            ErrorKind::ResourceExhausted => Self::ResourceExhausted,
            ErrorKind::Aborted => Self::Aborted,
            ErrorKind::Unimplemented => Self::Unimplemented,
            ErrorKind::Internal => Self::Internal,
        }
    }
}

/// An error answer of the Session or admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    /// The stable id clients match on (`COMMAND-3M0fs`, `API-Json01`, ...).
    pub id: &'static str,
    /// Human-readable text without the id.
    pub message: String,
    /// Set for counted failures (wrong password, wrong code): the detail becomes a
    /// `CredentialsCheckError` with `failedAttempts`.
    pub failed_attempts: Option<u32>,
    /// Seconds the client should wait (`Retry-After`), for 429 answers.
    pub retry_after: Option<u64>,
}

/// Ids of errors the HTTP layer produces itself (the engine's ids are in `domain::error`).
pub mod ids {
    /// The body is not valid JSON or does not match the request message.
    pub const MALFORMED_BODY: &str = "API-Json01";
    /// The body is larger than the limit.
    pub const BODY_TOO_LARGE: &str = "API-Json02";
    /// The body is not `application/json`.
    pub const CONTENT_TYPE: &str = "API-Json03";
    /// A path or query parameter does not parse.
    pub const BAD_PARAMETER: &str = "API-Param1";
    /// No `Authorization: Bearer` header, or not a bearer token.
    pub const MISSING_CREDENTIALS: &str = "AUTH-Key00";
    /// The API key lacks the scope this route needs.
    pub const MISSING_SCOPE: &str = "AUTH-Scope1";
    /// The path exists, the method does not (HTTP 405).
    pub const METHOD_NOT_ALLOWED: &str = "API-Method1";
    /// No such route.
    pub const NOT_FOUND: &str = "API-Route1";
    /// The Connect request used a codec we do not serve (only JSON).
    pub const UNSUPPORTED_CODEC: &str = "API-Codec1";
    /// Too many requests.
    pub const RATE_LIMITED: &str = "API-Rate01";
}

impl ApiError {
    /// A new error without attempt counters.
    pub fn new(code: Code, id: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            id,
            message: message.into(),
            failed_attempts: None,
            retry_after: None,
        }
    }

    /// 400 InvalidArgument.
    pub fn invalid_argument(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, id, message)
    }

    /// 401: no usable credentials.
    pub fn unauthenticated(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, id, message)
    }

    /// 403: authenticated, but not allowed.
    pub fn permission_denied(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, id, message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        Self {
            retry_after: Some(retry_after_seconds.max(1)),
            ..Self::new(
                Code::ResourceExhausted,
                ids::RATE_LIMITED,
                "Too many requests",
            )
        }
    }

    /// The `message` field of both shapes: "<text> (<id>)".
    pub fn full_message(&self) -> String {
        format!("{} ({})", self.message, self.id)
    }

    /// The contract's REST body.
    pub fn rest_body(&self) -> Value {
        let mut detail = json!({
            "@type": "type.googleapis.com/zitadel.v1.ErrorDetail",
            "id": self.id,
            "message": self.message,
        });
        if let Some(n) = self.failed_attempts {
            detail["@type"] = json!("type.googleapis.com/zitadel.v1.CredentialsCheckError");
            detail["failedAttempts"] = json!(n);
        }
        json!({
            "code": self.code.number(),
            "message": self.full_message(),
            "details": [detail],
        })
    }

    /// Connect's error body. Details carry the protobuf-encoded ZITADEL detail message (base64,
    /// as Connect requires) and its JSON form under `debug`.
    pub fn connect_body(&self) -> Value {
        let (type_name, debug) = if let Some(n) = self.failed_attempts {
            (
                "zitadel.v1.CredentialsCheckError",
                json!({"id": self.id, "message": self.message, "failedAttempts": n}),
            )
        } else {
            (
                "zitadel.v1.ErrorDetail",
                json!({"id": self.id, "message": self.message}),
            )
        };
        json!({
            "code": self.code.connect_name(),
            "message": self.full_message(),
            "details": [{
                "type": type_name,
                "value": STANDARD_NO_PAD.encode(self.detail_proto()),
                "debug": debug,
            }],
        })
    }

    /// `zitadel.v1.ErrorDetail{id=1, message=2}` or `CredentialsCheckError{id=1, message=2,
    /// failed_attempts=3}` in protobuf wire format.
    fn detail_proto(&self) -> Vec<u8> {
        let mut out = Vec::new();
        proto_string(&mut out, 1, self.id);
        proto_string(&mut out, 2, &self.message);
        if let Some(n) = self.failed_attempts {
            proto_varint(&mut out, 3 << 3);
            proto_varint(&mut out, u64::from(n));
        }
        out
    }

    /// The response in Connect's shape and status.
    pub fn into_connect_response(self) -> Response {
        let status = self.code.connect_status();
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.connect_body().to_string(),
        )
            .into_response();
        self.add_retry_after(&mut res);
        res
    }

    fn add_retry_after(&self, res: &mut Response) {
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
    }
}

fn proto_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn proto_string(out: &mut Vec<u8>, field: u64, text: &str) {
    proto_varint(out, (field << 3) | 2);
    proto_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        // Lockout counters are shown for password failures only (the contract's
        // CredentialsCheckError); code failures keep the plain detail.
        let failed_attempts = match &err {
            DomainError::WrongPassword {
                failed_attempts, ..
            } => Some(*failed_attempts),
            _ => None,
        };
        let retry_after = match &err {
            DomainError::ResendCooldown { seconds_left } => Some((*seconds_left).max(1) as u64),
            _ => None,
        };
        Self {
            code: err.kind().into(),
            id: err.id(),
            message: err.message(),
            failed_attempts,
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.http_status();
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.rest_body().to_string(),
        )
            .into_response();
        self.add_retry_after(&mut res);
        res.extensions_mut().insert(self);
        res
    }
}

/// Response mapper for Connect routes: re-renders an [`ApiError`] response in Connect's shape.
pub async fn connect_errors(res: Response) -> Response {
    match res.extensions().get::<ApiError>() {
        Some(err) => err.clone().into_connect_response(),
        None => res,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_password_is_a_credentials_check_error() {
        let err = ApiError::from(DomainError::WrongPassword {
            failed_attempts: 2,
            limit: 5,
            locked_until: None,
        });
        assert_eq!(err.code.http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.rest_body(),
            json!({"code": 3, "message": "Password is invalid (COMMAND-3M0fs)", "details": [{
                "@type": "type.googleapis.com/zitadel.v1.CredentialsCheckError",
                "id": "COMMAND-3M0fs", "message": "Password is invalid", "failedAttempts": 2}]})
        );
        let connect = err.connect_body();
        assert_eq!(connect["code"], "invalid_argument");
        assert_eq!(
            connect["details"][0]["type"],
            "zitadel.v1.CredentialsCheckError"
        );
    }

    #[test]
    fn statuses_follow_the_contract() {
        let cases = [
            (DomainError::UserNotFound, 404, 5),
            (DomainError::SessionExpired, 400, 9),
            (
                DomainError::InvalidSessionToken {
                    side: domain::error::TokenSide::Query,
                },
                403,
                7,
            ),
            (DomainError::InvalidApiKey, 401, 16),
            (DomainError::ConcurrentChange, 409, 10),
            (DomainError::Internal, 500, 13),
        ];
        for (err, status, code) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.code.http_status().as_u16(), status, "{api:?}");
            assert_eq!(api.code.number(), code);
        }
    }

    #[test]
    fn detail_proto_encodes_fields() {
        let err = ApiError::invalid_argument("A-1", "m");
        assert_eq!(err.detail_proto(), b"\x0a\x03A-1\x12\x01m");
    }
}
