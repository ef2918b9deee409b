//! Delivery of sign-in codes: email over SMTP (lettre) and SMS through an HTTP provider.
//!
//! The engine decides what to send; this module only carries it. Neither transport ever logs a
//! code or a message body.

use std::{path::PathBuf, time::Duration};

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
    SmsTransport(#[from] reqwest::Error),
    #[error("SMS provider answered {0}")]
    SmsRejected(u16),
}

/// How to reach the SMTP server.
#[derive(Debug, Clone)]
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
            .map_err(|_| NotifyError::Address(to.to_owned()))?;
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
#[derive(Debug, Clone)]
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
