//! The Session API in protobuf: gRPC (HTTP/2), gRPC-Web (binary and text, through `tonic-web`)
//! and Connect's binary codec (`application/proto`), for `zitadel.session.v2.SessionService`
//! and `zitadel.session.v2beta.SessionService`, with the messages generated from ZITADEL's
//! published descriptors ([`super::pb`]).
//!
//! Nothing here decides anything: each method turns the protobuf request into the JSON wire
//! form ([`super::wire`]), calls the same function of [`super::session`] the REST and Connect
//! JSON handlers call, and turns the engine's answer into the protobuf response. Errors become
//! gRPC statuses ([`ApiError::to_status`]) or Connect's error JSON.
//!
//! These requests go through the same middleware as the other API routes (request id, tracing,
//! the body limit, rate limits): [`dispatch`] is a route layer of the Connect paths that hands
//! `application/grpc*` to tonic and `application/proto` to [`connect_binary`].

use std::collections::{BTreeMap, HashMap};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, Extensions, HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use domain::{
    model::{Factors, Session},
    service::{ChallengeResponse, Details, SessionChanged},
    store::SessionPage,
};
use time::OffsetDateTime;
use tower::ServiceExt as _;

use super::{
    auth::ApiKey,
    error::{ids, ApiError, Code},
    json::read_body,
    session::{self, SessionAccess},
    wire::{
        self, Bytes, CheckCode, CheckIdpIntent, CheckPassword, CheckUser, CheckWebAuthN,
        ChecksWire, CreationDateQuery, HeaderValuesWire, IdQuery, IdsQuery, ListQueryWire,
        ListSessionsWire, OtpEmailChallengeWire, OtpSmsChallengeWire, ProtoDuration,
        RequestChallengesWire, SearchQueryWire, SendCodeWire, SessionFieldName, SessionRequestWire,
        TimestampQueryMethod, UserAgentQuery, UserAgentWire, UserVerificationRequirement,
        WebAuthNChallengeWire, U64,
    },
};
use crate::http::AppState;

/// The tonic services of both packages; one value implements both.
#[derive(Clone)]
pub struct SessionGrpc {
    state: AppState,
}

/// The tonic router of both services behind `tonic-web`, which turns gRPC-Web (binary and text)
/// into gRPC and back and lets plain gRPC through.
#[derive(Clone)]
pub struct GrpcRoutes {
    service: tonic_web::GrpcWebService<tonic::service::Routes>,
}

impl GrpcRoutes {
    pub fn new(state: &AppState) -> Self {
        let grpc = SessionGrpc {
            state: state.clone(),
        };
        let routes =
            tonic::service::Routes::new(v2::server(grpc.clone())).add_service(v2beta::server(grpc));
        Self {
            service: tower::Layer::layer(&tonic_web::GrpcWebLayer::new(), routes),
        }
    }
}

/// Route layer of the Connect paths: gRPC and gRPC-Web go to tonic, Connect's binary codec to
/// [`connect_binary`]; JSON continues to the Connect JSON handlers.
pub async fn dispatch(State(ctx): State<DispatchState>, req: Request, next: Next) -> Response {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type.starts_with("application/grpc") {
        return match ctx.grpc.service.clone().oneshot(req).await {
            Ok(res) => res.map(Body::new),
            Err(never) => match never {},
        };
    }
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence == "application/proto" {
        return connect_binary(&ctx.state, req).await;
    }
    next.run(req).await
}

/// State of [`dispatch`].
#[derive(Clone)]
pub struct DispatchState {
    state: AppState,
    grpc: GrpcRoutes,
}

impl DispatchState {
    pub fn new(state: &AppState) -> Self {
        Self {
            state: state.clone(),
            grpc: GrpcRoutes::new(state),
        }
    }
}

/// Connect's unary protocol with the binary codec: the body is the protobuf request, the answer
/// the protobuf response with status 200; errors are Connect's error JSON.
async fn connect_binary(state: &AppState, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(v) = parts.headers.get("connect-protocol-version") {
        if v.as_bytes() != b"1" {
            return ApiError::invalid_argument(
                ids::BAD_PARAMETER,
                "connect-protocol-version must be 1",
            )
            .into_connect_response();
        }
    }
    if let Some(enc) = parts.headers.get(header::CONTENT_ENCODING) {
        if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
            return ApiError::new(
                Code::Unimplemented,
                ids::UNSUPPORTED_CODEC,
                "Request compression is not supported",
            )
            .into_connect_response();
        }
    }
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_connect_response(),
    };
    let path = parts.uri.path();
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return not_found();
    };
    let call = Call {
        state,
        headers: &parts.headers,
        extensions: &parts.extensions,
    };
    let answer = match service {
        "zitadel.session.v2.SessionService" => v2::call_binary(call, method, &bytes).await,
        "zitadel.session.v2beta.SessionService" => v2beta::call_binary(call, method, &bytes).await,
        _ => return not_found(),
    };
    match answer {
        Some(Ok(body)) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/proto"),
            )],
            body,
        )
            .into_response(),
        Some(Err(err)) => err.into_connect_response(),
        None => not_found(),
    }
}

fn not_found() -> Response {
    let mut res = ApiError::new(Code::Unimplemented, ids::NOT_FOUND, "No such method")
        .into_connect_response();
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

/// What every method needs besides its message: the server and the request's headers (gRPC
/// metadata) and extensions (the API key the rate limiter resolved).
#[derive(Clone, Copy)]
struct Call<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl Call<'_> {
    async fn session_key(&self) -> Result<ApiKey, ApiError> {
        let key = ApiKey::from_request_data(self.headers, self.extensions, self.state).await?;
        key.require(domain::model::Scope::Session)?;
        Ok(key)
    }

    async fn access(&self) -> Result<SessionAccess, ApiError> {
        SessionAccess::from_request_data(self.headers, self.extensions, self.state).await
    }
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, ApiError> {
    M::decode(bytes).map_err(|e| {
        ApiError::invalid_argument(
            ids::MALFORMED_BODY,
            format!("invalid protobuf request body: {e}"),
        )
    })
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_argument(ids::MALFORMED_BODY, message)
}

// ---------- well-known types ----------

fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }
}

fn from_timestamp(t: &prost_types::Timestamp) -> Result<wire::Timestamp, ApiError> {
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map(wire::Timestamp)
        .map_err(|_| invalid("timestamp out of range"))
}

fn from_duration(d: &prost_types::Duration) -> Result<ProtoDuration, ApiError> {
    if d.nanos.unsigned_abs() >= 1_000_000_000 {
        return Err(invalid("lifetime: nanos out of range"));
    }
    Ok(ProtoDuration(time::Duration::new(d.seconds, d.nanos)))
}

/// `google.protobuf.Struct` as the JSON object it stands for.
fn struct_to_json(s: &prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: &prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        // Struct numbers are doubles; whole ones are written as integers so that fields such as
        // a timeout read back as the integers they were.
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                serde_json::Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, Into::into)
            }
        }
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(l)) => l.values.iter().map(value_to_json).collect(),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

/// A JSON object as a `google.protobuf.Struct` (anything else becomes an empty struct).
fn json_to_struct(v: &serde_json::Value) -> prost_types::Struct {
    match v {
        serde_json::Value::Object(map) => prost_types::Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        },
        _ => prost_types::Struct::default(),
    }
}

fn json_to_value(v: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(_) => Kind::StructValue(json_to_struct(v)),
    };
    prost_types::Value { kind: Some(kind) }
}

// ---------- enums ----------

fn user_verification(n: i32) -> Result<UserVerificationRequirement, ApiError> {
    Ok(match n {
        0 => UserVerificationRequirement::Unspecified,
        1 => UserVerificationRequirement::Required,
        2 => UserVerificationRequirement::Preferred,
        3 => UserVerificationRequirement::Discouraged,
        _ => {
            return Err(invalid(
                "challenges.webAuthN.userVerificationRequirement: unknown value",
            ))
        }
    })
}

fn timestamp_method(n: i32) -> Result<TimestampQueryMethod, ApiError> {
    Ok(match n {
        0 => TimestampQueryMethod::Equals,
        1 => TimestampQueryMethod::Greater,
        2 => TimestampQueryMethod::GreaterOrEquals,
        3 => TimestampQueryMethod::Less,
        4 => TimestampQueryMethod::LessOrEquals,
        _ => return Err(invalid("queries: unknown timestamp query method")),
    })
}

fn sorting_column(n: i32) -> Result<Option<SessionFieldName>, ApiError> {
    Ok(match n {
        0 => None,
        1 => Some(SessionFieldName::CreationDate),
        _ => return Err(invalid("sortingColumn: unknown value")),
    })
}

fn metadata(m: HashMap<String, Vec<u8>>) -> Option<BTreeMap<String, Bytes>> {
    // proto3 cannot tell an empty map from an absent one; both mean "no change".
    (!m.is_empty()).then(|| m.into_iter().map(|(k, v)| (k, Bytes(v))).collect())
}

fn user_agent_fields(
    fingerprint_id: String,
    ip: String,
    description: String,
    header: BTreeMap<String, Vec<String>>,
) -> UserAgentWire {
    let some = |s: String| (!s.is_empty()).then_some(s);
    UserAgentWire {
        fingerprint_id: some(fingerprint_id),
        ip: some(ip),
        description: some(description),
        header: (!header.is_empty()).then(|| {
            header
                .into_iter()
                .map(|(k, v)| (k, HeaderValuesWire { values: Some(v) }))
                .collect()
        }),
    }
}

fn optional(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The messages of both packages have the same names, fields and numbers except for the search
/// queries, so one body of conversions and service methods serves both.
macro_rules! session_package {
    ($module:ident, $package:literal, $pb:path, $object:path, $search:item) => {
        pub mod $module {
            use super::*;
            use $object as object;
            use $pb as pb;
            use pb::session_service_server::{SessionService, SessionServiceServer};

            pub(super) fn server(grpc: SessionGrpc) -> SessionServiceServer<SessionGrpc> {
                // The body limit runs before tonic (the API routes' middleware); tonic's own
                // limit only has to be no smaller.
                SessionServiceServer::new(grpc)
                    .max_decoding_message_size(2 * super::super::json::MAX_BODY_BYTES)
            }

            $search

            fn checks(c: pb::Checks) -> ChecksWire {
                ChecksWire {
                    user: c.user.map(|u| match u.search {
                        Some(pb::check_user::Search::UserId(id)) => CheckUser {
                            user_id: Some(id),
                            ..CheckUser::default()
                        },
                        Some(pb::check_user::Search::LoginName(name)) => CheckUser {
                            login_name: Some(name),
                            ..CheckUser::default()
                        },
                        None => CheckUser::default(),
                    }),
                    password: c.password.map(|p| CheckPassword {
                        password: Some(p.password),
                    }),
                    web_auth_n: c.web_auth_n.map(|w| CheckWebAuthN {
                        credential_assertion_data: w
                            .credential_assertion_data
                            .as_ref()
                            .map(struct_to_json),
                    }),
                    idp_intent: c.idp_intent.map(|i| CheckIdpIntent {
                        idp_intent_id: Some(i.idp_intent_id),
                        idp_intent_token: Some(i.idp_intent_token),
                    }),
                    totp: c.totp.map(|t| CheckCode { code: Some(t.code) }),
                    otp_sms: c.otp_sms.map(|t| CheckCode { code: Some(t.code) }),
                    otp_email: c.otp_email.map(|t| CheckCode { code: Some(t.code) }),
                    recovery_code: None,
                }
            }

            fn challenges(c: pb::RequestChallenges) -> Result<RequestChallengesWire, ApiError> {
                use pb::request_challenges::otp_email::DeliveryType;
                Ok(RequestChallengesWire {
                    web_auth_n: c
                        .web_auth_n
                        .map(|w| -> Result<_, ApiError> {
                            Ok(WebAuthNChallengeWire {
                                domain: Some(w.domain),
                                user_verification_requirement: Some(user_verification(
                                    w.user_verification_requirement,
                                )?),
                            })
                        })
                        .transpose()?,
                    otp_sms: c.otp_sms.map(|s| OtpSmsChallengeWire {
                        return_code: Some(s.return_code),
                    }),
                    otp_email: c.otp_email.map(|e| match e.delivery_type {
                        Some(DeliveryType::ReturnCode(_)) => OtpEmailChallengeWire {
                            send_code: None,
                            return_code: Some(wire::Empty {}),
                        },
                        Some(DeliveryType::SendCode(s)) => OtpEmailChallengeWire {
                            send_code: Some(SendCodeWire {
                                url_template: s.url_template,
                            }),
                            return_code: None,
                        },
                        None => OtpEmailChallengeWire::default(),
                    }),
                })
            }

            fn user_agent(u: pb::UserAgent) -> UserAgentWire {
                user_agent_fields(
                    u.fingerprint_id.unwrap_or_default(),
                    u.ip.unwrap_or_default(),
                    u.description.unwrap_or_default(),
                    u.header.into_iter().map(|(k, v)| (k, v.values)).collect(),
                )
            }

            fn details(d: &Details) -> object::Details {
                object::Details {
                    sequence: u64::try_from(d.sequence).unwrap_or(0),
                    change_date: Some(timestamp(d.change_date)),
                    resource_owner: d.resource_owner.clone(),
                    creation_date: None,
                }
            }

            fn challenges_out(c: &ChallengeResponse) -> Option<pb::Challenges> {
                let out = pb::Challenges {
                    web_auth_n: c.web_auth_n.as_ref().map(|options| pb::challenges::WebAuthN {
                        public_key_credential_request_options: Some(json_to_struct(options)),
                    }),
                    otp_sms: c.otp_sms.as_ref().map(|s| s.expose().clone()),
                    otp_email: c.otp_email.as_ref().map(|s| s.expose().clone()),
                };
                (out.web_auth_n.is_some() || out.otp_sms.is_some() || out.otp_email.is_some())
                    .then_some(out)
            }

            fn factors(f: &Factors) -> Option<pb::Factors> {
                let user = f.user.as_ref()?;
                let at = |t: Option<OffsetDateTime>| t.map(timestamp);
                Some(pb::Factors {
                    user: Some(pb::UserFactor {
                        verified_at: Some(timestamp(user.verified_at)),
                        id: user.user_id.clone(),
                        login_name: user.login_name.clone(),
                        display_name: user.display_name.clone(),
                        organization_id: user.organization_id.clone(),
                    }),
                    password: at(f.password).map(|t| pb::PasswordFactor {
                        verified_at: Some(t),
                    }),
                    web_auth_n: f.web_auth_n.as_ref().map(|w| pb::WebAuthNFactor {
                        verified_at: Some(timestamp(w.verified_at)),
                        user_verified: w.user_verified,
                    }),
                    intent: None,
                    totp: at(f.totp).map(|t| pb::TotpFactor {
                        verified_at: Some(t),
                    }),
                    otp_sms: at(f.otp_sms).map(|t| pb::OtpFactor {
                        verified_at: Some(t),
                    }),
                    otp_email: at(f.otp_email).map(|t| pb::OtpFactor {
                        verified_at: Some(t),
                    }),
                })
            }

            fn session(s: &Session) -> pb::Session {
                pb::Session {
                    id: s.id.clone(),
                    creation_date: Some(timestamp(s.created_at)),
                    change_date: Some(timestamp(s.changed_at)),
                    sequence: u64::try_from(s.sequence).unwrap_or(0),
                    factors: factors(&s.factors),
                    metadata: s
                        .metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    user_agent: s.user_agent.as_ref().map(|ua| pb::UserAgent {
                        fingerprint_id: ua.fingerprint_id.clone(),
                        ip: ua.ip.clone(),
                        description: ua.description.clone(),
                        header: ua
                            .header
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    pb::user_agent::HeaderValues { values: v.clone() },
                                )
                            })
                            .collect(),
                    }),
                    expiration_date: s.expires_at.map(timestamp),
                }
            }

            fn changed_create(c: &SessionChanged) -> pb::CreateSessionResponse {
                pb::CreateSessionResponse {
                    details: Some(details(&c.details)),
                    session_id: c.session_id.clone(),
                    session_token: c
                        .session_token
                        .as_ref()
                        .map(|t| t.expose().clone())
                        .unwrap_or_default(),
                    challenges: challenges_out(&c.challenges),
                }
            }

            fn changed_set(c: &SessionChanged) -> pb::SetSessionResponse {
                pb::SetSessionResponse {
                    details: Some(details(&c.details)),
                    session_token: c
                        .session_token
                        .as_ref()
                        .map(|t| t.expose().clone())
                        .unwrap_or_default(),
                    challenges: challenges_out(&c.challenges),
                }
            }

            fn page(p: &SessionPage) -> pb::ListSessionsResponse {
                let processed = p.sessions.iter().map(|s| s.sequence).max().unwrap_or(0);
                pb::ListSessionsResponse {
                    details: Some(object::ListDetails {
                        total_result: p.total,
                        processed_sequence: u64::try_from(processed).unwrap_or(0),
                        timestamp: Some(timestamp(OffsetDateTime::now_utc())),
                    }),
                    sessions: p.sessions.iter().map(session).collect(),
                }
            }

            async fn create(
                call: Call<'_>,
                r: pb::CreateSessionRequest,
            ) -> Result<pb::CreateSessionResponse, ApiError> {
                let key = call.session_key().await?;
                let body = SessionRequestWire {
                    session_id: None,
                    session_token: None,
                    checks: r.checks.map(checks),
                    metadata: metadata(r.metadata),
                    challenges: r.challenges.map(challenges).transpose()?,
                    user_agent: r.user_agent.map(user_agent),
                    lifetime: r.lifetime.as_ref().map(from_duration).transpose()?,
                };
                let changed = session::create_session(call.state, &key, body).await?;
                Ok(changed_create(&changed))
            }

            async fn set(
                call: Call<'_>,
                r: pb::SetSessionRequest,
            ) -> Result<pb::SetSessionResponse, ApiError> {
                let key = call.session_key().await?;
                let body = SessionRequestWire {
                    session_id: Some(r.session_id.clone()),
                    session_token: optional(r.session_token),
                    checks: r.checks.map(checks),
                    metadata: metadata(r.metadata),
                    challenges: r.challenges.map(challenges).transpose()?,
                    user_agent: None,
                    lifetime: r.lifetime.as_ref().map(from_duration).transpose()?,
                };
                let changed = session::set_session(call.state, &key, &r.session_id, body).await?;
                Ok(changed_set(&changed))
            }

            async fn get(
                call: Call<'_>,
                r: pb::GetSessionRequest,
            ) -> Result<pb::GetSessionResponse, ApiError> {
                let access = call.access().await?;
                let token = r.session_token.filter(|t| !t.is_empty());
                let s =
                    session::get_session(call.state, &access, &r.session_id, token.as_deref())
                        .await?;
                Ok(pb::GetSessionResponse {
                    session: Some(session(&s)),
                })
            }

            async fn delete(
                call: Call<'_>,
                r: pb::DeleteSessionRequest,
            ) -> Result<pb::DeleteSessionResponse, ApiError> {
                let access = call.access().await?;
                let token = r.session_token.filter(|t| !t.is_empty());
                let d =
                    session::delete_session(call.state, &access, &r.session_id, token.as_deref())
                        .await?;
                Ok(pb::DeleteSessionResponse {
                    details: Some(details(&d)),
                })
            }

            async fn list(
                call: Call<'_>,
                r: pb::ListSessionsRequest,
            ) -> Result<pb::ListSessionsResponse, ApiError> {
                let key = call.session_key().await?;
                let body = ListSessionsWire {
                    query: r.query.map(|q| ListQueryWire {
                        offset: Some(U64(q.offset)),
                        limit: Some(U64(u64::from(q.limit))),
                        asc: Some(q.asc),
                    }),
                    queries: Some(
                        r.queries
                            .into_iter()
                            .map(search)
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    sorting_column: sorting_column(r.sorting_column)?,
                };
                let p = session::list_sessions(call.state, &key, body).await?;
                Ok(page(&p))
            }

            /// One Connect binary call: `None` for an unknown method.
            pub(super) async fn call_binary(
                call: Call<'_>,
                method: &str,
                bytes: &[u8],
            ) -> Option<Result<Vec<u8>, ApiError>> {
                use prost::Message as _;
                Some(match method {
                    "CreateSession" => match decode(bytes) {
                        Ok(r) => create(call, r).await.map(|m| m.encode_to_vec()),
                        Err(e) => Err(e),
                    },
                    "SetSession" => match decode(bytes) {
                        Ok(r) => set(call, r).await.map(|m| m.encode_to_vec()),
                        Err(e) => Err(e),
                    },
                    "GetSession" => match decode(bytes) {
                        Ok(r) => get(call, r).await.map(|m| m.encode_to_vec()),
                        Err(e) => Err(e),
                    },
                    "DeleteSession" => match decode(bytes) {
                        Ok(r) => delete(call, r).await.map(|m| m.encode_to_vec()),
                        Err(e) => Err(e),
                    },
                    "ListSessions" => match decode(bytes) {
                        Ok(r) => list(call, r).await.map(|m| m.encode_to_vec()),
                        Err(e) => Err(e),
                    },
                    _ => return None,
                })
            }

            /// Runs one method of this package with a gRPC request's metadata and extensions.
            macro_rules! run {
                ($grpc:expr, $request:expr, $method:ident) => {{
                    let (metadata, extensions, message) = $request.into_parts();
                    let headers = metadata.into_headers();
                    let call = Call {
                        state: &$grpc.state,
                        headers: &headers,
                        extensions: &extensions,
                    };
                    respond($package, $method(call, message).await)
                }};
            }

            #[tonic::async_trait]
            impl SessionService for SessionGrpc {
                async fn create_session(
                    &self,
                    request: tonic::Request<pb::CreateSessionRequest>,
                ) -> Result<tonic::Response<pb::CreateSessionResponse>, tonic::Status> {
                    run!(self, request, create)
                }

                async fn set_session(
                    &self,
                    request: tonic::Request<pb::SetSessionRequest>,
                ) -> Result<tonic::Response<pb::SetSessionResponse>, tonic::Status> {
                    run!(self, request, set)
                }

                async fn get_session(
                    &self,
                    request: tonic::Request<pb::GetSessionRequest>,
                ) -> Result<tonic::Response<pb::GetSessionResponse>, tonic::Status> {
                    run!(self, request, get)
                }

                async fn delete_session(
                    &self,
                    request: tonic::Request<pb::DeleteSessionRequest>,
                ) -> Result<tonic::Response<pb::DeleteSessionResponse>, tonic::Status> {
                    run!(self, request, delete)
                }

                async fn list_sessions(
                    &self,
                    request: tonic::Request<pb::ListSessionsRequest>,
                ) -> Result<tonic::Response<pb::ListSessionsResponse>, tonic::Status> {
                    run!(self, request, list)
                }
            }
        }
    };
}

/// A method's outcome as gRPC answers it; internal failures are logged once, here.
fn respond<A>(package: &str, r: Result<A, ApiError>) -> Result<tonic::Response<A>, tonic::Status> {
    r.map(tonic::Response::new).map_err(|e| {
        if e.code == Code::Internal {
            tracing::error!(id = e.id, package, "internal error");
        }
        e.to_status()
    })
}

session_package!(
    v2,
    "zitadel.session.v2",
    super::super::pb::zitadel::session::v2,
    super::super::pb::zitadel::object::v2,
    fn search(q: pb::SearchQuery) -> Result<SearchQueryWire, ApiError> {
        use pb::search_query::Query;
        let mut out = SearchQueryWire::default();
        match q.query {
            Some(Query::IdsQuery(i)) => out.ids_query = Some(IdsQuery { ids: Some(i.ids) }),
            Some(Query::UserIdQuery(u)) => out.user_id_query = Some(IdQuery { id: Some(u.id) }),
            Some(Query::CreationDateQuery(c)) => {
                out.creation_date_query = Some(CreationDateQuery {
                    creation_date: c.creation_date.as_ref().map(from_timestamp).transpose()?,
                    method: Some(timestamp_method(c.method)?),
                })
            }
            Some(Query::CreatorQuery(c)) => out.creator_query = Some(IdQuery { id: c.id }),
            Some(Query::UserAgentQuery(u)) => {
                out.user_agent_query = Some(UserAgentQuery {
                    fingerprint_id: u.fingerprint_id,
                })
            }
            None => {}
        }
        Ok(out)
    }
);

session_package!(
    v2beta,
    "zitadel.session.v2beta",
    super::super::pb::zitadel::session::v2beta,
    super::super::pb::zitadel::object::v2beta,
    fn search(q: pb::SearchQuery) -> Result<SearchQueryWire, ApiError> {
        use pb::search_query::Query;
        let mut out = SearchQueryWire::default();
        match q.query {
            Some(Query::IdsQuery(i)) => out.ids_query = Some(IdsQuery { ids: Some(i.ids) }),
            Some(Query::UserIdQuery(u)) => out.user_id_query = Some(IdQuery { id: Some(u.id) }),
            Some(Query::CreationDateQuery(c)) => {
                out.creation_date_query = Some(CreationDateQuery {
                    creation_date: c.creation_date.as_ref().map(from_timestamp).transpose()?,
                    method: Some(timestamp_method(c.method)?),
                })
            }
            None => {}
        }
        Ok(out)
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_round_trip_as_json() {
        let json = serde_json::json!({
            "publicKey": {"challenge": "abc", "timeout": 300000, "ratio": 0.5,
                          "allowCredentials": [], "flags": [true, null, "x"]},
        });
        let back = struct_to_json(&json_to_struct(&json));
        assert_eq!(back, json);
        // Whole numbers come back as integers, so typed readers of the JSON accept them.
        assert!(back["publicKey"]["timeout"].is_u64());
    }

    #[test]
    fn well_known_types() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_710_498_600_123_456_789).unwrap();
        assert_eq!(from_timestamp(&timestamp(t)).unwrap().0, t);
        let d = from_duration(&prost_types::Duration {
            seconds: 3600,
            nanos: 500_000_000,
        })
        .unwrap();
        assert_eq!(d.0, time::Duration::milliseconds(3_600_500));
        assert!(from_duration(&prost_types::Duration {
            seconds: 1,
            nanos: 1_000_000_000
        })
        .is_err());
        assert!(user_verification(9).is_err());
        assert!(timestamp_method(5).is_err());
    }
}
