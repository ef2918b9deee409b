//! WebAuthn credentials: the relying party built from the configuration, registration of passkeys
//! and security keys for a user, and naming, listing and removing them. The session's `webAuthN`
//! challenge and check live with the rest of the pipeline (`session/webauthn_check.rs`).
//!
//! Registration state never touches the database: it travels to the client encrypted and
//! authenticated with the server key (bound to the user and expiring after `webauthn_ttl`), so any
//! replica can finish a registration another one started. Authentication state is stored with the
//! session, because the check must be single use.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration,
    RegisterPublicKeyCredential, SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::{Config, Engine};
use crate::crypto;
use crate::error::{store_err, DomainError};
use crate::model::{UserState, WebAuthnCredential, WebAuthnKind};
use crate::notifier::{ChangedFrom, MethodChange};
use crate::store::StoreError;

/// Longest credential name we keep.
const MAX_NAME_CHARS: usize = 100;

/// A started registration: the options for `navigator.credentials.create()` and the opaque value
/// the finish call must send back.
#[derive(Debug, Clone)]
pub struct WebAuthnRegistration {
    /// Opaque and tamper-proof; only good for this user until `expires_at`.
    pub registration_id: String,
    /// A `CreationChallengeResponse`: `{"publicKey": {...}}`, binary fields base64url.
    pub options: serde_json::Value,
    pub expires_at: OffsetDateTime,
}

/// What an admin or the person may see of a credential (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnCredentialView {
    pub id: String,
    pub kind: WebAuthnKind,
    pub name: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<&WebAuthnCredential> for WebAuthnCredentialView {
    fn from(c: &WebAuthnCredential) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind,
            name: c.name.clone(),
            backup_eligible: c.backup_eligible,
            backed_up: c.backed_up,
            created_at: c.created_at,
            last_used_at: c.last_used_at,
        }
    }
}

/// The library's state of a registration, as sealed into the registration id.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", content = "state", rename_all = "snake_case")]
enum RegistrationCeremony {
    Passkey(PasskeyRegistration),
    SecurityKey(SecurityKeyRegistration),
}

#[derive(Serialize, Deserialize)]
struct SealedRegistration {
    user_id: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    ceremony: RegistrationCeremony,
}

/// The library's state of an authentication, stored with the session's challenge.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", content = "state", rename_all = "snake_case")]
pub(super) enum AuthCeremony {
    Passkey(PasskeyAuthentication),
    SecurityKey(SecurityKeyAuthentication),
    /// Our extension: no user known yet; the authenticator names the credential and user.
    Discoverable(DiscoverableAuthentication),
}

/// Builds the relying party; `None` when `rp_id` is empty (WebAuthn off).
pub(super) fn relying_party(config: &Config) -> Result<Option<Webauthn>, DomainError> {
    if config.rp_id.is_empty() {
        return Ok(None);
    }
    let origin = Url::parse(&config.rp_origin)
        .map_err(|_| DomainError::field("rp_origin", "must be an absolute URL"))?;
    let timeout = u64::try_from(config.webauthn_ttl.whole_seconds())
        .ok()
        .filter(|s| *s > 0)
        .ok_or(DomainError::field("webauthn_ttl", "must be positive"))?;
    let mut builder = WebauthnBuilder::new(&config.rp_id, &origin)
        .map_err(|_| {
            DomainError::field(
                "rp_id",
                "must be the origin's host or a parent domain of it",
            )
        })?
        .rp_name(&config.rp_name)
        .timeout(std::time::Duration::from_secs(timeout));
    for extra in &config.rp_extra_origins {
        let url = Url::parse(extra)
            .map_err(|_| DomainError::field("rp_extra_origins", "must be absolute URLs"))?;
        builder = builder.append_allowed_origin(&url);
    }
    builder
        .build()
        .map(Some)
        .map_err(|_| DomainError::field("rp_id", "is not a valid WebAuthn relying party"))
}

/// The WebAuthn user handle of a user: 16 bytes derived from the user id, so it reveals nothing
/// and needs no column of its own.
pub(super) fn user_handle(user_id: &str) -> Uuid {
    let digest = crypto::sha256(format!("vestibule webauthn user handle\0{user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// Counter and backup flags as the library keeps them inside its serialized credential.
pub(super) fn credential_facts(credential: &serde_json::Value) -> (u32, bool, bool) {
    let counter = credential
        .pointer("/cred/counter")
        .and_then(serde_json::Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    let flag = |path: &str| {
        credential
            .pointer(path)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    (
        counter,
        flag("/cred/backup_eligible"),
        flag("/cred/backup_state"),
    )
}

fn registration_context(user_id: &str) -> Vec<u8> {
    format!("vestibule webauthn registration\0{user_id}").into_bytes()
}

fn clean_name(name: Option<String>, kind: WebAuthnKind) -> Result<String, DomainError> {
    let name = name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::field(
            "name",
            "at most 100 characters, no control characters",
        ));
    }
    if name.is_empty() {
        return Ok(match kind {
            WebAuthnKind::Passkey => "Passkey".to_owned(),
            WebAuthnKind::SecurityKey => "Security key".to_owned(),
        });
    }
    Ok(name)
}

impl Engine {
    /// The relying party, or `SESSION-Wan00` when WebAuthn is off.
    pub(super) fn relying_party(&self) -> Result<&Webauthn, DomainError> {
        self.webauthn
            .as_ref()
            .ok_or(DomainError::WebAuthnUnavailable)
    }

    /// Whether this server can run WebAuthn ceremonies (the hosted page hides passkeys if not).
    pub fn webauthn_enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    /// The relying party id challenges must name (empty when WebAuthn is off).
    pub fn webauthn_rp_id(&self) -> &str {
        &self.config.rp_id
    }

    /// Starts registering a passkey (user verification required, discoverable preferred) or a
    /// security key (user verification preferred) for an active user. The user's existing
    /// credentials are excluded, so one authenticator is not registered twice.
    pub async fn start_webauthn_registration(
        &self,
        user_id: &str,
        kind: WebAuthnKind,
    ) -> Result<WebAuthnRegistration, DomainError> {
        let rp = self.relying_party()?;
        let user = self.get_user(user_id).await?;
        if user.state != UserState::Active {
            return Err(DomainError::UserNotActive);
        }
        let exclude: Vec<Vec<u8>> = self
            .store
            .list_webauthn_credentials(&user.id)
            .await
            .map_err(|e| store_err("list webauthn credentials", e))?
            .into_iter()
            .map(|c| c.credential_id)
            .collect();
        let handle = user_handle(&user.id);
        let (options, ceremony) = match kind {
            WebAuthnKind::Passkey => rp
                .start_passkey_registration(
                    handle,
                    &user.login_name,
                    &user.display_name,
                    Some(exclude),
                )
                .map(|(o, s)| (o, RegistrationCeremony::Passkey(s))),
            WebAuthnKind::SecurityKey => rp
                .start_securitykey_registration(
                    handle,
                    &user.login_name,
                    &user.display_name,
                    Some(exclude),
                    None,
                    None,
                )
                .map(|(o, s)| (o, RegistrationCeremony::SecurityKey(s))),
        }
        .map_err(|e| DomainError::internal("start webauthn registration", &e))?;
        let mut options = serde_json::to_value(&options)
            .map_err(|e| DomainError::internal("encode registration options", &e))?;
        if kind == WebAuthnKind::Passkey {
            // The library asks for a non-discoverable credential; a passkey should be discoverable
            // so that sign-in without a login name and autofill work. "preferred" keeps
            // authenticators without resident-key storage working; verification ignores it.
            if let Some(selection) = options
                .pointer_mut("/publicKey/authenticatorSelection")
                .and_then(serde_json::Value::as_object_mut)
            {
                selection.insert("residentKey".into(), "preferred".into());
            }
        }
        if kind == WebAuthnKind::SecurityKey {
            // The library asks security keys for credProtect "userVerificationRequired" without
            // enforcing it, while user verification is only preferred; Chromium refuses that
            // pairing outright (NotSupportedError: "Requested protection policy is inconsistent"),
            // so no security key could be registered from it. Not asking changes nothing the
            // check relies on: an unenforced policy was never verified.
            if let Some(extensions) = options
                .pointer_mut("/publicKey/extensions")
                .and_then(serde_json::Value::as_object_mut)
            {
                extensions.remove("credentialProtectionPolicy");
                extensions.remove("enforceCredentialProtectionPolicy");
            }
        }
        let expires_at = self.now() + self.config.webauthn_ttl;
        let sealed = SealedRegistration {
            user_id: user.id.clone(),
            expires_at,
            ceremony,
        };
        let plain = serde_json::to_vec(&sealed)
            .map_err(|e| DomainError::internal("encode registration state", &e))?;
        // SECURITY: the state goes to the client only sealed (AEAD with the server key, bound to
        // the user), so it can be neither read nor altered nor moved to another user.
        let sealed = crypto::encrypt(
            &self.key,
            &plain,
            &registration_context(&user.id),
            self.rng.as_ref(),
        )
        .map_err(|e| DomainError::internal("seal registration state", &e))?;
        Ok(WebAuthnRegistration {
            registration_id: URL_SAFE_NO_PAD.encode(sealed),
            options,
            expires_at,
        })
    }

    /// Finishes a registration with the browser's `RegisterPublicKeyCredential` JSON and stores
    /// the credential under `name` (a default name when empty). For the admin API; the person
    /// is told by email.
    pub async fn finish_webauthn_registration(
        &self,
        user_id: &str,
        registration_id: &str,
        credential: &serde_json::Value,
        name: Option<String>,
    ) -> Result<WebAuthnCredentialView, DomainError> {
        self.finish_webauthn_registration_from(
            user_id,
            registration_id,
            credential,
            name,
            ChangedFrom::Administrator,
        )
        .await
    }

    /// [`Engine::finish_webauthn_registration`], made from `from`.
    pub(super) async fn finish_webauthn_registration_from(
        &self,
        user_id: &str,
        registration_id: &str,
        credential: &serde_json::Value,
        name: Option<String>,
        from: ChangedFrom,
    ) -> Result<WebAuthnCredentialView, DomainError> {
        let rp = self.relying_party()?;
        let user = self.get_user(user_id).await?;
        if user.state != UserState::Active {
            return Err(DomainError::UserNotActive);
        }
        let sealed = URL_SAFE_NO_PAD
            .decode(registration_id.as_bytes())
            .map_err(|_| DomainError::WebAuthnRegistrationInvalid)?;
        let plain = crypto::decrypt(&self.key, &sealed, &registration_context(&user.id))
            .map_err(|_| DomainError::WebAuthnRegistrationInvalid)?;
        let sealed: SealedRegistration = serde_json::from_slice(plain.expose())
            .map_err(|_| DomainError::WebAuthnRegistrationInvalid)?;
        let now = self.now();
        if sealed.user_id != user.id || sealed.expires_at <= now {
            return Err(DomainError::WebAuthnRegistrationInvalid);
        }
        let response: RegisterPublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|_| DomainError::WebAuthnCredentialRejected)?;
        let (kind, stored, credential_id) = match &sealed.ceremony {
            RegistrationCeremony::Passkey(state) => {
                let key = rp
                    .finish_passkey_registration(&response, state)
                    .map_err(|e| {
                        tracing::info!(error = %e, "passkey registration rejected");
                        DomainError::WebAuthnCredentialRejected
                    })?;
                let id = key.cred_id().clone();
                (WebAuthnKind::Passkey, serde_json::to_value(&key), id)
            }
            RegistrationCeremony::SecurityKey(state) => {
                let key = rp
                    .finish_securitykey_registration(&response, state)
                    .map_err(|e| {
                        tracing::info!(error = %e, "security key registration rejected");
                        DomainError::WebAuthnCredentialRejected
                    })?;
                let id = key.cred_id().clone();
                (WebAuthnKind::SecurityKey, serde_json::to_value(&key), id)
            }
        };
        let stored = stored.map_err(|e| DomainError::internal("encode credential", &e))?;
        let (sign_count, backup_eligible, backed_up) = credential_facts(&stored);
        let record = WebAuthnCredential {
            id: self.new_id(),
            user_id: user.id.clone(),
            kind,
            name: clean_name(name, kind)?,
            credential_id,
            credential: stored,
            sign_count,
            backup_eligible,
            backed_up,
            created_at: now,
            last_used_at: None,
        };
        self.store
            .insert_webauthn_credential(&record)
            .await
            .map_err(|e| match e {
                StoreError::Duplicate { .. } => DomainError::WebAuthnCredentialExists,
                StoreError::NotFound => DomainError::UserNotFound,
                other => store_err("insert webauthn credential", other),
            })?;
        self.notify_methods(&user, MethodChange::Added, &[kind.factor()], from)
            .await;
        Ok(WebAuthnCredentialView::from(&record))
    }

    /// The user's passkeys and security keys, oldest first.
    pub async fn list_webauthn_credentials(
        &self,
        user_id: &str,
    ) -> Result<Vec<WebAuthnCredentialView>, DomainError> {
        let user = self.get_user(user_id).await?;
        Ok(self
            .store
            .list_webauthn_credentials(&user.id)
            .await
            .map_err(|e| store_err("list webauthn credentials", e))?
            .iter()
            .map(WebAuthnCredentialView::from)
            .collect())
    }

    /// Gives a credential a new name.
    pub async fn rename_webauthn_credential(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<(), DomainError> {
        let user = self.get_user(user_id).await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(DomainError::field("name", "must not be empty"));
        }
        let name = clean_name(Some(name.to_owned()), WebAuthnKind::Passkey)?;
        let done = self
            .store
            .rename_webauthn_credential(&user.id, credential_id, &name)
            .await
            .map_err(|e| store_err("rename webauthn credential", e))?;
        if !done {
            return Err(DomainError::WebAuthnCredentialNotFound);
        }
        Ok(())
    }

    /// Removes a credential; a challenge already issued for it no longer passes.
    pub async fn remove_webauthn_credential(
        &self,
        user_id: &str,
        credential_id: &str,
    ) -> Result<(), DomainError> {
        let user = self.get_user(user_id).await?;
        let kind = self
            .store
            .list_webauthn_credentials(&user.id)
            .await
            .map_err(|e| store_err("list webauthn credentials", e))?
            .into_iter()
            .find(|c| c.id == credential_id)
            .map(|c| c.kind);
        let done = self
            .store
            .delete_webauthn_credential(&user.id, credential_id)
            .await
            .map_err(|e| store_err("delete webauthn credential", e))?;
        if !done {
            return Err(DomainError::WebAuthnCredentialNotFound);
        }
        let removed: Vec<_> = kind.map(WebAuthnKind::factor).into_iter().collect();
        self.notify_methods(
            &user,
            MethodChange::Removed,
            &removed,
            ChangedFrom::Administrator,
        )
        .await;
        Ok(())
    }

    /// Removes all of the user's credentials of one kind (the admin API's factor removal).
    pub(super) async fn remove_webauthn_kind(
        &self,
        user_id: &str,
        kind: WebAuthnKind,
    ) -> Result<(), DomainError> {
        let all = self
            .store
            .list_webauthn_credentials(user_id)
            .await
            .map_err(|e| store_err("list webauthn credentials", e))?;
        for credential in all.iter().filter(|c| c.kind == kind) {
            self.store
                .delete_webauthn_credential(user_id, &credential.id)
                .await
                .map_err(|e| store_err("delete webauthn credential", e))?;
        }
        Ok(())
    }
}
