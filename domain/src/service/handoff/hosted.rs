//! What only the hosted page needs on top of the handoff: the masked addresses codes go to, and
//! TOTP enrollment when the app requires a second factor the user does not have yet.
//!
//! Every method acts for the browser that claimed the link, like the rest of the handoff.

use super::super::policy::PolicyState;
use super::super::session::{Caller, Checks, SessionChange};
use super::HandoffProgress;
use crate::crypto::{self, Secret};
use crate::error::{store_err, CheckKind, DomainError};
use crate::input::TotpCode;
use crate::model::{App, FactorKind, Handoff, Session, TotpRecord, User};
use crate::notifier::MethodChange;
use crate::service::enroll::from_session;
use crate::totp::{self, TotpEnrollment};
use crate::Engine;

/// Where SMS and email codes of the signed-in user go, masked for display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandoffContacts {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The end of enrollment: where the login stands now, and the new recovery codes (shown once).
#[derive(Debug)]
pub struct FinishedEnrollment {
    pub progress: HandoffProgress,
    pub recovery_codes: Vec<Secret<String>>,
}

/// `a•••@example.com`: the first character of the local part and the domain.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

/// `•••• 42`: the last two digits.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
    format!("•••• {tail}")
}

impl Engine {
    /// The masked email and phone of the login's user, for the factors they can receive codes on.
    pub async fn handoff_contacts(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<HandoffContacts, DomainError> {
        let Some(user) = self.handoff_user(link_token, browser_secret).await? else {
            return Ok(HandoffContacts::default());
        };
        Ok(HandoffContacts {
            email: user
                .email
                .as_deref()
                .filter(|_| user.otp_email_enabled && user.email_verified)
                .map(mask_email),
            phone: user
                .phone
                .as_deref()
                .filter(|_| user.otp_sms_enabled && user.phone_verified)
                .map(mask_phone),
        })
    }

    /// TOTP enrollment on the hosted page: only after the first factor passed, when the app
    /// requires a second factor, allows TOTP, and the user has no second factor at all. A
    /// pending (unconfirmed) enrollment is shown again rather than replaced, so a reload keeps the
    /// secret the person may already have scanned.
    pub async fn handoff_totp_enrollment(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<TotpEnrollment, DomainError> {
        let (mut user, _) = self.enrollable_user(link_token, browser_secret).await?;
        if let Some(record) = user.totp.as_ref().filter(|t| !t.confirmed) {
            let secret = crypto::decrypt(&self.key, &record.encrypted_secret, user.id.as_bytes())
                .map_err(|e| DomainError::internal("decrypt totp secret", &e))?;
            return totp::enrollment(secret.expose(), &self.config.totp_issuer, &user.login_name)
                .map_err(|e| DomainError::internal("totp qr code", &e));
        }
        let mut secret = [0u8; totp::SECRET_BYTES];
        self.rng.fill_bytes(&mut secret);
        let enrollment = totp::enrollment(&secret, &self.config.totp_issuer, &user.login_name)
            .map_err(|e| DomainError::internal("totp qr code", &e))?;
        // SECURITY: stored encrypted and bound to the user id, like admin enrollment.
        let encrypted_secret =
            crypto::encrypt(&self.key, &secret, user.id.as_bytes(), self.rng.as_ref())
                .map_err(|e| DomainError::internal("encrypt totp secret", &e))?;
        user.totp = Some(TotpRecord {
            encrypted_secret,
            confirmed: false,
            last_used_step: None,
        });
        user.updated_at = self.now();
        self.store
            .update_user(&user)
            .await
            .map_err(|e| store_err("save totp enrollment", e))?;
        Ok(enrollment)
    }

    /// Confirms the pending enrollment with a first code, then runs that code as the session's
    /// TOTP check (which uses its time step up), and issues fresh recovery codes.
    pub async fn handoff_finish_totp_enrollment(
        &self,
        link_token: &str,
        browser_secret: &str,
        code: TotpCode,
    ) -> Result<FinishedEnrollment, DomainError> {
        let (mut user, session) = self.enrollable_user(link_token, browser_secret).await?;
        let Some(record) = user.totp.as_mut().filter(|t| !t.confirmed) else {
            return Err(DomainError::TotpNotReady);
        };
        let secret = crypto::decrypt(&self.key, &record.encrypted_secret, user.id.as_bytes())
            .map_err(|e| DomainError::internal("decrypt totp secret", &e))?;
        if totp::verify(secret.expose(), code.0.expose(), self.now()).is_none() {
            return Err(DomainError::InvalidCode {
                check: CheckKind::Totp,
                failed_attempts: 0,
                limit: 0,
                locked_until: None,
            });
        }
        // Confirmed without using the step up: the session check below does that, through the
        // ordinary pipeline (factor, token rotation, events, replay refusal).
        record.confirmed = true;
        user.updated_at = self.now();
        self.store
            .update_user(&user)
            .await
            .map_err(|e| store_err("confirm totp enrollment", e))?;
        let change = SessionChange {
            checks: Checks {
                totp: Some(code),
                ..Checks::default()
            },
            ..SessionChange::default()
        };
        let progress = self
            .handoff_set_session(link_token, browser_secret, change)
            .await?;
        let from = from_session(&session);
        self.notify_methods(
            &user,
            MethodChange::Added,
            &[FactorKind::Totp],
            from.clone(),
        )
        .await;
        let recovery_codes = self.issue_recovery_codes(&user.id, from).await?;
        Ok(FinishedEnrollment {
            progress,
            recovery_codes,
        })
    }

    /// "Not you? Start again": ends the login's current session and lets the next request start
    /// a fresh one, for the same link and browser. Nothing to do while no user is known; a login
    /// that already satisfied the app's policy (or ended) cannot be restarted.
    pub async fn handoff_restart(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<(), DomainError> {
        let (handoff, app) = self.claimed_handoff(link_token, browser_secret).await?;
        let Some(session_id) = handoff.session_id.clone() else {
            return Ok(());
        };
        let session = self.load_session(&session_id).await?;
        match self.evaluate_policy(&session, &app).await? {
            PolicyState::NeedsUser => return Ok(()),
            PolicyState::Satisfied(_) | PolicyState::Expired | PolicyState::Terminated => {
                return Err(DomainError::HandoffEnded)
            }
            PolicyState::NeedsFirstFactor { .. }
            | PolicyState::NeedsSecondFactor { .. }
            | PolicyState::NeedsPasskeyEnrollment
            | PolicyState::UserNotActive => {}
        }
        self.restart_login(&handoff, &app, &session_id).await
    }

    /// Ends the login's session `session_id` and lets the next request of the same link and
    /// browser start a fresh one.
    pub(super) async fn restart_login(
        &self,
        handoff: &Handoff,
        app: &App,
        session_id: &str,
    ) -> Result<(), DomainError> {
        let detached = self
            .store
            .detach_handoff_session(&handoff.id, session_id)
            .await
            .map_err(|e| store_err("detach handoff session", e))?;
        if !detached {
            return Err(DomainError::ConcurrentChange);
        }
        self.delete_session(session_id, None, &Caller::app(&app.id))
            .await?;
        self.notify_handoff(&handoff.id);
        Ok(())
    }

    /// The user on the claimed login's session, if the session has one yet.
    async fn handoff_user(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<Option<User>, DomainError> {
        let (mut handoff, _app) = self.claimed_handoff(link_token, browser_secret).await?;
        let session = self.handoff_session(&mut handoff, None).await?;
        match session.user_id() {
            Some(id) => self.find_user(id).await,
            None => Ok(None),
        }
    }

    /// The user and the session, when the login is at a second-factor step that only
    /// enrollment can satisfy and the enrollment rule ([`Engine::may_enroll`]) allows it.
    async fn enrollable_user(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<(User, Session), DomainError> {
        let (mut handoff, app) = self.claimed_handoff(link_token, browser_secret).await?;
        let session = self.handoff_session(&mut handoff, None).await?;
        match self.evaluate_policy(&session, &app).await? {
            PolicyState::NeedsSecondFactor { .. } => {}
            PolicyState::Expired | PolicyState::Terminated | PolicyState::UserNotActive => {
                return Err(DomainError::HandoffEnded)
            }
            _ => return Err(DomainError::TotpNotReady),
        }
        if !app.policy.allowed_factors.contains(&FactorKind::Totp) {
            return Err(DomainError::TotpNotReady);
        }
        // SECURITY: at a second-factor step nothing stronger than a password has passed, so
        // this admits only users with a password alone (trust on first use, with a notice).
        let user = self
            .may_enroll(&session)
            .await?
            .ok_or(DomainError::TotpNotReady)?;
        if user.totp.as_ref().is_some_and(|t| t.confirmed) {
            return Err(DomainError::TotpNotReady);
        }
        Ok((user, session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_masked() {
        assert_eq!(mask_email("alice@example.com"), "a•••@example.com");
        assert_eq!(mask_email("nonsense"), "•••");
        assert_eq!(mask_phone("+49 170 1234567"), "•••• 67");
        assert_eq!(mask_phone(""), "•••• ");
    }
}
