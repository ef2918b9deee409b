//! The API's one error value and its two wire forms: the contract's REST shape (grpc-gateway
//! style, numeric gRPC code) and Connect's error JSON (string code).
//!
//! Handlers and extractors only build an [`ApiError`]; its `IntoResponse` writes the REST shape
//! and stores the error in the response extensions, so a Connect route layer
//! ([`connect_errors`]) can re-render the same error in Connect's shape. That keeps every
//! extractor protocol-agnostic.

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine as _};
use domain::{DomainError, ErrorKind};
use serde_json::{json, Value};

use super::pb::zitadel::v1 as pb;

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

    /// The detail message (`zitadel.v1.ErrorDetail`, or `CredentialsCheckError` for counted
    /// failures), protobuf-encoded with ZITADEL's generated types.
    fn detail_proto(&self) -> Vec<u8> {
        use prost::Message as _;
        match self.failed_attempts {
            Some(n) => pb::CredentialsCheckError {
                id: self.id.to_owned(),
                message: self.message.clone(),
                failed_attempts: i32::try_from(n).unwrap_or(i32::MAX),
            }
            .encode_to_vec(),
            None => pb::ErrorDetail {
                id: self.id.to_owned(),
                message: self.message.clone(),
            }
            .encode_to_vec(),
        }
    }

    /// The error as a gRPC status, as ZITADEL answers it: the gRPC code, the message with the
    /// id, and a `google.rpc.Status` carrying the detail in `grpc-status-details-bin`.
    pub fn to_status(&self) -> tonic::Status {
        use prost::Message as _;
        let type_name = if self.failed_attempts.is_some() {
            "zitadel.v1.CredentialsCheckError"
        } else {
            "zitadel.v1.ErrorDetail"
        };
        let rpc = super::pb::RpcStatus {
            code: self.code.number(),
            message: self.full_message(),
            details: vec![prost_types::Any {
                type_url: format!("type.googleapis.com/{type_name}"),
                value: self.detail_proto(),
            }],
        };
        let mut status = tonic::Status::with_details(
            tonic::Code::from_i32(self.code.number()),
            self.full_message(),
            rpc.encode_to_vec().into(),
        );
        if let Some(secs) = self.retry_after {
            if let Ok(v) = secs.to_string().parse() {
                status.metadata_mut().insert("retry-after", v);
            }
        }
        status
    }

    /// The answer in the shape of the request's protocol (`headers` are the request's).
    pub fn into_response_for(self, protocol: Protocol, headers: &HeaderMap) -> Response {
        match protocol {
            Protocol::Rest => self.into_response(),
            Protocol::Connect => self.into_connect_response(),
            Protocol::Grpc | Protocol::GrpcWeb => {
                let mut res = self.to_status().into_http::<axum::body::Body>();
                if protocol == Protocol::GrpcWeb {
                    // A trailers-only gRPC-Web answer: the status travels in the headers, in the
                    // request's own content type (binary or text).
                    let ct = headers
                        .get(header::CONTENT_TYPE)
                        .cloned()
                        .unwrap_or_else(|| HeaderValue::from_static("application/grpc-web+proto"));
                    res.headers_mut().insert(header::CONTENT_TYPE, ct);
                }
                res
            }
        }
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

/// The protocol a request speaks, which decides the shape of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The REST routes and everything else: the contract's JSON shape.
    Rest,
    /// Connect (JSON or binary codec): Connect's error JSON.
    Connect,
    /// gRPC over HTTP/2: status in trailers (or a trailers-only answer).
    Grpc,
    /// gRPC-Web, binary or text.
    GrpcWeb,
}

impl Protocol {
    /// Reads the protocol from the request's path and content type.
    pub fn of(path: &str, headers: &HeaderMap) -> Self {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim_start()
            .to_ascii_lowercase();
        if content_type.starts_with("application/grpc-web") {
            Self::GrpcWeb
        } else if content_type.starts_with("application/grpc") {
            Self::Grpc
        } else if path.starts_with("/zitadel.") {
            Self::Connect
        } else {
            Self::Rest
        }
    }
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
    fn grpc_status_carries_the_detail() {
        use prost::Message as _;
        let err = ApiError::from(DomainError::WrongPassword {
            failed_attempts: 2,
            limit: 5,
            locked_until: None,
        });
        let status = err.to_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "Password is invalid (COMMAND-3M0fs)");
        let rpc = crate::api::pb::RpcStatus::decode(status.details()).unwrap();
        assert_eq!(rpc.code, 3);
        assert_eq!(
            rpc.details[0].type_url,
            "type.googleapis.com/zitadel.v1.CredentialsCheckError"
        );
        let detail = pb::CredentialsCheckError::decode(rpc.details[0].value.as_slice()).unwrap();
        assert_eq!(detail.id, "COMMAND-3M0fs");
        assert_eq!(detail.failed_attempts, 2);
        let limited = ApiError::rate_limited(7).to_status();
        assert_eq!(limited.code(), tonic::Code::ResourceExhausted);
        assert_eq!(limited.metadata().get("retry-after").unwrap(), "7");
        for (err, code) in [
            (DomainError::UserNotFound, tonic::Code::NotFound),
            (DomainError::SessionExpired, tonic::Code::FailedPrecondition),
            (DomainError::InvalidApiKey, tonic::Code::Unauthenticated),
            (
                DomainError::InvalidSessionToken {
                    side: domain::error::TokenSide::Query,
                },
                tonic::Code::PermissionDenied,
            ),
        ] {
            assert_eq!(ApiError::from(err).to_status().code(), code);
        }
    }

    #[test]
    fn detail_proto_encodes_fields() {
        let err = ApiError::invalid_argument("A-1", "m");
        assert_eq!(err.detail_proto(), b"\x0a\x03A-1\x12\x01m");
    }
}
