//! Failures and lockout on the session pipeline: the events a check leaves, attempts reserved on
//! a user's failure counters before a guess is judged, and the concealed count of the hosted page.

use time::OffsetDateTime;

use super::*;

/// The event kind (before `:<tag>`) of a login name a hosted login has seen.
const LOGIN_NAME_EVENT: &str = "login.name";

/// The concealed failures among a session's events.
fn concealed_in(events: &[Event]) -> u32 {
    let failures = events
        .iter()
        .filter(|e| e.event.error_id.as_deref() == Some("SESSION-Lgn01"))
        .count();
    u32::try_from(failures).unwrap_or(u32::MAX)
}

impl Engine {
    pub(super) fn event(&self, draft: &Draft, kind: &str, error: Option<&DomainError>) -> NewEvent {
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
    pub(super) async fn concealed_failure(&self, draft: &Draft, kind: &str) -> DomainError {
        let error = DomainError::LoginFailed {
            attempts_left: None,
            lock_seconds: None,
        };
        let error = self.fail(draft, kind, error).await;
        self.count_concealed(draft, error).await
    }

    /// Fills in the attempts left of a concealed failure from what this login has seen, and
    /// nothing else: the limit minus the concealed failures recorded on its session (this one
    /// included). A user's own counter, which may hold failures from other links, is never
    /// shown, so a name that failed elsewhere reads like a name that does not exist.
    pub(super) async fn count_concealed(&self, draft: &Draft, error: DomainError) -> DomainError {
        let DomainError::LoginFailed { .. } = error else {
            return error;
        };
        let limit = self.config.password_lockout.limit;
        if limit == 0 || draft.is_new() {
            return DomainError::LoginFailed {
                attempts_left: None,
                lock_seconds: None,
            };
        }
        let failures = match self.concealed_failures(draft).await {
            Ok(n) => n,
            Err(e) => return e,
        };
        let left = limit.saturating_sub(failures);
        DomainError::LoginFailed {
            attempts_left: Some(left),
            lock_seconds: (left == 0)
                .then(|| self.config.password_lockout.lock_for.whole_seconds()),
        }
    }

    /// The concealed failures recorded on the draft's session.
    pub(super) async fn concealed_failures(&self, draft: &Draft) -> Result<u32, DomainError> {
        Ok(concealed_in(&self.session_events(draft).await?))
    }

    /// The events of the draft's session, which the hosted page's concealed counts read.
    pub(super) async fn session_events(&self, draft: &Draft) -> Result<Vec<Event>, DomainError> {
        let filter = EventFilter {
            session_id: Some(draft.session.id.clone()),
            user_id: None,
            after: 0,
            limit: 0,
        };
        self.store
            .list_events(&filter)
            .await
            .map_err(|e| store_err("list session events", e))
    }

    /// SECURITY: a hosted login whose session has used up the password limit takes no more
    /// guesses, for any name: the answer is the lock, before any lookup or hash, so a link
    /// tests at most `limit` passwords in all (whatever names they are tried with). `events`:
    /// the session's ([`Engine::session_events`]).
    pub(super) fn refuse_spent_login(
        &self,
        draft: &Draft,
        events: &[Event],
    ) -> Result<(), DomainError> {
        let limit = self.config.password_lockout.limit;
        if !draft.conceal || limit == 0 || draft.is_new() {
            return Ok(());
        }
        if concealed_in(events) >= limit {
            return Err(DomainError::LoginFailed {
                attempts_left: Some(0),
                lock_seconds: Some(self.config.password_lockout.lock_for.whole_seconds()),
            });
        }
        Ok(())
    }

    /// SECURITY: a hosted login takes at most `hosted_login_names` different login names, so a
    /// link cannot walk a list of names (with the password limit above, one guess each). Asked
    /// before any lookup, so the answer is the same for a name that exists and one that does
    /// not. A name the login has seen goes on to the usual checks; a new one is recorded as a
    /// `login.name:<tag>` event on the session (see [`crypto::login_name_tag`]). Read, then
    /// written: posts racing with new names may each get one more in, which the hosted page's
    /// per-link rate limit bounds.
    pub(super) async fn refuse_new_login_name(
        &self,
        draft: &Draft,
        login_name: &str,
        events: &[Event],
    ) -> Result<(), DomainError> {
        let limit = self.config.hosted_login_names;
        if !draft.conceal || limit == 0 || draft.is_new() {
            return Ok(());
        }
        let prefix = format!("{LOGIN_NAME_EVENT}:");
        let kind = format!(
            "{prefix}{}",
            crypto::login_name_tag(&self.key, &draft.session.id, login_name)
        );
        let seen: std::collections::HashSet<&str> = events
            .iter()
            .map(|e| e.event.kind.as_str())
            .filter(|k| k.starts_with(&prefix))
            .collect();
        if seen.contains(kind.as_str()) {
            return Ok(());
        }
        if seen.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return Err(self
                .fail(draft, "check.user", DomainError::LoginNamesSpent { limit })
                .await);
        }
        let event = self.event(draft, &kind, None);
        self.store
            .append_events(&[event])
            .await
            .map_err(|e| store_err("record login name", e))
    }

    /// A hosted-page refusal that must read like a wrong password (a deactivated or locked
    /// user): one dummy argon2 verification, then the concealed failure.
    pub(super) async fn conceal_refusal(
        &self,
        draft: &Draft,
        kind: &str,
        password: &Password,
    ) -> DomainError {
        if let Err(e) = self.hasher.verify_dummy(&password.0).await {
            return e;
        }
        self.concealed_failure(draft, kind).await
    }

    /// Records a passed check: its event, and that the session changed.
    pub(super) fn record_pass(&self, draft: &mut Draft, kind: &str) {
        let event = self.event(draft, kind, None);
        draft.events.push(event);
        draft.changed = true;
    }

    /// Records an uncounted failed check (event only) and returns the error.
    pub(super) async fn fail(&self, draft: &Draft, kind: &str, error: DomainError) -> DomainError {
        let event = self.event(draft, kind, Some(&error));
        if let Err(e) = self.store.append_events(&[event]).await {
            return store_err("append failure event", e);
        }
        error
    }

    pub(super) fn lockout_limits(&self) -> LockoutLimits {
        LockoutLimits {
            password: self.config.password_lockout,
            code: self.config.code_lockout,
        }
    }

    /// SECURITY: reserves an attempt on the user's counter before the guess is evaluated; a
    /// user locked now (or whose attempts are all taken by requests still running) is refused
    /// here, with the same answer whatever the guess, and nothing is evaluated.
    pub(super) async fn reserve(
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
    pub(super) async fn release(&self, attempts: &[Attempt]) {
        for attempt in attempts {
            if let Err(e) = self.store.release_attempt(&attempt.reservation).await {
                tracing::error!(error = %e, "release attempt");
            }
        }
    }

    /// Records the failure of a reserved attempt (event, code attempt) and returns the error
    /// built from the counter as the reservation left it.
    pub(super) async fn fail_reserved(
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
    pub(super) async fn session_user(
        &self,
        draft: &mut Draft,
        check: CheckKind,
    ) -> Result<User, DomainError> {
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

    pub(super) fn locked(&self, user: &User, now: OffsetDateTime) -> Option<DomainError> {
        user.locked_until
            .filter(|u| *u > now)
            .map(|until| DomainError::Locked {
                until,
                seconds_left: seconds_until(until, now),
            })
    }
}
