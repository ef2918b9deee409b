//! The server side of the console: the engine in Leptos context, the claim cookie, origin checks,
//! and the mapping from engine state and errors to steps and notices.

use std::sync::Arc;

use domain::input::{LoginName, OtpCode, Password, RecoveryCodeInput, TotpCode, UserRef};
use domain::model::{Branding, FactorKind, UserAgent};
use domain::service::{
    ChallengeRequests, Checks, EmailCodeDelivery, HandoffCompletion, HandoffContacts,
    HandoffPasskeys, HandoffProgress, PolicyState, SessionChange, SmsCodeDelivery,
};
use domain::{DomainError, Engine};
use leptos::prelude::*;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::wire::{Ceremony, EndReason, Factor, FactorOption, Notice, Step, StepView};
use super::{PageData, MAX_CREDENTIAL_CHARS, MAX_LOGIN_NAME_CHARS, MAX_SECRET_CHARS};
use crate::i18n::Lang;

/// What the server provides to the console's pages and server functions.
#[derive(Clone)]
pub struct ConsoleContext {
    pub engine: Arc<Engine>,
    /// `scheme://host[:port]` of the public URL: the only origin allowed to post.
    pub origin: String,
    /// Cookies get `Secure` unless the public URL is plain http.
    pub secure_cookies: bool,
}

impl ConsoleContext {
    pub fn new(engine: Arc<Engine>, public_url: &str) -> Self {
        Self {
            engine,
            origin: origin_of(public_url).unwrap_or_default(),
            secure_cookies: !public_url.starts_with("http://"),
        }
    }
}

/// Put into the request by a claim that happened in front of the page (the server's gate), so
/// the page knows the browser secret its response is just setting as a cookie.
#[derive(Clone)]
pub struct FreshClaim(pub String);

/// `scheme://authority` of an absolute URL, lowercased.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn context() -> Result<ConsoleContext, ServerFnError> {
    use_context::<ConsoleContext>().ok_or_else(|| {
        tracing::error!("console context missing");
        ServerFnError::new("server error")
    })
}

async fn headers() -> http::HeaderMap {
    leptos_axum::extract().await.unwrap_or_default()
}

fn header(headers: &http::HeaderMap, name: http::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn set_status(status: http::StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// Refuses a server-function call from another origin with 403.
///
/// Browsers send `Origin` on every POST, but as `null` for a plain form post from a page with
/// `Referrer-Policy: no-referrer` (ours); then `Sec-Fetch-Site` (sent by every current browser)
/// must say `same-origin`. A request with neither is refused.
pub async fn guard() -> Result<(), ServerFnError> {
    let ctx = context()?;
    let h = headers().await;
    let origin = header(&h, http::header::ORIGIN).filter(|o| o != "null");
    let fetch_site = header(&h, http::HeaderName::from_static("sec-fetch-site"));
    let allowed = same_origin(&ctx.origin, origin.as_deref(), fetch_site.as_deref());
    // SECURITY: state-changing requests from another origin (CSRF) are refused.
    if !allowed {
        set_status(http::StatusCode::FORBIDDEN);
        return Err(ServerFnError::new(
            "requests from another origin are refused",
        ));
    }
    Ok(())
}

/// The decision of [`guard`]: a real `Origin` must be ours; without one, the browser's
/// `Sec-Fetch-Site` must say `same-origin`.
pub fn same_origin(ours: &str, origin: Option<&str>, fetch_site: Option<&str>) -> bool {
    if ours.is_empty() {
        return false;
    }
    match origin {
        Some(o) => origin_of(o).as_deref() == Some(ours),
        None => fetch_site == Some("same-origin"),
    }
}

fn claim_cookie(token: &str) -> String {
    domain::service::handoff_cookie_name(token)
}

fn name_cookie(token: &str) -> String {
    format!("{}_name", claim_cookie(token))
}

fn codes_cookie(token: &str) -> String {
    format!("{}_codes", claim_cookie(token))
}

/// Set by "Use my password instead" (and by a login without JavaScript): this link skips the
/// passkey-first step.
fn password_cookie(token: &str) -> String {
    format!("{}_pw", claim_cookie(token))
}

/// The login names (at most [`MAX_REMEMBERED`]) that signed in with, or registered, a passkey in
/// this browser. It only decides whether the passkey step comes first: the server never tells
/// a stranger whether a login name has a passkey, so only the browser can remember it.
pub const PASSKEY_HINT_COOKIE: &str = "vestibule_passkeys";
const MAX_REMEMBERED: usize = 3;
const REMEMBER_SECONDS: i64 = 400 * 24 * 60 * 60;

/// The names in a hint cookie's value (comma-separated, each percent-encoded).
pub fn remembered_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|raw| percent_decode_str(raw).decode_utf8().ok())
        .map(|name| name.into_owned())
        .filter(|name| LoginName::parse(name.clone()).is_ok())
        .take(MAX_REMEMBERED)
        .collect()
}

/// The hint cookie's value with `name` first (most recent), without repeats.
pub fn remember_name(value: Option<&str>, name: &str) -> String {
    let mut names = vec![name.to_owned()];
    names.extend(
        remembered_names(value.unwrap_or_default())
            .into_iter()
            .filter(|n| n != name),
    );
    names.truncate(MAX_REMEMBERED);
    names
        .iter()
        .map(|n| utf8_percent_encode(n, COMPONENT).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the passkey step comes first for `pending` (the typed login name) on this link.
async fn passkey_first(token: &str, pending: Option<&str>) -> bool {
    let h = headers().await;
    let Some(name) = pending else { return false };
    if read_cookie(&h, &password_cookie(token)).is_some() {
        return false;
    }
    read_cookie(&h, PASSKEY_HINT_COOKIE)
        .is_some_and(|value| remembered_names(&value).iter().any(|n| n == name))
}

/// Remembers, in this browser, that the login's user signs in with a passkey.
async fn remember_passkey(passkeys: &HandoffPasskeys) {
    let (Some(name), true) = (&passkeys.login_name, passkeys.has_passkey) else {
        return;
    };
    let old = read_cookie(&headers().await, PASSKEY_HINT_COOKIE);
    let value = remember_name(old.as_deref(), name);
    set_cookie(PASSKEY_HINT_COOKIE, &value, REMEMBER_SECONDS);
}

/// A form posted by a browser without JavaScript (the island asks for JSON).
async fn plain_form_post() -> bool {
    header(&headers().await, http::header::ACCEPT)
        .unwrap_or_default()
        .contains("text/html")
}

fn read_cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: i64) {
    let Ok(ctx) = context() else { return };
    let secure = if ctx.secure_cookies { "; Secure" } else { "" };
    // SECURITY: HttpOnly (no script reads it), SameSite=Lax (sent when the app links here, not
    // on cross-site posts).
    let cookie =
        format!("{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&cookie),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

async fn browser_secret(token: &str) -> Option<String> {
    read_cookie(&headers().await, &claim_cookie(token))
}

/// The login name typed at the first step, until the password step sends it with the password.
async fn pending_login(token: &str) -> Option<String> {
    let raw = read_cookie(&headers().await, &name_cookie(token))?;
    let name = percent_decode_str(&raw).decode_utf8().ok()?.into_owned();
    LoginName::parse(name.clone()).ok().map(|_| name)
}

/// What a step handler decided: the next view, or the end of the road.
pub type Answer = Result<StepView, ServerFnError>;

/// Sends the answer: as data to the island, or as a redirect back to the page for a plain form
/// post (a browser without JavaScript), with the notice and the chosen factor in the query.
pub async fn answer(token: &str, lang: Option<&str>, answer: Answer) -> Answer {
    let view = answer?;
    if plain_form_post().await {
        leptos_axum::redirect(&page_url(token, lang.and_then(Lang::from_tag), &view));
    }
    Ok(view)
}

/// The page address that shows `view` again.
pub fn page_url(token: &str, lang: Option<Lang>, view: &StepView) -> String {
    let mut query = Vec::new();
    if let Some(lang) = lang {
        query.push(format!("lang={}", lang.code()));
    }
    if let Some(f) = view.step.factor() {
        query.push(format!("f={}", f.code()));
    }
    if let Some(n) = view.notice {
        query.push(format!("n={}", n.code()));
    }
    let token = utf8_percent_encode(token, COMPONENT);
    if query.is_empty() {
        format!("/console/session/{token}")
    } else {
        format!("/console/session/{token}?{}", query.join("&"))
    }
}

fn engine() -> Result<Arc<Engine>, ServerFnError> {
    Ok(context()?.engine)
}

// --- mapping ---

/// Which step engine state leads to. `Enroll` comes back empty; [`current`] fills it in.
/// `passkey_first`: this browser remembers that the typed login name signs in with a passkey.
pub fn step_of(
    progress: &HandoffProgress,
    pending_login: Option<&str>,
    login_hint: Option<&str>,
    chosen: Option<Factor>,
    contacts: &HandoffContacts,
    passkey_first: bool,
) -> Step {
    if let Some(completion) = &progress.completion {
        return Step::Done {
            redirect: match completion {
                HandoffCompletion::Redirect(url) => Some(url.clone()),
                HandoffCompletion::SignedIn => None,
            },
        };
    }
    let passkey = progress.passkeys;
    match &progress.policy {
        PolicyState::Satisfied(_) => Step::Done { redirect: None },
        PolicyState::NeedsUser => match pending_login {
            Some(_) if passkey && passkey_first => Step::PasskeyFirst,
            Some(name) => Step::Password {
                login_name: Some(name.to_owned()),
                passkey,
            },
            None => Step::LoginName {
                value: login_hint.unwrap_or_default().to_owned(),
                passkey,
            },
        },
        PolicyState::NeedsFirstFactor { options } => {
            let passkey = passkey && options.contains(&FactorKind::Passkey);
            if options.contains(&FactorKind::Password) {
                Step::Password {
                    login_name: None,
                    passkey,
                }
            } else if passkey {
                Step::PasskeyOnly
            } else {
                Step::End {
                    reason: EndReason::Unavailable,
                }
            }
        }
        PolicyState::NeedsSecondFactor { options } => {
            let offered: Vec<FactorOption> = options
                .iter()
                .filter_map(|kind| {
                    let (factor, to) = match kind {
                        FactorKind::Passkey if progress.webauthn => (Factor::Passkey, None),
                        FactorKind::SecurityKey if progress.webauthn => (Factor::SecurityKey, None),
                        FactorKind::Totp => (Factor::Totp, None),
                        FactorKind::OtpSms => (Factor::Sms, contacts.phone.clone()),
                        FactorKind::OtpEmail => (Factor::Email, contacts.email.clone()),
                        FactorKind::RecoveryCode => (Factor::Recovery, None),
                        _ => return None,
                    };
                    Some(FactorOption {
                        factor,
                        to: to.unwrap_or_default(),
                    })
                })
                .collect();
            let to_of = |f: Factor| offered.iter().find(|o| o.factor == f).map(|o| o.to.clone());
            let step_for = |factor: Factor, to: String| {
                if factor.is_webauthn() {
                    Step::WebAuthn { factor }
                } else {
                    Step::Code { factor, to }
                }
            };
            if let Some(f) = chosen {
                if let Some(to) = to_of(f) {
                    return step_for(f, to);
                }
            }
            match offered.as_slice() {
                [] => Step::Enroll {
                    qr_data_url: String::new(),
                    secret: String::new(),
                },
                // One factor whose code needs no sending: straight to it.
                [only] if !only.factor.is_sent() => step_for(only.factor, String::new()),
                _ => Step::Choose { options: offered },
            }
        }
        PolicyState::NeedsPasskeyEnrollment if progress.webauthn => Step::PasskeyRequired,
        PolicyState::NeedsPasskeyEnrollment => Step::End {
            reason: EndReason::Unavailable,
        },
        PolicyState::UserNotActive | PolicyState::Expired | PolicyState::Terminated => Step::End {
            reason: EndReason::Ended,
        },
    }
}

/// A refusal as the person reads it; `Err` when the login cannot go on from this page.
pub fn notice_of(err: &DomainError) -> Result<Notice, EndReason> {
    use DomainError as E;
    let minutes = |seconds: i64| u32::try_from((seconds.max(1) + 59) / 60).unwrap_or(u32::MAX);
    Ok(match err {
        // SECURITY: an unknown name, a user without password, a deactivated user and a wrong
        // password all read the same on the hosted page.
        E::LoginFailed {
            attempts_left,
            lock_seconds,
        } => match (lock_seconds, attempts_left) {
            (Some(seconds), _) => Notice::LockedMinutes(minutes(*seconds)),
            (None, Some(left)) if *left > 0 => Notice::AttemptsLeft(*left),
            _ => Notice::WrongCredentials,
        },
        E::UserNotFound | E::PasswordNotSet | E::UserNotActive => Notice::WrongCredentials,
        E::WrongPassword { locked_until, .. } => match (locked_until, err.remaining_attempts()) {
            (Some(_), _) => Notice::LockedMinutes(minutes(lock_seconds(err))),
            (None, Some(left)) if left > 0 => Notice::AttemptsLeft(left),
            _ => Notice::WrongCredentials,
        },
        E::Locked { seconds_left, .. } => Notice::LockedMinutes(minutes(*seconds_left)),
        E::InvalidCode { locked_until, .. }
        | E::TotpReplayed { locked_until, .. }
        | E::RecoveryCodeInvalid { locked_until, .. } => {
            match (locked_until, err.remaining_attempts()) {
                (Some(_), _) => Notice::LockedMinutes(minutes(lock_seconds(err))),
                (None, Some(left)) if left > 0 => Notice::CodeWrongLeft(left),
                _ => Notice::CodeWrong,
            }
        }
        E::CodeExpired { .. } | E::NoCodeChallenge { .. } => Notice::CodeExpired,
        E::CodeAttemptsExhausted { .. } => Notice::CodeAttempts,
        E::ResendCooldown { seconds_left } => {
            Notice::TooManyCodes(u32::try_from((*seconds_left).max(1)).unwrap_or(u32::MAX))
        }
        E::ConcurrentChange => Notice::Busy,
        E::WebAuthnCredentialUnknown | E::WebAuthnNotReady => Notice::PasskeyUnknown,
        E::WebAuthnAssertionInvalid
        | E::WebAuthnRegistrationInvalid
        | E::WebAuthnCredentialRejected
        | E::WebAuthnDomainMismatch { .. }
        // Not reached through the page, which starts a login again after a registration.
        | E::WebAuthnCredentialNew => Notice::PasskeyFailed,
        E::WebAuthnNoChallenge | E::WebAuthnChallengeExpired => Notice::PasskeyExpired,
        E::WebAuthnCredentialExists => Notice::PasskeyExists,
        E::WebAuthnUnavailable => Notice::PasskeyUnsupported,
        E::HandoffLinkNotFound => return Err(EndReason::LinkNotFound),
        E::HandoffLinkUsed => return Err(EndReason::LinkUsed),
        E::HandoffLinkExpired => return Err(EndReason::LinkExpired),
        E::HandoffEnded | E::SessionExpired | E::SessionTerminated | E::SessionNotFound => {
            return Err(EndReason::Ended)
        }
        other => {
            tracing::warn!(error_id = other.id(), "console step refused");
            Notice::Server
        }
    })
}

/// The lock's length as the error reports it (the lock was just set: the full rule).
fn lock_seconds(err: &DomainError) -> i64 {
    match err {
        DomainError::Locked { seconds_left, .. } => *seconds_left,
        // Freshly locked by this very failure: the engine's configured lock length applies.
        _ => 15 * 60,
    }
}

// --- the page ---

fn user_agent(headers: &http::HeaderMap) -> Option<UserAgent> {
    let description =
        header(headers, http::header::USER_AGENT).map(|ua| ua.chars().take(200).collect());
    Some(UserAgent {
        description,
        ..UserAgent::default()
    })
}

/// Branding as custom properties. Colours are accepted only as `#rgb` or `#rrggbb`, so nothing
/// else can reach the style sheet.
pub fn brand_css(branding: &Branding) -> Option<String> {
    let valid = |c: &Option<String>| c.as_deref().filter(|c| is_hex_colour(c)).map(str::to_owned);
    let primary = valid(&branding.primary_color);
    let background = valid(&branding.background_color);
    let mut css = String::new();
    if let Some(p) = &primary {
        let contrast = if is_light(p) { "#111111" } else { "#ffffff" };
        css.push_str(&format!(":root{{--brand:{p};--brand-contrast:{contrast}}}"));
    }
    if let Some(b) = &background {
        let text = if is_light(b) { "#1b1d24" } else { "#f2f3f7" };
        // The app's background applies to the light theme; dark keeps ours.
        css.push_str(&format!(
            "@media (prefers-color-scheme: light){{:root{{--bg:{b};--page-text:{text}}}}}"
        ));
    }
    (!css.is_empty()).then_some(css)
}

pub fn is_hex_colour(c: &str) -> bool {
    let Some(hex) = c.strip_prefix('#') else {
        return false;
    };
    matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_light(c: &str) -> bool {
    let hex = c.trim_start_matches('#');
    let channel = |i: usize| -> f32 {
        let v = if hex.len() == 3 {
            u8::from_str_radix(&hex[i..i + 1].repeat(2), 16)
        } else {
            u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16)
        };
        f32::from(v.unwrap_or(0)) / 255.0
    };
    0.299 * channel(0) + 0.587 * channel(1) + 0.114 * channel(2) > 0.6
}

/// Only `https:` logos (the CSP allows no other remote images).
fn logo_url(branding: &Branding) -> Option<String> {
    branding
        .logo_url
        .clone()
        .filter(|u| u.starts_with("https://") && u.len() <= 2000)
}

/// Claims the link for this browser (or recognises it) and works out the step to show.
pub async fn load_page(
    token: &str,
    lang_param: Option<&str>,
    notice: Option<Notice>,
    factor: Option<Factor>,
) -> PageData {
    let h = headers().await;
    let accept_language = header(&h, http::header::ACCEPT_LANGUAGE);
    let chosen_lang = lang_param.and_then(Lang::from_tag);
    let mut data = PageData {
        lang: chosen_lang.unwrap_or_else(|| Lang::negotiate(None, accept_language.as_deref())),
        app_name: None,
        logo_url: None,
        brand_css: None,
        view: StepView::new(Step::End {
            reason: EndReason::LinkNotFound,
        }),
    };
    let Ok(engine) = engine() else {
        data.view = StepView::with(data.view.step, Some(Notice::Server));
        return data;
    };
    let fresh = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<FreshClaim>().map(|f| f.0.clone()));
    let secret = fresh.or_else(|| read_cookie(&h, &claim_cookie(token)));
    let claimed = match engine
        .claim_handoff(token, secret.as_deref(), user_agent(&h))
        .await
    {
        Ok(claimed) => claimed,
        Err(err) => {
            data.view = match notice_of(&err) {
                Err(reason) => StepView::new(Step::End { reason }),
                Ok(_) => StepView::with(
                    Step::End {
                        reason: EndReason::Ended,
                    },
                    Some(Notice::Server),
                ),
            };
            if matches!(err, DomainError::HandoffLinkNotFound) {
                set_status(http::StatusCode::NOT_FOUND);
            }
            return data;
        }
    };
    let secret = match claimed.new_browser_secret {
        Some(new) => {
            let value = new.into_inner();
            set_cookie(&claim_cookie(token), &value, 24 * 60 * 60);
            value
        }
        None => secret.unwrap_or_default(),
    };
    let view = claimed.view;
    if chosen_lang.is_none() {
        data.lang = Lang::negotiate(view.ui_locales.as_deref(), accept_language.as_deref());
    }
    data.app_name = Some(view.app_name.clone());
    data.logo_url = logo_url(&view.branding);
    data.brand_css = brand_css(&view.branding);
    // Recovery codes a no-JS enrollment left for this one page view.
    if let Some(codes) = read_cookie(&h, &codes_cookie(token)) {
        set_cookie(&codes_cookie(token), "", 0);
        let codes: Vec<String> = codes
            .split('.')
            .filter(|c| !c.is_empty() && c.len() <= 64)
            .map(str::to_owned)
            .collect();
        if !codes.is_empty() {
            data.view = StepView::new(Step::RecoveryCodes { codes });
            return data;
        }
    }
    let pending = read_cookie(&h, &name_cookie(token)).and_then(|raw| {
        percent_decode_str(&raw)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    });
    data.view = match step_view(
        &engine,
        token,
        &secret,
        &view.progress,
        pending.as_deref(),
        view.login_hint.as_deref(),
        factor,
    )
    .await
    {
        Ok(view) => StepView::with(view.step, notice.or(view.notice)),
        Err(e) => {
            tracing::warn!(error = %e, "console page");
            StepView::with(
                Step::End {
                    reason: EndReason::Ended,
                },
                Some(Notice::Server),
            )
        }
    };
    data
}

/// Works out the step for `progress`, fetching what it needs (masked contacts, enrollment).
async fn step_view(
    engine: &Engine,
    token: &str,
    secret: &str,
    progress: &HandoffProgress,
    pending: Option<&str>,
    hint: Option<&str>,
    chosen: Option<Factor>,
) -> Answer {
    let contacts = if matches!(progress.policy, PolicyState::NeedsSecondFactor { .. }) {
        engine
            .handoff_contacts(token, secret)
            .await
            .unwrap_or_default()
    } else {
        HandoffContacts::default()
    };
    let first = passkey_first(token, pending).await;
    let step = step_of(progress, pending, hint, chosen, &contacts, first);
    if let Step::Enroll { .. } = step {
        return match engine.handoff_totp_enrollment(token, secret).await {
            Ok(enrollment) => Ok(StepView::new(Step::Enroll {
                qr_data_url: format!(
                    "data:image/svg+xml,{}",
                    utf8_percent_encode(enrollment.qr_svg.expose(), COMPONENT)
                ),
                secret: enrollment.secret_base32.expose().clone(),
            })),
            Err(DomainError::TotpNotReady) => Ok(StepView::new(Step::End {
                reason: EndReason::Unavailable,
            })),
            Err(err) => Ok(refused(
                &err,
                Step::End {
                    reason: EndReason::Ended,
                },
            )),
        };
    }
    Ok(StepView::new(step))
}

fn refused(err: &DomainError, stay: Step) -> StepView {
    match notice_of(err) {
        Ok(notice) => StepView::with(stay, Some(notice)),
        Err(reason) => StepView::new(Step::End { reason }),
    }
}

/// A refused change: the step as it stands now with the notice, or the end of the road.
async fn refused_now(token: &str, err: &DomainError, chosen: Option<Factor>) -> Answer {
    match notice_of(err) {
        Ok(notice) => current(token, Some(notice), chosen).await,
        Err(reason) => Ok(StepView::new(Step::End { reason })),
    }
}

/// A refused registration: the offer again with the notice, or the end of the road.
async fn refused_offer(token: &str, err: &DomainError) -> Answer {
    match notice_of(err) {
        Ok(notice) => offer_again(token, notice).await,
        Err(reason) => Ok(StepView::new(Step::End { reason })),
    }
}

/// The browser secret, or the end of the road when this browser never claimed the link.
async fn claimed(token: &str) -> Result<String, StepView> {
    browser_secret(token).await.ok_or_else(|| {
        StepView::new(Step::End {
            reason: EndReason::LinkUsed,
        })
    })
}

/// The step as it stands now (after a change, or when nothing changed).
pub async fn current(token: &str, notice: Option<Notice>, chosen: Option<Factor>) -> Answer {
    let engine = engine()?;
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let view = match engine.handoff_view(token, &secret).await {
        Ok(view) => view,
        Err(err) => {
            return Ok(refused(
                &err,
                Step::End {
                    reason: EndReason::Ended,
                },
            ))
        }
    };
    let pending = pending_login(token).await;
    let mut next = step_view(
        &engine,
        token,
        &secret,
        &view.progress,
        pending.as_deref(),
        view.login_hint.as_deref(),
        chosen,
    )
    .await?;
    if next.notice.is_none() {
        next.notice = notice;
    }
    Ok(next)
}

/// The step a change led to.
async fn next_step(token: &str, secret: &str, progress: &HandoffProgress) -> Answer {
    let engine = engine()?;
    let pending = pending_login(token).await;
    step_view(
        &engine,
        token,
        secret,
        progress,
        pending.as_deref(),
        None,
        None,
    )
    .await
}

// --- the steps ---

pub async fn login_name(token: &str, login_name: String) -> Answer {
    let name = login_name.trim().to_owned();
    let stay = |value: &str| Step::LoginName {
        value: value.chars().take(MAX_LOGIN_NAME_CHARS).collect(),
        passkey: false,
    };
    if name.is_empty() {
        return Ok(StepView::with(stay(""), Some(Notice::Required)));
    }
    if name.chars().count() > MAX_LOGIN_NAME_CHARS || LoginName::parse(name.clone()).is_err() {
        return Ok(StepView::with(stay(&name), Some(Notice::TooLong)));
    }
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    set_cookie(
        &name_cookie(token),
        &utf8_percent_encode(&name, COMPONENT).to_string(),
        30 * 60,
    );
    let plain = plain_form_post().await;
    if plain {
        // Passkeys need JavaScript: without it the password step comes first.
        set_cookie(&password_cookie(token), "1", 30 * 60);
    }
    let engine = engine()?;
    let view = match engine.handoff_view(token, &secret).await {
        Ok(view) => view,
        Err(err) => return Ok(refused(&err, stay(&name))),
    };
    // The cookie is only being set: this request does not carry the name yet.
    let first = !plain && passkey_first(token, Some(&name)).await;
    let contacts = HandoffContacts::default();
    Ok(StepView::new(step_of(
        &view.progress,
        Some(&name),
        None,
        None,
        &contacts,
        first,
    )))
}

pub async fn password(token: &str, login_name: Option<String>, password: String) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    // The name from the form wins over the cookie (password managers may fill both).
    let name = match login_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
    {
        Some(n) => Some(n),
        None => pending_login(token).await,
    };
    let engine = engine()?;
    let stay = |notice| password_again(&engine, token, &secret, name.clone(), notice);
    if password.is_empty() {
        return stay(Notice::Required).await;
    }
    let Ok(password) = Password::parse(password) else {
        return stay(Notice::TooLong).await;
    };
    let user = match name.as_deref().map(LoginName::parse) {
        Some(Ok(n)) => Some(UserRef::LoginName(n)),
        Some(Err(_)) => return stay(Notice::WrongCredentials).await,
        None => None,
    };
    let change = SessionChange {
        checks: Checks {
            user,
            password: Some(password),
            ..Checks::default()
        },
        ..SessionChange::default()
    };
    match engine.handoff_set_session(token, &secret, change).await {
        Ok(progress) => {
            set_cookie(&name_cookie(token), "", 0);
            next_step(token, &secret, &progress).await
        }
        Err(err) => match notice_of(&err) {
            Ok(notice) => stay(notice).await,
            Err(reason) => Ok(StepView::new(Step::End { reason })),
        },
    }
}

/// The password step again with `notice`, as it was: "Use a passkey instead" included where
/// passkeys work (looked up only for a refusal, not on every sign-in).
async fn password_again(
    engine: &Engine,
    token: &str,
    secret: &str,
    login_name: Option<String>,
    notice: Notice,
) -> Answer {
    let passkey = engine
        .handoff_view(token, secret)
        .await
        .is_ok_and(|v| v.progress.passkeys);
    let step = Step::Password {
        login_name,
        passkey,
    };
    Ok(StepView::with(step, Some(notice)))
}

fn parse_factor(factor: &str) -> Option<Factor> {
    Factor::from_code(factor)
}

/// Opening a code step: SMS and email codes are sent now.
pub async fn choose(token: &str, factor: &str) -> Answer {
    let Some(factor) = parse_factor(factor) else {
        return current(token, Some(Notice::Required), None).await;
    };
    if !factor.is_sent() {
        return current(token, None, Some(factor)).await;
    }
    send_code(token, factor).await
}

pub async fn resend(token: &str, factor: &str) -> Answer {
    match parse_factor(factor).filter(|f| f.is_sent()) {
        Some(f) => send_code(token, f).await,
        None => current(token, None, None).await,
    }
}

async fn send_code(token: &str, factor: Factor) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let mut challenges = ChallengeRequests::default();
    match factor {
        Factor::Sms => challenges.otp_sms = Some(SmsCodeDelivery { return_code: false }),
        _ => challenges.otp_email = Some(EmailCodeDelivery::Send { url_template: None }),
    }
    let change = SessionChange {
        challenges,
        ..SessionChange::default()
    };
    let engine = engine()?;
    match engine.handoff_set_session(token, &secret, change).await {
        Ok(_) => current(token, Some(Notice::CodeSent), Some(factor)).await,
        // A code sent a moment ago is still good: show its step with the wait.
        Err(err) => refused_now(token, &err, Some(factor)).await,
    }
}

pub async fn code(token: &str, factor: &str, code: String) -> Answer {
    let Some(factor) = parse_factor(factor) else {
        return current(token, Some(Notice::Required), None).await;
    };
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let code: String = code.split_whitespace().collect();
    if code.is_empty() {
        return current(token, Some(Notice::Required), Some(factor)).await;
    }
    if code.chars().count() > MAX_SECRET_CHARS {
        return current(token, Some(Notice::TooLong), Some(factor)).await;
    }
    let mut checks = Checks::default();
    let parsed = match factor {
        Factor::Totp => TotpCode::parse(code).map(|c| checks.totp = Some(c)),
        Factor::Sms => OtpCode::parse(code).map(|c| checks.otp_sms = Some(c)),
        Factor::Email => OtpCode::parse(code).map(|c| checks.otp_email = Some(c)),
        Factor::Recovery => RecoveryCodeInput::parse(code).map(|c| checks.recovery_code = Some(c)),
        // Not typed: a code form naming one is someone else's form.
        Factor::Passkey | Factor::SecurityKey => {
            return current(token, None, Some(factor)).await;
        }
    };
    if parsed.is_err() {
        // A TOTP code of the wrong length simply is not right.
        return current(token, Some(Notice::CodeWrong), Some(factor)).await;
    }
    let change = SessionChange {
        checks,
        ..SessionChange::default()
    };
    let engine = engine()?;
    match engine.handoff_set_session(token, &secret, change).await {
        Ok(progress) => next_step(token, &secret, &progress).await,
        Err(err) => refused_now(token, &err, Some(factor)).await,
    }
}

pub async fn enroll(token: &str, code: String) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let code: String = code.split_whitespace().collect();
    if code.is_empty() {
        return current(token, Some(Notice::Required), None).await;
    }
    let Ok(code) = TotpCode::parse(code) else {
        return current(token, Some(Notice::CodeWrong), None).await;
    };
    let engine = engine()?;
    match engine
        .handoff_finish_totp_enrollment(token, &secret, code)
        .await
    {
        Ok(done) => {
            let codes: Vec<String> = done
                .recovery_codes
                .into_iter()
                .map(|c| c.into_inner())
                .collect();
            let accept = header(&headers().await, http::header::ACCEPT).unwrap_or_default();
            if accept.contains("text/html") {
                // Without JavaScript the codes cross one redirect in a short-lived HttpOnly
                // cookie that the next page view reads and deletes; they never enter a URL.
                set_cookie(&codes_cookie(token), &codes.join("."), 120);
            }
            Ok(StepView::new(Step::RecoveryCodes { codes }))
        }
        Err(err) => refused_now(token, &err, None).await,
    }
}

/// "Not you? Start again": forgets the typed login name; once the session has a user, the
/// engine starts a fresh session for the link.
pub async fn restart(token: &str) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    set_cookie(&name_cookie(token), "", 0);
    set_cookie(&password_cookie(token), "", 0);
    let engine = engine()?;
    if let Err(err) = engine.handoff_restart(token, &secret).await {
        if let Err(reason) = notice_of(&err) {
            return Ok(StepView::new(Step::End { reason }));
        }
    }
    // The cookie is cleared in the response; this request still carries it.
    let view = engine.handoff_view(token, &secret).await;
    match view {
        Ok(view) => Ok(StepView::new(step_of(
            &view.progress,
            None,
            view.login_hint.as_deref(),
            None,
            &HandoffContacts::default(),
            false,
        ))),
        Err(err) => Ok(refused(
            &err,
            Step::LoginName {
                value: String::new(),
                passkey: false,
            },
        )),
    }
}

// --- passkeys and security keys ---

/// The WebAuthn options as the browser's JSON parsers take them: the library writes absent
/// optional members as `null`, which `parse*OptionsFromJSON` refuses for enumerations.
pub fn browser_options(mut options: serde_json::Value) -> String {
    fn drop_nulls(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(drop_nulls);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
            _ => {}
        }
    }
    drop_nulls(&mut options);
    options.to_string()
}

/// A credential from the browser, or the notice that it is not one.
fn parse_credential(credential: Option<String>) -> Result<serde_json::Value, Notice> {
    let text = credential.unwrap_or_default();
    if text.is_empty() || text.len() > MAX_CREDENTIAL_CHARS {
        return Err(Notice::PasskeyFailed);
    }
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or(Notice::PasskeyFailed)
}

/// The factor a WebAuthn form names: a security key, else a passkey.
fn webauthn_factor(factor: &str) -> Factor {
    match Factor::from_code(factor) {
        Some(Factor::SecurityKey) => Factor::SecurityKey,
        _ => Factor::Passkey,
    }
}

/// Starts a passkey or security key sign-in: the answer keeps the step and carries the options
/// for `navigator.credentials.get()`. Before the login name this is a discoverable passkey
/// (the button, and autofill); afterwards, the user's own passkeys or security keys.
pub async fn webauthn_start(token: &str, factor: &str) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let factor = webauthn_factor(factor);
    let engine = engine()?;
    let started = engine
        .handoff_webauthn_challenge(token, &secret, factor == Factor::Passkey)
        .await;
    match started {
        Ok(progress) => {
            let mut view = current(token, None, Some(factor)).await?;
            match progress.challenges.web_auth_n {
                Some(options) => {
                    view.ceremony = Some(Ceremony {
                        options: browser_options(options),
                        registration_id: None,
                    });
                }
                None => view.notice = Some(Notice::Server),
            }
            Ok(view)
        }
        Err(err) => refused_now(token, &err, Some(factor)).await,
    }
}

/// Checks the credential the browser returned for the pending challenge.
pub async fn webauthn_check(token: &str, factor: &str, credential: Option<String>) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let factor = webauthn_factor(factor);
    let credential = match parse_credential(credential) {
        Ok(c) => c,
        Err(notice) => return current(token, Some(notice), Some(factor)).await,
    };
    let engine = engine()?;
    match engine
        .handoff_webauthn_check(token, &secret, credential)
        .await
    {
        Ok(progress) => {
            let passkeys = engine
                .handoff_passkeys(token, &secret)
                .await
                .unwrap_or_default();
            remember_passkey(&passkeys).await;
            let view = next_step(token, &secret, &progress).await?;
            Ok(offer_for(view, &passkeys).await)
        }
        Err(err) => refused_now(token, &err, Some(factor)).await,
    }
}

/// After a sign-in that just finished in a browser with JavaScript: offers a passkey to a user
/// who has none (skippable; a passwordless app's requirement is the engine's own step).
pub async fn offer_passkey(token: &str, view: StepView) -> Answer {
    if !matches!(view.step, Step::Done { .. }) {
        return Ok(view);
    }
    let Ok(secret) = claimed(token).await else {
        return Ok(view);
    };
    let engine = engine()?;
    let passkeys = engine
        .handoff_passkeys(token, &secret)
        .await
        .unwrap_or_default();
    Ok(offer_for(view, &passkeys).await)
}

/// [`offer_passkey`] with what is known of the user's passkeys: the offer in place of a
/// finished sign-in, unless this browser said "Not now" or runs no JavaScript.
async fn offer_for(view: StepView, passkeys: &HandoffPasskeys) -> StepView {
    let later = read_cookie(&headers().await, LATER_COOKIE).is_some();
    let offer = matches!(view.step, Step::Done { .. })
        && passkeys.can_register
        && !passkeys.has_passkey
        && !later
        && !plain_form_post().await;
    if offer {
        StepView::with(Step::PasskeyOffer, view.notice)
    } else {
        view
    }
}

/// Set by "Not now": this browser is not offered a passkey again for a while.
const LATER_COOKIE: &str = "vestibule_passkey_later";
const LATER_SECONDS: i64 = 30 * 24 * 60 * 60;

/// "Not now" on the offer: on to the app, and no offer in this browser for 30 days. A
/// passwordless app's requirement stays.
pub async fn passkey_skip(token: &str) -> Answer {
    if let Err(view) = claimed(token).await {
        return Ok(view);
    }
    set_cookie(LATER_COOKIE, "1", LATER_SECONDS);
    current(token, None, None).await
}

/// The same offer again, with a notice (a registration that did not work out).
async fn offer_again(token: &str, notice: Notice) -> Answer {
    let view = current(token, Some(notice), None).await?;
    Ok(match view.step {
        Step::Done { .. } => StepView::with(Step::PasskeyOffer, Some(notice)),
        _ => view,
    })
}

/// Starts registering a passkey: the answer keeps the offer and carries the options for
/// `navigator.credentials.create()`.
pub async fn passkey_register(token: &str) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let engine = engine()?;
    match engine
        .handoff_start_passkey_registration(token, &secret)
        .await
    {
        Ok(registration) => {
            let mut view = current(token, None, None).await?;
            if let Step::Done { .. } = view.step {
                view.step = Step::PasskeyOffer;
            }
            view.ceremony = Some(Ceremony {
                options: browser_options(registration.options),
                registration_id: Some(registration.registration_id),
            });
            Ok(view)
        }
        Err(err) => refused_offer(token, &err).await,
    }
}

/// Saves the passkey the browser created; the login then goes on (for a passwordless app: to
/// signing in with the new passkey).
pub async fn passkey_registered(
    token: &str,
    registration_id: Option<String>,
    credential: Option<String>,
) -> Answer {
    let secret = match claimed(token).await {
        Ok(s) => s,
        Err(view) => return Ok(view),
    };
    let credential = match parse_credential(credential) {
        Ok(c) => c,
        Err(notice) => return offer_again(token, notice).await,
    };
    let registration_id = registration_id.unwrap_or_default();
    if registration_id.is_empty() || registration_id.len() > MAX_CREDENTIAL_CHARS {
        return offer_again(token, Notice::PasskeyFailed).await;
    }
    let engine = engine()?;
    match engine
        .handoff_finish_passkey_registration(token, &secret, &registration_id, &credential, None)
        .await
    {
        Ok(_) => {
            if let Ok(passkeys) = engine.handoff_passkeys(token, &secret).await {
                remember_passkey(&passkeys).await;
            }
            current(token, Some(Notice::PasskeyCreated), None).await
        }
        Err(err) => refused_offer(token, &err).await,
    }
}

/// "Use my password instead" on the passkey-first step (remembered for this link).
pub async fn use_password(token: &str) -> Answer {
    if let Err(view) = claimed(token).await {
        return Ok(view);
    }
    set_cookie(&password_cookie(token), "1", 30 * 60);
    let view = current(token, None, None).await?;
    Ok(match view.step {
        Step::PasskeyFirst => StepView::new(Step::Password {
            login_name: pending_login(token).await,
            passkey: true,
        }),
        _ => view,
    })
}

#[cfg(test)]
mod tests;
