//! Parsing request messages into the engine's types, with the contract's errors.

use domain::{
    input::{
        Id, Lifetime, LoginName, MetadataChanges, OtpCode, Password, RecoveryCodeInput, TotpCode,
        UserRef,
    },
    model::UserAgent,
    notifier::UrlTemplate,
    service::{
        ChallengeRequests, Checks, EmailCodeDelivery, SessionChange, SmsCodeDelivery,
        WebAuthnChallengeRequest,
    },
    store::SessionFilter,
};

use super::{
    requests::{ListSessionsWire, SessionRequestWire},
    scalars::{TimestampQueryMethod, UserVerificationRequirement},
};
use crate::api::error::{ids, ApiError};

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
                crate::api::error::Code::Unimplemented,
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
