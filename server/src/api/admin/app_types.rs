//! Wire types of apps (policy, branding) and API keys.

use domain::model::{ApiKey, App, Branding, FactorKind, LoginPolicy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::types::{rfc3339, ApiScope, Factor};
use crate::api::error::ApiError;

/// A login policy. On input, absent fields take the defaults (every factor allowed, no second
/// factor required, no secret or code on validate); the whole policy is replaced.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "all_factors")]
    pub allowed_factors: Vec<Factor>,
    #[serde(default)]
    pub require_second_factor: bool,
    #[serde(default)]
    pub require_secret_on_validate: bool,
    /// Only a passkey completes a sign-in; users without one register one on the hosted page.
    #[serde(default)]
    pub passwordless: bool,
    /// The code-bound validate mode, recommended for apps that redirect back: the redirect
    /// after sign-in carries a single-use `code` (`?code=…&state=…`), and `POST
    /// /session/validate/` answers only when it is presented (with `code_verifier` when the
    /// link was generated with a `code_challenge`). Needs at least one redirect URI.
    #[serde(default)]
    pub require_code_on_validate: bool,
}

fn all_factors() -> Vec<Factor> {
    LoginPolicy::default()
        .allowed_factors
        .into_iter()
        .map(Factor::from)
        .collect()
}

impl From<&LoginPolicy> for Policy {
    fn from(p: &LoginPolicy) -> Self {
        Self {
            allowed_factors: p
                .allowed_factors
                .iter()
                .copied()
                .map(Factor::from)
                .collect(),
            require_second_factor: p.require_second_factor,
            require_secret_on_validate: p.require_secret_on_validate,
            passwordless: p.passwordless,
            require_code_on_validate: p.require_code_on_validate,
        }
    }
}

impl From<Policy> for LoginPolicy {
    fn from(p: Policy) -> Self {
        Self {
            allowed_factors: p
                .allowed_factors
                .into_iter()
                .map(FactorKind::from)
                .collect(),
            require_second_factor: p.require_second_factor,
            require_secret_on_validate: p.require_secret_on_validate,
            passwordless: p.passwordless,
            require_code_on_validate: p.require_code_on_validate,
        }
    }
}

/// How the hosted page looks for an app. On input the whole branding is replaced; absent
/// fields are unset.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingIo {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub display_name: Option<String>,
    /// An absolute https URL (the hosted page shows no other remote image).
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = "^https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
    )]
    pub logo_url: Option<String>,
    /// `#rrggbb`.
    #[serde(default)]
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    pub primary_color: Option<String>,
    /// `#rrggbb`.
    #[serde(default)]
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    pub background_color: Option<String>,
    /// The app's own address, an absolute http or https URL: the signed-in page of a login
    /// that does not redirect links back to it.
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = "^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
    )]
    pub home_url: Option<String>,
}

impl From<&Branding> for BrandingIo {
    fn from(b: &Branding) -> Self {
        Self {
            display_name: b.display_name.clone(),
            logo_url: b.logo_url.clone(),
            primary_color: b.primary_color.clone(),
            background_color: b.background_color.clone(),
            home_url: b.home_url.clone(),
        }
    }
}

/// The branding of a request, checked by the engine's rule before anything is stored.
pub(super) fn branding(b: BrandingIo) -> Result<Branding, ApiError> {
    let branding = Branding {
        display_name: b.display_name,
        logo_url: b.logo_url,
        primary_color: b.primary_color,
        background_color: b.background_color,
        home_url: b.home_url,
    };
    Ok(branding.checked()?)
}

/// An app as the admin API shows it (never its secret or the secret's hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppOut {
    pub id: String,
    /// The public key the app backend sends with its secret.
    pub app_key: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub policy: Policy,
    pub branding: BrandingIo,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&App> for AppOut {
    fn from(a: &App) -> Self {
        Self {
            id: a.id.clone(),
            app_key: a.app_key.clone(),
            name: a.name.clone(),
            redirect_uris: a.redirect_uris.clone(),
            policy: (&a.policy).into(),
            branding: (&a.branding).into(),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// `POST /admin/v1/apps`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// 1–200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Absolute http(s) URLs without fragments, at most 20. None: the hosted page ends on a
    /// "signed in" page.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::redirect_uris_schema, required = false)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub policy: Option<Policy>,
    #[serde(default)]
    pub branding: Option<BrandingIo>,
}

/// `PATCH /admin/v1/apps/{app_id}`: absent fields stay; a given `redirect_uris`, `policy` or
/// `branding` replaces the old value whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::optional_redirect_uris_schema, required = false)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub policy: Option<Policy>,
    #[serde(default)]
    pub branding: Option<BrandingIo>,
}

/// A new app and its secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct AppCreated {
    pub app: AppOut,
    pub app_secret: String,
}

/// The new secret, shown once; the old one stopped working.
#[derive(Serialize, ToSchema)]
pub struct AppSecretRotated {
    pub id: String,
    pub app_key: String,
    pub app_secret: String,
}

/// All apps.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppList {
    pub apps: Vec<AppOut>,
}

/// An API key (never the key itself or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: String,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub created_at: String,
    /// RFC 3339; set once revoked.
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyOut {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            scopes: k.scopes.iter().copied().map(ApiScope::from).collect(),
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// `POST /admin/v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// 1–200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub scopes: Vec<ApiScope>,
}

/// A new API key; `key` is the bearer token, shown once.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub api_key: ApiKeyOut,
    pub key: String,
}

/// All API keys, revoked ones included.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyOut>,
}
