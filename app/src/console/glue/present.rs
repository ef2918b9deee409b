//! From the engine's answer to what the page shows: the step, the notice above it, the app's
//! branding. Pure functions of what the request already has; nothing here reads the store.

use domain::model::{Branding, FactorKind};
use domain::service::{HandoffCompletion, HostedStep, LoginEnd, Next};
use domain::DomainError;
use percent_encoding::utf8_percent_encode;

use super::super::wire::{EndReason, Factor, FactorOption, Notice, Step, StepView};
use super::COMPONENT;

/// What the page knows besides the engine's answer.
#[derive(Debug, Clone, Default)]
pub struct Seen<'a> {
    /// The login name typed at the first step (kept in a cookie until the password is sent).
    pub pending: Option<&'a str>,
    /// The app's `login_hint`.
    pub hint: Option<&'a str>,
    /// The factor the person picked (the `f` query parameter, or the form's).
    pub chosen: Option<Factor>,
    /// This browser remembers that `pending` signs in with a passkey.
    pub passkey_first: bool,
}

/// The page's end for the engine's.
pub fn end_reason(end: LoginEnd) -> EndReason {
    match end {
        LoginEnd::LinkNotFound => EndReason::LinkNotFound,
        LoginEnd::LinkUsed => EndReason::LinkUsed,
        LoginEnd::LinkExpired => EndReason::LinkExpired,
        LoginEnd::Ended => EndReason::Ended,
        LoginEnd::Unavailable => EndReason::Unavailable,
    }
}

/// The page's factor for an engine factor kind (passwords are not a factor of the choice).
fn factor_of(kind: FactorKind) -> Option<Factor> {
    Some(match kind {
        FactorKind::Passkey => Factor::Passkey,
        FactorKind::SecurityKey => Factor::SecurityKey,
        FactorKind::Totp => Factor::Totp,
        FactorKind::OtpSms => Factor::Sms,
        FactorKind::OtpEmail => Factor::Email,
        FactorKind::RecoveryCode => Factor::Recovery,
        FactorKind::Password => return None,
    })
}

/// The engine factor kind a page factor checks.
pub fn kind_of(factor: Factor) -> FactorKind {
    match factor {
        Factor::Passkey => FactorKind::Passkey,
        Factor::SecurityKey => FactorKind::SecurityKey,
        Factor::Totp => FactorKind::Totp,
        Factor::Sms => FactorKind::OtpSms,
        Factor::Email => FactorKind::OtpEmail,
        Factor::Recovery => FactorKind::RecoveryCode,
    }
}

/// The step the engine's answer leads to.
pub fn step_of(hosted: &HostedStep, seen: &Seen<'_>) -> Step {
    let passkey = hosted.passkeys;
    match &hosted.next {
        Next::Done(completion) => Step::Done {
            redirect: match completion {
                HandoffCompletion::Redirect(url) => Some(url.clone()),
                HandoffCompletion::SignedIn => None,
            },
        },
        Next::User => match seen.pending {
            Some(_) if passkey && seen.passkey_first => Step::PasskeyFirst,
            Some(name) => Step::Password {
                login_name: Some(name.to_owned()),
                passkey,
            },
            None => Step::LoginName {
                value: seen.hint.unwrap_or_default().to_owned(),
                passkey,
            },
        },
        Next::FirstFactor {
            password: true,
            passkey,
        } => Step::Password {
            login_name: None,
            passkey: *passkey,
        },
        Next::FirstFactor { .. } => Step::PasskeyOnly,
        Next::SecondFactor { options } => {
            let offered: Vec<FactorOption> = options
                .iter()
                .filter_map(|kind| {
                    let factor = factor_of(*kind)?;
                    let to = match factor {
                        Factor::Sms => hosted.contacts.phone.clone(),
                        Factor::Email => hosted.contacts.email.clone(),
                        _ => None,
                    };
                    Some(FactorOption {
                        factor,
                        to: to.unwrap_or_default(),
                    })
                })
                .collect();
            let others = offered.len() > 1;
            let step_for = |option: &FactorOption| {
                if option.factor.is_webauthn() {
                    Step::WebAuthn {
                        factor: option.factor,
                        others,
                    }
                } else {
                    Step::Code {
                        factor: option.factor,
                        to: option.to.clone(),
                        others,
                    }
                }
            };
            let chosen = seen
                .chosen
                .or(hosted.code_sent.and_then(factor_of))
                .and_then(|f| offered.iter().find(|o| o.factor == f));
            match (chosen, offered.as_slice()) {
                (Some(option), _) => step_for(option),
                // One factor whose code needs no sending: straight to it.
                (None, [only]) if !only.factor.is_sent() => step_for(only),
                _ => Step::Choose { options: offered },
            }
        }
        Next::EnrollTotp(enrollment) => Step::Enroll {
            qr_data_url: format!(
                "data:image/svg+xml,{}",
                utf8_percent_encode(enrollment.qr_svg.expose(), COMPONENT)
            ),
            secret: enrollment.secret_base32.expose().clone(),
        },
        Next::PasskeyRequired => Step::PasskeyRequired,
        Next::Ended(end) => Step::End {
            reason: end_reason(*end),
        },
    }
}

/// The view of an answer: its step, the notice its refusal reads as, and who is signing in
/// (on every step after the user is known). A sent code is not a notice: the code step says
/// where it went.
pub fn view_of(hosted: &HostedStep, seen: &Seen<'_>) -> StepView {
    let step = step_of(hosted, seen);
    let notice = hosted.refused.as_ref().and_then(|err| notice_of(err).ok());
    let who = if step.can_restart() {
        hosted
            .login_name
            .clone()
            .or_else(|| seen.pending.map(str::to_owned))
    } else {
        None
    };
    StepView {
        who,
        ..StepView::with(step, notice)
    }
}

/// A refusal as the person reads it; `Err` when the login cannot go on from this page.
pub fn notice_of(err: &DomainError) -> Result<Notice, EndReason> {
    use DomainError as E;
    if let Some(end) = LoginEnd::of(err) {
        return Err(end_reason(end));
    }
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
        E::LoginNamesSpent { .. } => Notice::TooManyNames,
        E::WebAuthnCredentialUnknown | E::WebAuthnNotReady => Notice::PasskeyUnknown,
        E::WebAuthnAssertionInvalid
        | E::WebAuthnRegistrationInvalid
        | E::WebAuthnCredentialRejected
        | E::WebAuthnDomainMismatch { .. }
        | E::WebAuthnCredentialNew => Notice::PasskeyFailed,
        E::WebAuthnNoChallenge | E::WebAuthnChallengeExpired => Notice::PasskeyExpired,
        E::WebAuthnCredentialExists => Notice::PasskeyExists,
        E::WebAuthnUnavailable => Notice::PasskeyUnsupported,
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

/// Branding as custom properties, from the colours the engine's rule lets through
/// (`#rrggbb`), so nothing else can reach the style sheet.
pub fn brand_css(branding: &Branding) -> Option<String> {
    let mut css = String::new();
    if let Some(p) = branding.page_primary() {
        let contrast = if is_light(p) { "#111111" } else { "#ffffff" };
        css.push_str(&format!(":root{{--brand:{p};--brand-contrast:{contrast}}}"));
    }
    if let Some(b) = branding.page_background() {
        let text = if is_light(b) { "#1b1d24" } else { "#f2f3f7" };
        // The app's background applies to the light theme; dark keeps ours.
        css.push_str(&format!(
            "@media (prefers-color-scheme: light){{:root{{--bg:{b};--page-text:{text}}}}}"
        ));
    }
    (!css.is_empty()).then_some(css)
}

/// Whether a `#rrggbb` colour is light (dark text reads better on it).
fn is_light(c: &str) -> bool {
    let hex = c.trim_start_matches('#');
    let channel = |i: usize| -> f32 {
        let v = hex
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        f32::from(v.unwrap_or(0)) / 255.0
    };
    0.299 * channel(0) + 0.587 * channel(1) + 0.114 * channel(2) > 0.6
}

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
