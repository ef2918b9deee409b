//! Administration: users and their factors, apps, API keys.

use time::OffsetDateTime;

use super::enroll::setup_factors;
use super::Engine;
use crate::crypto::{self, Secret};
use crate::error::{store_err, Channel, DomainError};
use crate::input::{
    DisplayName, Email, HttpUrl, Language, LoginName, Name, NewPassword, Phone, TotpCode,
};
use crate::model::{
    ApiKey, App, Branding, FactorKind, LoginPolicy, RecoveryCode, Scope, TotpRecord, User,
    UserState, WebAuthnKind,
};
use crate::notifier::{ChangedFrom, MethodChange};
use crate::totp::{self, TotpEnrollment};

/// Recovery codes generated per request.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login_name: LoginName,
    /// Defaults to the login name.
    pub display_name: Option<DisplayName>,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub phone: Option<Phone>,
    pub phone_verified: bool,
    pub preferred_language: Option<Language>,
    pub password: Option<NewPassword>,
}

impl NewUser {
    /// A user with only a login name.
    pub fn named(login_name: LoginName) -> Self {
        Self {
            login_name,
            display_name: None,
            email: None,
            email_verified: false,
            phone: None,
            phone_verified: false,
            preferred_language: None,
            password: None,
        }
    }
}

/// Profile fields to change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub login_name: Option<LoginName>,
    pub display_name: Option<DisplayName>,
    /// A new address is unverified (and disables email codes) until verified again.
    pub email: Option<Option<Email>>,
    /// A new number is unverified (and disables SMS codes) until verified again.
    pub phone: Option<Option<Phone>>,
    pub preferred_language: Option<Option<Language>>,
}

/// Which factors a user has set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFactors {
    pub factors: Vec<FactorKind>,
    /// Unused recovery codes left.
    pub recovery_codes_left: usize,
}

/// An app to register.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: Name,
    pub redirect_uris: Vec<HttpUrl>,
    pub policy: LoginPolicy,
    pub branding: Branding,
}

/// App fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AppChanges {
    pub name: Option<Name>,
    pub redirect_uris: Option<Vec<HttpUrl>>,
    pub policy: Option<LoginPolicy>,
    pub branding: Option<Branding>,
}

/// What a valid API key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedKey {
    pub id: String,
    pub scopes: Vec<Scope>,
}

impl AuthenticatedKey {
    /// Whether the key carries `scope`; `session_all` includes `session`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
            || (scope == Scope::Session && self.scopes.contains(&Scope::SessionAll))
    }
}

const SECOND_FACTORS: [FactorKind; 5] = [
    FactorKind::Totp,
    FactorKind::OtpSms,
    FactorKind::OtpEmail,
    FactorKind::RecoveryCode,
    FactorKind::SecurityKey,
];

/// Refuses policies nobody could satisfy.
fn validate_policy(policy: &LoginPolicy) -> Result<(), DomainError> {
    let allowed = |k: FactorKind| policy.allowed_factors.contains(&k);
    if !allowed(FactorKind::Password) && !allowed(FactorKind::Passkey) {
        return Err(DomainError::field(
            "policy.allowed_factors",
            "needs password or passkey",
        ));
    }
    if policy.passwordless && !allowed(FactorKind::Passkey) {
        return Err(DomainError::field(
            "policy.passwordless",
            "needs passkeys among the allowed factors",
        ));
    }
    if policy.require_second_factor
        && !SECOND_FACTORS.iter().any(|k| allowed(*k))
        && !allowed(FactorKind::Passkey)
    {
        return Err(DomainError::field(
            "policy.allowed_factors",
            "requires a second factor but allows none",
        ));
    }
    Ok(())
}

/// The code-bound validate mode needs a redirect URI: it is what carries the code.
fn check_code_mode(app: &App, uris_changed: bool) -> Result<(), DomainError> {
    if app.policy.require_code_on_validate && app.redirect_uris.is_empty() {
        return Err(match uris_changed {
            true => DomainError::field(
                "redirect_uris",
                "an app with policy.require_code_on_validate needs at least one (it carries the code)",
            ),
            false => DomainError::field(
                "policy.require_code_on_validate",
                "needs a redirect URI: the code travels on the redirect after sign-in",
            ),
        });
    }
    Ok(())
}

/// None is allowed: the hosted page then ends on a "you are signed in" page (as in the Ziqx flow).
fn uris(list: Vec<HttpUrl>) -> Result<Vec<String>, DomainError> {
    if list.len() > 20 {
        return Err(DomainError::field("redirect_uris", "at most 20"));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for uri in list {
        if !out.iter().any(|u| u == uri.as_str()) {
            out.push(uri.as_str().to_owned());
        }
    }
    Ok(out)
}

impl Engine {
    // ----- users -----

    /// Creates a user; the login name must be free in any letter case.
    pub async fn create_user(&self, new: NewUser) -> Result<User, DomainError> {
        let now = self.now();
        let password_hash = match &new.password {
            Some(p) => Some(self.hasher.hash(&p.0, self.rng.clone()).await?),
            None => None,
        };
        let user = User {
            id: self.new_id(),
            display_name: new.display_name.map_or_else(
                || new.login_name.as_str().to_owned(),
                |d| d.as_str().to_owned(),
            ),
            login_name: new.login_name.as_str().to_owned(),
            email_verified: new.email.is_some() && new.email_verified,
            email: new.email.map(|e| e.as_str().to_owned()),
            phone_verified: new.phone.is_some() && new.phone_verified,
            phone: new.phone.map(|p| p.as_str().to_owned()),
            preferred_language: new.preferred_language.map(|l| l.as_str().to_owned()),
            state: UserState::Active,
            password_hash,
            totp: None,
            otp_email_enabled: false,
            otp_sms_enabled: false,
            password_failures: 0,
            code_failures: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .insert_user(&user)
            .await
            .map_err(|e| store_err("insert user", e))?;
        Ok(user)
    }

    /// The user, or `QUERY-Dfbg2`.
    pub async fn get_user(&self, id: &str) -> Result<User, DomainError> {
        self.find_user(id).await?.ok_or(DomainError::UserNotFound)
    }

    /// The user, if any.
    pub async fn find_user(&self, id: &str) -> Result<Option<User>, DomainError> {
        self.store
            .find_user(id)
            .await
            .map_err(|e| store_err("find user", e))
    }

    /// The user with this login name (any letter case), if any.
    pub async fn find_user_by_login_name(
        &self,
        login_name: &LoginName,
    ) -> Result<Option<User>, DomainError> {
        self.store
            .find_user_by_login_name(login_name.as_str())
            .await
            .map_err(|e| store_err("find user by login name", e))
    }

    /// Users ordered by login name; `limit` 0 means the default page size.
    pub async fn list_users(&self, offset: u64, limit: u32) -> Result<Vec<User>, DomainError> {
        self.store
            .list_users(offset, self.list_limit(limit))
            .await
            .map_err(|e| store_err("list users", e))
    }

    async fn save_user(&self, mut user: User) -> Result<User, DomainError> {
        user.updated_at = self.now();
        self.store.update_user(&user).await.map_err(|e| match e {
            crate::store::StoreError::NotFound => DomainError::UserNotFound,
            other => store_err("update user", other),
        })?;
        Ok(user)
    }

    /// Changes profile fields.
    pub async fn update_profile(
        &self,
        id: &str,
        changes: ProfileChanges,
    ) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        if let Some(name) = changes.login_name {
            user.login_name = name.as_str().to_owned();
        }
        if let Some(name) = changes.display_name {
            user.display_name = name.as_str().to_owned();
        }
        if let Some(email) = changes.email {
            let email = email.map(|e| e.as_str().to_owned());
            if email != user.email {
                // SECURITY: a new address must be verified again before codes go to it.
                user.email = email;
                user.email_verified = false;
                user.otp_email_enabled = false;
            }
        }
        if let Some(phone) = changes.phone {
            let phone = phone.map(|p| p.as_str().to_owned());
            if phone != user.phone {
                user.phone = phone;
                user.phone_verified = false;
                user.otp_sms_enabled = false;
            }
        }
        if let Some(language) = changes.preferred_language {
            user.preferred_language = language.map(|l| l.as_str().to_owned());
        }
        self.save_user(user).await
    }

    /// Marks the email verified (or not); unverifying disables email codes.
    pub async fn set_email_verified(&self, id: &str, verified: bool) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        if user.email.is_none() {
            return Err(DomainError::field("email", "no email set"));
        }
        user.email_verified = verified;
        user.otp_email_enabled &= verified;
        self.save_user(user).await
    }

    /// Marks the phone verified (or not); unverifying disables SMS codes.
    pub async fn set_phone_verified(&self, id: &str, verified: bool) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        if user.phone.is_none() {
            return Err(DomainError::field("phone", "no phone set"));
        }
        user.phone_verified = verified;
        user.otp_sms_enabled &= verified;
        self.save_user(user).await
    }

    /// Deactivates: the user can no longer pass a user check.
    pub async fn deactivate_user(&self, id: &str) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        user.state = UserState::Inactive;
        self.save_user(user).await
    }

    /// Reactivates a deactivated user.
    pub async fn reactivate_user(&self, id: &str) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        user.state = UserState::Active;
        self.save_user(user).await
    }

    /// Deletes the user and their recovery codes.
    pub async fn delete_user(&self, id: &str) -> Result<(), DomainError> {
        match self
            .store
            .delete_user(id)
            .await
            .map_err(|e| store_err("delete user", e))?
        {
            true => Ok(()),
            false => Err(DomainError::UserNotFound),
        }
    }

    /// Sets (or replaces) the password.
    pub async fn set_password(&self, id: &str, password: NewPassword) -> Result<(), DomainError> {
        let mut user = self.get_user(id).await?;
        user.password_hash = Some(self.hasher.hash(&password.0, self.rng.clone()).await?);
        self.save_user(user).await.map(|_| ())
    }

    /// Clears both failure counters and the lock (admin unlock).
    pub async fn unlock_user(&self, id: &str) -> Result<(), DomainError> {
        match self
            .store
            .unlock_user(id)
            .await
            .map_err(|e| store_err("unlock user", e))?
        {
            true => Ok(()),
            false => Err(DomainError::UserNotFound),
        }
    }

    /// Starts (or restarts) TOTP enrollment: a new secret, unconfirmed until
    /// [`Engine::finish_totp_enrollment`]. It replaces any earlier TOTP at once, so restarting
    /// enrollment disables TOTP checks until the new secret is confirmed.
    pub async fn start_totp_enrollment(&self, id: &str) -> Result<TotpEnrollment, DomainError> {
        let mut user = self.get_user(id).await?;
        let mut secret = [0u8; totp::SECRET_BYTES];
        self.rng.fill_bytes(&mut secret);
        let enrollment = totp::enrollment(&secret, &self.config.totp_issuer, &user.login_name)
            .map_err(|e| DomainError::internal("totp qr code", &e))?;
        // SECURITY: the secret is stored encrypted, bound to the user id.
        let encrypted_secret =
            crypto::encrypt(&self.key, &secret, user.id.as_bytes(), self.rng.as_ref())
                .map_err(|e| DomainError::internal("encrypt totp secret", &e))?;
        user.totp = Some(TotpRecord {
            encrypted_secret,
            confirmed: false,
            last_used_step: None,
        });
        self.save_user(user).await?;
        Ok(enrollment)
    }

    /// Confirms TOTP with a first correct code (which is then used up for its step).
    pub async fn finish_totp_enrollment(
        &self,
        id: &str,
        code: TotpCode,
    ) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        let now = self.now();
        let Some(record) = user.totp.as_mut().filter(|t| !t.confirmed) else {
            return Err(DomainError::TotpNotReady);
        };
        let secret = crypto::decrypt(&self.key, &record.encrypted_secret, user.id.as_bytes())
            .map_err(|e| DomainError::internal("decrypt totp secret", &e))?;
        let Some(step) = totp::verify(secret.expose(), code.0.expose(), now) else {
            return Err(DomainError::InvalidCode {
                check: crate::error::CheckKind::Totp,
                failed_attempts: 0,
                limit: 0,
                locked_until: None,
            });
        };
        record.confirmed = true;
        record.last_used_step = Some(step);
        let user = self.save_user(user).await?;
        self.notify_methods(
            &user,
            MethodChange::Added,
            &[FactorKind::Totp],
            ChangedFrom::Administrator,
        )
        .await;
        Ok(user)
    }

    /// Turns email codes on or off; on needs a verified email.
    pub async fn set_otp_email(&self, id: &str, enabled: bool) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        if enabled && !(user.email.is_some() && user.email_verified) {
            return Err(DomainError::ContactNotVerified {
                channel: Channel::Email,
            });
        }
        let was = std::mem::replace(&mut user.otp_email_enabled, enabled);
        let user = self.save_user(user).await?;
        self.notify_switch(&user, FactorKind::OtpEmail, was, enabled)
            .await;
        Ok(user)
    }

    /// Turns SMS codes on or off; on needs a verified phone.
    pub async fn set_otp_sms(&self, id: &str, enabled: bool) -> Result<User, DomainError> {
        let mut user = self.get_user(id).await?;
        if enabled && !(user.phone.is_some() && user.phone_verified) {
            return Err(DomainError::ContactNotVerified {
                channel: Channel::Sms,
            });
        }
        let was = std::mem::replace(&mut user.otp_sms_enabled, enabled);
        let user = self.save_user(user).await?;
        self.notify_switch(&user, FactorKind::OtpSms, was, enabled)
            .await;
        Ok(user)
    }

    /// The notice for a factor switched on or off (nothing when it did not change).
    async fn notify_switch(&self, user: &User, factor: FactorKind, was: bool, now: bool) {
        let change = match (was, now) {
            (false, true) => MethodChange::Added,
            (true, false) => MethodChange::Removed,
            _ => return,
        };
        self.notify_methods(user, change, &[factor], ChangedFrom::Administrator)
            .await;
    }

    /// Replaces the user's recovery codes with 10 new ones (50 bits each, `7KQ4M-XW9PD`), returned once.
    pub async fn generate_recovery_codes(
        &self,
        id: &str,
    ) -> Result<Vec<Secret<String>>, DomainError> {
        self.issue_recovery_codes(id, ChangedFrom::Administrator)
            .await
    }

    /// [`Engine::generate_recovery_codes`], made from `from`; the person is told.
    pub(super) async fn issue_recovery_codes(
        &self,
        id: &str,
        from: ChangedFrom,
    ) -> Result<Vec<Secret<String>>, DomainError> {
        let user = self.get_user(id).await?;
        let plain: Vec<Secret<String>> = (0..RECOVERY_CODE_COUNT)
            .map(|_| crypto::recovery_code(self.rng.as_ref()))
            .collect();
        let stored: Vec<RecoveryCode> = plain
            .iter()
            .map(|c| RecoveryCode {
                id: self.new_id(),
                user_id: user.id.clone(),
                code_hash: crypto::recovery_code_hash(&user.id, c.expose()),
                used_at: None,
            })
            .collect();
        self.store
            .replace_recovery_codes(&user.id, &stored)
            .await
            .map_err(|e| store_err("replace recovery codes", e))?;
        self.notify_methods(
            &user,
            MethodChange::Added,
            &[FactorKind::RecoveryCode],
            from,
        )
        .await;
        Ok(plain)
    }

    /// The factors the user has set up.
    pub async fn list_factors(&self, id: &str) -> Result<UserFactors, DomainError> {
        let record = self
            .store
            .find_user_record(id)
            .await
            .map_err(|e| store_err("find user", e))?
            .ok_or(DomainError::UserNotFound)?;
        Ok(UserFactors {
            factors: setup_factors(&record),
            recovery_codes_left: record.recovery_codes_left,
        })
    }

    /// Removes a factor; for passkeys and security keys, every credential of that kind.
    pub async fn remove_factor(&self, id: &str, factor: FactorKind) -> Result<(), DomainError> {
        let user = self.get_user(id).await?;
        let held = self.list_factors(&user.id).await?.factors.contains(&factor);
        self.remove_factor_of(user.clone(), factor).await?;
        if held {
            self.notify_methods(
                &user,
                MethodChange::Removed,
                &[factor],
                ChangedFrom::Administrator,
            )
            .await;
        }
        Ok(())
    }

    async fn remove_factor_of(
        &self,
        mut user: User,
        factor: FactorKind,
    ) -> Result<(), DomainError> {
        match factor {
            FactorKind::Password => user.password_hash = None,
            FactorKind::Totp => user.totp = None,
            FactorKind::OtpSms => user.otp_sms_enabled = false,
            FactorKind::OtpEmail => user.otp_email_enabled = false,
            FactorKind::RecoveryCode => {
                self.store
                    .replace_recovery_codes(&user.id, &[])
                    .await
                    .map_err(|e| store_err("remove recovery codes", e))?;
                return Ok(());
            }
            FactorKind::Passkey => {
                return self
                    .remove_webauthn_kind(&user.id, WebAuthnKind::Passkey)
                    .await
            }
            FactorKind::SecurityKey => {
                return self
                    .remove_webauthn_kind(&user.id, WebAuthnKind::SecurityKey)
                    .await
            }
        }
        self.save_user(user).await.map(|_| ())
    }

    // ----- apps -----

    /// Registers an app; returns it with its secret, shown this once.
    pub async fn create_app(&self, new: NewApp) -> Result<(App, Secret<String>), DomainError> {
        validate_policy(&new.policy)?;
        let branding = Branding::checked(new.branding)?;
        let now = self.now();
        let secret = crypto::random_token(self.rng.as_ref());
        let app = App {
            id: self.new_id(),
            app_key: self.new_id(),
            secret_hash: crypto::app_secret_hash(secret.expose()),
            name: new.name.as_str().to_owned(),
            redirect_uris: uris(new.redirect_uris)?,
            policy: new.policy,
            branding,
            created_at: now,
            updated_at: now,
        };
        check_code_mode(&app, false)?;
        self.store
            .insert_app(&app)
            .await
            .map_err(|e| store_err("insert app", e))?;
        Ok((app, secret))
    }

    /// The app, or `QUERY-App01`.
    pub async fn get_app(&self, id: &str) -> Result<App, DomainError> {
        self.store
            .find_app(id)
            .await
            .map_err(|e| store_err("find app", e))?
            .ok_or(DomainError::AppNotFound)
    }

    /// The app with this public key, if any.
    pub async fn find_app_by_key(&self, app_key: &str) -> Result<Option<App>, DomainError> {
        self.store
            .find_app_by_key(app_key)
            .await
            .map_err(|e| store_err("find app by key", e))
    }

    /// Checks an app's key and secret; an unknown key costs the same as a wrong secret.
    pub async fn verify_app_secret(&self, app_key: &str, secret: &str) -> Result<App, DomainError> {
        let app = self.find_app_by_key(app_key).await?;
        // SECURITY: hash and compare even for unknown keys, against a hash nothing matches.
        let stored = app
            .as_ref()
            .map_or("$sha256$unknown-app", |a| a.secret_hash.as_str());
        let ok = crypto::verify_app_secret(secret, stored);
        match app {
            Some(app) if ok => Ok(app),
            _ => Err(DomainError::InvalidAppCredentials),
        }
    }

    /// All apps.
    pub async fn list_apps(&self) -> Result<Vec<App>, DomainError> {
        self.store
            .list_apps()
            .await
            .map_err(|e| store_err("list apps", e))
    }

    async fn save_app(&self, mut app: App) -> Result<App, DomainError> {
        app.updated_at = self.now();
        self.store.update_app(&app).await.map_err(|e| match e {
            crate::store::StoreError::NotFound => DomainError::AppNotFound,
            other => store_err("update app", other),
        })?;
        Ok(app)
    }

    /// Changes name, redirect URIs, policy or branding.
    pub async fn update_app(&self, id: &str, changes: AppChanges) -> Result<App, DomainError> {
        let mut app = self.get_app(id).await?;
        if let Some(name) = changes.name {
            app.name = name.as_str().to_owned();
        }
        let uris_changed = changes.redirect_uris.is_some();
        if let Some(list) = changes.redirect_uris {
            app.redirect_uris = uris(list)?;
        }
        let policy_changed = changes.policy.is_some();
        if let Some(policy) = changes.policy {
            validate_policy(&policy)?;
            app.policy = policy;
        }
        check_code_mode(&app, uris_changed && !policy_changed)?;
        if let Some(branding) = changes.branding {
            app.branding = Branding::checked(branding)?;
        }
        self.save_app(app).await
    }

    /// Replaces the app secret; the old one stops working at once. Returns the new one, once.
    pub async fn rotate_app_secret(&self, id: &str) -> Result<Secret<String>, DomainError> {
        let mut app = self.get_app(id).await?;
        let secret = crypto::random_token(self.rng.as_ref());
        app.secret_hash = crypto::app_secret_hash(secret.expose());
        self.save_app(app).await?;
        Ok(secret)
    }

    /// Deletes the app.
    pub async fn delete_app(&self, id: &str) -> Result<(), DomainError> {
        match self
            .store
            .delete_app(id)
            .await
            .map_err(|e| store_err("delete app", e))?
        {
            true => Ok(()),
            false => Err(DomainError::AppNotFound),
        }
    }

    // ----- API keys -----

    /// Creates an API key; returns it with the bearer text (`vst_...`), shown this once.
    pub async fn create_api_key(
        &self,
        name: Name,
        scopes: Vec<Scope>,
    ) -> Result<(ApiKey, Secret<String>), DomainError> {
        if scopes.is_empty() {
            return Err(DomainError::field("scopes", "at least one scope"));
        }
        let mut scopes = scopes;
        scopes.sort();
        scopes.dedup();
        let bearer = Secret::new(format!(
            "vst_{}",
            crypto::random_token(self.rng.as_ref()).expose()
        ));
        let key = ApiKey {
            id: self.new_id(),
            name: name.as_str().to_owned(),
            key_hash: crypto::token_hash(bearer.expose()),
            scopes,
            created_at: self.now(),
            revoked_at: None,
        };
        self.store
            .insert_api_key(&key)
            .await
            .map_err(|e| store_err("insert api key", e))?;
        Ok((key, bearer))
    }

    /// Resolves a bearer token to its key, or `AUTH-Key01` (unknown, malformed or revoked).
    pub async fn authenticate_api_key(
        &self,
        bearer: &str,
    ) -> Result<AuthenticatedKey, DomainError> {
        if bearer.is_empty() || bearer.len() > 200 {
            return Err(DomainError::InvalidApiKey);
        }
        // SECURITY: looked up by hash; the plaintext is never stored.
        let hash = crypto::token_hash(bearer);
        let key = self
            .store
            .find_api_key_by_hash(&hash)
            .await
            .map_err(|e| store_err("find api key", e))?;
        match key {
            Some(k) if k.revoked_at.is_none() && crypto::constant_time_eq(&k.key_hash, &hash) => {
                Ok(AuthenticatedKey {
                    id: k.id,
                    scopes: k.scopes,
                })
            }
            _ => Err(DomainError::InvalidApiKey),
        }
    }

    /// All API keys (hashes only).
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, DomainError> {
        self.store
            .list_api_keys()
            .await
            .map_err(|e| store_err("list api keys", e))
    }

    /// Revokes a key; it stops authenticating at once.
    pub async fn revoke_api_key(&self, id: &str) -> Result<(), DomainError> {
        let now: OffsetDateTime = self.now();
        match self
            .store
            .revoke_api_key(id, now)
            .await
            .map_err(|e| store_err("revoke api key", e))?
        {
            true => Ok(()),
            false => Err(DomainError::ApiKeyNotFound),
        }
    }
}
