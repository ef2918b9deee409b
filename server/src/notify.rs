//! Delivery of sign-in codes: email over SMTP (lettre) and SMS through an HTTP provider.
//!
//! The engine decides what to send; this module only carries it. Neither transport ever logs a
//! code or a message body.

use std::{path::PathBuf, time::Duration};

use domain::{
    crypto::Secret,
    notifier::{
        CodeContext, LogNotifier, MethodNotice, Notifier, NotifyError as DomainNotifyError,
    },
};
use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::client::{Certificate, Tls, TlsParameters},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::Serialize;

/// Why a message could not be sent. The text is for logs; people see a generic sentence.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid SMTP settings: {0}")]
    SmtpConfig(String),
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("building the email failed: {0}")]
    Email(#[from] lettre::error::Error),
    #[error("SMS provider unreachable: {0}")]
    SmsTransport(reqwest::Error),
    #[error("SMS provider answered {0}")]
    SmsRejected(u16),
}

// SECURITY: a provider's URL may carry a key in its query string; the error keeps none of it.
impl From<reqwest::Error> for NotifyError {
    fn from(err: reqwest::Error) -> Self {
        NotifyError::SmsTransport(err.without_url())
    }
}

/// The SMS provider's URL without its query string (which may hold a key), for logs.
pub fn sms_url_for_logs(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?[redacted]"),
        None => url.to_owned(),
    }
}

/// How to reach the SMTP server.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic]` (STARTTLS or plain) or
    /// `smtps://[user:pass@]host[:port]` (TLS from the first byte).
    pub url: String,
    /// The sender, e.g. `Vestibule <login@example.com>`.
    pub from: String,
    /// An extra CA certificate (PEM) to trust, for servers with a private CA.
    pub ca_cert: Option<PathBuf>,
}

/// Sends email through one SMTP server, reusing connections.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, NotifyError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| NotifyError::Address(settings.from.clone()))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| NotifyError::SmtpConfig(e.to_string()))?;
        if let Some(path) = &settings.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                NotifyError::SmtpConfig(format!("cannot read {}: {e}", path.display()))
            })?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| NotifyError::SmtpConfig(e.to_string()))?;
            let host = host_of(&settings.url)?;
            let params = TlsParameters::builder(host)
                .add_root_certificate(cert)
                .build_rustls()
                .map_err(|e| NotifyError::SmtpConfig(e.to_string()))?;
            // SECURITY: with a CA configured, TLS is never optional.
            builder = if settings.url.starts_with("smtps:") {
                builder.tls(Tls::Wrapper(params))
            } else {
                builder.tls(Tls::Required(params))
            };
        }
        let transport = builder.timeout(Some(Duration::from_secs(15))).build();
        Ok(Self { transport, from })
    }

    /// Sends a plain-text email.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), NotifyError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| NotifyError::Address(domain::service::mask_email(to)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())?;
        self.transport.send(message).await?;
        Ok(())
    }
}

fn host_of(url: &str) -> Result<String, NotifyError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| NotifyError::SmtpConfig("the SMTP URL does not parse".into()))?;
    uri.host()
        .map(str::to_owned)
        .ok_or_else(|| NotifyError::SmtpConfig("the SMTP URL has no host".into()))
}

/// How to reach the SMS provider: an HTTPS endpoint that takes `{"to": "+49…", "text": "…"}`.
#[derive(Clone)]
pub struct SmsSettings {
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer_token: Option<String>,
}

/// The JSON body the SMS provider receives.
#[derive(Debug, Serialize)]
struct SmsRequest<'a> {
    to: &'a str,
    text: &'a str,
}

/// Posts SMS messages to a generic HTTP provider.
#[derive(Clone)]
pub struct HttpSms {
    client: reqwest::Client,
    settings: SmsSettings,
}

impl HttpSms {
    pub fn new(settings: SmsSettings) -> Result<Self, NotifyError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, settings })
    }

    /// Sends one text message; any answer but 2xx is a failure.
    pub async fn send(&self, to: &str, text: &str) -> Result<(), NotifyError> {
        let mut request = self
            .client
            .post(&self.settings.url)
            .json(&SmsRequest { to, text });
        if let Some(token) = &self.settings.bearer_token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            return Err(NotifyError::SmsRejected(response.status().as_u16()));
        }
        Ok(())
    }
}

// SECURITY: the SMTP URL may carry a password and the SMS token is a credential; neither is
// printed when settings are logged or shown in an error.
impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self.url.split_once('@') {
            Some((_, host)) => format!("smtp…://[credentials]@{host}"),
            None => self.url.clone(),
        };
        f.debug_struct("SmtpSettings")
            .field("url", &url)
            .field("from", &self.from)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl std::fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSettings")
            .field("url", &sms_url_for_logs(&self.url))
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The engine's code delivery: SMTP and the SMS provider where configured, else the log
/// (development only: the log notifier writes codes at `debug` level).
pub struct CodeSender {
    email: Option<SmtpMailer>,
    sms: Option<HttpSms>,
}

impl CodeSender {
    /// Builds the senders the settings name; fails on settings that cannot work.
    pub fn new(delivery: &crate::config::Delivery) -> Result<Self, NotifyError> {
        let email = delivery.smtp.as_ref().map(SmtpMailer::new).transpose()?;
        let sms = delivery.sms.clone().map(HttpSms::new).transpose()?;
        Ok(Self { email, sms })
    }

    fn message(code: &str, context: &CodeContext) -> String {
        match &context.url {
            Some(url) => format!(
                "Your sign-in code is {code}.\n\nOr open this link to continue: {}\n\nIf you did not try to sign in, ignore this message.",
                url.expose()
            ),
            None => format!(
                "Your sign-in code is {code}.\n\nIt is valid for 10 minutes. If you did not try to sign in, ignore this message."
            ),
        }
    }
}

#[async_trait::async_trait]
impl Notifier for CodeSender {
    async fn send_email_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), DomainNotifyError> {
        let Some(mailer) = &self.email else {
            return LogNotifier.send_email_code(to, code, context).await;
        };
        let body = Self::message(code.expose(), context);
        mailer
            .send(to, "Your sign-in code", &body)
            .await
            .map_err(|e| DomainNotifyError(e.to_string()))
    }

    async fn send_sms_code(
        &self,
        to: &str,
        code: &Secret<String>,
        context: &CodeContext,
    ) -> Result<(), DomainNotifyError> {
        let Some(sms) = &self.sms else {
            return LogNotifier.send_sms_code(to, code, context).await;
        };
        let text = format!("{} is your sign-in code.", code.expose());
        sms.send(to, &text)
            .await
            .map_err(|e| DomainNotifyError(e.to_string()))
    }

    async fn send_method_notice(
        &self,
        to: &str,
        notice: &MethodNotice,
    ) -> Result<(), DomainNotifyError> {
        let Some(mailer) = &self.email else {
            return LogNotifier.send_method_notice(to, notice).await;
        };
        let (subject, body) = notice.render();
        mailer
            .send(to, &subject, &body)
            .await
            .map_err(|e| DomainNotifyError(e.to_string()))
    }
}
