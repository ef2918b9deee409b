//! The session pipeline: create, set, get, delete, list, with the contract's check order
//! (user, password, WebAuthn, TOTP, SMS code, email code, recovery code, then challenges).
//!
//! A request is evaluated on a copy of the session; the first failure stops it. A failed check
//! writes its failure (counter and event) but never the session, so the old token stays valid.
//! Everything a passing request changes is written in one `write_session` with the sequence the
//! session was read at, so a concurrent change makes the write fail with `SESSION-Cnc01`.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{AuthenticatedKey, Engine};
use crate::crypto::{self, Secret};
use crate::error::{seconds_until, store_err, Channel, CheckKind, DomainError, TokenSide};
use crate::input::{
    Lifetime, MetadataChanges, OtpCode, Password, RecoveryCodeInput, TotpCode, UserRef,
    MAX_METADATA_ENTRIES,
};
use crate::model::{
    CodeChallenge, NewEvent, Outcome, Scope, Session, User, UserAgent, UserFactor, UserState,
};
use crate::notifier::{CodeContext, UrlTemplate};
use crate::store::{
    AttemptReservation, CodeChannel, EventFilter, FailureCounter, FailureRecord, FailureWrite,
    LockoutLimits, Reserved, SessionFilter, SessionPage, SessionQuery, SessionWrite, StoreError,
    UserEffect,
};
use crate::totp;

mod webauthn_check;

/// Who calls, and so which sessions the call reaches. Built from what authenticated the request,
/// never from what it says: the id becomes the creator of the sessions the caller creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    id: String,
    reach: Reach,
}

/// Which sessions a caller may read and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// A key with the `session` scope: the Session API sessions it created.
    Own,
    /// A key with `session_all` (a trusted login UI): every Session API session; handoff
    /// sessions only to read.
    All,
    /// No key: the bearer of a session's token, for that session alone (the token is required).
    Token,
    /// One app's handoff (its generate and validate, and the hosted page acting for it).
    App,
}

impl Caller {
    /// An authenticated API key: `session_all` reaches every session, `session` its own.
    pub fn api_key(key: &AuthenticatedKey) -> Self {
        let reach = if key.has(Scope::SessionAll) {
            Reach::All
        } else {
            Reach::Own
        };
        Self {
            id: key.id.clone(),
            reach,
        }
    }

    /// No key at all: only a session's own token authorizes reading or ending it.
    pub fn session_token() -> Self {
        Self {
            id: String::new(),
            reach: Reach::Token,
        }
    }

    /// The handoff of `app_id`.
    pub(crate) fn app(app_id: &str) -> Self {
        Self {
            id: app_id.to_owned(),
            reach: Reach::App,
        }
    }

    /// The key or app id; the creator of the sessions this caller creates.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the caller may see `session` at all. A session it may not see answers exactly
    /// like one that does not exist.
    fn can_read(&self, session: &Session) -> bool {
        match self.reach {
            Reach::Own => session.creator == self.id && session.app_id.is_none(),
            Reach::App => session.creator == self.id && session.app_id.is_some(),
            Reach::All | Reach::Token => true,
        }
    }

    /// Whether the caller may change or end `session`: handoff sessions only through their
    /// app's handoff, never through the Session API.
    fn can_write(&self, session: &Session) -> bool {
        match self.reach {
            Reach::App => session.creator == self.id && session.app_id.is_some(),
            Reach::Own => session.creator == self.id && session.app_id.is_none(),
            Reach::All | Reach::Token => session.app_id.is_none(),
        }
    }

    /// The filter a search adds: a `session` key lists only what it created.
    fn list_filter(&self) -> Option<SessionFilter> {
        match self.reach {
            Reach::Own | Reach::App | Reach::Token => Some(SessionFilter::Creator(self.id.clone())),
            Reach::All => None,
        }
    }
}

/// The checks of a request; each is optional. They run in the contract's order, whatever the
/// order of the fields in the request.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub user: Option<UserRef>,
    pub password: Option<Password>,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get()` (all binary
    /// fields base64url), answering the session's pending WebAuthn challenge.
    pub web_auth_n: Option<serde_json::Value>,
    pub totp: Option<TotpCode>,
    pub otp_sms: Option<OtpCode>,
    pub otp_email: Option<OtpCode>,
    pub recovery_code: Option<RecoveryCodeInput>,
}

/// How an SMS code is delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmsCodeDelivery {
    /// Return the code in the response instead of sending it.
    pub return_code: bool,
}

/// How an email code is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailCodeDelivery {
    /// Send it by email, optionally with a link rendered from the template.
    Send { url_template: Option<UrlTemplate> },
    /// Return it in the response; nothing is sent.
    Return,
}

/// A WebAuthn challenge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnChallengeRequest {
    /// The RP ID; must be the configured one (`COMMAND-Wan03`).
    pub domain: String,
    /// REQUIRED: passkeys (and, before any user check, a discoverable passkey ceremony); else the
    /// user's security keys.
    pub user_verification_required: bool,
}

/// Challenges to start after the checks.
#[derive(Debug, Clone, Default)]
pub struct ChallengeRequests {
    pub web_auth_n: Option<WebAuthnChallengeRequest>,
    pub otp_sms: Option<SmsCodeDelivery>,
    pub otp_email: Option<EmailCodeDelivery>,
}

/// What a create or set request asks for.
#[derive(Debug, Clone, Default)]
pub struct SessionChange {
    pub checks: Checks,
    pub metadata: MetadataChanges,
    pub challenges: ChallengeRequests,
    /// Sliding: expiry becomes now + lifetime on every request that sends it.
    pub lifetime: Option<Lifetime>,
}

/// `CreateSession`.
#[derive(Debug, Clone, Default)]
pub struct CreateSessionRequest {
    pub change: SessionChange,
    pub user_agent: Option<UserAgent>,
    /// The app the session is generated for (handoff flow).
    pub app_id: Option<String>,
    /// Hosted page: an unknown login name, a user without password and a wrong password all
    /// answer `SESSION-Lgn01` after one argon2 verification. The v2 API leaves this false.
    pub conceal_unknown_user: bool,
}

/// `SetSession`.
#[derive(Debug, Clone, Default)]
pub struct SetSessionRequest {
    pub change: SessionChange,
    /// Ignored by the v2 API (the contract deprecates it); when the hosted page sends its
    /// cookie's token it must be the newest one (`COMMAND-sGr42`).
    pub session_token: Option<String>,
    /// See [`CreateSessionRequest::conceal_unknown_user`].
    pub conceal_unknown_user: bool,
}

/// Codes and WebAuthn options returned by a request.
#[derive(Debug, Clone, Default)]
pub struct ChallengeResponse {
    pub otp_sms: Option<Secret<String>>,
    pub otp_email: Option<Secret<String>>,
    pub web_auth_n: Option<serde_json::Value>,
}

/// The contract's `Details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub sequence: i64,
    pub change_date: OffsetDateTime,
    pub resource_owner: String,
}

/// The answer to create and set.
#[derive(Debug, Clone)]
pub struct SessionChanged {
    pub session_id: String,
    /// The new token; `None` when a set request changed nothing (the contract's empty token).
    pub session_token: Option<Secret<String>>,
    pub details: Details,
    pub challenges: ChallengeResponse,
}

/// `ListSessions`: filters (AND), page and order (newest first unless `ascending`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSessionsQuery {
    pub filters: Vec<SessionFilter>,
    pub offset: u64,
    /// 0 means the default (100); more than the maximum (1000) is reduced to it.
    pub limit: u32,
    pub ascending: bool,
}

enum Delivery {
    Sms {
        to: String,
        code: Secret<String>,
    },
    Email {
        to: String,
        code: Secret<String>,
        template: Option<UrlTemplate>,
    },
}

/// The session being changed, with everything the write will carry.
struct Draft {
    session: Session,
    /// The sequence read; `None` for a new session.
    expected: Option<i64>,
    user: Option<User>,
    events: Vec<NewEvent>,
    effects: Vec<UserEffect>,
    changed: bool,
    deliveries: Vec<Delivery>,
    response: ChallengeResponse,
    conceal: bool,
    now: OffsetDateTime,
    /// Attempts reserved by checks that passed: given back if the request fails after all.
    passed: Vec<Attempt>,
}

/// An attempt reserved on a failure counter for one check, before its guess is evaluated.
struct Attempt {
    reservation: AttemptReservation,
    reserved: Reserved,
}

impl Draft {
    fn is_new(&self) -> bool {
        self.expected.is_none()
    }
    fn effect(&mut self, effect: UserEffect) {
        if !self.effects.contains(&effect) {
            self.effects.push(effect);
        }
    }
    /// A passed check clears its failure counter, in the same write as the session; until that
    /// write succeeds its reservation is kept to be given back.
    fn pass_attempt(&mut self, attempt: Attempt) {
        let r = &attempt.reservation;
        self.effect(UserEffect::ResetFailures {
            user_id: r.user_id.clone(),
            counter: r.counter,
            limits: r.limits,
        });
        self.passed.push(attempt);
    }
}

fn check_event_kind(check: CheckKind) -> &'static str {
    match check {
        CheckKind::Password => "check.password",
        CheckKind::WebAuthn => "check.web_auth_n",
        CheckKind::Totp => "check.totp",
        CheckKind::OtpSms => "check.otp_sms",
        CheckKind::OtpEmail => "check.otp_email",
        CheckKind::RecoveryCode => "check.recovery_code",
        CheckKind::ChallengeOtpSms => "challenge.otp_sms",
        CheckKind::ChallengeOtpEmail => "challenge.otp_email",
    }
}

fn validate_user_agent(ua: &UserAgent) -> Result<(), DomainError> {
    let short = |field: &'static str, v: &Option<String>| match v {
        Some(text) if text.chars().count() > 200 => Err(DomainError::field(field, "too long")),
        _ => Ok(()),
    };
    short("user_agent.fingerprint_id", &ua.fingerprint_id)?;
    short("user_agent.ip", &ua.ip)?;
    short("user_agent.description", &ua.description)?;
    if ua.header.len() > 50 {
        return Err(DomainError::field("user_agent.header", "too many headers"));
    }
    let size: usize = ua
        .header
        .iter()
        .map(|(k, v)| k.len() + v.iter().map(String::len).sum::<usize>())
        .sum();
    if size > 16 * 1024 {
        return Err(DomainError::field("user_agent.header", "too large"));
    }
    Ok(())
}

impl Engine {
    /// `CreateSession`: runs the checks on a new session; a failing check creates nothing.
    #[tracing::instrument(skip_all)]
    pub async fn create_session(
        &self,
        request: CreateSessionRequest,
        caller: &Caller,
    ) -> Result<SessionChanged, DomainError> {
        if let Some(ua) = &request.user_agent {
            validate_user_agent(ua)?;
        }
        let now = self.now();
        let session = Session {
            id: self.new_id(),
            token_hash: [0; 32],
            factors: Default::default(),
            metadata: BTreeMap::new(),
            user_agent: request.user_agent,
            challenges: Default::default(),
            lifetime: None,
            expires_at: None,
            creator: caller.id.clone(),
            app_id: request.app_id,
            sequence: 0,
            created_at: now,
            changed_at: now,
            terminated: false,
        };
        let draft = Draft {
            session,
            expected: None,
            user: None,
            events: Vec::new(),
            effects: Vec::new(),
            changed: true,
            deliveries: Vec::new(),
            response: ChallengeResponse::default(),
            conceal: request.conceal_unknown_user,
            now,
            passed: Vec::new(),
        };
        self.run_change(draft, &request.change).await
    }

    /// `SetSession`: checks, challenges, metadata and lifetime on an existing session.
    #[tracing::instrument(skip_all, fields(session_id = %session_id))]
    pub async fn set_session(
        &self,
        session_id: &str,
        request: SetSessionRequest,
        caller: &Caller,
    ) -> Result<SessionChanged, DomainError> {
        let _guard = self.claim(session_id)?;
        let session = self.load_session(session_id).await?;
        if !caller.can_write(&session) {
            return Err(DomainError::SessionNotFound);
        }
        if let Some(token) = &request.session_token {
            verify_token(&session, token, TokenSide::Command)?;
        }
        let now = self.now();
        if session.terminated {
            return Err(DomainError::SessionTerminated);
        }
        if session.expires_at.is_some_and(|e| e <= now) {
            return Err(DomainError::SessionExpired);
        }
        let draft = Draft {
            expected: Some(session.sequence),
            session,
            user: None,
            events: Vec::new(),
            effects: Vec::new(),
            changed: false,
            deliveries: Vec::new(),
            response: ChallengeResponse::default(),
            conceal: request.conceal_unknown_user,
            now,
            passed: Vec::new(),
        };
        self.run_change(draft, &request.change).await
    }

    /// `GetSession`: an expired session is returned (the caller compares the expiry); a
    /// terminated one, or one the caller may not see, answers like an unknown id. A token, when
    /// given, must be the newest (`QUERY-dsfr3`); without a key it is required.
    pub async fn get_session(
        &self,
        session_id: &str,
        session_token: Option<&str>,
        caller: &Caller,
    ) -> Result<Session, DomainError> {
        if caller.reach == Reach::Token && session_token.is_none() {
            return Err(DomainError::InvalidSessionToken {
                side: TokenSide::Query,
            });
        }
        let session = self.load_session(session_id).await?;
        // SECURITY: logging out ends the session for every reader (ZITADEL: "session does not
        // exist or was terminated"), so a backend that checks with GetSession lets nobody in.
        if session.terminated || !caller.can_read(&session) {
            return Err(DomainError::SessionNotFound);
        }
        if let Some(token) = session_token {
            verify_token(&session, token, TokenSide::Query)?;
        }
        Ok(session)
    }

    /// `DeleteSession`: terminates the session. Deleting a terminated session, or a missing one
    /// (or one the caller may not change) without a token, succeeds and changes nothing.
    #[tracing::instrument(skip_all, fields(session_id = %session_id))]
    pub async fn delete_session(
        &self,
        session_id: &str,
        session_token: Option<&str>,
        caller: &Caller,
    ) -> Result<Details, DomainError> {
        let _guard = self.claim(session_id)?;
        let resource_owner = self.instance_id().await?;
        let now = self.now();
        if caller.reach == Reach::Token && session_token.is_none() {
            return Err(DomainError::InvalidSessionToken {
                side: TokenSide::Command,
            });
        }
        let found = self
            .store
            .find_session(session_id)
            .await
            .map_err(|e| store_err("find session", e))?
            .filter(|s| caller.can_write(s));
        let Some(mut session) = found else {
            if session_token.is_some() {
                // SECURITY: a token never validates for a session that does not exist.
                return Err(DomainError::InvalidSessionToken {
                    side: TokenSide::Command,
                });
            }
            return Ok(Details {
                sequence: 0,
                change_date: now,
                resource_owner,
            });
        };
        if let Some(token) = session_token {
            verify_token(&session, token, TokenSide::Command)?;
        }
        if session.terminated {
            return Ok(Details {
                sequence: session.sequence,
                change_date: session.changed_at,
                resource_owner,
            });
        }
        let expected = session.sequence;
        session.terminated = true;
        session.changed_at = now;
        session.challenges = Default::default();
        let event = NewEvent {
            at: now,
            session_id: Some(session.id.clone()),
            user_id: session.user_id().map(str::to_owned),
            app_id: session.app_id.clone(),
            client_ip: session.user_agent.as_ref().and_then(|u| u.ip.clone()),
            kind: "session.terminated".into(),
            outcome: Outcome::Succeeded,
            error_id: None,
        };
        let sequence = self
            .store
            .write_session(&SessionWrite {
                session,
                expected_sequence: Some(expected),
                events: vec![event],
                user_effects: Vec::new(),
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => DomainError::SessionNotFound,
                other => store_err("terminate session", other),
            })?;
        Ok(Details {
            sequence,
            change_date: now,
            resource_owner,
        })
    }

    /// `ListSessions`: live sessions only (terminated ones are gone), and of those only what
    /// the caller may read.
    pub async fn list_sessions(
        &self,
        query: ListSessionsQuery,
        caller: &Caller,
    ) -> Result<SessionPage, DomainError> {
        let mut filters = query.filters;
        filters.extend(caller.list_filter());
        let q = SessionQuery {
            filters,
            offset: query.offset,
            limit: self.list_limit(query.limit),
            ascending: query.ascending,
        };
        self.store
            .list_sessions(&q)
            .await
            .map_err(|e| store_err("list sessions", e))
    }

    pub(super) async fn load_session(&self, session_id: &str) -> Result<Session, DomainError> {
        self.store
            .find_session(session_id)
            .await
            .map_err(|e| store_err("find session", e))?
            .ok_or(DomainError::SessionNotFound)
    }

    fn event(&self, draft: &Draft, kind: &str, error: Option<&DomainError>) -> NewEvent {
        NewEvent {
            at: draft.now,
            // A failed create leaves no session behind, so its events name none.
            session_id: (!draft.is_new() || error.is_none()).then(|| draft.session.id.clone()),
            user_id: draft
                .user
                .as_ref()
                .map(|u| u.id.clone())
                .or_else(|| draft.session.user_id().map(str::to_owned)),
            app_id: draft.session.app_id.clone(),
            client_ip: draft.session.user_agent.as_ref().and_then(|u| u.ip.clone()),
            kind: kind.to_owned(),
            outcome: if error.is_some() {
                Outcome::Failed
            } else {
                Outcome::Succeeded
            },
            error_id: error.map(|e| e.id().to_owned()),
        }
    }

    /// A hosted-page refusal of an unknown name (or a user who cannot sign in with a password):
    /// recorded like a wrong password, and counted down the same way, so the page can say how
    /// many attempts are left without telling which names exist.
    async fn concealed_failure(&self, draft: &Draft, kind: &str) -> DomainError {
        let error = DomainError::LoginFailed {
            attempts_left: None,
            lock_seconds: None,
        };
        let error = self.fail(draft, kind, error).await;
        self.count_concealed(draft, error).await
    }

    /// Fills in the attempts left of a concealed failure from this session's own history: the
    /// limit minus the concealed failures recorded on it (this one included). A known user's
    /// real counter wins when it is lower (it may hold failures from other sessions), and a real
    /// lock is reported as one. An unknown name "locks" when the session count reaches the
    /// limit. Only a user with failures from elsewhere can thus be told apart.
    async fn count_concealed(&self, draft: &Draft, error: DomainError) -> DomainError {
        let DomainError::LoginFailed {
            attempts_left: real_left,
            lock_seconds: real_lock,
        } = error
        else {
            return error;
        };
        let limit = self.config.password_lockout.limit;
        if limit == 0 || draft.is_new() {
            return DomainError::LoginFailed {
                attempts_left: None,
                lock_seconds: real_lock,
            };
        }
        let filter = EventFilter {
            session_id: Some(draft.session.id.clone()),
            user_id: None,
            after: 0,
            limit: 0,
        };
        let failures = match self.store.list_events(&filter).await {
            Ok(events) => events
                .iter()
                .filter(|e| e.event.error_id.as_deref() == Some("SESSION-Lgn01"))
                .count(),
            Err(e) => return store_err("count concealed failures", e),
        };
        let session_left = limit.saturating_sub(u32::try_from(failures).unwrap_or(u32::MAX));
        let left = real_left.map_or(session_left, |real| real.min(session_left));
        let lock_seconds = real_lock
            .or_else(|| (left == 0).then(|| self.config.password_lockout.lock_for.whole_seconds()));
        DomainError::LoginFailed {
            attempts_left: Some(left),
            lock_seconds,
        }
    }

    /// Records a passed check: its event, and that the session changed.
    fn record_pass(&self, draft: &mut Draft, kind: &str) {
        let event = self.event(draft, kind, None);
        draft.events.push(event);
        draft.changed = true;
    }

    /// Records an uncounted failed check (event only) and returns the error.
    async fn fail(&self, draft: &Draft, kind: &str, error: DomainError) -> DomainError {
        let event = self.event(draft, kind, Some(&error));
        if let Err(e) = self.store.append_events(&[event]).await {
            return store_err("append failure event", e);
        }
        error
    }

    fn lockout_limits(&self) -> LockoutLimits {
        LockoutLimits {
            password: self.config.password_lockout,
            code: self.config.code_lockout,
        }
    }

    /// SECURITY: reserves an attempt on the user's counter before the guess is evaluated; a
    /// user locked now (or whose attempts are all taken by requests still running) is refused
    /// here, with the same answer whatever the guess, and nothing is evaluated.
    async fn reserve(
        &self,
        draft: &Draft,
        user: &User,
        counter: FailureCounter,
        kind: &str,
    ) -> Result<Attempt, DomainError> {
        let reservation = AttemptReservation {
            user_id: user.id.clone(),
            counter,
            limits: self.lockout_limits(),
            now: draft.now,
            own_lock: draft.passed.iter().find_map(|a| a.reserved.locked_until),
        };
        match self.store.reserve_attempt(&reservation).await {
            Ok(reserved) => Ok(Attempt {
                reservation,
                reserved,
            }),
            Err(StoreError::Locked { until }) => {
                let locked = DomainError::Locked {
                    until,
                    seconds_left: seconds_until(until, draft.now),
                };
                Err(self.fail(draft, kind, locked).await)
            }
            Err(StoreError::NotFound) => {
                Err(self.fail(draft, kind, DomainError::UserNotFound).await)
            }
            Err(e) => Err(store_err("reserve attempt", e)),
        }
    }

    /// Gives back reservations whose guesses were never judged; failures are logged, since the
    /// request is answered with its own error already.
    async fn release(&self, attempts: &[Attempt]) {
        for attempt in attempts {
            if let Err(e) = self.store.release_attempt(&attempt.reservation).await {
                tracing::error!(error = %e, "release attempt");
            }
        }
    }

    /// Records the failure of a reserved attempt (event, code attempt) and returns the error
    /// built from the counter as the reservation left it.
    async fn fail_reserved(
        &self,
        draft: &Draft,
        attempt: &Attempt,
        check: CheckKind,
        code_challenge: Option<CodeChannel>,
        build: impl Fn(FailureRecord, u32) -> DomainError,
    ) -> DomainError {
        let limit = attempt
            .reservation
            .limits
            .rule(attempt.reservation.counter)
            .limit;
        // The event's error id is the one the caller gets for a plain wrong answer.
        let probe = build(
            FailureRecord {
                failures: 0,
                locked_until: None,
                code_attempts: None,
            },
            limit,
        );
        let failure = FailureWrite {
            event: self.event(draft, check_event_kind(check), Some(&probe)),
            code_challenge: code_challenge.map(|c| (draft.session.id.clone(), c)),
        };
        match self.store.record_failure(&failure).await {
            Ok(code_attempts) => build(
                FailureRecord {
                    failures: attempt.reserved.failures,
                    locked_until: attempt.reserved.locked_until,
                    code_attempts,
                },
                limit,
            ),
            Err(e) => store_err("record failure", e),
        }
    }

    /// The session's user for a check that needs one.
    async fn session_user(&self, draft: &mut Draft, check: CheckKind) -> Result<User, DomainError> {
        if let Some(user) = &draft.user {
            return Ok(user.clone());
        }
        let Some(user_id) = draft.session.user_id().map(str::to_owned) else {
            return Err(self
                .fail(
                    draft,
                    check_event_kind(check),
                    DomainError::UserMissing { check },
                )
                .await);
        };
        let user = self
            .store
            .find_user(&user_id)
            .await
            .map_err(|e| store_err("find user", e))?;
        let Some(user) = user else {
            return Err(self
                .fail(draft, check_event_kind(check), DomainError::UserNotFound)
                .await);
        };
        if user.state != UserState::Active {
            return Err(self
                .fail(draft, check_event_kind(check), DomainError::UserNotActive)
                .await);
        }
        draft.user = Some(user.clone());
        Ok(user)
    }

    fn locked(&self, user: &User, now: OffsetDateTime) -> Option<DomainError> {
        user.locked_until
            .filter(|u| *u > now)
            .map(|until| DomainError::Locked {
                until,
                seconds_left: seconds_until(until, now),
            })
    }

    async fn run_change(
        &self,
        mut draft: Draft,
        change: &SessionChange,
    ) -> Result<SessionChanged, DomainError> {
        let applied = self.apply_change(&mut draft, change).await;
        let result = match applied {
            Ok(()) => self.commit(&mut draft).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            // The request changed nothing, so checks that passed on the way count for nothing.
            self.release(&std::mem::take(&mut draft.passed)).await;
        }
        result
    }

    /// Runs the checks, challenges, metadata and lifetime of a change on the draft.
    async fn apply_change(
        &self,
        draft: &mut Draft,
        change: &SessionChange,
    ) -> Result<(), DomainError> {
        if let Some(lifetime) = change.lifetime {
            let max = self.config.max_session_lifetime;
            if lifetime.get() > max {
                return Err(DomainError::InvalidLifetime {
                    max_days: max.whole_days(),
                });
            }
        }
        let checks = &change.checks;
        if let Some(user_ref) = &checks.user {
            self.check_user(draft, user_ref, checks.password.as_ref())
                .await?;
        }
        if let Some(password) = &checks.password {
            self.check_password(draft, password).await?;
        }
        if let Some(data) = &checks.web_auth_n {
            self.check_webauthn(draft, data).await?;
        }
        if let Some(code) = &checks.totp {
            self.check_totp(draft, code).await?;
        }
        if let Some(code) = &checks.otp_sms {
            self.check_otp(draft, code, Channel::Sms).await?;
        }
        if let Some(code) = &checks.otp_email {
            self.check_otp(draft, code, Channel::Email).await?;
        }
        if let Some(code) = &checks.recovery_code {
            self.check_recovery_code(draft, code).await?;
        }
        if let Some(request) = &change.challenges.web_auth_n {
            self.challenge_webauthn(draft, request).await?;
        }
        if let Some(delivery) = &change.challenges.otp_sms {
            self.challenge_sms(draft, *delivery).await?;
        }
        if let Some(delivery) = &change.challenges.otp_email {
            self.challenge_email(draft, delivery).await?;
        }
        for (key, value) in &change.metadata.0 {
            if value.is_empty() {
                draft.changed |= draft.session.metadata.remove(key).is_some();
            } else if draft.session.metadata.get(key) != Some(value) {
                draft.session.metadata.insert(key.clone(), value.clone());
                draft.changed = true;
            }
        }
        if draft.session.metadata.len() > MAX_METADATA_ENTRIES {
            return Err(DomainError::field(
                "metadata",
                "too many keys on the session",
            ));
        }
        if let Some(lifetime) = change.lifetime {
            draft.session.lifetime = Some(lifetime.get());
            draft.session.expires_at = Some(draft.now + lifetime.get());
            draft.changed = true;
        }
        Ok(())
    }

    async fn commit(&self, draft: &mut Draft) -> Result<SessionChanged, DomainError> {
        let resource_owner = self.instance_id().await?;
        if !draft.changed {
            // The contract's no-op: nothing written, no new token.
            return Ok(SessionChanged {
                session_id: draft.session.id.clone(),
                session_token: None,
                details: Details {
                    sequence: draft.session.sequence,
                    change_date: draft.session.changed_at,
                    resource_owner,
                },
                challenges: std::mem::take(&mut draft.response),
            });
        }
        // Deliver before writing: a failed delivery stores no code, and a failed write leaves a
        // delivered code unusable rather than a stored code undelivered behind a rotated token.
        for delivery in std::mem::take(&mut draft.deliveries) {
            self.deliver(draft, delivery).await?;
        }
        // SECURITY: every change mints a new 256-bit token; only its hash is stored.
        let token = crypto::random_token(self.rng.as_ref());
        draft.session.token_hash = crypto::token_hash(token.expose());
        draft.session.changed_at = draft.now;
        let kind = if draft.is_new() {
            "session.created"
        } else {
            "session.changed"
        };
        let event = self.event(draft, kind, None);
        if draft.is_new() {
            draft.events.insert(0, event);
        } else {
            draft.events.push(event);
        }
        let write = SessionWrite {
            session: draft.session.clone(),
            expected_sequence: draft.expected,
            events: std::mem::take(&mut draft.events),
            user_effects: std::mem::take(&mut draft.effects),
        };
        let sequence = match self.store.write_session(&write).await {
            Ok(sequence) => sequence,
            Err(StoreError::Replayed) => {
                return Err(self.replayed(draft, &write.user_effects).await)
            }
            Err(StoreError::NotFound) => return Err(DomainError::SessionNotFound),
            Err(e) => return Err(store_err("write session", e)),
        };
        Ok(SessionChanged {
            session_id: draft.session.id.clone(),
            session_token: Some(token),
            details: Details {
                sequence,
                change_date: draft.now,
                resource_owner,
            },
            challenges: std::mem::take(&mut draft.response),
        })
    }

    /// A single-use value was used by a concurrent request between our read and our write. A
    /// TOTP step or recovery code used twice is a failed code check: its reserved attempt is
    /// kept as a failure instead of being given back.
    async fn replayed(&self, draft: &mut Draft, effects: &[UserEffect]) -> DomainError {
        let webauthn = effects
            .iter()
            .any(|e| matches!(e, UserEffect::UseWebAuthnCredential { .. }));
        if webauthn {
            return self
                .fail(
                    draft,
                    "check.web_auth_n",
                    DomainError::WebAuthnAssertionInvalid,
                )
                .await;
        }
        let totp = effects
            .iter()
            .any(|e| matches!(e, UserEffect::UseTotpStep { .. }));
        let check = if totp {
            CheckKind::Totp
        } else {
            CheckKind::RecoveryCode
        };
        let Some(index) = draft
            .passed
            .iter()
            .position(|a| a.reservation.counter == FailureCounter::Code)
        else {
            return DomainError::Internal;
        };
        let attempt = draft.passed.remove(index);
        self.fail_reserved(draft, &attempt, check, None, |r, limit| {
            if totp {
                DomainError::TotpReplayed {
                    failed_attempts: r.failures,
                    limit,
                    locked_until: r.locked_until,
                }
            } else {
                DomainError::RecoveryCodeInvalid {
                    failed_attempts: r.failures,
                    limit,
                    locked_until: r.locked_until,
                }
            }
        })
        .await
    }

    async fn deliver(&self, draft: &Draft, delivery: Delivery) -> Result<(), DomainError> {
        let Some(user) = &draft.user else {
            return Err(DomainError::Internal);
        };
        let mut context = CodeContext {
            user_id: user.id.clone(),
            login_name: user.login_name.clone(),
            display_name: user.display_name.clone(),
            preferred_language: user.preferred_language.clone(),
            session_id: draft.session.id.clone(),
            url: None,
        };
        let result = match delivery {
            Delivery::Sms { to, code } => self.notifier.send_sms_code(&to, &code, &context).await,
            Delivery::Email { to, code, template } => {
                context.url = template.map(|t| t.render(code.expose(), &context));
                self.notifier.send_email_code(&to, &code, &context).await
            }
        };
        result.map_err(|e| {
            tracing::error!(error = %e, "code delivery failed");
            DomainError::DeliveryFailed
        })
    }

    async fn check_user(
        &self,
        draft: &mut Draft,
        user_ref: &UserRef,
        password: Option<&Password>,
    ) -> Result<(), DomainError> {
        let mut found = match user_ref {
            UserRef::Id(id) => self.store.find_user(id.as_str()).await,
            UserRef::LoginName(name) => self.store.find_user_by_login_name(name.as_str()).await,
        }
        .map_err(|e| store_err("find user", e))?;
        // The hosted page also takes a verified email address in place of the login name, when
        // exactly one user has it (the Session API keeps the contract: login names only).
        if let (None, true, UserRef::LoginName(name)) = (&found, draft.conceal, user_ref) {
            if name.as_str().contains('@') {
                let mut by_email = self
                    .store
                    .find_users_by_verified_email(name.as_str())
                    .await
                    .map_err(|e| store_err("find user by email", e))?;
                if by_email.len() == 1 {
                    found = by_email.pop();
                }
            }
        }
        let Some(user) = found else {
            if draft.conceal {
                if let Some(password) = password {
                    // SECURITY: an unknown name costs one argon2 verification, like a wrong password.
                    self.hasher.verify_dummy(&password.0).await?;
                    return Err(self.concealed_failure(draft, "check.user").await);
                }
            }
            return Err(self
                .fail(draft, "check.user", DomainError::UserNotFound)
                .await);
        };
        if let Some(current) = draft.session.user_id() {
            if current != user.id {
                return Err(self
                    .fail(draft, "check.user", DomainError::UserChangeNotPossible)
                    .await);
            }
        }
        draft.user = Some(user.clone());
        if user.state != UserState::Active {
            return Err(self
                .fail(draft, "check.user", DomainError::UserNotActive)
                .await);
        }
        draft.session.factors.user = Some(UserFactor {
            user_id: user.id.clone(),
            login_name: user.login_name.clone(),
            display_name: user.display_name.clone(),
            organization_id: self.instance_id().await?,
            verified_at: draft.now,
        });
        self.record_pass(draft, "check.user");
        Ok(())
    }

    async fn check_password(
        &self,
        draft: &mut Draft,
        password: &Password,
    ) -> Result<(), DomainError> {
        let user = self.session_user(draft, CheckKind::Password).await?;
        // SECURITY: a locked user is refused before any hashing.
        if let Some(locked) = self.locked(&user, draft.now) {
            return Err(self.fail(draft, "check.password", locked).await);
        }
        let Some(hash) = &user.password_hash else {
            if draft.conceal {
                self.hasher.verify_dummy(&password.0).await?;
                return Err(self.concealed_failure(draft, "check.password").await);
            }
            return Err(self
                .fail(draft, "check.password", DomainError::PasswordNotSet)
                .await);
        };
        let attempt = self
            .reserve(draft, &user, FailureCounter::Password, "check.password")
            .await?;
        let result = match self.hasher.verify(&password.0, hash).await {
            Ok(result) => result,
            Err(e) => {
                self.release(&[attempt]).await;
                return Err(e);
            }
        };
        if !result.matches {
            let conceal = draft.conceal;
            let error = self
                .fail_reserved(draft, &attempt, CheckKind::Password, None, |r, limit| {
                    if conceal {
                        DomainError::LoginFailed {
                            attempts_left: (limit > 0).then(|| limit.saturating_sub(r.failures)),
                            lock_seconds: r
                                .locked_until
                                .map(|until| seconds_until(until, draft.now)),
                        }
                    } else {
                        DomainError::WrongPassword {
                            failed_attempts: r.failures,
                            limit,
                            locked_until: r.locked_until,
                        }
                    }
                })
                .await;
            return Err(self.count_concealed(draft, error).await);
        }
        draft.pass_attempt(attempt);
        if result.needs_rehash {
            let hash = self.hasher.hash(&password.0, self.rng.clone()).await?;
            draft.effect(UserEffect::SetPasswordHash {
                user_id: user.id.clone(),
                hash,
            });
        }
        draft.session.factors.password = Some(draft.now);
        self.record_pass(draft, "check.password");
        Ok(())
    }

    async fn check_totp(&self, draft: &mut Draft, code: &TotpCode) -> Result<(), DomainError> {
        let user = self.session_user(draft, CheckKind::Totp).await?;
        let Some(record) = user.totp.as_ref().filter(|t| t.confirmed) else {
            return Err(self
                .fail(draft, "check.totp", DomainError::TotpNotReady)
                .await);
        };
        if let Some(locked) = self.locked(&user, draft.now) {
            return Err(self.fail(draft, "check.totp", locked).await);
        }
        let secret = crypto::decrypt(&self.key, &record.encrypted_secret, user.id.as_bytes())
            .map_err(|e| DomainError::internal("decrypt totp secret", &e))?;
        let attempt = self
            .reserve(draft, &user, FailureCounter::Code, "check.totp")
            .await?;
        let matched = totp::verify(secret.expose(), code.0.expose(), draft.now);
        let Some(step) = matched else {
            return Err(self
                .fail_reserved(draft, &attempt, CheckKind::Totp, None, |r, limit| {
                    DomainError::InvalidCode {
                        check: CheckKind::Totp,
                        failed_attempts: r.failures,
                        limit,
                        locked_until: r.locked_until,
                    }
                })
                .await);
        };
        // SECURITY: a code is accepted once per step; this step or an older one is a replay.
        if record.last_used_step.is_some_and(|last| last >= step) {
            return Err(self
                .fail_reserved(draft, &attempt, CheckKind::Totp, None, |r, limit| {
                    DomainError::TotpReplayed {
                        failed_attempts: r.failures,
                        limit,
                        locked_until: r.locked_until,
                    }
                })
                .await);
        }
        draft.effect(UserEffect::UseTotpStep {
            user_id: user.id.clone(),
            step,
        });
        draft.pass_attempt(attempt);
        draft.session.factors.totp = Some(draft.now);
        self.record_pass(draft, "check.totp");
        Ok(())
    }

    async fn check_otp(
        &self,
        draft: &mut Draft,
        code: &OtpCode,
        channel: Channel,
    ) -> Result<(), DomainError> {
        let (check, store_channel) = match channel {
            Channel::Sms => (CheckKind::OtpSms, CodeChannel::Sms),
            Channel::Email => (CheckKind::OtpEmail, CodeChannel::Email),
        };
        let kind = check_event_kind(check);
        let user = self.session_user(draft, check).await?;
        let pending = match channel {
            Channel::Sms => draft.session.challenges.otp_sms.clone(),
            Channel::Email => draft.session.challenges.otp_email.clone(),
        };
        let Some(challenge) = pending else {
            return Err(self
                .fail(draft, kind, DomainError::NoCodeChallenge { channel })
                .await);
        };
        if let Some(locked) = self.locked(&user, draft.now) {
            return Err(self.fail(draft, kind, locked).await);
        }
        // SECURITY: codes expire and allow a bounded number of tries each.
        if challenge.expires_at <= draft.now {
            return Err(self
                .fail(draft, kind, DomainError::CodeExpired { channel })
                .await);
        }
        if challenge.failed_attempts >= self.config.code_max_attempts {
            return Err(self
                .fail(draft, kind, DomainError::CodeAttemptsExhausted { channel })
                .await);
        }
        let attempt = self
            .reserve(draft, &user, FailureCounter::Code, kind)
            .await?;
        let hash = crypto::code_hash(&draft.session.id, code.0.expose());
        if !crypto::constant_time_eq(hash.as_bytes(), challenge.code_hash.as_bytes()) {
            return Err(self
                .fail_reserved(draft, &attempt, check, Some(store_channel), |r, limit| {
                    DomainError::InvalidCode {
                        check,
                        failed_attempts: r.failures,
                        limit,
                        locked_until: r.locked_until,
                    }
                })
                .await);
        }
        // SECURITY: single use: the challenge is cleared with the passing check.
        match channel {
            Channel::Sms => {
                draft.session.challenges.otp_sms = None;
                draft.session.factors.otp_sms = Some(draft.now);
            }
            Channel::Email => {
                draft.session.challenges.otp_email = None;
                draft.session.factors.otp_email = Some(draft.now);
            }
        }
        draft.pass_attempt(attempt);
        self.record_pass(draft, kind);
        Ok(())
    }

    async fn check_recovery_code(
        &self,
        draft: &mut Draft,
        code: &RecoveryCodeInput,
    ) -> Result<(), DomainError> {
        let user = self.session_user(draft, CheckKind::RecoveryCode).await?;
        if let Some(locked) = self.locked(&user, draft.now) {
            return Err(self.fail(draft, "check.recovery_code", locked).await);
        }
        let attempt = self
            .reserve(draft, &user, FailureCounter::Code, "check.recovery_code")
            .await?;
        let codes = match self.store.list_recovery_codes(&user.id).await {
            Ok(codes) => codes,
            Err(e) => {
                self.release(&[attempt]).await;
                return Err(store_err("list recovery codes", e));
            }
        };
        let hash = crypto::recovery_code_hash(&user.id, code.0.expose());
        let mut matched = None;
        for stored in &codes {
            if crypto::constant_time_eq(hash.as_bytes(), stored.code_hash.as_bytes())
                && stored.used_at.is_none()
            {
                matched = Some(stored.id.clone());
            }
        }
        let Some(code_id) = matched else {
            return Err(self
                .fail_reserved(
                    draft,
                    &attempt,
                    CheckKind::RecoveryCode,
                    None,
                    |r, limit| DomainError::RecoveryCodeInvalid {
                        failed_attempts: r.failures,
                        limit,
                        locked_until: r.locked_until,
                    },
                )
                .await);
        };
        draft.effect(UserEffect::UseRecoveryCode {
            code_id,
            now: draft.now,
        });
        draft.pass_attempt(attempt);
        draft.session.factors.recovery_code = Some(draft.now);
        self.record_pass(draft, "check.recovery_code");
        Ok(())
    }

    /// Common part of both code challenges: cooldown, new code, stored hash.
    async fn new_code_challenge(
        &self,
        draft: &mut Draft,
        channel: Channel,
    ) -> Result<Secret<String>, DomainError> {
        let (existing, kind) = match channel {
            Channel::Sms => (&draft.session.challenges.otp_sms, "challenge.otp_sms"),
            Channel::Email => (&draft.session.challenges.otp_email, "challenge.otp_email"),
        };
        if let Some(previous) = existing {
            let ready_at = previous.created_at + self.config.resend_cooldown;
            if ready_at > draft.now {
                let seconds_left = (ready_at - draft.now).whole_seconds().max(1);
                return Err(self
                    .fail(draft, kind, DomainError::ResendCooldown { seconds_left })
                    .await);
            }
        }
        let code = crypto::six_digit_code(self.rng.as_ref());
        let challenge = CodeChallenge {
            code_hash: crypto::code_hash(&draft.session.id, code.expose()),
            created_at: draft.now,
            expires_at: draft.now + self.config.code_ttl,
            failed_attempts: 0,
        };
        match channel {
            Channel::Sms => draft.session.challenges.otp_sms = Some(challenge),
            Channel::Email => draft.session.challenges.otp_email = Some(challenge),
        }
        self.record_pass(draft, kind);
        Ok(code)
    }

    async fn challenge_sms(
        &self,
        draft: &mut Draft,
        delivery: SmsCodeDelivery,
    ) -> Result<(), DomainError> {
        let user = self.session_user(draft, CheckKind::ChallengeOtpSms).await?;
        let phone = user
            .phone
            .clone()
            .filter(|_| user.otp_sms_enabled && user.phone_verified);
        let Some(phone) = phone else {
            let error = DomainError::OtpNotReady {
                channel: Channel::Sms,
            };
            return Err(self.fail(draft, "challenge.otp_sms", error).await);
        };
        let code = self.new_code_challenge(draft, Channel::Sms).await?;
        if delivery.return_code {
            draft.response.otp_sms = Some(code);
        } else {
            draft.deliveries.push(Delivery::Sms { to: phone, code });
        }
        Ok(())
    }

    async fn challenge_email(
        &self,
        draft: &mut Draft,
        delivery: &EmailCodeDelivery,
    ) -> Result<(), DomainError> {
        let user = self
            .session_user(draft, CheckKind::ChallengeOtpEmail)
            .await?;
        let email = user
            .email
            .clone()
            .filter(|_| user.otp_email_enabled && user.email_verified);
        let Some(email) = email else {
            let error = DomainError::OtpNotReady {
                channel: Channel::Email,
            };
            return Err(self.fail(draft, "challenge.otp_email", error).await);
        };
        let code = self.new_code_challenge(draft, Channel::Email).await?;
        match delivery {
            EmailCodeDelivery::Return => draft.response.otp_email = Some(code),
            EmailCodeDelivery::Send { url_template } => draft.deliveries.push(Delivery::Email {
                to: email,
                code,
                template: url_template.clone(),
            }),
        }
        Ok(())
    }
}

/// Checks a presented token against the session's newest token hash.
fn verify_token(session: &Session, token: &str, side: TokenSide) -> Result<(), DomainError> {
    // SECURITY: constant-time comparison of hashes; an old token's hash no longer matches.
    if token.is_empty()
        || token.len() > 200
        || !crypto::constant_time_eq(&crypto::token_hash(token), &session.token_hash)
    {
        return Err(DomainError::InvalidSessionToken { side });
    }
    Ok(())
}
