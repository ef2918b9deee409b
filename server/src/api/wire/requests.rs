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
