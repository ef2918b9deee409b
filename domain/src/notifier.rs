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
        tracing::info!(to, user_id = %context.user_id, session_id = %context.session_id, "sms code sent (log notifier)");
        tracing::debug!(code = %code.expose(), "development only: sms code");
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
