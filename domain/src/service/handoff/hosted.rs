//! The hosted login's actions beyond checks: TOTP enrollment when the app requires a second
//! factor the user does not have yet, "start again", and giving up; and the masks of the
//! addresses codes go to.

use super::super::policy::PolicyState;
use super::super::session::{Caller, Checks};
use super::login::HostedLogin;
use crate::crypto::{self, Secret};
use crate::error::{store_err, CheckKind, DomainError};
use crate::input::TotpCode;
use crate::model::{FactorKind, TotpRecord, User};
use crate::notifier::MethodChange;
use crate::service::enroll::{from_session, may_enroll_with};
use crate::totp::{self, TotpEnrollment};
use crate::Engine;

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

/// `+41 •• ••• •• 12`: the number in its international format (libphonenumber's grouping, by
/// the `phonenumber` crate), every digit hidden but the country code and the last two. A number
/// the crate cannot read keeps only its last two digits (`•••• 12`).
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
    let Ok(number) = phonenumber::parse(None, phone) else {
        return format!("•••• {tail}");
    };
    let formatted = number
        .format()
        .mode(phonenumber::Mode::International)
        .to_string();
    let country = number.code().value().to_string();
    // The grouping is the crate's; digits are counted from the end so that the last two stay.
    let Some(rest) = formatted
        .strip_prefix('+')
        .and_then(|f| f.strip_prefix(country.as_str()))
    else {
        return format!("•••• {tail}");
    };
    let mut shown = rest.chars().filter(char::is_ascii_digit).count();
    let masked: String = rest
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            shown -= 1;
            if shown < 2 {
                c
            } else {
                '•'
            }
        })
        .collect();
    format!("+{country}{masked}")
}

impl Engine {
    /// TOTP enrollment on the hosted page: only after the first factor passed, when the app
    /// requires a second factor, allows TOTP, and the user has no second factor at all. A
    /// pending (unconfirmed) enrollment is shown again rather than replaced, so a reload keeps the
    /// secret the person may already have scanned.
    pub(super) async fn login_totp_enrollment(
        &self,
        login: &mut HostedLogin,
    ) -> Result<TotpEnrollment, DomainError> {
        let mut user = self.enrollable_user(login)?;
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
        self.reload_login_user(login).await?;
        Ok(enrollment)
    }

    /// Confirms the pending enrollment with a first code, then runs that code as the session's
    /// TOTP check (which uses its time step up), and issues fresh recovery codes.
    pub(super) async fn login_finish_totp_enrollment(
        &self,
        login: &mut HostedLogin,
        code: TotpCode,
    ) -> Result<Vec<Secret<String>>, DomainError> {
        let mut user = self.enrollable_user(login)?;
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
        self.reload_login_user(login).await?;
        let from = match Self::login_parts(login).2 {
            Some(session) => from_session(session),
            None => return Err(DomainError::TotpNotReady),
        };
        let checks = Checks {
            totp: Some(code),
            ..Checks::default()
        };
        self.change_login(login, checks.into()).await?;
        self.notify_methods(
            &user,
            MethodChange::Added,
            &[FactorKind::Totp],
            from.clone(),
        )
        .await;
        let codes = self.issue_recovery_codes(&user.id, from).await?;
        self.reload_login_user(login).await?;
        Ok(codes)
    }

    /// "Not you? Start again": ends the login's current session so that the next action starts
    /// a fresh one, for the same link and browser. Nothing to do while no user is known; a
    /// login that already satisfied the app's policy (or ended) cannot be restarted.
    pub(super) async fn login_restart(&self, login: &mut HostedLogin) -> Result<(), DomainError> {
        match self.login_policy(login) {
            PolicyState::NeedsUser => return Ok(()),
            PolicyState::Satisfied(_) | PolicyState::Expired | PolicyState::Terminated => {
                return Err(DomainError::HandoffEnded)
            }
            PolicyState::NeedsFirstFactor { .. }
            | PolicyState::NeedsSecondFactor { .. }
            | PolicyState::NeedsPasskeyEnrollment
            | PolicyState::UserNotActive => {}
        }
        self.restart_login(login).await
    }

    /// Ends the login's session and detaches it: the next change of the same link and browser
    /// starts a fresh one.
    pub(super) async fn restart_login(&self, login: &mut HostedLogin) -> Result<(), DomainError> {
        let (handoff, app, session) = Self::login_parts(login);
        let Some(session) = session else {
            return Ok(());
        };
        let (handoff_id, app_id, session_id) =
            (handoff.id.clone(), app.id.clone(), session.id.clone());
        let detached = self
            .store
            .detach_handoff_session(&handoff_id, &session_id)
            .await
            .map_err(|e| store_err("detach handoff session", e))?;
        if !detached {
            return Err(DomainError::ConcurrentChange);
        }
        self.delete_session(&session_id, None, &Caller::app(&app_id))
            .await?;
        Self::login_detached(login);
        self.notify_handoff(&handoff_id);
        Ok(())
    }

    /// The person gave up: the session ends (one is made for a login that had none yet, so
    /// that validate can answer `failed`).
    pub(super) async fn login_cancel(&self, login: &mut HostedLogin) -> Result<(), DomainError> {
        if Self::login_parts(login).2.is_none() {
            self.change_login(login, Default::default()).await?;
        }
        let (handoff, app, session) = Self::login_parts(login);
        let (Some(session), handoff_id) = (session, handoff.id.clone()) else {
            return Err(DomainError::HandoffEnded);
        };
        self.delete_session(&session.id.clone(), None, &Caller::app(&app.id.clone()))
            .await?;
        Self::login_terminated(login);
        self.notify_handoff(&handoff_id);
        Ok(())
    }

    /// The user, when the login is at a second-factor step that only enrollment can satisfy
    /// and the enrollment rule (`may_enroll_with`) allows it.
    fn enrollable_user(&self, login: &HostedLogin) -> Result<User, DomainError> {
        match self.login_policy(login) {
            PolicyState::NeedsSecondFactor { .. } => {}
            PolicyState::Expired | PolicyState::Terminated | PolicyState::UserNotActive => {
                return Err(DomainError::HandoffEnded)
            }
            _ => return Err(DomainError::TotpNotReady),
        }
        let (_, app, session) = Self::login_parts(login);
        if !app.policy.allowed_factors.contains(&FactorKind::Totp) {
            return Err(DomainError::TotpNotReady);
        }
        // SECURITY: at a second-factor step nothing stronger than a password has passed, so
        // this admits only users with a password alone (trust on first use, with a notice).
        let (Some(session), Some(record)) = (session, Self::login_user(login)) else {
            return Err(DomainError::TotpNotReady);
        };
        if !may_enroll_with(session, record) {
            return Err(DomainError::TotpNotReady);
        }
        if record.user.totp.as_ref().is_some_and(|t| t.confirmed) {
            return Err(DomainError::TotpNotReady);
        }
        Ok(record.user.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_masked() {
        assert_eq!(mask_email("alice@example.com"), "a•••@example.com");
        assert_eq!(mask_email("nonsense"), "•••");
        assert_eq!(mask_phone("+41791234512"), "+41 •• ••• •• 12");
        assert_eq!(mask_phone("+4917012345678"), "+49 ••• ••••••78");
        assert_eq!(mask_phone("+16502530000"), "+1 •••-•••-••00");
        // Not a number the crate knows: the last two digits only.
        assert_eq!(mask_phone("+999123"), "•••• 23");
        assert_eq!(mask_phone(""), "•••• ");
    }
}
