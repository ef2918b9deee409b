//! The checks (user, password, TOTP, SMS and email codes, recovery codes) and the code
//! challenges of the session pipeline. WebAuthn's are in `webauthn_check`.

use super::*;

impl Engine {
    pub(super) async fn check_user(
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
            if let (true, Some(password)) = (draft.conceal, password) {
                // SECURITY: a deactivated user reads like a wrong password on the hosted page.
                return Err(self.conceal_refusal(draft, "check.user", password).await);
            }
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

    pub(super) async fn check_password(
        &self,
        draft: &mut Draft,
        password: &Password,
    ) -> Result<(), DomainError> {
        let user = self.session_user(draft, CheckKind::Password).await?;
        // SECURITY: a locked user is refused before the real hash is checked; on the hosted
        // page the refusal reads (and costs) like a wrong password for an unknown name, so a
        // lock set from elsewhere tells nothing.
        if let Some(locked) = self.locked(&user, draft.now) {
            if draft.conceal {
                return Err(self
                    .conceal_refusal(draft, "check.password", password)
                    .await);
            }
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
        let attempt = match self
            .reserve(draft, &user, FailureCounter::Password, "check.password")
            .await
        {
            Ok(attempt) => attempt,
            Err(DomainError::Locked { .. }) if draft.conceal => {
                return Err(self
                    .conceal_refusal(draft, "check.password", password)
                    .await);
            }
            Err(e) => return Err(e),
        };
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

    pub(super) async fn check_totp(
        &self,
        draft: &mut Draft,
        code: &TotpCode,
    ) -> Result<(), DomainError> {
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

    pub(super) async fn check_otp(
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

    pub(super) async fn check_recovery_code(
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
    pub(super) async fn new_code_challenge(
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

    pub(super) async fn challenge_sms(
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

    pub(super) async fn challenge_email(
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
