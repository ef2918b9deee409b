//! Running a change on a draft session: the checks and challenges in the contract's order, then
//! one write with everything they decided (or nothing at all).

use super::*;

impl Engine {
    /// Applies `change` to the draft and commits it: everything it decided in one write, or
    /// nothing (reservations of checks that passed on the way are given back).
    pub(super) async fn run_change(
        &self,
        draft: &mut Draft,
        change: &SessionChange,
    ) -> Result<SessionChanged, DomainError> {
        let applied = self.apply_change(draft, change).await;
        let result = match applied {
            Ok(()) => self.commit(draft).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            // The request changed nothing, so checks that passed on the way count for nothing.
            self.release(&std::mem::take(&mut draft.passed)).await;
        }
        result
    }

    /// Runs the checks, challenges, metadata and lifetime of a change on the draft.
    pub(super) async fn apply_change(
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
        let named = match &checks.user {
            Some(UserRef::LoginName(name)) => Some(name.as_str()),
            _ => None,
        };
        // The hosted page's rules before any lookup or hash, on one read of the session's events.
        if draft.conceal && !draft.is_new() && (checks.password.is_some() || named.is_some()) {
            let events = self.session_events(draft).await?;
            if checks.password.is_some() {
                self.refuse_spent_login(draft, &events)?;
            }
            if let Some(name) = named {
                self.refuse_new_login_name(draft, name, &events).await?;
            }
        }
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

    pub(super) async fn commit(&self, draft: &mut Draft) -> Result<SessionChanged, DomainError> {
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
            attach_to_handoff: draft.attach.clone(),
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
    pub(super) async fn replayed(&self, draft: &mut Draft, effects: &[UserEffect]) -> DomainError {
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

    pub(super) async fn deliver(
        &self,
        draft: &Draft,
        delivery: Delivery,
    ) -> Result<(), DomainError> {
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
}
