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
    CodeChallenge, Event, NewEvent, Outcome, Scope, Session, User, UserAgent, UserFactor, UserState,
};
use crate::notifier::{CodeContext, UrlTemplate};
use crate::store::{
    AttemptReservation, CodeChannel, EventFilter, FailureCounter, FailureRecord, FailureWrite,
    LockoutLimits, Reserved, SessionFilter, SessionPage, SessionQuery, SessionWrite, StoreError,
    UserEffect,
};
use crate::totp;

mod apply;
mod checks;
mod lockout;
mod types;
mod webauthn_check;
use types::Reach;
pub use types::*;

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
    /// A new hosted login's session: recorded on this handoff in the same write.
    attach: Option<String>,
}

/// An attempt reserved on a failure counter for one check, before its guess is evaluated.
struct Attempt {
    reservation: AttemptReservation,
    reserved: Reserved,
}

impl Draft {
    /// A draft of a session that is not stored yet.
    fn fresh(session: Session, conceal: bool, now: OffsetDateTime) -> Self {
        Self {
            session,
            expected: None,
            user: None,
            events: Vec::new(),
            effects: Vec::new(),
            changed: true,
            deliveries: Vec::new(),
            response: ChallengeResponse::default(),
            conceal,
            now,
            passed: Vec::new(),
            attach: None,
        }
    }

    /// A draft of a stored session, read at its current sequence; `user` is its user, when
    /// the caller has read them already.
    fn stored(session: Session, user: Option<User>, conceal: bool, now: OffsetDateTime) -> Self {
        Self {
            expected: Some(session.sequence),
            changed: false,
            user: user.filter(|u| session.user_id() == Some(u.id.as_str())),
            ..Self::fresh(session, conceal, now)
        }
    }

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
        Some(text) if text.chars().count() > crate::input::MAX_TEXT_CHARS => {
            Err(DomainError::field(field, "too long"))
        }
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
        let session = self.new_session(request.user_agent, caller.id.clone(), request.app_id, now);
        let draft = Draft::fresh(session, request.conceal_unknown_user, now);
        let mut draft = draft;
        self.run_change(&mut draft, &request.change).await
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
        let mut draft = Draft::stored(session, None, request.conceal_unknown_user, now);
        self.run_change(&mut draft, &request.change).await
    }

    /// The hosted login's change, on what the login read at the start of the request: its
    /// session (`None`: a new one is created for `fresh` and recorded on its handoff in the same
    /// write) and the session's user. Hosted-page rules apply (unknown names and wrong
    /// passwords look alike). Returns the answer and the session as written.
    pub(crate) async fn change_login_session(
        &self,
        existing: Option<Session>,
        fresh: FreshLoginSession,
        user: Option<User>,
        change: &SessionChange,
    ) -> Result<(SessionChanged, Session), DomainError> {
        let now = self.now();
        let (draft, _guard) = match existing {
            Some(session) => {
                let guard = self.claim(&session.id)?;
                if session.terminated {
                    return Err(DomainError::SessionTerminated);
                }
                if session.expires_at.is_some_and(|e| e <= now) {
                    return Err(DomainError::SessionExpired);
                }
                let draft = Draft::stored(session, user, true, now);
                (draft, Some(guard))
            }
            None => {
                if let Some(ua) = &fresh.user_agent {
                    validate_user_agent(ua)?;
                }
                let mut session = self.new_session(
                    fresh.user_agent,
                    fresh.app_id.clone(),
                    Some(fresh.app_id),
                    now,
                );
                session.lifetime = Some(fresh.lifetime);
                session.expires_at = Some(now + fresh.lifetime);
                let mut draft = Draft::fresh(session, true, now);
                draft.attach = Some(fresh.handoff_id);
                (draft, None)
            }
        };
        let mut draft = draft;
        let changed = self.run_change(&mut draft, change).await?;
        let mut session = draft.session;
        session.sequence = changed.details.sequence;
        Ok((changed, session))
    }

    /// A session not stored yet, created by `creator` (for `app_id`'s handoff, if any).
    fn new_session(
        &self,
        user_agent: Option<UserAgent>,
        creator: String,
        app_id: Option<String>,
        now: OffsetDateTime,
    ) -> Session {
        Session {
            id: self.new_id(),
            token_hash: [0; 32],
            factors: Default::default(),
            metadata: BTreeMap::new(),
            user_agent,
            challenges: Default::default(),
            lifetime: None,
            expires_at: None,
            creator,
            app_id,
            sequence: 0,
            created_at: now,
            changed_at: now,
            terminated: false,
        }
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
                attach_to_handoff: None,
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
