//! What the console page and its island exchange: the step to show and the notice above it.
//! These types travel to the browser, so they hold only what the page may show.

use serde::{Deserialize, Serialize};

use crate::i18n::{Counted, Key, Lang};

/// A second factor the page can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Factor {
    /// A passkey also proves the second factor.
    Passkey,
    SecurityKey,
    Totp,
    Sms,
    Email,
    Recovery,
}

impl Factor {
    /// Every factor, in the order the choice lists them.
    pub const ALL: [Factor; 6] = [
        Factor::Passkey,
        Factor::SecurityKey,
        Factor::Totp,
        Factor::Sms,
        Factor::Email,
        Factor::Recovery,
    ];

    /// The value of the radio button and of the `f` query parameter.
    pub fn code(self) -> &'static str {
        match self {
            Factor::Passkey => "passkey",
            Factor::SecurityKey => "security-key",
            Factor::Totp => "totp",
            Factor::Sms => "sms",
            Factor::Email => "email",
            Factor::Recovery => "recovery",
        }
    }

    /// Checked by a WebAuthn ceremony in the browser (needs JavaScript), not by a typed code.
    pub fn is_webauthn(self) -> bool {
        matches!(self, Factor::Passkey | Factor::SecurityKey)
    }

    pub fn from_code(code: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.code() == code)
    }

    /// Codes of this factor are sent by the server when the step opens.
    pub fn is_sent(self) -> bool {
        matches!(self, Factor::Sms | Factor::Email)
    }
}

/// The form a post comes from: the `op` field of every console form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// The page's script runs: the link is bound to this browser (every other step binds it
    /// too; a page view never does).
    Begin,
    LoginName,
    Password,
    Choose,
    Code,
    Resend,
    Restart,
    Enroll,
    /// After the recovery codes.
    Finish,
    /// "Choose another way".
    Back,
    // With JavaScript only:
    WebauthnStart,
    Webauthn,
    PasskeyRegister,
    PasskeyRegistered,
    PasskeySkip,
    UsePassword,
}

/// A factor offered in the choice, with where its code would go (masked), when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorOption {
    pub factor: Factor,
    pub to: String,
}

/// Why the login cannot go on from this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    LinkNotFound,
    LinkUsed,
    LinkExpired,
    /// Cancelled, expired session or deactivated user.
    Ended,
    /// The app requires a way to sign in this page cannot offer (for example passkeys on a server
    /// whose public URL is an IP address).
    Unavailable,
}

impl EndReason {
    pub fn key(self) -> Key {
        match self {
            EndReason::LinkNotFound => Key::ErrLinkNotFound,
            EndReason::LinkUsed => Key::ErrLinkUsed,
            EndReason::LinkExpired => Key::ErrLinkExpired,
            EndReason::Ended => Key::ErrEnded,
            EndReason::Unavailable => Key::ErrUnavailable,
        }
    }
}

/// One step of the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Prefilled with the app's `login_hint`, or with what the person typed before. `passkey`:
    /// the app takes passkeys here (the button, and autofill on the field).
    LoginName {
        value: String,
        passkey: bool,
    },
    /// `login_name` is `None` when the session already knows the user. `passkey`: "Sign in with
    /// a passkey" is offered next to the password.
    Password {
        login_name: Option<String>,
        passkey: bool,
    },
    /// Sign in with a passkey first: this browser remembers that the typed name has one; "Use
    /// my password instead" is offered.
    PasskeyFirst,
    /// Sign in with a passkey, the only way left (a passwordless app, for a user who has one).
    PasskeyOnly,
    Choose {
        options: Vec<FactorOption>,
    },
    /// `to`: the masked address a code was sent to (SMS and email). `others`: the user has
    /// another allowed way ("Choose another way" is offered).
    Code {
        factor: Factor,
        to: String,
        others: bool,
    },
    /// A passkey or security key as the second factor.
    WebAuthn {
        factor: Factor,
        others: bool,
    },
    /// Create a passkey now, offered after a sign-in ("Not now" skips it).
    PasskeyOffer,
    /// Create a passkey now: a passwordless app requires one before the sign-in can finish.
    PasskeyRequired,
    /// Set up an authenticator app: the QR code as a `data:` URL and the key as text.
    Enroll {
        qr_data_url: String,
        secret: String,
    },
    /// Shown once, after enrollment.
    RecoveryCodes {
        codes: Vec<String>,
    },
    /// `redirect`: where the browser goes next; `None`: a signed-in page.
    Done {
        redirect: Option<String>,
    },
    End {
        reason: EndReason,
    },
}

impl Step {
    /// Steps after the first offer "Not you? Start again".
    pub fn can_restart(&self) -> bool {
        matches!(
            self,
            Step::Password { .. }
                | Step::PasskeyFirst
                | Step::PasskeyOnly
                | Step::Choose { .. }
                | Step::Code { .. }
                | Step::WebAuthn { .. }
                | Step::Enroll { .. }
                | Step::PasskeyRequired
        )
    }

    /// The `f` query parameter that brings a reload back to this step (no-JS path).
    pub fn factor(&self) -> Option<Factor> {
        match self {
            Step::Code { factor, .. } | Step::WebAuthn { factor, .. } => Some(*factor),
            _ => None,
        }
    }
}

/// A message above the step. Each has a short code for the query string of the no-JS redirect,
/// so no raw error id or text ever travels in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// Unknown login name or wrong password: one message for both.
    WrongCredentials,
    AttemptsLeft(u32),
    LockedMinutes(u32),
    CodeWrong,
    CodeWrongLeft(u32),
    CodeExpired,
    CodeAttempts,
    TooManyCodes(u32),
    Required,
    TooLong,
    Busy,
    Server,
    /// The person closed the browser's passkey dialog, or it timed out.
    PasskeyCancelled,
    /// The authenticator offered a credential this server does not know (removed, or another
    /// site's account).
    PasskeyUnknown,
    /// This browser has no WebAuthn.
    PasskeyUnsupported,
    /// The credential did not verify.
    PasskeyFailed,
    /// The ceremony took longer than its challenge lives.
    PasskeyExpired,
    /// This authenticator already holds a passkey for the account.
    PasskeyExists,
    /// A new passkey was saved.
    PasskeyCreated,
    /// The hosted page's rate limits refused the request: seconds until it takes more. Sent
    /// only in their 429 answer to the island, whose step is a placeholder: the island keeps
    /// the step it shows and puts this notice above it.
    TooManyTries(u32),
    /// The link was tried with too many login names and takes no new one.
    TooManyNames,
}

impl Notice {
    /// `kind` or `kind-number`, as put in the `n` query parameter.
    pub fn code(self) -> String {
        match self {
            Notice::WrongCredentials => "wrong".into(),
            Notice::AttemptsLeft(n) => format!("left-{n}"),
            Notice::LockedMinutes(n) => format!("locked-{n}"),
            Notice::CodeWrong => "code".into(),
            Notice::CodeWrongLeft(n) => format!("codeleft-{n}"),
            Notice::CodeExpired => "codeexp".into(),
            Notice::CodeAttempts => "codeatt".into(),
            Notice::TooManyCodes(n) => format!("wait-{n}"),
            Notice::Required => "required".into(),
            Notice::TooLong => "long".into(),
            Notice::Busy => "busy".into(),
            Notice::Server => "server".into(),
            Notice::PasskeyCancelled => "pkcancel".into(),
            Notice::PasskeyUnknown => "pkunknown".into(),
            Notice::PasskeyUnsupported => "pkbrowser".into(),
            Notice::PasskeyFailed => "pkfail".into(),
            Notice::PasskeyExpired => "pkexp".into(),
            Notice::PasskeyExists => "pkexists".into(),
            Notice::PasskeyCreated => "pkadded".into(),
            Notice::TooManyTries(n) => format!("many-{n}"),
            Notice::TooManyNames => "names".into(),
        }
    }

    /// The inverse of [`Notice::code`]; anything else (a hand-edited URL) is ignored.
    pub fn from_code(code: &str) -> Option<Notice> {
        let (kind, number) = match code.split_once('-') {
            Some((kind, n)) => (kind, Some(n.parse::<u32>().ok()?.min(100_000))),
            None => (code, None),
        };
        Some(match (kind, number) {
            ("wrong", None) => Notice::WrongCredentials,
            ("left", Some(n)) => Notice::AttemptsLeft(n),
            ("locked", Some(n)) => Notice::LockedMinutes(n),
            ("code", None) => Notice::CodeWrong,
            ("codeleft", Some(n)) => Notice::CodeWrongLeft(n),
            ("codeexp", None) => Notice::CodeExpired,
            ("codeatt", None) => Notice::CodeAttempts,
            ("wait", Some(n)) => Notice::TooManyCodes(n),
            ("required", None) => Notice::Required,
            ("long", None) => Notice::TooLong,
            ("busy", None) => Notice::Busy,
            ("server", None) => Notice::Server,
            ("pkcancel", None) => Notice::PasskeyCancelled,
            ("pkunknown", None) => Notice::PasskeyUnknown,
            ("pkbrowser", None) => Notice::PasskeyUnsupported,
            ("pkfail", None) => Notice::PasskeyFailed,
            ("pkexp", None) => Notice::PasskeyExpired,
            ("pkexists", None) => Notice::PasskeyExists,
            ("pkadded", None) => Notice::PasskeyCreated,
            ("many", Some(n)) => Notice::TooManyTries(n),
            ("names", None) => Notice::TooManyNames,
            _ => return None,
        })
    }

    /// Errors are announced at once (`role=alert`); confirmations politely (`role=status`).
    pub fn is_error(self) -> bool {
        !matches!(self, Notice::PasskeyCreated)
    }

    /// The sentence a person reads.
    pub fn text(self, lang: Lang) -> String {
        match self {
            Notice::WrongCredentials => lang.text(Key::ErrWrongCredentials).into(),
            Notice::AttemptsLeft(left) => format!(
                "{} {}",
                lang.text(Key::ErrWrongCredentials),
                lang.count(Counted::AttemptsLeft, left)
            ),
            Notice::LockedMinutes(m) => lang.count(Counted::LockedMinutes, m.max(1)),
            Notice::CodeWrong => lang.text(Key::ErrCodeWrong).into(),
            Notice::CodeWrongLeft(left) => format!(
                "{} {}",
                lang.text(Key::ErrCodeWrong),
                lang.count(Counted::AttemptsLeft, left)
            ),
            Notice::CodeExpired => lang.text(Key::ErrCodeExpired).into(),
            Notice::CodeAttempts => lang.text(Key::ErrCodeAttempts).into(),
            Notice::TooManyCodes(s) => lang.count(Counted::WaitSeconds, s),
            Notice::Required => lang.text(Key::ErrRequired).into(),
            Notice::TooLong => lang.text(Key::ErrTooLong).into(),
            Notice::Busy => lang.text(Key::ErrBusy).into(),
            Notice::Server => lang.text(Key::ErrServer).into(),
            Notice::PasskeyCancelled => lang.text(Key::ErrPasskeyCancelled).into(),
            Notice::PasskeyUnknown => lang.text(Key::ErrPasskeyUnknown).into(),
            Notice::PasskeyUnsupported => lang.text(Key::ErrPasskeyUnsupported).into(),
            Notice::PasskeyFailed => lang.text(Key::ErrPasskeyFailed).into(),
            Notice::PasskeyExpired => lang.text(Key::ErrPasskeyExpired).into(),
            Notice::PasskeyExists => lang.text(Key::ErrPasskeyExists).into(),
            Notice::PasskeyCreated => lang.text(Key::PasskeyCreated).into(),
            Notice::TooManyTries(s) => lang.count(Counted::TryAgainIn, s.max(1)),
            Notice::TooManyNames => lang.text(Key::ErrTooManyNames).into(),
        }
    }
}

/// A WebAuthn ceremony the browser is to run next. The options are the server's JSON for
/// `PublicKeyCredential.parseRequestOptionsFromJSON` / `parseCreationOptionsFromJSON`, passed
/// through as text. (One struct rather than an enum of two: every serde shape costs the wasm.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    pub options: String,
    /// `None`: a sign-in, `navigator.credentials.get()`, whose credential goes back with
    /// `op=webauthn`. `Some`: a registration, `navigator.credentials.create()`, whose credential
    /// goes back with `op=passkey-registered` and this id.
    pub registration_id: Option<String>,
}

/// What a server function answers and what the page starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    pub step: Step,
    pub notice: Option<Notice>,
    /// "Signing in as …", on every step after the user is known.
    #[serde(default)]
    pub who: Option<String>,
    /// Only in answers to the island (never on a rendered page).
    #[serde(default)]
    pub ceremony: Option<Ceremony>,
}

impl StepView {
    pub fn new(step: Step) -> Self {
        Self::with(step, None)
    }
    pub fn with(step: Step, notice: Option<Notice>) -> Self {
        Self {
            step,
            notice,
            who: None,
            ceremony: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_codes_round_trip_and_junk_is_ignored() {
        let all = [
            Notice::WrongCredentials,
            Notice::AttemptsLeft(3),
            Notice::LockedMinutes(15),
            Notice::CodeWrong,
            Notice::CodeWrongLeft(2),
            Notice::CodeExpired,
            Notice::CodeAttempts,
            Notice::TooManyCodes(30),
            Notice::Required,
            Notice::TooLong,
            Notice::Busy,
            Notice::Server,
            Notice::PasskeyCancelled,
            Notice::PasskeyUnknown,
            Notice::PasskeyUnsupported,
            Notice::PasskeyFailed,
            Notice::PasskeyExpired,
            Notice::PasskeyExists,
            Notice::PasskeyCreated,
            Notice::TooManyTries(42),
            Notice::TooManyNames,
        ];
        for notice in all {
            assert_eq!(Notice::from_code(&notice.code()), Some(notice));
        }
        for junk in [
            "",
            "left",
            "left-",
            "left-x",
            "wrong-1",
            "<script>",
            "locked--1",
        ] {
            assert_eq!(Notice::from_code(junk), None, "{junk:?}");
        }
        assert_eq!(
            Notice::from_code("left-99999999999999"),
            None,
            "overflow is junk"
        );
    }

    #[test]
    fn notices_read_as_sentences_in_every_language() {
        for lang in Lang::ALL {
            let text = Notice::AttemptsLeft(2).text(lang);
            assert!(text.contains('2'), "{lang:?}: {text}");
            let text = Notice::LockedMinutes(15).text(lang);
            assert!(
                text.contains("15") && !text.contains('{'),
                "{lang:?}: {text}"
            );
        }
        assert_eq!(
            Notice::WrongCredentials.text(Lang::En),
            "The login name or password is not right."
        );
    }

    #[test]
    fn factors_parse_from_their_codes_only() {
        for f in Factor::ALL {
            assert_eq!(Factor::from_code(f.code()), Some(f));
        }
        assert_eq!(Factor::from_code("TOTP"), None);
        assert_eq!(Factor::from_code("Passkey"), None);
        assert_eq!(Factor::from_code("security_key"), None);
        assert!(Factor::ALL
            .into_iter()
            .filter(|f| f.is_webauthn())
            .all(|f| !f.is_sent()));
    }
}
