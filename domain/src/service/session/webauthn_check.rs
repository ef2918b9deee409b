//! The `webAuthN` challenge and check of the session pipeline.
//!
//! A challenge with `userVerificationRequirement` REQUIRED allows the user's passkeys, anything
//! else their security keys (as in the contract). Our extension: a REQUIRED challenge on a session
//! without a user starts a discoverable ceremony; its check identifies the user from the
//! credential and sets the user factor as a user check would.

use webauthn_rs::prelude::{AuthenticationResult, Passkey, PublicKeyCredential, SecurityKey};

use super::super::webauthn::{credential_facts, user_handle, AuthCeremony};
use super::{Draft, WebAuthnChallengeRequest};
use crate::error::{store_err, CheckKind, DomainError};
use crate::model::{
    User, UserFactor, UserState, WebAuthnChallenge, WebAuthnCredential, WebAuthnFactor,
    WebAuthnKind,
};
use crate::store::UserEffect;
use crate::Engine;

const CHALLENGE: &str = "challenge.web_auth_n";
const CHECK: &str = "check.web_auth_n";

fn decode<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    what: &'static str,
) -> Result<T, DomainError> {
    serde_json::from_value(value.clone()).map_err(|e| DomainError::internal(what, &e))
}

fn encode<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<serde_json::Value, DomainError> {
    serde_json::to_value(value).map_err(|e| DomainError::internal(what, &e))
}

impl Engine {
    pub(super) async fn challenge_webauthn(
        &self,
        draft: &mut Draft,
        request: &WebAuthnChallengeRequest,
    ) -> Result<(), DomainError> {
        let rp = match self.relying_party() {
            Ok(rp) => rp,
            Err(e) => return Err(self.fail(draft, CHALLENGE, e).await),
        };
        // SECURITY: credentials are scoped to one RP ID; a challenge for another could never pass.
        if request.domain != self.config.rp_id {
            let error = DomainError::WebAuthnDomainMismatch {
                rp_id: self.config.rp_id.clone(),
            };
            return Err(self.fail(draft, CHALLENGE, error).await);
        }
        let has_user = draft.user.is_some() || draft.session.user_id().is_some();
        let started = if !has_user {
            if !request.user_verification_required {
                // A security key is not discoverable: without a user there is nothing to allow.
                let error = DomainError::UserMissing {
                    check: CheckKind::WebAuthn,
                };
                return Err(self.fail(draft, CHALLENGE, error).await);
            }
            rp.start_discoverable_authentication()
                .map(|(o, s)| (o, AuthCeremony::Discoverable(s)))
        } else {
            let user = self.session_user(draft, CheckKind::WebAuthn).await?;
            let kind = if request.user_verification_required {
                WebAuthnKind::Passkey
            } else {
                WebAuthnKind::SecurityKey
            };
            let records: Vec<WebAuthnCredential> = self
                .store
                .list_webauthn_credentials(&user.id)
                .await
                .map_err(|e| store_err("list webauthn credentials", e))?
                .into_iter()
                .filter(|c| c.kind == kind)
                .collect();
            if records.is_empty() {
                return Err(self
                    .fail(draft, CHALLENGE, DomainError::WebAuthnNotReady)
                    .await);
            }
            match kind {
                WebAuthnKind::Passkey => {
                    let keys = records
                        .iter()
                        .map(|r| decode::<Passkey>(&r.credential, "decode passkey"))
                        .collect::<Result<Vec<_>, _>>()?;
                    rp.start_passkey_authentication(&keys)
                        .map(|(o, s)| (o, AuthCeremony::Passkey(s)))
                }
                WebAuthnKind::SecurityKey => {
                    let keys = records
                        .iter()
                        .map(|r| decode::<SecurityKey>(&r.credential, "decode security key"))
                        .collect::<Result<Vec<_>, _>>()?;
                    rp.start_securitykey_authentication(&keys)
                        .map(|(o, s)| (o, AuthCeremony::SecurityKey(s)))
                }
            }
        };
        let (options, ceremony) =
            started.map_err(|e| DomainError::internal("start webauthn authentication", &e))?;
        let mut options = encode(&options, "encode request options")?;
        // The client chooses how to ask (a button, or conditional mediation for autofill); the
        // options themselves are the same for both.
        if let Some(object) = options.as_object_mut() {
            object.remove("mediation");
        }
        draft.session.challenges.web_auth_n = Some(WebAuthnChallenge {
            rp_id: self.config.rp_id.clone(),
            user_verification_required: request.user_verification_required,
            state: encode(&ceremony, "encode webauthn state")?,
            expires_at: draft.now + self.config.webauthn_ttl,
        });
        draft.response.web_auth_n = Some(options);
        let event = self.event(draft, CHALLENGE, None);
        draft.events.push(event);
        draft.changed = true;
        Ok(())
    }

    pub(super) async fn check_webauthn(
        &self,
        draft: &mut Draft,
        data: &serde_json::Value,
    ) -> Result<(), DomainError> {
        let rp = match self.relying_party() {
            Ok(rp) => rp,
            Err(e) => return Err(self.fail(draft, CHECK, e).await),
        };
        let Some(challenge) = draft.session.challenges.web_auth_n.clone() else {
            if draft.user.is_none() && draft.session.user_id().is_none() {
                let error = DomainError::UserMissing {
                    check: CheckKind::WebAuthn,
                };
                return Err(self.fail(draft, CHECK, error).await);
            }
            return Err(self
                .fail(draft, CHECK, DomainError::WebAuthnNoChallenge)
                .await);
        };
        if challenge.expires_at <= draft.now {
            return Err(self
                .fail(draft, CHECK, DomainError::WebAuthnChallengeExpired)
                .await);
        }
        let ceremony: AuthCeremony = decode(&challenge.state, "decode webauthn state")?;
        let Ok(assertion) = serde_json::from_value::<PublicKeyCredential>(data.clone()) else {
            return Err(self
                .fail(draft, CHECK, DomainError::WebAuthnAssertionInvalid)
                .await);
        };
        let (record, result, new_user) = match ceremony {
            AuthCeremony::Passkey(state) => {
                let user = self.session_user(draft, CheckKind::WebAuthn).await?;
                let record = self
                    .registered(draft, &user, WebAuthnKind::Passkey, &assertion)
                    .await?;
                let result = rp.finish_passkey_authentication(&assertion, &state);
                (record, result, None)
            }
            AuthCeremony::SecurityKey(state) => {
                let user = self.session_user(draft, CheckKind::WebAuthn).await?;
                let record = self
                    .registered(draft, &user, WebAuthnKind::SecurityKey, &assertion)
                    .await?;
                let result = rp.finish_securitykey_authentication(&assertion, &state);
                (record, result, None)
            }
            AuthCeremony::Discoverable(state) => {
                let (record, user) = self.discovered(draft, &assertion).await?;
                let key: Passkey = decode(&record.credential, "decode passkey")?;
                let result = rp.finish_discoverable_authentication_v2(&assertion, state, &key);
                (record, result, Some(user))
            }
        };
        let result = match result {
            Ok(r) if r.cred_id() == &record.credential_id => r,
            Ok(_) => {
                return Err(self
                    .fail(draft, CHECK, DomainError::WebAuthnAssertionInvalid)
                    .await)
            }
            Err(e) => {
                tracing::info!(error = %e, "webauthn assertion rejected");
                return Err(self
                    .fail(draft, CHECK, DomainError::WebAuthnAssertionInvalid)
                    .await);
            }
        };
        // SECURITY: a credential made after this session began counts from the next sign-in
        // on, so registering one can never complete the login that registered it. (The hosted
        // page also starts such a login again; this holds for every other path.)
        if record.created_at > draft.session.created_at {
            return Err(self
                .fail(draft, CHECK, DomainError::WebAuthnCredentialNew)
                .await);
        }
        if let Some(user) = new_user {
            self.set_user_factor(draft, user).await?;
        }
        let updated = self.updated_credential(&record, &result)?;
        let (_, backup_eligible, backed_up) = credential_facts(&updated);
        // SECURITY: the counter is re-checked in the write against the newest stored value, and
        // the write fails if the credential was removed since it was read.
        draft.effect(UserEffect::UseWebAuthnCredential {
            credential_id: record.id.clone(),
            sign_count: result.counter(),
            backup_eligible,
            backed_up,
            credential: updated,
            now: draft.now,
        });
        // SECURITY: single use: the challenge goes with the passing check.
        draft.session.challenges.web_auth_n = None;
        draft.session.factors.web_auth_n = Some(WebAuthnFactor {
            verified_at: draft.now,
            user_verified: result.user_verified(),
            kind: Some(record.kind),
        });
        let event = self.event(draft, CHECK, None);
        draft.events.push(event);
        draft.changed = true;
        Ok(())
    }

    /// The user's credential of `kind` the assertion names (`COMMAND-Aej7i` if none).
    async fn registered(
        &self,
        draft: &Draft,
        user: &User,
        kind: WebAuthnKind,
        assertion: &PublicKeyCredential,
    ) -> Result<WebAuthnCredential, DomainError> {
        let found = self
            .store
            .list_webauthn_credentials(&user.id)
            .await
            .map_err(|e| store_err("list webauthn credentials", e))?
            .into_iter()
            .find(|c| c.kind == kind && c.credential_id == assertion.get_credential_id());
        match found {
            Some(record) => Ok(record),
            None => Err(self
                .fail(draft, CHECK, DomainError::WebAuthnCredentialUnknown)
                .await),
        }
    }

    /// The passkey and user a discoverable assertion names, checked against the session's user.
    async fn discovered(
        &self,
        draft: &mut Draft,
        assertion: &PublicKeyCredential,
    ) -> Result<(WebAuthnCredential, User), DomainError> {
        let Some(handle) = assertion.get_user_unique_id() else {
            return Err(self
                .fail(draft, CHECK, DomainError::WebAuthnAssertionInvalid)
                .await);
        };
        let record = self
            .store
            .find_webauthn_credential(assertion.get_credential_id())
            .await
            .map_err(|e| store_err("find webauthn credential", e))?;
        // SECURITY: the authenticator's user handle must be the one we registered the passkey
        // under, so a credential cannot be presented as another user's.
        let record = match record {
            Some(r)
                if r.kind == WebAuthnKind::Passkey
                    && user_handle(&r.user_id).as_bytes().as_slice() == handle =>
            {
                r
            }
            _ => {
                return Err(self
                    .fail(draft, CHECK, DomainError::WebAuthnCredentialUnknown)
                    .await)
            }
        };
        let current = draft
            .user
            .as_ref()
            .map(|u| u.id.clone())
            .or_else(|| draft.session.user_id().map(str::to_owned));
        if current.is_some_and(|id| id != record.user_id) {
            return Err(self
                .fail(draft, CHECK, DomainError::UserChangeNotPossible)
                .await);
        }
        let user = self
            .store
            .find_user(&record.user_id)
            .await
            .map_err(|e| store_err("find user", e))?;
        let Some(user) = user else {
            return Err(self
                .fail(draft, CHECK, DomainError::WebAuthnCredentialUnknown)
                .await);
        };
        draft.user = Some(user.clone());
        if user.state != UserState::Active {
            return Err(self.fail(draft, CHECK, DomainError::UserNotActive).await);
        }
        Ok((record, user))
    }

    /// The user factor a discoverable check earns, with the event a user check writes.
    async fn set_user_factor(&self, draft: &mut Draft, user: User) -> Result<(), DomainError> {
        draft.session.factors.user = Some(UserFactor {
            user_id: user.id.clone(),
            login_name: user.login_name.clone(),
            display_name: user.display_name.clone(),
            organization_id: self.instance_id().await?,
            verified_at: draft.now,
        });
        draft.user = Some(user);
        let event = self.event(draft, "check.user", None);
        draft.events.push(event);
        Ok(())
    }

    /// The stored credential with the counter and backup flags of this use.
    fn updated_credential(
        &self,
        record: &WebAuthnCredential,
        result: &AuthenticationResult,
    ) -> Result<serde_json::Value, DomainError> {
        match record.kind {
            WebAuthnKind::Passkey => {
                let mut key: Passkey = decode(&record.credential, "decode passkey")?;
                key.update_credential(result);
                encode(&key, "encode passkey")
            }
            WebAuthnKind::SecurityKey => {
                let mut key: SecurityKey = decode(&record.credential, "decode security key")?;
                key.update_credential(result);
                encode(&key, "encode security key")
            }
        }
    }
}
