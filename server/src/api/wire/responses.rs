//! Response messages of the Session API and their mapping from the engine's results.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use domain::{
    model::{Factors, Session},
    service::{ChallengeResponse, Details, SessionChanged},
    store::SessionPage,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::scalars::format_time;

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
