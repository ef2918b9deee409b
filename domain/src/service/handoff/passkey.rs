//! WebAuthn on the hosted page, for the browser that claimed the link: the passkey or security
//! key challenge and check on the login's session (through the ordinary pipeline), and passkey
//! registration once the person has signed in.

use super::super::policy::PolicyState;
use super::super::session::{ChallengeRequests, Checks, SessionChange, WebAuthnChallengeRequest};
use super::super::webauthn::{WebAuthnCredentialView, WebAuthnRegistration};
use super::HandoffProgress;
use crate::error::DomainError;
use crate::input::{Id, UserRef};
use crate::model::{App, FactorKind, Session, WebAuthnKind};
use crate::service::enroll::from_session;
use crate::Engine;

/// What the hosted page needs to know about passkeys on a claimed login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandoffPasskeys {
    /// The login name of the session's user, once known.
    pub login_name: Option<String>,
    /// The user has a passkey registered.
    pub has_passkey: bool,
    /// The person may register a passkey now (see [`Engine::handoff_start_passkey_registration`]).
    pub can_register: bool,
}

impl Engine {
    /// Where the claimed login stands with passkeys: for offering one after a password login
    /// and for remembering, in this browser, that its user signs in with a passkey.
    pub async fn handoff_passkeys(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<HandoffPasskeys, DomainError> {
        let (mut handoff, app) = self.claimed_handoff(link_token, browser_secret).await?;
        let session = self.handoff_session(&mut handoff, None).await?;
        let Some(user_id) = session.user_id() else {
            return Ok(HandoffPasskeys::default());
        };
        let Some(user) = self.find_user(user_id).await? else {
            return Ok(HandoffPasskeys::default());
        };
        let has_passkey = self
            .list_factors(&user.id)
            .await?
            .factors
            .contains(&FactorKind::Passkey);
        let can_register =
            self.webauthn_enabled() && self.enrollable_for_passkey(&session, &app).await.is_ok();
        Ok(HandoffPasskeys {
            login_name: Some(user.login_name),
            has_passkey,
            can_register,
        })
    }

    /// Starts a WebAuthn sign-in on the login: `passkey` true asks for a passkey (before the
    /// login name too: a discoverable one, for the "Sign in with a passkey" button and autofill),
    /// false for a security key as the second factor. The options for
    /// `navigator.credentials.get()` are in `challenges.web_auth_n` of the result.
    pub async fn handoff_webauthn_challenge(
        &self,
        link_token: &str,
        browser_secret: &str,
        passkey: bool,
    ) -> Result<HandoffProgress, DomainError> {
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
        self.handoff_set_session(link_token, browser_secret, change)
            .await
    }

    /// Checks the browser's `PublicKeyCredential` JSON against the login's pending challenge.
    pub async fn handoff_webauthn_check(
        &self,
        link_token: &str,
        browser_secret: &str,
        assertion: serde_json::Value,
    ) -> Result<HandoffProgress, DomainError> {
        let change = SessionChange {
            checks: Checks {
                web_auth_n: Some(assertion),
                ..Checks::default()
            },
            ..SessionChange::default()
        };
        self.handoff_set_session(link_token, browser_secret, change)
            .await
    }

    /// Starts registering a passkey for the signed-in person, when the enrollment rule allows
    /// it ([`Engine::may_enroll`]: a user who holds a second factor must have used one in this
    /// login); otherwise `COMMAND-Wan04`.
    pub async fn handoff_start_passkey_registration(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<WebAuthnRegistration, DomainError> {
        let user_id = self
            .passkey_enrollable_user(link_token, browser_secret)
            .await?;
        self.start_webauthn_registration(&user_id, WebAuthnKind::Passkey)
            .await
    }

    /// Finishes the registration with the browser's `RegisterPublicKeyCredential` JSON; the
    /// person is told by email. The new passkey counts from the next sign-in on: a login that
    /// still needed something starts again, so that the person signs in with it.
    pub async fn handoff_finish_passkey_registration(
        &self,
        link_token: &str,
        browser_secret: &str,
        registration_id: &str,
        credential: &serde_json::Value,
        name: Option<String>,
    ) -> Result<WebAuthnCredentialView, DomainError> {
        let (mut handoff, app) = self.claimed_handoff(link_token, browser_secret).await?;
        let session = self.handoff_session(&mut handoff, None).await?;
        let (user_id, login_complete) = self.enrollable_for_passkey(&session, &app).await?;
        let view = self
            .finish_webauthn_registration_from(
                &user_id,
                registration_id,
                credential,
                name,
                from_session(&session),
            )
            .await?;
        if !login_complete {
            // A fresh session that knows only who is signing in: the page asks for the passkey.
            self.restart_login(&handoff, &app, &session.id).await?;
            let id = Id::parse(user_id).map_err(|_| DomainError::UserNotFound)?;
            let who = SessionChange {
                checks: Checks {
                    user: Some(UserRef::Id(id)),
                    ..Checks::default()
                },
                ..SessionChange::default()
            };
            self.handoff_set_session(link_token, browser_secret, who)
                .await?;
        }
        Ok(view)
    }

    async fn passkey_enrollable_user(
        &self,
        link_token: &str,
        browser_secret: &str,
    ) -> Result<String, DomainError> {
        let (mut handoff, app) = self.claimed_handoff(link_token, browser_secret).await?;
        let session = self.handoff_session(&mut handoff, None).await?;
        Ok(self.enrollable_for_passkey(&session, &app).await?.0)
    }

    /// The session's user, when a passkey may be added to it now (see
    /// [`Engine::handoff_start_passkey_registration`]), and whether the app's policy is already
    /// satisfied (a registration never changes that: the new passkey does not count in this
    /// session).
    async fn enrollable_for_passkey(
        &self,
        session: &Session,
        app: &App,
    ) -> Result<(String, bool), DomainError> {
        if !app.policy.allowed_factors.contains(&FactorKind::Passkey) {
            return Err(DomainError::WebAuthnNotReady);
        }
        let user_id = session
            .user_id()
            .map(str::to_owned)
            .ok_or(DomainError::WebAuthnNotReady)?;
        match self.evaluate_policy(session, app).await? {
            state @ (PolicyState::Satisfied(_)
            | PolicyState::NeedsPasskeyEnrollment
            | PolicyState::NeedsSecondFactor { .. }) => {
                // SECURITY: whatever this app's policy asked, a user who holds a second factor
                // must have used one in this session (the rule of every enrollment).
                match self.may_enroll(session).await? {
                    Some(user) if user.id == user_id => {
                        Ok((user_id, matches!(state, PolicyState::Satisfied(_))))
                    }
                    _ => Err(DomainError::WebAuthnNotReady),
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
