//! Delivery of one-time codes by email and SMS: the `Notifier` port, url templates, and two
//! implementations for tests and development (real SMTP/HTTP senders live in `server`).

use std::sync::Mutex;

use async_trait::async_trait;

use crate::crypto::Secret;
use crate::error::DomainError;

/// Who a code is for; also what a url template can mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeContext {
    pub user_id: String,
    pub login_name: String,
    pub display_name: String,
    pub preferred_language: Option<String>,
    pub session_id: String,
    /// The link rendered from the request's url template (it contains the code), if one was given.
    pub url: Option<Secret<String>>,
}

/// Whether a sign-in method came or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodChange {
    Added,
    Removed,
}

/// Where a change to a person's sign-in methods was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedFrom {
    /// A browser signed in as the person (the hosted page): its description, when it sent one.
    Browser(Option<String>),
    /// An administrator, through the admin API or the command line.
    Administrator,
}

/// A notice to the person that a sign-in method was added to or removed from their account, so
/// that a change they did not make does not go unseen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodNotice {
    pub user_id: String,
    pub login_name: String,
    pub display_name: String,
    pub preferred_language: Option<String>,
    pub change: MethodChange,
    pub methods: Vec<crate::model::FactorKind>,
    pub at: time::OffsetDateTime,
    pub from: ChangedFrom,
}

/// The languages a notice is written in; anything else gets English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoticeLang {
    En,
    De,
    Fr,
    Es,
}

impl NoticeLang {
    /// The first supported language of a tag like `de-CH` or a list like `fr, en;q=0.5`.
    fn of(preferred: Option<&str>) -> Self {
        let tags = preferred.unwrap_or_default().split(',');
        for tag in tags {
            let primary = tag.split([';', '-', '_']).next().unwrap_or_default().trim();
            match primary.to_ascii_lowercase().as_str() {
                "en" => return Self::En,
                "de" => return Self::De,
                "fr" => return Self::Fr,
                "es" => return Self::Es,
                _ => {}
            }
        }
        Self::En
    }
}

impl MethodNotice {
    /// The subject and plain-text body, in the person's language.
    pub fn render(&self) -> (String, String) {
        use crate::model::FactorKind as K;
        let lang = NoticeLang::of(self.preferred_language.as_deref());
        let name = |k: &K| -> &'static str {
            match (lang, k) {
                (NoticeLang::De, K::Password) => "Passwort",
                (NoticeLang::Fr, K::Password) => "mot de passe",
                (NoticeLang::Es, K::Password) => "contraseña",
                (_, K::Password) => "password",
                (NoticeLang::De, K::Totp) => "Authenticator-App (TOTP)",
                (NoticeLang::Fr, K::Totp) => "application d'authentification (TOTP)",
                (NoticeLang::Es, K::Totp) => "aplicación de autenticación (TOTP)",
                (_, K::Totp) => "authenticator app (TOTP)",
                (NoticeLang::De, K::OtpSms) => "Codes per SMS",
                (NoticeLang::Fr, K::OtpSms) => "codes par SMS",
                (NoticeLang::Es, K::OtpSms) => "códigos por SMS",
                (_, K::OtpSms) => "codes by SMS",
                (NoticeLang::De, K::OtpEmail) => "Codes per E-Mail",
                (NoticeLang::Fr, K::OtpEmail) => "codes par e-mail",
                (NoticeLang::Es, K::OtpEmail) => "códigos por correo",
                (_, K::OtpEmail) => "codes by email",
                (NoticeLang::De, K::RecoveryCode) => "Wiederherstellungscodes",
                (NoticeLang::Fr, K::RecoveryCode) => "codes de récupération",
                (NoticeLang::Es, K::RecoveryCode) => "códigos de recuperación",
                (_, K::RecoveryCode) => "recovery codes",
                (_, K::Passkey) => "passkey",
                (NoticeLang::De, K::SecurityKey) => "Sicherheitsschlüssel",
                (NoticeLang::Fr, K::SecurityKey) => "clé de sécurité",
                (NoticeLang::Es, K::SecurityKey) => "llave de seguridad",
                (_, K::SecurityKey) => "security key",
            }
        };
        let methods = self.methods.iter().map(name).collect::<Vec<_>>().join(", ");
        let at = self
            .at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let t = lang.texts();
        let from = match &self.from {
            ChangedFrom::Browser(Some(ua)) => ua.as_str(),
            ChangedFrom::Browser(None) => t.unknown_browser,
            ChangedFrom::Administrator => t.administrator,
        };
        let (subject, done) = match self.change {
            MethodChange::Added => (t.added_subject, t.added),
            MethodChange::Removed => (t.removed_subject, t.removed),
        };
        let body = [
            format!("{} {},", t.hello, self.display_name),
            t.what
                .replace("{account}", &self.login_name)
                .replace("{done}", done)
                .replace("{methods}", &methods),
            format!("{} {at}", t.when),
            format!("{} {from}", t.from),
            t.advice.to_owned(),
        ]
        .join("\n\n");
        (subject.to_owned(), body)
    }
}

/// The words of a notice in one language.
struct NoticeTexts {
    added_subject: &'static str,
    removed_subject: &'static str,
    hello: &'static str,
    /// With `{account}`, `{done}` (added / removed) and `{methods}`.
    what: &'static str,
    added: &'static str,
    removed: &'static str,
    when: &'static str,
    from: &'static str,
    unknown_browser: &'static str,
    administrator: &'static str,
    advice: &'static str,
}

impl NoticeLang {
    fn texts(self) -> NoticeTexts {
        match self {
            Self::En => NoticeTexts {
                added_subject: "New sign-in method",
                removed_subject: "Sign-in method removed",
                hello: "Hello",
                what: "on your account {account}, this sign-in method was {done}: {methods}.",
                added: "added",
                removed: "removed",
                when: "When:",
                from: "From:",
                unknown_browser: "unknown browser",
                administrator: "an administrator",
                advice: "If this was not you, change your password and review your sign-in methods.",
            },
            Self::De => NoticeTexts {
                added_subject: "Neue Anmeldemethode",
                removed_subject: "Anmeldemethode entfernt",
                hello: "Hallo",
                what: "für Ihr Konto {account} wurde {done}: {methods}.",
                added: "hinzugefügt",
                removed: "entfernt",
                when: "Wann:",
                from: "Von:",
                unknown_browser: "unbekannter Browser",
                administrator: "ein Administrator",
                advice: "Waren Sie das nicht, ändern Sie Ihr Passwort und prüfen Sie Ihre Anmeldemethoden.",
            },
            Self::Fr => NoticeTexts {
                added_subject: "Nouvelle méthode de connexion",
                removed_subject: "Méthode de connexion supprimée",
                hello: "Bonjour",
                what: "sur votre compte {account}, {done} : {methods}.",
                added: "ajouté",
                removed: "supprimé",
                when: "Quand :",
                from: "Depuis :",
                unknown_browser: "navigateur inconnu",
                administrator: "un administrateur",
                advice: "Si ce n'était pas vous, changez votre mot de passe et vérifiez vos méthodes de connexion.",
            },
            Self::Es => NoticeTexts {
                added_subject: "Nuevo método de inicio de sesión",
                removed_subject: "Método de inicio de sesión eliminado",
                hello: "Hola",
                what: "en su cuenta {account} se ha {done}: {methods}.",
                added: "añadido",
                removed: "eliminado",
                when: "Cuándo:",
                from: "Desde:",
                unknown_browser: "navegador desconocido",
                administrator: "un administrador",
                advice: "Si no fue usted, cambie su contraseña y revise sus métodos de inicio de sesión.",
            },
        }
    }
}

/// A delivery failure; the text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery failed: {0}")]
pub struct NotifyError(pub String);

/// Sends codes to people.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Sends `code` to the email address `to`.
    async fn send_email_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), NotifyError>;
    /// Sends `code` to the phone number `to`.
    async fn send_sms_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), NotifyError>;
    /// Emails `to` that a sign-in method was added or removed ([`MethodNotice::render`]).
    async fn send_method_notice(&self, to: &str, notice: &MethodNotice) -> Result<(), NotifyError>;
}

const PLACEHOLDERS: [&str; 6] = [
    ".Code",
    ".UserID",
    ".LoginName",
    ".DisplayName",
    ".PreferredLanguage",
    ".SessionID",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(usize),
}

/// A url template with `{{.Code}} {{.UserID}} {{.LoginName}} {{.DisplayName}}
/// {{.PreferredLanguage}} {{.SessionID}}` placeholders, validated when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(Vec<Piece>);

impl UrlTemplate {
    /// Parses a template of 1–200 characters; unknown or unclosed placeholders are refused.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let len = text.chars().count();
        if len == 0 || len > 200 {
            return Err(DomainError::InvalidUrlTemplate {
                reason: "must be 1 to 200 characters",
            });
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let (before, after_open) = rest.split_at(start);
            if !before.is_empty() {
                pieces.push(Piece::Text(before.to_owned()));
            }
            let inner_and_more = &after_open[2..];
            let Some(end) = inner_and_more.find("}}") else {
                return Err(DomainError::InvalidUrlTemplate {
                    reason: "unclosed placeholder",
                });
            };
            let name = inner_and_more[..end].trim();
            let Some(index) = PLACEHOLDERS.iter().position(|p| *p == name) else {
                return Err(DomainError::InvalidUrlTemplate {
                    reason: "unknown placeholder",
                });
            };
            pieces.push(Piece::Field(index));
            rest = &inner_and_more[end + 2..];
        }
        if rest.contains("}}") {
            return Err(DomainError::InvalidUrlTemplate {
                reason: "unopened placeholder",
            });
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self(pieces))
    }

    /// Fills in the placeholders (values are inserted as they are, like the contract's Go templates).
    pub fn render(&self, code: &str, context: &CodeContext) -> Secret<String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(0) => out.push_str(code),
                Piece::Field(1) => out.push_str(&context.user_id),
                Piece::Field(2) => out.push_str(&context.login_name),
                Piece::Field(3) => out.push_str(&context.display_name),
                Piece::Field(4) => {
                    out.push_str(context.preferred_language.as_deref().unwrap_or(""))
                }
                Piece::Field(_) => out.push_str(&context.session_id),
            }
        }
        Secret::new(out)
    }
}

/// Which way a recorded message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentVia {
    Email,
    Sms,
}

/// A message kept by [`RecordingNotifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    pub via: SentVia,
    pub to: String,
    pub code: Secret<String>,
    pub context: CodeContext,
}

/// Keeps every message in memory (tests); can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    sent: Mutex<Vec<SentCode>>,
    notices: Mutex<Vec<(String, MethodNotice)>>,
    fail: Mutex<bool>,
}

impl RecordingNotifier {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }
    /// Everything sent so far.
    pub fn sent(&self) -> Vec<SentCode> {
        lock(&self.sent).clone()
    }
    /// The most recent message.
    pub fn last(&self) -> Option<SentCode> {
        lock(&self.sent).last().cloned()
    }
    /// Every method notice sent so far, with its address.
    pub fn notices(&self) -> Vec<(String, MethodNotice)> {
        lock(&self.notices).clone()
    }
    /// Makes further sends fail (or succeed again).
    pub fn set_failing(&self, fail: bool) {
        *lock(&self.fail) = fail;
    }
    fn record(
        &self,
        via: SentVia,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), NotifyError> {
        if *lock(&self.fail) {
            return Err(NotifyError("recording notifier told to fail".into()));
        }
        lock(&self.sent).push(SentCode {
            via,
            to: to.to_owned(),
            code: code.clone(),
            context: context.clone(),
        });
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn send_email_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), NotifyError> {
        self.record(SentVia::Email, to, code, context)
    }
    async fn send_sms_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), NotifyError> {
        self.record(SentVia::Sms, to, code, context)
    }
    async fn send_method_notice(&self, to: &str, notice: &MethodNotice) -> Result<(), NotifyError> {
        if *lock(&self.fail) {
            return Err(NotifyError("recording notifier told to fail".into()));
        }
        lock(&self.notices).push((to.to_owned(), notice.clone()));
        Ok(())
    }
}

/// Development notifier: logs that a code was sent. The code itself is logged only at `debug`
/// level, which is for development only; never run production at debug level with this notifier.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn send_email_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), NotifyError> {
        // SECURITY: at info level only the masked address: logs travel further than mail.
        let to = crate::service::mask_email(to);
        tracing::info!(to, user_id = %context.user_id, session_id = %context.session_id, "email code sent (log notifier)");
        tracing::debug!(code = %code.expose(), url = ?context.url.as_ref().map(|u| u.expose()), "development only: email code");
        Ok(())
    }
    async fn send_sms_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), NotifyError> {
        let to = crate::service::mask_phone(to);
        tracing::info!(to, user_id = %context.user_id, session_id = %context.session_id, "sms code sent (log notifier)");
        tracing::debug!(code = %code.expose(), "development only: sms code");
        Ok(())
    }
    async fn send_method_notice(
        &self,
        _to: &str,
        notice: &MethodNotice,
    ) -> Result<(), NotifyError> {
        tracing::info!(user_id = %notice.user_id, change = ?notice.change, methods = ?notice.methods, "sign-in method notice (log notifier)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CodeContext {
        CodeContext {
            user_id: "u1".into(),
            login_name: "alice".into(),
            display_name: "Alice".into(),
            preferred_language: Some("en".into()),
            session_id: "s1".into(),
            url: None,
        }
    }

    #[test]
    fn templates() {
        let t = UrlTemplate::parse("https://x/otp?code={{.Code}}&u={{ .UserID }}&s={{.SessionID}}&l={{.PreferredLanguage}}&n={{.LoginName}}&d={{.DisplayName}}").unwrap();
        assert_eq!(
            t.render("123456", &ctx()).expose(),
            "https://x/otp?code=123456&u=u1&s=s1&l=en&n=alice&d=Alice"
        );
        let cases: [(&str, &str); 6] = [
            ("", "COMMAND-Tpl01"),
            ("https://x/{{.Nope}}", "COMMAND-Tpl01"),
            ("https://x/{{.Code", "COMMAND-Tpl01"),
            ("https://x/.Code}}", "COMMAND-Tpl01"),
            ("{{}}", "COMMAND-Tpl01"),
            ("{{.Code}}{{.code}}", "COMMAND-Tpl01"),
        ];
        for (text, id) in cases {
            assert_eq!(UrlTemplate::parse(text).unwrap_err().id(), id, "{text}");
        }
        assert!(UrlTemplate::parse(&"a".repeat(200)).is_ok());
        assert!(UrlTemplate::parse(&"a".repeat(201)).is_err());
    }
}
