//! Request messages of the Session API as they arrive on the wire.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::scalars::{
    Bytes, Empty, ProtoDuration, SessionFieldName, Timestamp, TimestampQueryMethod,
    UserVerificationRequirement, U64,
};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckUser {
    #[serde(alias = "user_id")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub user_id: Option<String>,
    #[serde(alias = "login_name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub login_name: Option<String>,
    /// v2alpha's name for the login name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub username: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CheckPassword {
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CheckCode {
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    pub code: Option<String>,
}

/// The schema of a TOTP check (the message is [`CheckCode`]): the code has exactly 6 characters.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CheckTotp {
    #[schema(min_length = 6, max_length = 6)]
    code: String,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckWebAuthN {
    #[serde(alias = "credential_assertion_data")]
    #[schema(required = true, value_type = Object)]
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
    #[schema(value_type = Option<CheckTotp>)]
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
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    pub domain: Option<String>,
    #[serde(alias = "user_verification_requirement")]
    #[schema(required = true, value_type = UserVerificationRequirement)]
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
    /// Placeholders `{{.Code}}`, `{{.UserID}}`, `{{.LoginName}}`, `{{.DisplayName}}`,
    /// `{{.PreferredLanguage}}`, `{{.SessionID}}`; 1–200 characters.
    #[serde(alias = "url_template")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^(?:[^{}]|\\{\\{ ?\\.(?:Code|UserID|LoginName|DisplayName|PreferredLanguage|SessionID) ?\\}\\})*$"
    )]
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
    #[schema(max_length = 200)]
    pub fingerprint_id: Option<String>,
    #[schema(max_length = 200)]
    pub ip: Option<String>,
    #[schema(max_length = 200)]
    pub description: Option<String>,
    /// At most 50 headers, 16 KiB together.
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
    /// Keys of 1–200 characters to base64 values of at most 64 KiB; an empty value deletes
    /// the key. At most 50 keys.
    #[schema(schema_with = crate::api::openapi::metadata_schema, required = false)]
    pub metadata: Option<BTreeMap<String, Bytes>>,
    pub challenges: Option<RequestChallengesWire>,
    #[serde(alias = "user_agent")]
    pub user_agent: Option<UserAgentWire>,
    #[schema(schema_with = crate::api::openapi::lifetime_schema, required = false)]
    pub lifetime: Option<ProtoDuration>,
}

/// `GetSessionRequest` / `DeleteSessionRequest` bodies (Connect), and the REST query/body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRefWire {
    #[serde(alias = "session_id")]
    pub session_id: Option<String>,
    #[serde(alias = "session_token")]
    #[schema(max_length = 200)]
    pub session_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ListQueryWire {
    pub offset: Option<U64>,
    /// Page size; 0 means the server's default. At most 2^32 - 1.
    #[schema(schema_with = crate::api::openapi::u32_schema, required = false)]
    pub limit: Option<U64>,
    pub asc: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct IdsQuery {
    /// At most 1000 ids of at most 200 characters.
    #[schema(schema_with = crate::api::openapi::ids_schema, required = false)]
    pub ids: Option<Vec<String>>,
}

/// `userIdQuery` (and, with its own schema [`CreatorQuery`], `creatorQuery`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct IdQuery {
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    pub id: Option<String>,
}

/// The schema of `creatorQuery` (the message is [`IdQuery`]): without an id, the caller's own.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CreatorQuery {
    #[schema(max_length = 200)]
    id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreationDateQuery {
    #[serde(alias = "creation_date")]
    #[schema(required = true, value_type = Timestamp)]
    pub creation_date: Option<Timestamp>,
    pub method: Option<TimestampQueryMethod>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationDateQuery {
    #[serde(alias = "expiration_date")]
    #[schema(required = true, value_type = Timestamp)]
    pub expiration_date: Option<Timestamp>,
    pub method: Option<TimestampQueryMethod>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAgentQuery {
    #[serde(alias = "fingerprint_id")]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
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
    #[schema(value_type = Option<CreatorQuery>)]
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
