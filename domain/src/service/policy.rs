//! Whether a session satisfies an app's login policy, and the proof value only this crate makes.

use time::OffsetDateTime;

use super::enroll::setup_factors;
use super::Engine;
use crate::error::{store_err, DomainError};
use crate::model::{App, FactorKind, Session, UserState};
use crate::store::UserRecord;

/// Proof that a session satisfied an app's policy when evaluated. Only the engine can make one,
/// so code that takes it as an argument cannot run for an unchecked session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSession {
    session_id: String,
    user_id: String,
    app_id: String,
    factors: Vec<FactorKind>,
    verified_at: OffsetDateTime,
}

impl VerifiedSession {
    /// The session.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }
    /// The signed-in user.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    /// The app whose policy was satisfied.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }
    /// The factors that counted.
    pub fn factors(&self) -> &[FactorKind] {
        &self.factors
    }
    /// When the policy was found satisfied.
    pub fn verified_at(&self) -> OffsetDateTime {
        self.verified_at
    }
}

/// Where a session stands against an app's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyState {
    Satisfied(VerifiedSession),
    /// No user check yet.
    NeedsUser,
    /// A user, but no allowed first factor (password or passkey); `options` are the allowed ones
    /// the user has set up.
    NeedsFirstFactor {
        options: Vec<FactorKind>,
    },
    /// First factor done; the app requires a second one. `options`: allowed and set up.
    NeedsSecondFactor {
        options: Vec<FactorKind>,
    },
    /// Every other requirement is met, but the app is passwordless and the user has no passkey
    /// yet: one must be registered (and then used) before the login completes.
    NeedsPasskeyEnrollment,
    /// The user is gone or deactivated.
    UserNotActive,
    Expired,
    Terminated,
}

const SECOND: [FactorKind; 5] = [
    FactorKind::Totp,
    FactorKind::OtpSms,
    FactorKind::OtpEmail,
    FactorKind::RecoveryCode,
    FactorKind::SecurityKey,
];

/// The factors proven on the session, as policy kinds.
fn proven(session: &Session) -> Vec<FactorKind> {
    let f = &session.factors;
    let mut out = Vec::new();
    if f.password.is_some() {
        out.push(FactorKind::Password);
    }
    if let Some(w) = &f.web_auth_n {
        out.push(match w.kind {
            Some(kind) => kind.factor(),
            None if w.user_verified => FactorKind::Passkey,
            None => FactorKind::SecurityKey,
        });
    }
    if f.totp.is_some() {
        out.push(FactorKind::Totp);
    }
    if f.otp_sms.is_some() {
        out.push(FactorKind::OtpSms);
    }
    if f.otp_email.is_some() {
        out.push(FactorKind::OtpEmail);
    }
    if f.recovery_code.is_some() {
        out.push(FactorKind::RecoveryCode);
    }
    out
}

impl Engine {
    /// Evaluates the session against the app's policy. A passkey (user-verified WebAuthn) counts
    /// as both factors; factors the policy does not allow do not count.
    pub async fn evaluate_policy(
        &self,
        session: &Session,
        app: &App,
    ) -> Result<PolicyState, DomainError> {
        let record = match session.user_id() {
            Some(id) if !session.terminated => self
                .store
                .find_user_record(id)
                .await
                .map_err(|e| store_err("find user", e))?,
            _ => None,
        };
        Ok(policy_state(session, app, record.as_ref(), self.now()))
    }
}

/// [`Engine::evaluate_policy`] on what was read already: `record` is the session's user (with
/// their factors), `None` when the session has none or the user is gone.
pub(crate) fn policy_state(
    session: &Session,
    app: &App,
    record: Option<&UserRecord>,
    now: OffsetDateTime,
) -> PolicyState {
    if session.terminated {
        return PolicyState::Terminated;
    }
    if session.expires_at.is_some_and(|e| e <= now) {
        return PolicyState::Expired;
    }
    if session.user_id().is_none() {
        return PolicyState::NeedsUser;
    }
    let Some(record) = record.filter(|r| {
        Some(r.user.id.as_str()) == session.user_id() && r.user.state == UserState::Active
    }) else {
        return PolicyState::UserNotActive;
    };
    let user = &record.user;
    let policy = &app.policy;
    let allowed = |k: &FactorKind| policy.allowed_factors.contains(k);
    let counted: Vec<FactorKind> = proven(session).into_iter().filter(allowed).collect();
    let passkey = counted.contains(&FactorKind::Passkey);
    let first = passkey || counted.contains(&FactorKind::Password);
    let setup = setup_factors(record);
    let passwordless = policy.passwordless && allowed(&FactorKind::Passkey);
    // A passwordless app takes nothing but a passkey from a user who has one.
    if passwordless && !passkey && setup.contains(&FactorKind::Passkey) {
        return PolicyState::NeedsFirstFactor {
            options: vec![FactorKind::Passkey],
        };
    }
    if !first {
        let mut options: Vec<FactorKind> = setup
            .iter()
            .copied()
            .filter(|k| *k == FactorKind::Password && allowed(k))
            .collect();
        if allowed(&FactorKind::Passkey) {
            // Offered even without a registered passkey: a discoverable one may name the user.
            options.push(FactorKind::Passkey);
        }
        return PolicyState::NeedsFirstFactor { options };
    }
    let second = passkey || counted.iter().any(|k| SECOND.contains(k));
    if policy.require_second_factor && !second {
        // Only what the user has set up; a passkey also proves the second factor.
        let options: Vec<FactorKind> = setup
            .iter()
            .copied()
            .filter(|k| (SECOND.contains(k) || *k == FactorKind::Passkey) && allowed(k))
            .collect();
        return PolicyState::NeedsSecondFactor { options };
    }
    if passwordless && !passkey {
        return PolicyState::NeedsPasskeyEnrollment;
    }
    PolicyState::Satisfied(VerifiedSession {
        session_id: session.id.clone(),
        user_id: user.id.clone(),
        app_id: app.id.clone(),
        factors: counted,
        verified_at: now,
    })
}
