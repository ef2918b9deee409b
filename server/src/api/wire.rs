//! Wire types of the Session API (protojson conventions) and their mapping to the engine's types.
//!
//! Requests accept lowerCamelCase and the proto's snake_case names, 64-bit numbers as strings or
//! numbers, enums by name or number, durations like `"18000s"`, timestamps in RFC 3339 and bytes
//! in base64. Responses use lowerCamelCase, 64-bit numbers as strings and omit absent values.

use std::collections::BTreeMap;
use std::fmt;

use base64::{
    alphabet,
    engine::{general_purpose::STANDARD, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use domain::{
    input::{
        Id, Lifetime, LoginName, MetadataChanges, OtpCode, Password, RecoveryCodeInput, TotpCode,
        UserRef,
    },
    model::{Factors, Session, UserAgent},
    notifier::UrlTemplate,
    service::{
        ChallengeRequests, ChallengeResponse, Checks, Details, EmailCodeDelivery, SessionChange,
        SessionChanged, SmsCodeDelivery, WebAuthnChallengeRequest,
    },
    store::{SessionFilter, SessionPage, TimeCompare},
};
use serde::{de, Deserialize, Deserializer, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime, UtcOffset};

use super::error::{ids, ApiError};

// ---------- scalar wire types ----------

/// A `google.protobuf.Duration` in JSON: `"18000s"`, `"1.5s"`, `"-3s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoDuration(pub time::Duration);

impl ProtoDuration {
    /// Parses the protojson form; at most nine fractional digits.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_suffix('s')?;
        let (negative, body) = match body.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let (whole, frac) = match body.split_once('.') {
            Some((w, f)) => (w, f),
            None => (body, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
            return None;
        }
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) || body.ends_with('.') {
            return None;
        }
        let seconds: i64 = whole.parse().ok()?;
        let nanos: i32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().ok()?
        };
        let d = time::Duration::new(seconds, nanos);
        Some(Self(if negative { -d } else { d }))
    }
}

impl<'de> Deserialize<'de> for ProtoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| de::Error::custom("expected a duration such as \"18000s\" or \"1.5s\""))
    }
}

/// Formats a duration the protojson way (`"18000s"`, `"1.500s"`).
pub fn format_duration(d: time::Duration) -> String {
    let nanos = d.subsec_nanoseconds().unsigned_abs();
    let sign = if d.is_negative() { "-" } else { "" };
    let secs = d.whole_seconds().unsigned_abs();
    if nanos == 0 {
        format!("{sign}{secs}s")
    } else {
        let frac = format!("{nanos:09}");
        format!("{sign}{secs}.{}s", frac.trim_end_matches('0'))
    }
}

/// A `google.protobuf.Timestamp` in JSON (RFC 3339).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub OffsetDateTime);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(Self)
            .map_err(|_| de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

/// RFC 3339 in UTC, as protojson writes timestamps: no fraction, or 3, 6 or 9 digits.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let nanos = t.nanosecond();
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An unsigned 64-bit number sent as a JSON string or number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U64(pub u64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned integer (number or string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U64, E> {
                Ok(U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U64, E> {
                u64::try_from(v)
                    .map(U64)
                    .map_err(|_| E::custom("must not be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U64, E> {
                if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
                    Ok(U64(v as u64))
                } else {
                    Err(E::custom("expected an unsigned integer"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<U64, E> {
                v.trim()
                    .parse()
                    .map(U64)
                    .map_err(|_| E::custom("expected an unsigned integer"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `bytes` in JSON: standard or URL-safe base64, padded or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STD_LENIENT
            .decode(text.as_bytes())
            .or_else(|_| URL_LENIENT.decode(text.as_bytes()))
            .map(Self)
            .map_err(|_| de::Error::custom("expected base64"))
    }
}

/// Declares a proto enum that reads its name or its number; unknown values are refused.
macro_rules! proto_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $num:literal, $text:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("one of ", $($text, " ",)+ "or its number"))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        match v { $($num => Ok($name::$variant),)+ _ => Err(E::custom(concat!("unknown ", stringify!($name), " value"))) }
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        match i64::try_from(v) { Ok(v) => self.visit_i64(v), Err(_) => Err(E::custom("unknown enum value")) }
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        match v { $($text => Ok($name::$variant),)+ _ => Err(E::custom(concat!("unknown ", stringify!($name), " value"))) }
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

proto_enum!(
    /// `TimestampQueryMethod`.
    TimestampQueryMethod {
        Equals = 0, "TIMESTAMP_QUERY_METHOD_EQUALS";
        Greater = 1, "TIMESTAMP_QUERY_METHOD_GREATER";
        GreaterOrEquals = 2, "TIMESTAMP_QUERY_METHOD_GREATER_OR_EQUALS";
        Less = 3, "TIMESTAMP_QUERY_METHOD_LESS";
        LessOrEquals = 4, "TIMESTAMP_QUERY_METHOD_LESS_OR_EQUALS";
    }
);

proto_enum!(
    /// `SessionFieldName`, the sorting column.
    SessionFieldName {
        Unspecified = 0, "SESSION_FIELD_NAME_UNSPECIFIED";
        CreationDate = 1, "SESSION_FIELD_NAME_CREATION_DATE";
    }
);

proto_enum!(
    /// `UserVerificationRequirement` of a WebAuthn challenge.
    UserVerificationRequirement {
        Unspecified = 0, "USER_VERIFICATION_REQUIREMENT_UNSPECIFIED";
        Required = 1, "USER_VERIFICATION_REQUIREMENT_REQUIRED";
        Preferred = 2, "USER_VERIFICATION_REQUIREMENT_PREFERRED";
        Discouraged = 3, "USER_VERIFICATION_REQUIREMENT_DISCOURAGED";
    }
);

impl From<TimestampQueryMethod> for TimeCompare {
    fn from(m: TimestampQueryMethod) -> Self {
        match m {
            TimestampQueryMethod::Equals => Self::Equals,
            TimestampQueryMethod::Greater => Self::Greater,
            TimestampQueryMethod::GreaterOrEquals => Self::GreaterOrEquals,
            TimestampQueryMethod::Less => Self::Less,
            TimestampQueryMethod::LessOrEquals => Self::LessOrEquals,
        }
    }
}

/// An empty message (`{}`); its fields, if any, are ignored.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Empty {}

// ---------- requests ----------

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckUser {
    #[serde(alias = "user_id")]
    pub user_id: Option<String>,
    #[serde(alias = "login_name")]
    pub login_name: Option<String>,
    /// v2alpha's name for the login name.
    pub username: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CheckPassword {
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CheckCode {
    pub code: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckWebAuthN {
    #[serde(alias = "credential_assertion_data")]
    #[schema(value_type = Option<Object>)]
    pub credential_assertion_data: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckIdpIntent {
    #[serde(alias = "idp_intent_id")]
    pub idp_intent_id: Option<String>,
    #[serde(alias = "idp_intent_token")]
    pub idp_intent_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChecksWire {
    pub user: Option<CheckUser>,
    pub password: Option<CheckPassword>,
    #[serde(rename = "webAuthN", alias = "web_auth_n")]
    pub web_auth_n: Option<CheckWebAuthN>,
    #[serde(alias = "idp_intent")]
    pub idp_intent: Option<CheckIdpIntent>,
    pub totp: Option<CheckCode>,
    #[serde(alias = "otp_sms")]
    pub otp_sms: Option<CheckCode>,
    #[serde(alias = "otp_email")]
    pub otp_email: Option<CheckCode>,
    #[serde(alias = "recovery_code")]
    pub recovery_code: Option<CheckCode>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebAuthNChallengeWire {
    pub domain: Option<String>,
    #[serde(alias = "user_verification_requirement")]
    pub user_verification_requirement: Option<UserVerificationRequirement>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpSmsChallengeWire {
    #[serde(alias = "return_code")]
    pub return_code: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendCodeWire {
    #[serde(alias = "url_template")]
    pub url_template: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpEmailChallengeWire {
    #[serde(alias = "send_code")]
    pub send_code: Option<SendCodeWire>,
    #[serde(alias = "return_code")]
    pub return_code: Option<Empty>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestChallengesWire {
    #[serde(rename = "webAuthN", alias = "web_auth_n")]
    pub web_auth_n: Option<WebAuthNChallengeWire>,
    #[serde(alias = "otp_sms")]
    pub otp_sms: Option<OtpSmsChallengeWire>,
    #[serde(alias = "otp_email")]
    pub otp_email: Option<OtpEmailChallengeWire>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct HeaderValuesWire {
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAgentWire {
    #[serde(alias = "fingerprint_id")]
    pub fingerprint_id: Option<String>,
    pub ip: Option<String>,
    pub description: Option<String>,
    pub header: Option<BTreeMap<String, HeaderValuesWire>>,
}

/// `CreateSessionRequest` and `SetSessionRequest` share these fields; Set's id and token come
/// from the path (REST) or the body (Connect).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequestWire {
    #[serde(alias = "session_id")]
    pub session_id: Option<String>,
    /// Deprecated and ignored on Set (the contract); never used to authorize.
    #[serde(alias = "session_token")]
    pub session_token: Option<String>,
    pub checks: Option<ChecksWire>,
    pub metadata: Option<BTreeMap<String, Bytes>>,
    pub challenges: Option<RequestChallengesWire>,
    #[serde(alias = "user_agent")]
    pub user_agent: Option<UserAgentWire>,
    pub lifetime: Option<ProtoDuration>,
}

/// `GetSessionRequest` / `DeleteSessionRequest` bodies (Connect), and the REST query/body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRefWire {
    #[serde(alias = "session_id")]
    pub session_id: Option<String>,
    #[serde(alias = "session_token")]
    pub session_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ListQueryWire {
    pub offset: Option<U64>,
    pub limit: Option<U64>,
    pub asc: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct IdsQuery {
    pub ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct IdQuery {
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreationDateQuery {
    #[serde(alias = "creation_date")]
    pub creation_date: Option<Timestamp>,
    pub method: Option<TimestampQueryMethod>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationDateQuery {
    #[serde(alias = "expiration_date")]
    pub expiration_date: Option<Timestamp>,
    pub method: Option<TimestampQueryMethod>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAgentQuery {
    #[serde(alias = "fingerprint_id")]
    pub fingerprint_id: Option<String>,
}

/// `SearchQuery`: exactly one of the fields.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchQueryWire {
    #[serde(alias = "ids_query")]
    pub ids_query: Option<IdsQuery>,
    #[serde(alias = "user_id_query")]
    pub user_id_query: Option<IdQuery>,
    #[serde(alias = "creation_date_query")]
    pub creation_date_query: Option<CreationDateQuery>,
    #[serde(alias = "creator_query")]
    pub creator_query: Option<IdQuery>,
    #[serde(alias = "user_agent_query")]
    pub user_agent_query: Option<UserAgentQuery>,
    #[serde(alias = "expiration_date_query")]
    pub expiration_date_query: Option<ExpirationDateQuery>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListSessionsWire {
    pub query: Option<ListQueryWire>,
    pub queries: Option<Vec<SearchQueryWire>>,
    #[serde(alias = "sorting_column")]
    pub sorting_column: Option<SessionFieldName>,
}

// ---------- request mapping ----------

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_argument(ids::MALFORMED_BODY, message)
}

/// A user check naming both an id and a login name (as seed 001 does): the engine checks the
/// id, and the login name must belong to that user.
#[derive(Debug, Clone)]
pub struct UserConsistency {
    pub user_id: String,
    pub login_name: String,
}

/// Maps the request's change fields; `user_consistency` is set when the user check named both.
pub fn to_change(
    wire: &SessionRequestWire,
) -> Result<(SessionChange, Option<UserConsistency>), ApiError> {
    let mut consistency = None;
    let mut checks = Checks::default();
    if let Some(c) = &wire.checks {
        if let Some(user) = &c.user {
            let login = user.login_name.clone().or_else(|| user.username.clone());
            checks.user = Some(match (&user.user_id, login) {
                (Some(id), None) => UserRef::Id(Id::parse(id.clone())?),
                (None, Some(login)) => UserRef::LoginName(LoginName::parse(login)?),
                (Some(id), Some(login)) => {
                    let id = Id::parse(id.clone())?;
                    LoginName::parse(login.clone())?;
                    consistency = Some(UserConsistency {
                        user_id: id.as_str().to_owned(),
                        login_name: login,
                    });
                    UserRef::Id(id)
                }
                (None, None) => {
                    return Err(invalid("checks.user: userId or loginName is required"))
                }
            });
        }
        if let Some(p) = &c.password {
            checks.password = Some(Password::parse(p.password.clone().unwrap_or_default())?);
        }
        if let Some(w) = &c.web_auth_n {
            match &w.credential_assertion_data {
                Some(v) if v.is_object() => checks.web_auth_n = Some(v.clone()),
                _ => {
                    return Err(invalid(
                        "checks.webAuthN.credentialAssertionData: an object is required",
                    ))
                }
            }
        }
        if c.idp_intent.is_some() {
            return Err(ApiError::new(
                super::error::Code::Unimplemented,
                "SESSION-Idp00",
                "Identity provider intents are not supported",
            ));
        }
        if let Some(t) = &c.totp {
            checks.totp = Some(TotpCode::parse(t.code.clone().unwrap_or_default())?);
        }
        if let Some(t) = &c.otp_sms {
            checks.otp_sms = Some(OtpCode::parse(t.code.clone().unwrap_or_default())?);
        }
        if let Some(t) = &c.otp_email {
            checks.otp_email = Some(OtpCode::parse(t.code.clone().unwrap_or_default())?);
        }
        if let Some(t) = &c.recovery_code {
            checks.recovery_code = Some(RecoveryCodeInput::parse(
                t.code.clone().unwrap_or_default(),
            )?);
        }
    }
    let metadata = match &wire.metadata {
        Some(m) => {
            MetadataChanges::parse(m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())?
        }
        None => MetadataChanges::default(),
    };
    let mut challenges = ChallengeRequests::default();
    if let Some(c) = &wire.challenges {
        if let Some(w) = &c.web_auth_n {
            let domain = w.domain.clone().unwrap_or_default();
            let n = domain.chars().count();
            if n == 0 || n > 200 {
                return Err(invalid("challenges.webAuthN.domain: 1 to 200 characters"));
            }
            let uv = match w.user_verification_requirement {
                None | Some(UserVerificationRequirement::Unspecified) => {
                    return Err(invalid(
                        "challenges.webAuthN.userVerificationRequirement: required",
                    ))
                }
                Some(uv) => uv,
            };
            challenges.web_auth_n = Some(WebAuthnChallengeRequest {
                domain,
                user_verification_required: uv == UserVerificationRequirement::Required,
            });
        }
        if let Some(s) = &c.otp_sms {
            challenges.otp_sms = Some(SmsCodeDelivery {
                return_code: s.return_code.unwrap_or(false),
            });
        }
        if let Some(e) = &c.otp_email {
            challenges.otp_email = Some(match (&e.send_code, &e.return_code) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "challenges.otpEmail: sendCode and returnCode are exclusive",
                    ))
                }
                (_, Some(_)) => EmailCodeDelivery::Return,
                (Some(send), None) => EmailCodeDelivery::Send {
                    url_template: send
                        .url_template
                        .as_deref()
                        .map(UrlTemplate::parse)
                        .transpose()?,
                },
                (None, None) => EmailCodeDelivery::Send { url_template: None },
            });
        }
    }
    let lifetime = wire.lifetime.map(|d| Lifetime::parse(d.0)).transpose()?;
    Ok((
        SessionChange {
            checks,
            metadata,
            challenges,
            lifetime,
        },
        consistency,
    ))
}

/// The request's user agent, if it sent one.
pub fn to_user_agent(wire: &SessionRequestWire) -> Option<UserAgent> {
    wire.user_agent.as_ref().map(|ua| UserAgent {
        fingerprint_id: ua.fingerprint_id.clone(),
        ip: ua.ip.clone(),
        description: ua.description.clone(),
        header: ua
            .header
            .as_ref()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.values.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Validates a session id from a path or body (1–200 characters).
pub fn session_id(raw: Option<&str>) -> Result<String, ApiError> {
    Ok(Id::parse(raw.unwrap_or_default().to_owned())
        .map_err(|_| invalid("sessionId: 1 to 200 characters"))?
        .as_str()
        .to_owned())
}

/// A session token when present and non-empty (1–200 characters).
pub fn session_token(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > 200 => Err(invalid("sessionToken: at most 200 characters")),
        Some(t) => Ok(Some(t.to_owned())),
    }
}

/// The list's filters, page and order. `caller_id` fills an empty creator query.
pub fn to_list_query(
    wire: &ListSessionsWire,
    caller_id: &str,
) -> Result<domain::service::ListSessionsQuery, ApiError> {
    let mut filters = Vec::new();
    for (i, q) in wire.queries.iter().flatten().enumerate() {
        let set = [
            q.ids_query.is_some(),
            q.user_id_query.is_some(),
            q.creation_date_query.is_some(),
            q.creator_query.is_some(),
            q.user_agent_query.is_some(),
            q.expiration_date_query.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(invalid(format!(
                "queries[{i}]: exactly one query kind is required"
            )));
        }
        let long = |s: &str| s.chars().count() > 200;
        if let Some(ids) = &q.ids_query {
            let ids = ids.ids.clone().unwrap_or_default();
            if ids.len() > 1000 || ids.iter().any(|s| long(s)) {
                return Err(invalid(format!(
                    "queries[{i}].idsQuery: too many or too long ids"
                )));
            }
            filters.push(SessionFilter::Ids(ids));
        } else if let Some(u) = &q.user_id_query {
            let id = u.id.clone().unwrap_or_default();
            if id.is_empty() || long(&id) {
                return Err(invalid(format!(
                    "queries[{i}].userIdQuery.id: 1 to 200 characters"
                )));
            }
            filters.push(SessionFilter::UserId(id));
        } else if let Some(c) = &q.creation_date_query {
            let at = c.creation_date.ok_or_else(|| {
                invalid(format!(
                    "queries[{i}].creationDateQuery.creationDate: required"
                ))
            })?;
            let method = c.method.unwrap_or(TimestampQueryMethod::Equals);
            filters.push(SessionFilter::CreationDate(method.into(), at.0));
        } else if let Some(c) = &q.creator_query {
            let id = match c.id.as_deref() {
                None | Some("") => caller_id.to_owned(),
                Some(id) if long(id) => {
                    return Err(invalid(format!(
                        "queries[{i}].creatorQuery.id: at most 200 characters"
                    )))
                }
                Some(id) => id.to_owned(),
            };
            filters.push(SessionFilter::Creator(id));
        } else if let Some(u) = &q.user_agent_query {
            match u.fingerprint_id.as_deref() {
                Some(f) if !f.is_empty() && !long(f) => {
                    filters.push(SessionFilter::UserAgentFingerprint(f.to_owned()))
                }
                Some(f) if long(f) => {
                    return Err(invalid(format!(
                        "queries[{i}].userAgentQuery.fingerprintId: at most 200 characters"
                    )))
                }
                // An API key has no user-agent fingerprint to fall back on.
                _ => {
                    return Err(invalid(format!(
                        "queries[{i}].userAgentQuery.fingerprintId: required (the caller has no fingerprint)"
                    )))
                }
            }
        } else if let Some(e) = &q.expiration_date_query {
            let at = e.expiration_date.ok_or_else(|| {
                invalid(format!(
                    "queries[{i}].expirationDateQuery.expirationDate: required"
                ))
            })?;
            let method = e.method.unwrap_or(TimestampQueryMethod::Equals);
            filters.push(SessionFilter::ExpirationDate(method.into(), at.0));
        }
    }
    let query = wire.query.clone().unwrap_or_default();
    let limit = query.limit.map_or(0, |l| l.0);
    let limit = u32::try_from(limit).map_err(|_| invalid("query.limit: too large"))?;
    Ok(domain::service::ListSessionsQuery {
        filters,
        offset: query.offset.map_or(0, |o| o.0),
        limit,
        ascending: query.asc.unwrap_or(false),
    })
}

// ---------- responses ----------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetailsWire {
    pub sequence: String,
    pub change_date: String,
    pub resource_owner: String,
}

impl From<&Details> for DetailsWire {
    fn from(d: &Details) -> Self {
        Self {
            sequence: d.sequence.max(0).to_string(),
            change_date: format_time(d.change_date),
            resource_owner: d.resource_owner.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengesWire {
    #[serde(rename = "webAuthN", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub web_auth_n: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp_sms: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp_email: Option<String>,
}

/// `None` when nothing came back (the field is then omitted).
fn challenges(c: &ChallengeResponse) -> Option<ChallengesWire> {
    let wire = ChallengesWire {
        web_auth_n: c
            .web_auth_n
            .as_ref()
            .map(|v| serde_json::json!({ "publicKeyCredentialRequestOptions": v })),
        otp_sms: c.otp_sms.as_ref().map(|s| s.expose().clone()),
        otp_email: c.otp_email.as_ref().map(|s| s.expose().clone()),
    };
    (wire.web_auth_n.is_some() || wire.otp_sms.is_some() || wire.otp_email.is_some())
        .then_some(wire)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionResponse {
    pub details: DetailsWire,
    pub session_id: String,
    pub session_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenges: Option<ChallengesWire>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetSessionResponse {
    pub details: DetailsWire,
    /// Omitted when the request changed nothing (the contract's empty token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenges: Option<ChallengesWire>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeleteSessionResponse {
    pub details: DetailsWire,
}

impl CreateSessionResponse {
    pub fn from_changed(c: &SessionChanged) -> Self {
        Self {
            details: (&c.details).into(),
            session_id: c.session_id.clone(),
            session_token: c
                .session_token
                .as_ref()
                .map(|t| t.expose().clone())
                .unwrap_or_default(),
            challenges: challenges(&c.challenges),
        }
    }
}

impl SetSessionResponse {
    pub fn from_changed(c: &SessionChanged) -> Self {
        Self {
            details: (&c.details).into(),
            session_token: c.session_token.as_ref().map(|t| t.expose().clone()),
            challenges: challenges(&c.challenges),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedAt {
    pub verified_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserFactorWire {
    pub verified_at: String,
    pub id: String,
    pub login_name: String,
    pub display_name: String,
    pub organization_id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebAuthNFactorWire {
    pub verified_at: String,
    pub user_verified: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactorsWire {
    pub user: UserFactorWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<VerifiedAt>,
    #[serde(rename = "webAuthN", skip_serializing_if = "Option::is_none")]
    pub web_auth_n: Option<WebAuthNFactorWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp: Option<VerifiedAt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp_sms: Option<VerifiedAt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp_email: Option<VerifiedAt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<VerifiedAt>,
}

fn verified(t: Option<OffsetDateTime>) -> Option<VerifiedAt> {
    t.map(|t| VerifiedAt {
        verified_at: format_time(t),
    })
}

/// `factors` exists only once a user is checked; unchecked factors are omitted.
fn factors(f: &Factors) -> Option<FactorsWire> {
    let user = f.user.as_ref()?;
    Some(FactorsWire {
        user: UserFactorWire {
            verified_at: format_time(user.verified_at),
            id: user.user_id.clone(),
            login_name: user.login_name.clone(),
            display_name: user.display_name.clone(),
            organization_id: user.organization_id.clone(),
        },
        password: verified(f.password),
        web_auth_n: f.web_auth_n.as_ref().map(|w| WebAuthNFactorWire {
            verified_at: format_time(w.verified_at),
            user_verified: w.user_verified,
        }),
        totp: verified(f.totp),
        otp_sms: verified(f.otp_sms),
        otp_email: verified(f.otp_email),
        recovery_code: verified(f.recovery_code),
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HeaderValuesOut {
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAgentOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, HeaderValuesOut>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionWire {
    pub id: String,
    pub creation_date: String,
    pub change_date: String,
    pub sequence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factors: Option<FactorsWire>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<UserAgentOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
}

impl From<&Session> for SessionWire {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            creation_date: format_time(s.created_at),
            change_date: format_time(s.changed_at),
            sequence: s.sequence.max(0).to_string(),
            factors: factors(&s.factors),
            metadata: s
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), STANDARD.encode(v)))
                .collect(),
            user_agent: s.user_agent.as_ref().map(|ua| UserAgentOut {
                fingerprint_id: ua.fingerprint_id.clone(),
                ip: ua.ip.clone(),
                description: ua.description.clone(),
                header: ua
                    .header
                    .iter()
                    .map(|(k, v)| (k.clone(), HeaderValuesOut { values: v.clone() }))
                    .collect(),
            }),
            expiration_date: s.expires_at.map(format_time),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GetSessionResponse {
    pub session: SessionWire,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListDetailsWire {
    pub total_result: String,
    pub processed_sequence: String,
    pub timestamp: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListSessionsResponse {
    pub details: ListDetailsWire,
    pub sessions: Vec<SessionWire>,
}

impl ListSessionsResponse {
    pub fn from_page(page: &SessionPage, now: OffsetDateTime) -> Self {
        let processed = page.sessions.iter().map(|s| s.sequence).max().unwrap_or(0);
        Self {
            details: ListDetailsWire {
                total_result: page.total.to_string(),
                processed_sequence: processed.max(0).to_string(),
                timestamp: format_time(now),
            },
            sessions: page.sessions.iter().map(SessionWire::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s: &str| ProtoDuration::parse(s).map(|d| d.0);
        assert_eq!(d("18000s"), Some(time::Duration::seconds(18000)));
        assert_eq!(d("1.5s"), Some(time::Duration::milliseconds(1500)));
        assert_eq!(d("-1s"), Some(time::Duration::seconds(-1)));
        assert_eq!(d("0.000000001s"), Some(time::Duration::nanoseconds(1)));
        for bad in [
            "",
            "s",
            "1",
            "1.s",
            ".5s",
            "1.0000000001s",
            "abc",
            "1m",
            "99999999999999s",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert_eq!(format_duration(time::Duration::seconds(18000)), "18000s");
        assert_eq!(format_duration(time::Duration::milliseconds(1500)), "1.5s");
        let t = OffsetDateTime::from_unix_timestamp(1_710_498_600).unwrap()
            + time::Duration::milliseconds(500);
        assert_eq!(format_time(t), "2024-03-15T10:30:00.500Z");
        assert_eq!(
            format_time(t + time::Duration::microseconds(1)),
            "2024-03-15T10:30:00.500001Z"
        );
        assert_eq!(
            format_time(t + time::Duration::nanoseconds(1)),
            "2024-03-15T10:30:00.500000001Z"
        );
        assert_eq!(
            format_time(t - time::Duration::milliseconds(500)),
            "2024-03-15T10:30:00Z"
        );
    }

    #[test]
    fn numbers_and_enums() {
        assert_eq!(serde_json::from_str::<U64>("\"12\"").unwrap(), U64(12));
        assert_eq!(serde_json::from_str::<U64>("12").unwrap(), U64(12));
        assert!(serde_json::from_str::<U64>("-1").is_err());
        assert!(serde_json::from_str::<U64>("\"x\"").is_err());
        assert_eq!(
            serde_json::from_str::<TimestampQueryMethod>("\"TIMESTAMP_QUERY_METHOD_LESS\"")
                .unwrap(),
            TimestampQueryMethod::Less
        );
        assert_eq!(
            serde_json::from_str::<TimestampQueryMethod>("2").unwrap(),
            TimestampQueryMethod::GreaterOrEquals
        );
        assert!(serde_json::from_str::<TimestampQueryMethod>("\"NOPE\"").is_err());
        assert!(serde_json::from_str::<TimestampQueryMethod>("9").is_err());
        assert_eq!(
            serde_json::from_str::<Bytes>("\"aGk\"").unwrap(),
            Bytes(b"hi".to_vec())
        );
        assert_eq!(
            serde_json::from_str::<Bytes>("\"_-8\"").unwrap().0,
            vec![0xff, 0xef]
        );
    }
}
