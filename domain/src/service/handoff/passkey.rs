//! WebAuthn on the hosted login: the passkey or security key challenge on the login's session
//! (through the ordinary pipeline), and passkey registration once the person may add one.

use super::super::policy::PolicyState;
use super::super::session::{ChallengeRequests, Checks, SessionChange, WebAuthnChallengeRequest};
use super::login::{Ceremony, Extras, HostedLogin};
use crate::error::DomainError;
use crate::input::{Id, UserRef};
use crate::model::{FactorKind, WebAuthnKind};
use crate::service::enroll::{from_session, may_enroll_with};
use crate::Engine;

impl Engine {
    /// Starts a WebAuthn sign-in on the login: `passkey` true asks for a passkey (before the
    /// login name too: a discoverable one, for the "Sign in with a passkey" button and autofill),
    /// false for a security key as the second factor. The options for
    /// `navigator.credentials.get()` go into the answer's ceremony.
    pub(super) async fn login_webauthn_start(
        &self,
        login: &mut HostedLogin,
        passkey: bool,
        extras: &mut Extras,
    ) -> Result<(), DomainError> {
        let change = SessionChange {
            challenges: ChallengeRequests {
                web_auth_n: Some(WebAuthnChallengeRequest {
                    domain: self.config.rp_id.clone(),
                    user_verification_required: passkey,
                }),
                ..ChallengeRequests::default()
            },
            ..SessionChange::default()
        };
        let challenges = self.change_login(login, change).await?;
        let options = challenges.web_auth_n.ok_or(DomainError::Internal)?;
        extras.ceremony = Some(Ceremony {
            options,
            registration_id: None,
        });
        Ok(())
    }

    /// Starts registering a passkey for the person, when the enrollment rule allows it
    /// (`may_enroll_with`: a user who holds a second factor must have used one in this
    /// login); otherwise `COMMAND-Wan04`.
    pub(super) async fn login_start_passkey_registration(
        &self,
        login: &mut HostedLogin,
        extras: &mut Extras,
    ) -> Result<(), DomainError> {
        let (user_id, _) = self.enrollable_for_passkey(login)?;
        let registration = self
            .start_webauthn_registration(&user_id, WebAuthnKind::Passkey)
            .await?;
        extras.ceremony = Some(Ceremony {
            options: registration.options,
            registration_id: Some(registration.registration_id),
        });
        Ok(())
    }

    /// Finishes the registration with the browser's `RegisterPublicKeyCredential` JSON; the
    /// person is told by email. The new passkey counts from the next sign-in on: a login that
    /// still needed something starts again, so that the person signs in with it.
    pub(super) async fn login_finish_passkey_registration(
        &self,
        login: &mut HostedLogin,
        registration_id: &str,
        credential: &serde_json::Value,
    ) -> Result<(), DomainError> {
        let (user_id, login_complete) = self.enrollable_for_passkey(login)?;
        let from = match Self::login_parts(login).2 {
            Some(session) => from_session(session),
            None => return Err(DomainError::WebAuthnNotReady),
        };
        self.finish_webauthn_registration_from(&user_id, registration_id, credential, None, from)
            .await?;
        if login_complete {
            return self.reload_login_user(login).await;
        }
        // A fresh session that knows only who is signing in: the page asks for the passkey.
        self.restart_login(login).await?;
        let id = Id::parse(user_id).map_err(|_| DomainError::UserNotFound)?;
        let who = Checks {
            user: Some(UserRef::Id(id)),
            ..Checks::default()
        };
        self.change_login(login, who.into()).await.map(drop)
    }

    /// The session's user, when a passkey may be added to it now, and whether the app's
    /// policy is already satisfied (a registration never changes that: the new passkey does not
    /// count in this session).
    fn enrollable_for_passkey(&self, login: &HostedLogin) -> Result<(String, bool), DomainError> {
        let (_, app, session) = Self::login_parts(login);
        if !app.policy.allowed_factors.contains(&FactorKind::Passkey) {
            return Err(DomainError::WebAuthnNotReady);
        }
        let (Some(session), Some(record)) = (session, Self::login_user(login)) else {
            return Err(DomainError::WebAuthnNotReady);
        };
        match self.login_policy(login) {
            state @ (PolicyState::Satisfied(_)
            | PolicyState::NeedsPasskeyEnrollment
            | PolicyState::NeedsSecondFactor { .. }) => {
                // SECURITY: whatever this app's policy asked, a user who holds a second factor
                // must have used one in this session (the rule of every enrollment).
                if may_enroll_with(session, record) {
                    Ok((
                        record.user.id.clone(),
                        matches!(state, PolicyState::Satisfied(_)),
                    ))
                } else {
                    Err(DomainError::WebAuthnNotReady)
                }
            }
            PolicyState::Expired | PolicyState::Terminated | PolicyState::UserNotActive => {
                Err(DomainError::HandoffEnded)
            }
            PolicyState::NeedsUser | PolicyState::NeedsFirstFactor { .. } => {
                Err(DomainError::WebAuthnNotReady)
            }
        }
    }
}
