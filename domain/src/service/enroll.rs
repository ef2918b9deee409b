//! Adding and removing sign-in methods: the one rule that decides whether a session may add a
//! method to its user's account, and the notice the person gets for every change.

use super::Engine;
use crate::model::{FactorKind, Session, User, UserState, WebAuthnKind};
use crate::notifier::{ChangedFrom, MethodChange, MethodNotice};
use crate::store::UserRecord;

/// Methods that are more than a password: someone who holds one of these has to use one before
/// adding another, because a method added by a password alone could stand in for it.
pub(crate) const SECOND_FACTORS: [FactorKind; 6] = [
    FactorKind::Totp,
    FactorKind::OtpSms,
    FactorKind::OtpEmail,
    FactorKind::RecoveryCode,
    FactorKind::SecurityKey,
    FactorKind::Passkey,
];

/// Whether the session passed, itself, a check stronger than a password.
fn passed_second_factor(session: &Session) -> bool {
    let f = &session.factors;
    f.totp.is_some()
        || f.otp_sms.is_some()
        || f.otp_email.is_some()
        || f.recovery_code.is_some()
        || f.web_auth_n.is_some()
}

/// Whether the session passed any check that proves the person (not just a user check).
fn passed_any_factor(session: &Session) -> bool {
    session.factors.password.is_some() || passed_second_factor(session)
}

/// The sign-in methods a user has set up, from their record.
pub(crate) fn setup_factors(record: &UserRecord) -> Vec<FactorKind> {
    let user = &record.user;
    let mut factors = Vec::new();
    if user.password_hash.is_some() {
        factors.push(FactorKind::Password);
    }
    if user.totp.as_ref().is_some_and(|t| t.confirmed) {
        factors.push(FactorKind::Totp);
    }
    if user.otp_sms_enabled {
        factors.push(FactorKind::OtpSms);
    }
    if user.otp_email_enabled {
        factors.push(FactorKind::OtpEmail);
    }
    if record.recovery_codes_left > 0 {
        factors.push(FactorKind::RecoveryCode);
    }
    for (kind, factor) in [
        (WebAuthnKind::Passkey, FactorKind::Passkey),
        (WebAuthnKind::SecurityKey, FactorKind::SecurityKey),
    ] {
        if record.webauthn.iter().any(|c| c.kind == kind) {
            factors.push(factor);
        }
    }
    factors
}

/// SECURITY: the rule for every path where a session adds a sign-in method (a passkey, a
/// security key, TOTP, new recovery codes) to its own user. The session must have proven
/// the person; a user who holds any second factor must have passed a second factor in this
/// very session, so a stolen password never buys a method that satisfies a second-factor
/// policy. A user with a password alone may add one (trust on first use) and is told by
/// email ([`Engine::notify_methods`]).
pub(crate) fn may_enroll_with(session: &Session, record: &UserRecord) -> bool {
    let user = &record.user;
    if session.user_id() != Some(user.id.as_str())
        || user.state != UserState::Active
        || session.terminated
        || !passed_any_factor(session)
    {
        return false;
    }
    let has_second = setup_factors(record)
        .iter()
        .any(|k| SECOND_FACTORS.contains(k));
    !has_second || passed_second_factor(session)
}

impl Engine {
    /// Tells the person, at their verified email address and in their language, that `methods`
    /// were added to or removed from their account: what, when and from where. A user without
    /// a verified address gets nothing; a failed delivery is logged and does not undo the change.
    pub(crate) async fn notify_methods(
        &self,
        user: &User,
        change: MethodChange,
        methods: &[FactorKind],
        from: ChangedFrom,
    ) {
        if methods.is_empty() {
            return;
        }
        let Some(to) = user.email.as_deref().filter(|_| user.email_verified) else {
            return;
        };
        let notice = MethodNotice {
            user_id: user.id.clone(),
            login_name: user.login_name.clone(),
            display_name: user.display_name.clone(),
            preferred_language: user.preferred_language.clone(),
            change,
            methods: methods.to_vec(),
            at: self.now(),
            from,
        };
        if let Err(e) = self.notifier.send_method_notice(to, &notice).await {
            tracing::warn!(user_id = %user.id, error = %e, "sign-in method notice not delivered");
        }
    }
}

/// Where a session's change comes from, for the notice: its browser's description.
pub(crate) fn from_session(session: &Session) -> ChangedFrom {
    ChangedFrom::Browser(
        session
            .user_agent
            .as_ref()
            .and_then(|ua| ua.description.clone().or_else(|| header(ua, "user-agent"))),
    )
}

fn header(ua: &crate::model::UserAgent, name: &str) -> Option<String> {
    ua.header
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
}
