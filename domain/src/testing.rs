//! Test support: an in-memory [`Store`] with the documented atomic semantics, and an engine
//! builder with a manual clock, a seeded RNG, a recording notifier and cheap argon2 parameters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::OffsetDateTime;

mod counting;
pub use counting::{Access, CountingStore};

use crate::clock::ManualClock;
use crate::crypto::{Argon2Params, SeededRng, ServerKey};
use crate::input::fold_case;
use crate::model::{
    ApiKey, App, Event, Handoff, Instance, NewEvent, RecoveryCode, Session, User,
    WebAuthnCredential,
};
use crate::notifier::RecordingNotifier;
use crate::service::{Config, Engine};
use crate::store::{
    AttemptReservation, CodeChannel, EventFilter, FailureCounter, FailureWrite, LockoutRule,
    PurgeCounts, PurgeRound, Reserved, SessionFilter, SessionPage, SessionQuery, SessionWrite,
    Store, StoreError, TimeCompare, UserEffect,
};

#[derive(Debug, Default, Clone)]
struct State {
    instance: Option<Instance>,
    users: BTreeMap<String, User>,
    recovery: BTreeMap<String, Vec<RecoveryCode>>,
    apps: BTreeMap<String, App>,
    keys: BTreeMap<String, ApiKey>,
    sessions: HashMap<String, Session>,
    events: Vec<Event>,
    /// The newest position handed out: purged events never give theirs back.
    last_sequence: i64,
    handoffs: BTreeMap<String, Handoff>,
    /// By our credential id.
    webauthn: BTreeMap<String, WebAuthnCredential>,
}

impl State {
    fn append(&mut self, event: &NewEvent) -> i64 {
        self.last_sequence += 1;
        let sequence = self.last_sequence;
        self.events.push(Event {
            sequence,
            event: event.clone(),
        });
        sequence
    }
    fn login_taken(&self, name: &str, except: &str) -> bool {
        let lower = fold_case(name);
        self.users
            .values()
            .any(|u| u.id != except && fold_case(&u.login_name) == lower)
    }
    fn apply(&mut self, effect: &UserEffect) -> Result<(), StoreError> {
        match effect {
            UserEffect::ResetFailures {
                user_id,
                counter,
                limits,
            } => {
                let user = self.users.get_mut(user_id).ok_or(StoreError::NotFound)?;
                *counter_of(user, *counter) = 0;
                let other = *counter_of(user, counter.other());
                if !at_limit(other, limits.other(*counter)) {
                    user.locked_until = None;
                }
            }
            UserEffect::UseTotpStep { user_id, step } => {
                let user = self.users.get_mut(user_id).ok_or(StoreError::NotFound)?;
                let totp = user.totp.as_mut().ok_or(StoreError::NotFound)?;
                if totp.last_used_step.is_some_and(|last| last >= *step) {
                    return Err(StoreError::Replayed);
                }
                totp.last_used_step = Some(*step);
            }
            UserEffect::UseRecoveryCode { code_id, now } => {
                let code = self
                    .recovery
                    .values_mut()
                    .flatten()
                    .find(|c| c.id == *code_id)
                    .ok_or(StoreError::NotFound)?;
                if code.used_at.is_some() {
                    return Err(StoreError::Replayed);
                }
                code.used_at = Some(*now);
            }
            UserEffect::SetPasswordHash { user_id, hash } => {
                let user = self.users.get_mut(user_id).ok_or(StoreError::NotFound)?;
                user.password_hash = Some(hash.clone());
            }
            UserEffect::UseWebAuthnCredential {
                credential_id,
                sign_count,
                backup_eligible,
                backed_up,
                credential,
                now,
            } => {
                let stored = self
                    .webauthn
                    .get_mut(credential_id)
                    .ok_or(StoreError::Replayed)?;
                let counted = *sign_count > 0 || stored.sign_count > 0;
                if counted && stored.sign_count >= *sign_count {
                    return Err(StoreError::Replayed);
                }
                stored.sign_count = *sign_count;
                stored.backup_eligible = *backup_eligible;
                stored.backed_up = *backed_up;
                stored.credential = credential.clone();
                stored.last_used_at = Some(*now);
            }
        }
        Ok(())
    }
}

fn counter_of(user: &mut User, counter: FailureCounter) -> &mut u32 {
    match counter {
        FailureCounter::Password => &mut user.password_failures,
        FailureCounter::Code => &mut user.code_failures,
    }
}

/// Whether `failures` on a counter with `rule` lock the user.
fn at_limit(failures: u32, rule: LockoutRule) -> bool {
    rule.limit > 0 && failures >= rule.limit
}

/// A faithful in-memory [`Store`]: one mutex makes every method atomic.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<State>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    fn state(&self) -> MutexGuard<'_, State> {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    /// Every event so far (tests).
    pub fn events(&self) -> Vec<Event> {
        self.state().events.clone()
    }
    /// Overwrites a stored session as is (tests that need an odd state).
    pub fn put_session(&self, session: Session) {
        self.state().sessions.insert(session.id.clone(), session);
    }
}

fn compare(method: TimeCompare, value: OffsetDateTime, against: OffsetDateTime) -> bool {
    match method {
        TimeCompare::Equals => value == against,
        TimeCompare::Greater => value > against,
        TimeCompare::GreaterOrEquals => value >= against,
        TimeCompare::Less => value < against,
        TimeCompare::LessOrEquals => value <= against,
    }
}

fn matches(session: &Session, filter: &SessionFilter) -> bool {
    match filter {
        SessionFilter::Ids(ids) => ids.contains(&session.id),
        SessionFilter::UserId(id) => session.user_id() == Some(id.as_str()),
        SessionFilter::CreationDate(m, at) => compare(*m, session.created_at, *at),
        SessionFilter::Creator(c) => session.creator == *c,
        SessionFilter::UserAgentFingerprint(f) => {
            session
                .user_agent
                .as_ref()
                .and_then(|ua| ua.fingerprint_id.as_ref())
                == Some(f)
        }
        SessionFilter::ExpirationDate(m, at) => {
            session.expires_at.is_some_and(|e| compare(*m, e, *at))
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get_or_create_instance(&self, candidate: &Instance) -> Result<Instance, StoreError> {
        let mut s = self.state();
        Ok(s.instance.get_or_insert_with(|| candidate.clone()).clone())
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.login_taken(&user.login_name, "") {
            return Err(StoreError::Duplicate { what: "login_name" });
        }
        if s.users.contains_key(&user.id) {
            return Err(StoreError::Duplicate { what: "id" });
        }
        s.users.insert(user.id.clone(), user.clone());
        Ok(())
    }
    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.state().users.get(id).cloned())
    }
    async fn find_user_by_login_name(&self, login_name: &str) -> Result<Option<User>, StoreError> {
        let lower = fold_case(login_name);
        Ok(self
            .state()
            .users
            .values()
            .find(|u| fold_case(&u.login_name) == lower)
            .cloned())
    }
    async fn find_users_by_verified_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        let lower = fold_case(email);
        Ok(self
            .state()
            .users
            .values()
            .filter(|u| {
                u.email_verified && u.email.as_deref().map(fold_case) == Some(lower.clone())
            })
            .cloned()
            .collect())
    }
    async fn list_users(&self, offset: u64, limit: u32) -> Result<Vec<User>, StoreError> {
        let s = self.state();
        let mut users: Vec<User> = s.users.values().cloned().collect();
        users.sort_by(|a, b| a.login_name.cmp(&b.login_name));
        Ok(users
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit as usize)
            .collect())
    }
    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.login_taken(&user.login_name, &user.id) {
            return Err(StoreError::Duplicate { what: "login_name" });
        }
        let stored = s.users.get_mut(&user.id).ok_or(StoreError::NotFound)?;
        let (pf, cf, lu) = (
            stored.password_failures,
            stored.code_failures,
            stored.locked_until,
        );
        *stored = user.clone();
        stored.password_failures = pf;
        stored.code_failures = cf;
        stored.locked_until = lu;
        Ok(())
    }
    async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        s.recovery.remove(id);
        s.webauthn.retain(|_, c| c.user_id != id);
        Ok(s.users.remove(id).is_some())
    }

    async fn reserve_attempt(&self, attempt: &AttemptReservation) -> Result<Reserved, StoreError> {
        let mut s = self.state();
        let user = s
            .users
            .get_mut(&attempt.user_id)
            .ok_or(StoreError::NotFound)?;
        if let Some(until) = user.locked_until {
            if until > attempt.now && attempt.own_lock != Some(until) {
                return Err(StoreError::Locked { until });
            }
            if until <= attempt.now {
                // The earlier lock has run out: both counters start again, as in the SQL stores.
                user.locked_until = None;
                user.password_failures = 0;
                user.code_failures = 0;
            }
        }
        let counter = counter_of(user, attempt.counter);
        *counter += 1;
        let failures = *counter;
        let rule = attempt.limits.rule(attempt.counter);
        if at_limit(failures, rule) {
            let end = attempt.now + rule.lock_for;
            user.locked_until = Some(user.locked_until.map_or(end, |held| held.max(end)));
        }
        Ok(Reserved {
            failures,
            locked_until: user.locked_until,
        })
    }
    async fn release_attempt(&self, attempt: &AttemptReservation) -> Result<(), StoreError> {
        let mut s = self.state();
        let user = s
            .users
            .get_mut(&attempt.user_id)
            .ok_or(StoreError::NotFound)?;
        let counter = counter_of(user, attempt.counter);
        *counter = counter.saturating_sub(1);
        let mine = *counter;
        let other = *counter_of(user, attempt.counter.other());
        if !at_limit(mine, attempt.limits.rule(attempt.counter))
            && !at_limit(other, attempt.limits.other(attempt.counter))
        {
            user.locked_until = None;
        }
        Ok(())
    }
    async fn record_failure(&self, failure: &FailureWrite) -> Result<Option<u32>, StoreError> {
        let mut s = self.state();
        let mut code_attempts = None;
        if let Some((session_id, channel)) = &failure.code_challenge {
            let session = s.sessions.get_mut(session_id).ok_or(StoreError::NotFound)?;
            let challenge = match channel {
                CodeChannel::Sms => session.challenges.otp_sms.as_mut(),
                CodeChannel::Email => session.challenges.otp_email.as_mut(),
            }
            .ok_or(StoreError::NotFound)?;
            challenge.failed_attempts += 1;
            code_attempts = Some(challenge.failed_attempts);
        }
        s.append(&failure.event);
        Ok(code_attempts)
    }
    async fn unlock_user(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(user) = s.users.get_mut(user_id) else {
            return Ok(false);
        };
        user.password_failures = 0;
        user.code_failures = 0;
        user.locked_until = None;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        codes: &[RecoveryCode],
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        if !s.users.contains_key(user_id) {
            return Err(StoreError::NotFound);
        }
        s.recovery.insert(user_id.to_owned(), codes.to_vec());
        Ok(())
    }
    async fn list_recovery_codes(&self, user_id: &str) -> Result<Vec<RecoveryCode>, StoreError> {
        Ok(self
            .state()
            .recovery
            .get(user_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.apps.values().any(|a| a.app_key == app.app_key) {
            return Err(StoreError::Duplicate { what: "app_key" });
        }
        s.apps.insert(app.id.clone(), app.clone());
        Ok(())
    }
    async fn find_app(&self, id: &str) -> Result<Option<App>, StoreError> {
        Ok(self.state().apps.get(id).cloned())
    }
    async fn find_app_by_key(&self, app_key: &str) -> Result<Option<App>, StoreError> {
        Ok(self
            .state()
            .apps
            .values()
            .find(|a| a.app_key == app_key)
            .cloned())
    }
    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        Ok(self.state().apps.values().cloned().collect())
    }
    async fn update_app(&self, app: &App) -> Result<(), StoreError> {
        let mut s = self.state();
        let stored = s.apps.get_mut(&app.id).ok_or(StoreError::NotFound)?;
        *stored = app.clone();
        Ok(())
    }
    async fn delete_app(&self, id: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        s.handoffs.retain(|_, h| h.app_id != id);
        Ok(s.apps.remove(id).is_some())
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.state().keys.insert(key.id.clone(), key.clone());
        Ok(())
    }
    async fn find_api_key_by_hash(
        &self,
        key_hash: &[u8; 32],
    ) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .state()
            .keys
            .values()
            .find(|k| k.key_hash == *key_hash)
            .cloned())
    }
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        Ok(self.state().keys.values().cloned().collect())
    }
    async fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut s = self.state();
        let Some(key) = s.keys.get_mut(id) else {
            return Ok(false);
        };
        key.revoked_at.get_or_insert(now);
        Ok(true)
    }

    async fn write_session(&self, write: &SessionWrite) -> Result<i64, StoreError> {
        let mut guard = self.state();
        if write.events.is_empty() {
            return Err(StoreError::Backend("a session write needs an event".into()));
        }
        match (
            write.expected_sequence,
            guard.sessions.get(&write.session.id),
        ) {
            (None, Some(_)) => return Err(StoreError::Duplicate { what: "session" }),
            (Some(_), None) => return Err(StoreError::NotFound),
            (Some(expected), Some(stored)) if stored.sequence != expected => {
                return Err(StoreError::Conflict)
            }
            _ => {}
        }
        // All or nothing: apply the effects to a copy and commit the copy.
        let mut next = guard.clone();
        for effect in &write.user_effects {
            next.apply(effect)?;
        }
        let mut sequence = 0;
        for event in &write.events {
            sequence = next.append(event);
        }
        let mut session = write.session.clone();
        session.sequence = sequence;
        if let Some(handoff_id) = &write.attach_to_handoff {
            match next.handoffs.get_mut(handoff_id) {
                Some(h) if h.claimed_at.is_some() && h.session_id.is_none() => {
                    h.session_id = Some(session.id.clone());
                }
                _ => return Err(StoreError::Conflict),
            }
        }
        next.sessions.insert(session.id.clone(), session);
        *guard = next;
        Ok(sequence)
    }
    async fn find_session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        Ok(self.state().sessions.get(id).cloned())
    }
    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        let s = self.state();
        let mut found: Vec<Session> = s
            .sessions
            .values()
            .filter(|sess| !sess.terminated && query.filters.iter().all(|f| matches(sess, f)))
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        if !query.ascending {
            found.reverse();
        }
        let total = found.len() as u64;
        let sessions = found
            .into_iter()
            .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
            .take(query.limit as usize)
            .collect();
        Ok(SessionPage { total, sessions })
    }
    async fn append_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut s = self.state();
        for e in events {
            s.append(e);
        }
        Ok(())
    }
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .state()
            .events
            .iter()
            .filter(|e| e.sequence > filter.after)
            .filter(|e| filter.session_id.is_none() || e.event.session_id == filter.session_id)
            .filter(|e| filter.user_id.is_none() || e.event.user_id == filter.user_id)
            .take(if filter.limit == 0 {
                usize::MAX
            } else {
                filter.limit as usize
            })
            .cloned()
            .collect())
    }

    async fn insert_handoff(&self, handoff: &Handoff) -> Result<(), StoreError> {
        let mut s = self.state();
        if !s.apps.contains_key(&handoff.app_id) {
            return Err(StoreError::NotFound);
        }
        let taken = s.handoffs.values().any(|h| {
            h.id == handoff.id
                || h.link_hash == handoff.link_hash
                || h.secret_hash == handoff.secret_hash
        });
        if taken {
            return Err(StoreError::Duplicate { what: "handoff" });
        }
        s.handoffs.insert(handoff.id.clone(), handoff.clone());
        Ok(())
    }
    async fn find_handoff_by_link(
        &self,
        link_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError> {
        let s = self.state();
        Ok(s.handoffs
            .values()
            .find(|h| h.link_hash == *link_hash)
            .cloned())
    }
    async fn find_handoff_by_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError> {
        let s = self.state();
        Ok(s.handoffs
            .values()
            .find(|h| h.secret_hash == *secret_hash)
            .cloned())
    }
    async fn claim_handoff(
        &self,
        id: &str,
        browser_hash: &[u8; 32],
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.handoffs.get_mut(id) {
            Some(h) if h.claimed_at.is_none() && h.link_expires_at > now => {
                h.claimed_at = Some(now);
                h.browser_hash = Some(*browser_hash);
                h.code_hash = Some(*code_hash);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn spend_handoff_code(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.handoffs.get_mut(id) {
            Some(h) if h.code_spent_at.is_none() => {
                h.code_spent_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn attach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        if !s.sessions.contains_key(session_id) {
            return Err(StoreError::NotFound);
        }
        match s.handoffs.get_mut(id) {
            Some(h) if h.claimed_at.is_some() && h.session_id.is_none() => {
                h.session_id = Some(session_id.to_owned());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn detach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.handoffs.get_mut(id) {
            Some(h) if h.session_id.as_deref() == Some(session_id) => {
                h.session_id = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn purge_handoffs(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut s = self.state();
        let before = s.handoffs.len();
        s.handoffs
            .retain(|_, h| h.claimed_at.is_some() || h.link_expires_at > now);
        Ok((before - s.handoffs.len()) as u64)
    }
    async fn purge_round(&self, round: &PurgeRound) -> Result<PurgeCounts, StoreError> {
        let mut s = self.state();
        let limit = round.limit as usize;
        let mut counts = PurgeCounts::default();
        // Handoffs first, while their sessions are still there to tell whether they ended.
        let session_live = |s: &State, id: &Option<String>| {
            id.as_ref()
                .and_then(|id| s.sessions.get(id))
                .is_some_and(|x| !x.terminated && x.expires_at.is_none_or(|e| e > round.now))
        };
        let handoffs: Vec<String> = s
            .handoffs
            .values()
            .filter(|h| {
                h.created_at < round.handoffs_before
                    && h.link_expires_at <= round.now
                    && !session_live(&s, &h.session_id)
            })
            .take(limit)
            .map(|h| h.id.clone())
            .collect();
        for id in &handoffs {
            s.handoffs.remove(id);
        }
        counts.handoffs = handoffs.len() as u64;
        let sessions: Vec<String> = s
            .sessions
            .values()
            .filter(|x| {
                (x.terminated && x.changed_at < round.sessions_before)
                    || x.expires_at.is_some_and(|e| e < round.sessions_before)
            })
            .take(limit)
            .map(|x| x.id.clone())
            .collect();
        for id in &sessions {
            s.sessions.remove(id);
            // As the databases' foreign keys do.
            s.handoffs
                .retain(|_, h| h.session_id.as_deref() != Some(id.as_str()));
        }
        counts.sessions = sessions.len() as u64;
        let mut left = limit;
        for codes in s.recovery.values_mut() {
            let before = codes.len();
            codes.retain(|c| {
                let spent = left > 0 && c.used_at.is_some_and(|u| u < round.codes_before);
                if spent {
                    left -= 1;
                }
                !spent
            });
            counts.codes += (before - codes.len()) as u64;
        }
        let before = s.events.len();
        let mut left = limit;
        s.events.retain(|e| {
            let old = left > 0 && e.event.at < round.events_before;
            if old {
                left -= 1;
            }
            !old
        });
        counts.events = (before - s.events.len()) as u64;
        Ok(counts)
    }

    async fn insert_webauthn_credential(
        &self,
        credential: &WebAuthnCredential,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if !state.users.contains_key(&credential.user_id) {
            return Err(StoreError::NotFound);
        }
        let taken = state
            .webauthn
            .values()
            .any(|c| c.id == credential.id || c.credential_id == credential.credential_id);
        if taken {
            return Err(StoreError::Duplicate {
                what: "webauthn_credential",
            });
        }
        state
            .webauthn
            .insert(credential.id.clone(), credential.clone());
        Ok(())
    }

    async fn list_webauthn_credentials(
        &self,
        user_id: &str,
    ) -> Result<Vec<WebAuthnCredential>, StoreError> {
        let mut out: Vec<WebAuthnCredential> = self
            .state()
            .webauthn
            .values()
            .filter(|c| c.user_id == user_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn find_webauthn_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebAuthnCredential>, StoreError> {
        Ok(self
            .state()
            .webauthn
            .values()
            .find(|c| c.credential_id == credential_id)
            .cloned())
    }

    async fn rename_webauthn_credential(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        match state.webauthn.get_mut(id) {
            Some(c) if c.user_id == user_id => {
                c.name = name.to_owned();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_webauthn_credential(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.webauthn.get(id).is_some_and(|c| c.user_id == user_id) {
            state.webauthn.remove(id);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Cheap argon2 parameters for tests (64 KiB, one pass).
pub fn cheap_argon2() -> Argon2Params {
    Argon2Params {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    }
}

/// An engine wired to in-memory parts, with handles to drive them.
pub struct TestEngine {
    pub engine: Engine,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub notifier: Arc<RecordingNotifier>,
}

/// 2025-01-01T00:00:00Z, where test clocks start.
pub fn test_epoch() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Builds a [`TestEngine`] with `config` (its argon2 parameters replaced by cheap ones).
pub fn test_engine_with(config: Config) -> Result<TestEngine, crate::DomainError> {
    let store = Arc::new(MemoryStore::new());
    engine_on(config, store.clone(), store)
}

/// A [`TestEngine`] whose engine goes through a [`CountingStore`] over its memory store: the
/// counter sees every store call the engine makes.
pub fn counted_engine_with(
    config: Config,
) -> Result<(TestEngine, Arc<CountingStore<MemoryStore>>), crate::DomainError> {
    let store = Arc::new(MemoryStore::new());
    let counting = Arc::new(CountingStore::new(store.clone()));
    Ok((engine_on(config, counting.clone(), store)?, counting))
}

/// An engine on `engine_store` (the memory store itself, or a wrapper of it), with cheap
/// argon2 parameters, a manual clock, a seeded RNG and a recording notifier.
fn engine_on(
    mut config: Config,
    engine_store: Arc<dyn crate::store::Store>,
    store: Arc<MemoryStore>,
) -> Result<TestEngine, crate::DomainError> {
    config.argon2 = cheap_argon2();
    let clock = Arc::new(ManualClock::new(test_epoch()));
    let notifier = Arc::new(RecordingNotifier::new());
    let rng = Arc::new(SeededRng::new(42));
    let key = ServerKey::generate(rng.as_ref());
    let engine = Engine::new(
        engine_store,
        clock.clone(),
        rng,
        notifier.clone(),
        key,
        config,
    )?;
    Ok(TestEngine {
        engine,
        store,
        clock,
        notifier,
    })
}

/// Builds a [`TestEngine`] with the default configuration.
pub fn test_engine() -> Result<TestEngine, crate::DomainError> {
    test_engine_with(Config::default())
}

/// A caller holding an API key `id` with the `session` scope: it reaches its own sessions.
pub fn key_caller(id: &str) -> crate::service::Caller {
    crate::service::Caller::api_key(&crate::service::AuthenticatedKey {
        id: id.to_owned(),
        scopes: vec![crate::model::Scope::Session],
    })
}

/// A caller holding an API key `id` with `session_all`: it reaches every session.
pub fn all_sessions_caller(id: &str) -> crate::service::Caller {
    crate::service::Caller::api_key(&crate::service::AuthenticatedKey {
        id: id.to_owned(),
        scopes: vec![crate::model::Scope::SessionAll],
    })
}
