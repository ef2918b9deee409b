//! The hosted login as one value: [`Engine::open_login`] reads the link's handoff, app, session
//! and user once per request (claiming the link for a browser that opens it first), and
//! [`Engine::login_step`] runs one action of the person on it and answers with the whole
//! [`HostedStep`] the page draws. The page never asks the engine a second question.

use super::super::policy::{policy_state, PolicyState};
use super::super::session::{
    ChallengeRequests, ChallengeResponse, Checks, EmailCodeDelivery, FreshLoginSession,
    SessionChange, SmsCodeDelivery,
};
use super::{browser_matches, redirect_target, secret_hash, HandoffCompletion};
use crate::crypto::{self, Secret};
use crate::error::{store_err, DomainError};
use crate::input::UserRef;
use crate::model::{App, FactorKind, Handoff, Session, WebAuthnKind};
use crate::service::enroll::may_enroll_with;
use crate::store::{LoginRecord, UserRecord};
use crate::Engine;

mod types;
pub use types::*;

/// What an action leaves for the answer besides the state.
#[derive(Default)]
pub(super) struct Extras {
    pub code_sent: Option<FactorKind>,
    pub ceremony: Option<Ceremony>,
    pub recovery_codes: Vec<Secret<String>>,
}

impl Engine {
    /// Opens the login of `link_token` for `browser`, claiming nothing: a page view (or a mail
    /// scanner's fetch) only reads. A link the claiming browser opens comes back in; anyone else
    /// gets `HANDOFF-Lnk03` once it is claimed; an unclaimed link past its expiry
    /// `HANDOFF-Lnk02`. Two store reads (the login, then its user) at most.
    #[tracing::instrument(skip_all)]
    pub async fn open_login(
        &self,
        link_token: &str,
        browser: Browser,
    ) -> Result<HostedLogin, DomainError> {
        let link_hash = secret_hash(link_token).ok_or(DomainError::HandoffLinkNotFound)?;
        let LoginRecord {
            handoff,
            app,
            session,
        } = self
            .store
            .find_login(&link_hash)
            .await
            .map_err(|e| store_err("find login", e))?
            .ok_or(DomainError::HandoffLinkNotFound)?;
        if handoff.claimed_at.is_some() {
            if !browser_matches(&handoff, browser.secret.as_deref()) {
                return Err(DomainError::HandoffLinkUsed);
            }
        } else if handoff.link_expires_at <= self.now() {
            return Err(DomainError::HandoffLinkExpired);
        }
        let user = self.user_record_of(session.as_ref()).await?;
        // The link is unclaimed, or claimed by this very browser (checked above).
        let browser_secret = browser.secret.clone().map(Secret::new);
        let candidate = handoff
            .claimed_at
            .is_none()
            .then_some(browser.secret)
            .flatten();
        Ok(HostedLogin {
            handoff,
            app,
            session,
            user,
            user_agent: browser.user_agent,
            new_secret: None,
            candidate,
            browser_secret,
        })
    }

    /// SECURITY: binds the link to this browser, at its first action (never at a page view):
    /// a conditional update, so of two browsers racing exactly one wins, on any number of
    /// replicas. The bound secret is the one the browser already holds from its page view
    /// ([`Engine::new_browser_secret`]) when it has one, so that two first requests of the
    /// same browser (a form post and the passkey autofill request) both get in; otherwise a new
    /// one, which the answer hands out. The login's session is made now, with the claiming
    /// browser's agent.
    async fn claim_login(&self, login: &mut HostedLogin) -> Result<(), DomainError> {
        if login.handoff.claimed_at.is_some() {
            return Ok(());
        }
        let now = self.now();
        if login.handoff.link_expires_at <= now {
            return Err(DomainError::HandoffLinkExpired);
        }
        let held = login
            .candidate
            .as_deref()
            .and_then(|c| secret_hash(c).map(|hash| (c.to_owned(), hash)));
        let (new_secret, secret, hash) = match held {
            Some((secret, hash)) => (None, secret, hash),
            None => {
                let secret = crypto::random_token(self.rng.as_ref());
                let hash = crypto::token_hash(secret.expose());
                let plain = secret.expose().clone();
                (Some(secret), plain, hash)
            }
        };
        // The code-bound mode's code follows from this secret; recorded for every claim, so that
        // an app switching the mode on keeps its logins in flight.
        let code_hash = crypto::token_hash(crypto::handoff_code(&secret).expose());
        let won = self
            .store
            .claim_handoff(&login.handoff.id, &hash, &code_hash, now)
            .await
            .map_err(|e| store_err("claim handoff", e))?;
        if !won {
            let again = self
                .store
                .find_handoff_by_link(&login.handoff.link_hash)
                .await
                .map_err(|e| store_err("find handoff", e))?;
            return match again {
                // This very browser bound it a moment ago, in another request.
                Some(h) if h.browser_hash == Some(hash) => self.reload_login(login).await,
                Some(h) if h.claimed_at.is_some() => Err(DomainError::HandoffLinkUsed),
                _ => Err(DomainError::HandoffLinkExpired),
            };
        }
        login.handoff.claimed_at = Some(now);
        login.handoff.browser_hash = Some(hash);
        login.handoff.code_hash = Some(code_hash);
        login.browser_secret = Some(Secret::new(secret));
        login.new_secret = new_secret;
        match self.change_login(login, SessionChange::default()).await {
            Ok(_) => Ok(()),
            // Another request of the same browser made the login's session first.
            Err(DomainError::ConcurrentChange) => self.reload_login(login).await,
            Err(e) => Err(e),
        }
    }

    /// The login read again (its handoff, session and user), keeping what this request knows.
    async fn reload_login(&self, login: &mut HostedLogin) -> Result<(), DomainError> {
        let record = self
            .store
            .find_login(&login.handoff.link_hash)
            .await
            .map_err(|e| store_err("find login", e))?
            .ok_or(DomainError::HandoffLinkNotFound)?;
        login.handoff = record.handoff;
        login.user = self.user_record_of(record.session.as_ref()).await?;
        login.session = record.session;
        Ok(())
    }

    /// A secret for a browser that views an unclaimed link (the page sets it as the claim
    /// cookie; nothing is stored): its first action binds the link to it.
    pub fn new_browser_secret(&self) -> Secret<String> {
        crypto::random_token(self.rng.as_ref())
    }

    /// Runs the person's `action` on the login and answers with the step that follows: the same
    /// step with the refusal when the action was refused, or the end of the login.
    #[tracing::instrument(skip_all)]
    pub async fn login_step(&self, login: &mut HostedLogin, action: LoginAction) -> HostedStep {
        let mut extras = Extras::default();
        let refused = self.act(login, action, &mut extras).await.err();
        if let Some(DomainError::Internal) = &refused {
            tracing::warn!("hosted login action failed");
        }
        self.step_of(login, refused, extras).await
    }

    async fn act(
        &self,
        login: &mut HostedLogin,
        action: LoginAction,
        extras: &mut Extras,
    ) -> Result<(), DomainError> {
        if matches!(action, LoginAction::Show) {
            return Ok(());
        }
        self.claim_login(login).await?;
        match action {
            LoginAction::Show | LoginAction::Claim => Ok(()),
            LoginAction::Password {
                login_name,
                password,
            } => {
                let checks = Checks {
                    // The session's own user needs no name (a name that is not it is refused).
                    user: login_name.map(UserRef::LoginName),
                    password: Some(password),
                    ..Checks::default()
                };
                self.change_login(login, checks.into()).await.map(drop)
            }
            LoginAction::Code(code) => {
                let mut checks = Checks::default();
                match code {
                    CodeCheck::Totp(c) => checks.totp = Some(c),
                    CodeCheck::Sms(c) => checks.otp_sms = Some(c),
                    CodeCheck::Email(c) => checks.otp_email = Some(c),
                    CodeCheck::Recovery(c) => checks.recovery_code = Some(c),
                }
                self.change_login(login, checks.into()).await.map(drop)
            }
            LoginAction::SendCode(factor) => {
                let mut challenges = ChallengeRequests::default();
                match factor {
                    FactorKind::OtpSms => {
                        challenges.otp_sms = Some(SmsCodeDelivery { return_code: false })
                    }
                    FactorKind::OtpEmail => {
                        challenges.otp_email = Some(EmailCodeDelivery::Send { url_template: None })
                    }
                    _ => return Ok(()),
                }
                let change = SessionChange {
                    challenges,
                    ..SessionChange::default()
                };
                self.change_login(login, change).await?;
                extras.code_sent = Some(factor);
                Ok(())
            }
            LoginAction::WebAuthnStart { passkey } => {
                self.login_webauthn_start(login, passkey, extras).await
            }
            LoginAction::WebAuthnCheck(assertion) => {
                let checks = Checks {
                    web_auth_n: Some(assertion),
                    ..Checks::default()
                };
                self.change_login(login, checks.into()).await.map(drop)
            }
            LoginAction::FinishEnrollment(code) => {
                extras.recovery_codes = self.login_finish_totp_enrollment(login, code).await?;
                Ok(())
            }
            LoginAction::StartPasskeyRegistration => {
                self.login_start_passkey_registration(login, extras).await
            }
            LoginAction::FinishPasskeyRegistration {
                registration_id,
                credential,
            } => {
                self.login_finish_passkey_registration(login, &registration_id, &credential)
                    .await
            }
            LoginAction::Restart => self.login_restart(login).await,
            LoginAction::Cancel => self.login_cancel(login).await,
        }
    }

    /// Where the login ended up, when it is over: signed in ([`Next::Done`]) or ended
    /// ([`Next::Ended`]); `None` while the person still has steps to take. Reads nothing.
    pub fn login_outcome(&self, login: &HostedLogin) -> Option<Next> {
        match self.login_policy(login) {
            PolicyState::Satisfied(_) => Some(completion(login)),
            PolicyState::Expired | PolicyState::Terminated | PolicyState::UserNotActive => {
                Some(Next::Ended(LoginEnd::Ended))
            }
            _ => None,
        }
    }

    /// Where the login stands against the app's policy, on what the request read.
    pub(super) fn login_policy(&self, login: &HostedLogin) -> PolicyState {
        match &login.session {
            Some(session) => policy_state(session, &login.app, login.user.as_ref(), self.now()),
            None => PolicyState::NeedsUser,
        }
    }

    /// Runs a change on the login's session (creating it on the first change) through the
    /// session pipeline, and keeps the login up to date: the session as written and its user
    /// read again. A login that ended is refused first.
    pub(super) async fn change_login(
        &self,
        login: &mut HostedLogin,
        change: SessionChange,
    ) -> Result<ChallengeResponse, DomainError> {
        if let PolicyState::Expired | PolicyState::Terminated | PolicyState::UserNotActive =
            self.login_policy(login)
        {
            return Err(DomainError::HandoffEnded);
        }
        if login.session.is_none() && !is_empty(&change) {
            // Every check runs on a session that exists, so that its failures are counted on
            // it (the concealed attempts-left count of the hosted page reads them).
            self.change_login_now(login, SessionChange::default())
                .await?;
        }
        self.change_login_now(login, change).await
    }

    async fn change_login_now(
        &self,
        login: &mut HostedLogin,
        change: SessionChange,
    ) -> Result<ChallengeResponse, DomainError> {
        let fresh = FreshLoginSession {
            app_id: login.app.id.clone(),
            handoff_id: login.handoff.id.clone(),
            user_agent: login.user_agent.clone(),
            lifetime: login.handoff.lifetime,
        };
        let user = login.user.as_ref().map(|r| r.user.clone());
        let result = self
            .change_login_session(login.session.clone(), fresh, user, &change)
            .await;
        let (changed, session) = result?;
        if login.session.is_none() {
            login.handoff.session_id = Some(session.id.clone());
        }
        if changed.session_token.is_some() {
            self.notify_handoff(&login.handoff.id);
        }
        login.user = self.user_record_of(Some(&session)).await?;
        login.session = Some(session);
        Ok(changed.challenges)
    }

    /// The answer the page draws, from the login as it stands now.
    async fn step_of(
        &self,
        login: &mut HostedLogin,
        refused: Option<DomainError>,
        extras: Extras,
    ) -> HostedStep {
        let webauthn = self.webauthn_enabled();
        let passkeys = webauthn
            && login
                .app
                .policy
                .allowed_factors
                .contains(&FactorKind::Passkey);
        let policy = self.login_policy(login);
        let record = login.user.as_ref();
        let has_passkey =
            record.is_some_and(|r| r.webauthn.iter().any(|c| c.kind == WebAuthnKind::Passkey));
        let can_register_passkey = passkeys
            && matches!(
                policy,
                PolicyState::Satisfied(_)
                    | PolicyState::NeedsPasskeyEnrollment
                    | PolicyState::NeedsSecondFactor { .. }
            )
            && match (&login.session, record) {
                (Some(session), Some(record)) => may_enroll_with(session, record),
                _ => false,
            };
        let mut step = HostedStep {
            next: Next::Ended(LoginEnd::Ended),
            refused,
            login_name: record.map(|r| r.user.login_name.clone()),
            contacts: HandoffContacts::default(),
            webauthn,
            passkeys,
            has_passkey,
            can_register_passkey,
            code_sent: extras.code_sent,
            ceremony: extras.ceremony,
            recovery_codes: extras.recovery_codes,
        };
        if let Some(end) = step.refused.as_ref().and_then(LoginEnd::of) {
            step.next = Next::Ended(end);
            return step;
        }
        step.next = match policy {
            PolicyState::Satisfied(_) => completion(login),
            PolicyState::NeedsUser => Next::User,
            PolicyState::NeedsFirstFactor { options } => {
                let password = options.contains(&FactorKind::Password);
                let passkey = passkeys && options.contains(&FactorKind::Passkey);
                if password || passkey {
                    Next::FirstFactor { password, passkey }
                } else {
                    Next::Ended(LoginEnd::Unavailable)
                }
            }
            PolicyState::NeedsSecondFactor { options } => {
                let options: Vec<FactorKind> = options
                    .into_iter()
                    .filter(|k| {
                        webauthn || !matches!(k, FactorKind::Passkey | FactorKind::SecurityKey)
                    })
                    .collect();
                if options.is_empty() {
                    match self.login_totp_enrollment(login).await {
                        Ok(enrollment) => Next::EnrollTotp(enrollment),
                        Err(DomainError::TotpNotReady) => Next::Ended(LoginEnd::Unavailable),
                        Err(err) => {
                            step.refused.get_or_insert(err);
                            Next::Ended(LoginEnd::Ended)
                        }
                    }
                } else {
                    if let Some(record) = login.user.as_ref() {
                        step.contacts = contacts_of(record);
                    }
                    Next::SecondFactor { options }
                }
            }
            PolicyState::NeedsPasskeyEnrollment if webauthn => Next::PasskeyRequired,
            PolicyState::NeedsPasskeyEnrollment => Next::Ended(LoginEnd::Unavailable),
            PolicyState::UserNotActive | PolicyState::Expired | PolicyState::Terminated => {
                Next::Ended(LoginEnd::Ended)
            }
        };
        step
    }

    /// The login's session, the app and the handoff, for the actions in the sibling modules.
    pub(super) fn login_parts(login: &HostedLogin) -> (&Handoff, &App, Option<&Session>) {
        (&login.handoff, &login.app, login.session.as_ref())
    }

    /// The login's user as read.
    pub(super) fn login_user(login: &HostedLogin) -> Option<&UserRecord> {
        login.user.as_ref()
    }

    /// The login after its session was ended and detached: the next change starts a new one.
    pub(super) fn login_detached(login: &mut HostedLogin) {
        login.session = None;
        login.user = None;
        login.handoff.session_id = None;
    }

    /// The login after its session was ended.
    pub(super) fn login_terminated(login: &mut HostedLogin) {
        if let Some(session) = login.session.as_mut() {
            session.terminated = true;
        }
    }

    /// The record of the session's user (one store call), `None` without a user.
    async fn user_record_of(
        &self,
        session: Option<&Session>,
    ) -> Result<Option<UserRecord>, DomainError> {
        match session.and_then(Session::user_id) {
            Some(id) => self
                .store
                .find_user_record(id)
                .await
                .map_err(|e| store_err("find user", e)),
            None => Ok(None),
        }
    }

    /// The user record read again (after a change outside the session pipeline).
    pub(super) async fn reload_login_user(
        &self,
        login: &mut HostedLogin,
    ) -> Result<(), DomainError> {
        login.user = self.user_record_of(login.session.as_ref()).await?;
        Ok(())
    }
}

impl From<Checks> for SessionChange {
    fn from(checks: Checks) -> Self {
        SessionChange {
            checks,
            ..SessionChange::default()
        }
    }
}

/// Where a login whose policy is satisfied goes: the redirect URI with its state (and, for a
/// code-bound app, the code), or the signed-in page.
fn completion(login: &HostedLogin) -> Next {
    let Some(uri) = &login.handoff.redirect_uri else {
        return Next::Done(HandoffCompletion::SignedIn);
    };
    // SECURITY: the code goes only to the browser bound to the link: it is derived from the
    // secret that browser presented on this request.
    let code = match login.app.policy.require_code_on_validate {
        false => None,
        true => match &login.browser_secret {
            Some(secret) => Some(crypto::handoff_code(secret.expose())),
            None => return Next::Ended(LoginEnd::Ended),
        },
    };
    match redirect_target(
        uri,
        code.as_ref().map(|c| c.expose().as_str()),
        login.handoff.state.as_deref(),
    ) {
        Ok(target) => Next::Done(HandoffCompletion::Redirect(target)),
        Err(_) => Next::Ended(LoginEnd::Ended),
    }
}

/// A change that asks for nothing (it only makes a new login's session).
fn is_empty(change: &SessionChange) -> bool {
    let c = &change.checks;
    let ch = &change.challenges;
    c.user.is_none()
        && c.password.is_none()
        && c.web_auth_n.is_none()
        && c.totp.is_none()
        && c.otp_sms.is_none()
        && c.otp_email.is_none()
        && c.recovery_code.is_none()
        && ch.web_auth_n.is_none()
        && ch.otp_sms.is_none()
        && ch.otp_email.is_none()
        && change.metadata.0.is_empty()
        && change.lifetime.is_none()
}

/// The masked email and phone of the user, for the factors they can receive codes on.
fn contacts_of(record: &UserRecord) -> HandoffContacts {
    let user = &record.user;
    HandoffContacts {
        email: user
            .email
            .as_deref()
            .filter(|_| user.otp_email_enabled && user.email_verified)
            .map(super::mask_email),
        phone: user
            .phone
            .as_deref()
            .filter(|_| user.otp_sms_enabled && user.phone_verified)
            .map(super::mask_phone),
    }
}
