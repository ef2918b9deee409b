//! Settings: command-line flags, then environment variables, then an optional TOML file, then
//! the defaults below, in that order of precedence.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::ratelimit::Rule;

/// Where the server listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
/// Where data (the SQLite database, the server key) lives unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Where the built site (`pkg/` with JS, WASM and CSS) is served from unless told otherwise.
pub const DEFAULT_SITE_ROOT: &str = "target/site";
/// The server key's file name inside the data directory unless told otherwise.
pub const DEFAULT_KEY_FILE: &str = "server.key";

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("`{value}` is not a listen address like 127.0.0.1:3000")]
    Listen { value: String },
    #[error(
        "`{value}` is not a public URL like https://login.example.com (http or https, no query)"
    )]
    PublicUrl { value: String },
    #[error("`{value}` in trusted_proxies is not an address or network like 10.0.0.0/8 or 2001:db8::/32")]
    TrustedProxy { value: String },
    #[error("`{value}` is not a proxy header: use x-forwarded-for or forwarded")]
    ProxyHeader { value: String },
    #[error("`retention.{key} = {value}` is out of range: use {min} to {max} ({unit})")]
    Retention {
        key: &'static str,
        value: u64,
        min: u32,
        max: u32,
        unit: &'static str,
    },
    #[error("`{key}` must be set because {because}")]
    Missing {
        key: &'static str,
        because: &'static str,
    },
}

/// What a TOML configuration file may hold. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// PEM certificate chain: the listener speaks TLS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Where `GET /metrics` is served (Prometheus text format); none: no metrics.
    pub metrics_addr: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub site_root: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Create demo data on a first start (default: only when listening on loopback).
    pub demo: Option<bool>,
    /// Give the demo API key the `admin` scope too (implies `demo`).
    pub demo_admin: Option<bool>,
    /// Proxies (addresses or CIDRs) whose forwarding header names the client.
    pub trusted_proxies: Option<Vec<String>>,
    /// The header those proxies set: `x-forwarded-for` (default) or `forwarded` (RFC 7239).
    pub proxy_header: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub smtp_ca_file: Option<PathBuf>,
    pub sms_url: Option<String>,
    pub sms_token: Option<String>,
    /// Seconds a handoff login link can be claimed (default 600).
    pub handoff_link_ttl_secs: Option<u32>,
    /// Seconds a handoff session lives when the app sends no `lifetime` (default 1800).
    pub handoff_session_lifetime_secs: Option<u32>,
    /// Longest `lifetime` a request may give a session, in seconds (default 2592000, 30 days).
    pub max_session_lifetime_secs: Option<u32>,
    /// `[rate_limits]`: any rule left out keeps its default.
    pub rate_limits: Option<RateLimits>,
    /// `[retention]`: how long ended records are kept; any key left out keeps its default.
    pub retention: Option<RetentionFile>,
    /// WebAuthn relying party id (default: the public URL's host; a parent domain is allowed).
    pub webauthn_rp_id: Option<String>,
    /// More origins WebAuthn ceremonies may run on, besides the public URL's.
    pub webauthn_extra_origins: Option<Vec<String>>,
    /// The name authenticators show (default "Vestibule").
    pub webauthn_rp_name: Option<String>,
}

/// Limits on the app handoff endpoints and the JSON APIs; also the `[rate_limits]` table of the
/// file, where each rule is `{ limit = N, window_secs = S }` (limit 0 disables it) and a rule
/// left out keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// `POST /session/generate/` per app (default 120 a minute).
    pub generate_per_app: Rule,
    /// Failed app authentications of `POST /session/generate/` per client address (default 60
    /// a minute); correct credentials never spend it.
    pub generate_per_address: Rule,
    /// `POST /session/validate/` per app (default 1200 a minute; a long-poll counts once).
    pub validate_per_app: Rule,
    /// Session API calls (REST `/v2*` and Connect) per API key (default 1200 a minute).
    pub session_api_per_key: Rule,
    /// Session API calls per client address, counted before the key is checked (default 2400
    /// a minute: one login backend may serve many people from one address).
    pub session_api_per_address: Rule,
    /// Admin API calls per API key (default 300 a minute).
    pub admin_api_per_key: Rule,
    /// Admin API calls per client address, counted before the key is checked (default 300 a
    /// minute).
    pub admin_api_per_address: Rule,
    /// Posts of the hosted login page (`/console/api/*`, every step a person takes) per client
    /// address (default 60 a minute; one sign-in takes a handful).
    pub console_per_address: Rule,
    /// Views of the hosted login page (`GET /console/session/<token>`) per client address
    /// (default 120 a minute).
    pub console_pages_per_address: Rule,
    /// Posts and views of the hosted login page per login link (default 30 a minute).
    pub console_per_link: Rule,
    /// Different login names one link takes (default 3; 0 turns the rule off): a new name
    /// after that is refused with `SESSION-Lgn02`, whether it exists or not.
    pub console_names_per_link: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            generate_per_app: Rule::per_minute(120),
            generate_per_address: Rule::per_minute(60),
            validate_per_app: Rule::per_minute(1200),
            session_api_per_key: Rule::per_minute(1200),
            session_api_per_address: Rule::per_minute(2400),
            admin_api_per_key: Rule::per_minute(300),
            admin_api_per_address: Rule::per_minute(300),
            console_per_address: Rule::per_minute(60),
            console_pages_per_address: Rule::per_minute(120),
            console_per_link: Rule::per_minute(30),
            console_names_per_link: 3,
        }
    }
}

/// The `[retention]` table: how long what has ended is kept before the background purge
/// deletes it, in days, and how often the purge runs. Every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionFile {
    /// Terminated and expired sessions, counted from their end (default 90).
    pub sessions_days: u64,
    /// Login links (handoffs) whose link expired and whose session ended, counted from their
    /// creation (default 90).
    pub handoffs_days: u64,
    /// Used recovery codes, counted from their use (default 90).
    pub codes_days: u64,
    /// Events, the audit trail, counted from when they happened (default 90). Separate from
    /// the rest: keep it as long as your audit needs, up to 100 years.
    pub events_days: u64,
    /// Minutes between two purges (default 60). Every replica purges; the deletes are
    /// idempotent, so replicas running at once only share the work.
    pub interval_minutes: u64,
    /// Rows of each kind one round deletes at most (default 500): short rounds never hold
    /// SQLite's write lock for long.
    pub batch_size: u64,
}

impl Default for RetentionFile {
    fn default() -> Self {
        Self {
            sessions_days: 90,
            handoffs_days: 90,
            codes_days: 90,
            events_days: 90,
            interval_minutes: 60,
            batch_size: 500,
        }
    }
}

/// The retention the server purges with, every value checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    pub keep: domain::service::Retention,
    /// Time between two purges.
    pub interval: std::time::Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        // The defaults are in range.
        RetentionFile::default()
            .resolve()
            .unwrap_or(RetentionSettings {
                keep: domain::service::Retention::default(),
                interval: std::time::Duration::from_secs(3600),
            })
    }
}

/// Longest retention: 100 years.
const MAX_RETENTION_DAYS: u32 = 36_500;

impl RetentionFile {
    /// Checks each value against its range.
    pub fn resolve(self) -> Result<RetentionSettings, ConfigError> {
        let in_range = |key: &'static str, value: u64, min: u32, max: u32, unit: &'static str| {
            if value < u64::from(min) || value > u64::from(max) {
                Err(ConfigError::Retention {
                    key,
                    value,
                    min,
                    max,
                    unit,
                })
            } else {
                Ok(value)
            }
        };
        let days = |key: &'static str, value: u64| {
            in_range(key, value, 1, MAX_RETENTION_DAYS, "days")
                .map(|d| time::Duration::days(d as i64))
        };
        let keep = domain::service::Retention {
            sessions: days("sessions_days", self.sessions_days)?,
            handoffs: days("handoffs_days", self.handoffs_days)?,
            codes: days("codes_days", self.codes_days)?,
            events: days("events_days", self.events_days)?,
            batch: in_range("batch_size", self.batch_size, 1, 10_000, "rows")? as u32,
        };
        let minutes = in_range(
            "interval_minutes",
            self.interval_minutes,
            1,
            7 * 24 * 60,
            "minutes",
        )?;
        Ok(RetentionSettings {
            keep,
            interval: std::time::Duration::from_secs(minutes * 60),
        })
    }
}

/// Timings of the app handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffSettings {
    /// How long a login link can be claimed.
    pub link_ttl: std::time::Duration,
    /// Session lifetime when the app sends none.
    pub session_lifetime: std::time::Duration,
}

impl Default for HandoffSettings {
    fn default() -> Self {
        Self {
            link_ttl: std::time::Duration::from_secs(600),
            session_lifetime: std::time::Duration::from_secs(1800),
        }
    }
}

impl FileConfig {
    /// Reads `path`, or nothing at all when no file was named.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|err| ConfigError::ParseFile {
            path: path.to_owned(),
            message: err.message().to_owned(),
        })
    }
}

/// Values given on the command line or in the environment (clap has already merged those two).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub metrics_addr: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub site_root: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub demo: Option<bool>,
    pub demo_admin: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub proxy_header: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub smtp_ca_file: Option<PathBuf>,
    pub sms_url: Option<String>,
    pub sms_token: Option<String>,
}

/// How one-time codes reach people.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// `smtp://` or `smtps://` URL of the mail server; none means codes go to the log.
    pub smtp: Option<crate::notify::SmtpSettings>,
    /// The SMS provider's URL; none means codes go to the log.
    pub sms: Option<crate::notify::SmsSettings>,
}

/// The settings the server runs with, every value checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Certificate and key files: TLS on the listener (ALPN h2 and http/1.1).
    pub tls: Option<TlsFiles>,
    /// Where `GET /metrics` is served; `None` (the default) records no metrics at all.
    pub metrics_addr: Option<SocketAddr>,
    /// Absolute URL of this service as browsers see it, without a trailing slash.
    pub public_url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub site_root: PathBuf,
    /// The 32-byte key that encrypts TOTP secrets; every replica must share it.
    pub key_file: PathBuf,
    /// Create a demo user, app and API key when the database has none.
    pub demo: bool,
    /// The demo API key gets the `admin` scope besides `session`.
    pub demo_admin: bool,
    /// Which peers may tell the client's address, and in which header.
    pub proxies: crate::client_addr::Proxies,
    pub delivery: Delivery,
    pub handoff: HandoffSettings,
    /// Longest lifetime a request may give a session (default 30 days).
    pub max_session_lifetime: std::time::Duration,
    pub rate_limits: RateLimits,
    /// What the background purge deletes, and how often it runs.
    pub retention: RetentionSettings,
    pub webauthn: WebAuthnSettings,
}

/// The PEM files of the listener's TLS certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The WebAuthn relying party. Its origin is always the public URL's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnSettings {
    /// `None`: the public URL's host (WebAuthn is off when that is an IP address).
    pub rp_id: Option<String>,
    pub extra_origins: Vec<String>,
    pub rp_name: String,
}

impl Default for WebAuthnSettings {
    fn default() -> Self {
        Self {
            rp_id: None,
            extra_origins: Vec::new(),
            rp_name: "Vestibule".to_owned(),
        }
    }
}

impl Settings {
    /// Merges flags and environment over the file over the defaults.
    pub fn resolve(over: Overrides, file: FileConfig) -> Result<Self, ConfigError> {
        let listen_text = over
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Listen {
            value: listen_text.clone(),
        })?;
        let metrics_addr = match over.metrics_addr.or(file.metrics_addr) {
            None => None,
            Some(text) => Some(
                text.parse::<SocketAddr>()
                    .map_err(|_| ConfigError::Listen {
                        value: text.clone(),
                    })?,
            ),
        };
        let data_dir = over
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let database_url = over
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| storage::Database::sqlite_url_in(&data_dir));
        let tls = match (
            over.tls_cert.or(file.tls_cert),
            over.tls_key.or(file.tls_key),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    key: "tls_key",
                    because: "tls_cert is set",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    key: "tls_cert",
                    because: "tls_key is set",
                })
            }
        };
        let public_url = match over.public_url.or(file.public_url) {
            Some(url) => parse_public_url(&url)?,
            None => default_public_url_for(listen, tls.is_some()),
        };
        let site_root = over
            .site_root
            .or(file.site_root)
            .unwrap_or_else(|| DEFAULT_SITE_ROOT.into());
        let key_file = over
            .key_file
            .or(file.key_file)
            .unwrap_or_else(|| data_dir.join(DEFAULT_KEY_FILE));
        let demo_admin = over.demo_admin.or(file.demo_admin).unwrap_or(false);
        let demo = match over.demo.or(file.demo) {
            Some(explicit) => explicit,
            None => demo_admin || demo_by_default(listen),
        };
        let mut trusted = Vec::new();
        for text in over
            .trusted_proxies
            .or(file.trusted_proxies)
            .unwrap_or_default()
        {
            // An empty item (a trailing comma in the environment variable) means nothing.
            if text.trim().is_empty() {
                continue;
            }
            trusted.push(
                crate::client_addr::Proxies::parse_net(&text)
                    .ok_or(ConfigError::TrustedProxy { value: text })?,
            );
        }
        let header = match over.proxy_header.or(file.proxy_header) {
            None => crate::client_addr::ProxyHeader::default(),
            Some(text) => crate::client_addr::ProxyHeader::parse(&text)
                .ok_or(ConfigError::ProxyHeader { value: text })?,
        };
        let proxies = crate::client_addr::Proxies { trusted, header };
        let smtp = match over.smtp_url.or(file.smtp_url) {
            None => None,
            Some(url) => Some(crate::notify::SmtpSettings {
                url,
                from: over
                    .smtp_from
                    .or(file.smtp_from)
                    .ok_or(ConfigError::Missing {
                        key: "smtp_from",
                        because: "smtp_url is set",
                    })?,
                ca_cert: over.smtp_ca_file.or(file.smtp_ca_file),
            }),
        };
        let sms = over
            .sms_url
            .or(file.sms_url)
            .map(|url| crate::notify::SmsSettings {
                url,
                bearer_token: over.sms_token.or(file.sms_token),
            });
        let defaults = HandoffSettings::default();
        let seconds =
            |value: Option<u32>, key: &'static str, default: std::time::Duration| match value {
                None => Ok(default),
                Some(0) => Err(ConfigError::Missing {
                    key,
                    because: "it must be at least 1 second",
                }),
                Some(secs) => Ok(std::time::Duration::from_secs(u64::from(secs))),
            };
        let handoff = HandoffSettings {
            link_ttl: seconds(
                file.handoff_link_ttl_secs,
                "handoff_link_ttl_secs",
                defaults.link_ttl,
            )?,
            session_lifetime: seconds(
                file.handoff_session_lifetime_secs,
                "handoff_session_lifetime_secs",
                defaults.session_lifetime,
            )?,
        };
        let max_session_lifetime = seconds(
            file.max_session_lifetime_secs,
            "max_session_lifetime_secs",
            std::time::Duration::from_secs(30 * 24 * 3600),
        )?;
        let rate_limits = file.rate_limits.unwrap_or_default();
        let retention = file.retention.unwrap_or_default().resolve()?;
        let mut extra_origins = Vec::new();
        for origin in file.webauthn_extra_origins.unwrap_or_default() {
            extra_origins.push(parse_public_url(&origin)?);
        }
        let webauthn = WebAuthnSettings {
            rp_id: file.webauthn_rp_id.filter(|id| !id.is_empty()),
            extra_origins,
            rp_name: file
                .webauthn_rp_name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| WebAuthnSettings::default().rp_name),
        };
        Ok(Self {
            listen,
            tls,
            metrics_addr,
            public_url,
            data_dir,
            database_url,
            site_root,
            key_file,
            demo,
            demo_admin,
            proxies,
            delivery: Delivery { smtp, sms },
            handoff,
            max_session_lifetime,
            rate_limits,
            retention,
            webauthn,
        })
    }
}

/// Whether a first start creates demo data when neither `--demo` nor `--no-demo` is given: only
/// on a loopback address (127.0.0.0/8, ::1), where nobody else can reach the demo credentials.
pub fn demo_by_default(listen: SocketAddr) -> bool {
    listen.ip().to_canonical().is_loopback()
}

/// `http://localhost:<port>` for loopback addresses (browsers treat it as a secure context, which
/// WebAuthn needs), else `http://<listen address>`.
pub fn default_public_url(listen: SocketAddr) -> String {
    default_public_url_for(listen, false)
}

/// [`default_public_url`], with `https` when the listener speaks TLS.
pub fn default_public_url_for(listen: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    if listen.ip().is_loopback() {
        format!("{scheme}://localhost:{}", listen.port())
    } else {
        format!("{scheme}://{listen}")
    }
}

fn parse_public_url(value: &str) -> Result<String, ConfigError> {
    let error = || ConfigError::PublicUrl {
        value: value.to_owned(),
    };
    let uri: http::Uri = value.parse().map_err(|_| error())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.authority().is_none() || uri.query().is_some() {
        return Err(error());
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let s = Settings::resolve(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.public_url, "http://localhost:3000");
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(s.database_url, "sqlite://./data/vestibule.db");
        assert_eq!(s.key_file, PathBuf::from("./data/server.key"));
        assert!(s.demo);
        assert!(s.delivery.smtp.is_none() && s.delivery.sms.is_none());
    }

    #[test]
    fn an_smtp_url_needs_a_sender() {
        let over = Overrides {
            smtp_url: Some("smtp://127.0.0.1:2525".into()),
            ..Default::default()
        };
        let err = Settings::resolve(over.clone(), FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("smtp_from"), "{err}");
        let file: FileConfig = toml::from_str("smtp_from = \"Login <login@example.com>\"").unwrap();
        let s = Settings::resolve(over, file).unwrap();
        let smtp = s.delivery.smtp.unwrap();
        assert_eq!(smtp.from, "Login <login@example.com>");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig =
            toml::from_str("listen = \"0.0.0.0:8080\"\ndata_dir = \"/srv/v\"").unwrap();
        let over = Overrides {
            listen: Some("127.0.0.1:9000".into()),
            ..Default::default()
        };
        let s = Settings::resolve(over, file).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.data_dir, PathBuf::from("/srv/v"));
        assert_eq!(s.database_url, "sqlite:///srv/v/vestibule.db");
    }

    #[test]
    fn bad_values_are_refused_with_a_clear_error() {
        let over = Overrides {
            listen: Some("localhost".into()),
            ..Default::default()
        };
        let err = Settings::resolve(over, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("listen address"), "{err}");
        for bad in ["ftp://x", "example.com", "https://x/?a=b", ""] {
            let over = Overrides {
                public_url: Some(bad.into()),
                ..Default::default()
            };
            assert!(
                Settings::resolve(over, FileConfig::default()).is_err(),
                "{bad} accepted"
            );
        }
        let over = Overrides {
            public_url: Some("https://login.example.com/".into()),
            ..Default::default()
        };
        let s = Settings::resolve(over, FileConfig::default()).unwrap();
        assert_eq!(s.public_url, "https://login.example.com");
    }

    #[test]
    fn handoff_timings_and_rate_limits_come_from_the_file() {
        let s = Settings::resolve(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(s.handoff, HandoffSettings::default());
        assert_eq!(s.rate_limits, RateLimits::default());
        let file: FileConfig = toml::from_str(
            "handoff_link_ttl_secs = 60\n[rate_limits]\ngenerate_per_app = { limit = 5, window_secs = 10 }",
        )
        .unwrap();
        let s = Settings::resolve(Overrides::default(), file).unwrap();
        assert_eq!(s.handoff.link_ttl, std::time::Duration::from_secs(60));
        assert_eq!(
            s.rate_limits.generate_per_app,
            Rule {
                limit: 5,
                window_secs: 10
            }
        );
        assert_eq!(
            s.rate_limits.validate_per_app,
            RateLimits::default().validate_per_app
        );
        let file: FileConfig = toml::from_str("handoff_link_ttl_secs = 0").unwrap();
        assert!(Settings::resolve(Overrides::default(), file).is_err());
        assert!(toml::from_str::<FileConfig>(
            "[rate_limits]\nfoo = { limit = 1, window_secs = 1 }"
        )
        .is_err());
    }

    #[test]
    fn the_hosted_page_limits_have_defaults_and_come_from_the_file() {
        let defaults = RateLimits::default();
        assert_eq!(defaults.console_per_address, Rule::per_minute(60));
        assert_eq!(defaults.console_pages_per_address, Rule::per_minute(120));
        assert_eq!(defaults.console_per_link, Rule::per_minute(30));
        assert_eq!(defaults.console_names_per_link, 3);
        let file: FileConfig = toml::from_str(
            "[rate_limits]\nconsole_per_address = { limit = 7, window_secs = 10 }\n\
             console_per_link = { limit = 0, window_secs = 60 }\nconsole_names_per_link = 5",
        )
        .unwrap();
        let s = Settings::resolve(Overrides::default(), file).unwrap();
        assert_eq!(
            s.rate_limits.console_per_address,
            Rule {
                limit: 7,
                window_secs: 10
            }
        );
        assert_eq!(s.rate_limits.console_per_link, Rule::off());
        assert_eq!(s.rate_limits.console_names_per_link, 5);
        assert_eq!(
            s.rate_limits.console_pages_per_address,
            defaults.console_pages_per_address
        );
        assert!(
            toml::from_str::<FileConfig>("[rate_limits]\nconsole_names_per_link = -1").is_err()
        );
    }

    #[test]
    fn demo_data_only_on_loopback_unless_asked() {
        for (listen, expected) in [
            ("127.0.0.1:3000", true),
            ("127.0.0.2:3000", true),
            ("[::1]:3000", true),
            ("[::ffff:127.0.0.1]:3000", true),
            ("0.0.0.0:3000", false),
            ("192.0.2.1:3000", false),
            ("[::]:3000", false),
            ("[2001:db8::1]:3000", false),
        ] {
            let addr: SocketAddr = listen.parse().unwrap();
            assert_eq!(demo_by_default(addr), expected, "{listen}");
        }
        let at = |listen: &str, demo: Option<bool>, demo_admin: Option<bool>| {
            let s = Settings::resolve(
                Overrides {
                    listen: Some(listen.into()),
                    demo,
                    demo_admin,
                    ..Default::default()
                },
                FileConfig::default(),
            )
            .unwrap();
            (s.demo, s.demo_admin)
        };
        assert_eq!(at("0.0.0.0:0", None, None), (false, false));
        assert_eq!(at("192.0.2.1:0", None, None), (false, false));
        assert_eq!(at("127.0.0.1:0", None, None), (true, false));
        assert_eq!(at("0.0.0.0:0", Some(true), None), (true, false));
        assert_eq!(at("0.0.0.0:0", None, Some(true)), (true, true));
        assert_eq!(at("127.0.0.1:0", Some(false), None), (false, false));
        let file: FileConfig = toml::from_str("demo = true\ndemo_admin = true").unwrap();
        let s = Settings::resolve(
            Overrides {
                listen: Some("0.0.0.0:0".into()),
                ..Default::default()
            },
            file,
        )
        .unwrap();
        assert!(s.demo && s.demo_admin);
    }

    #[test]
    fn trusted_proxies_come_from_flags_or_the_file() {
        let s = Settings::resolve(Overrides::default(), FileConfig::default()).unwrap();
        assert!(s.proxies.trusted.is_empty());
        assert_eq!(
            s.proxies.header,
            crate::client_addr::ProxyHeader::XForwardedFor
        );
        let file: FileConfig = toml::from_str(
            "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nproxy_header = \"forwarded\"",
        )
        .unwrap();
        let s = Settings::resolve(Overrides::default(), file).unwrap();
        let nets: Vec<String> = s.proxies.trusted.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "::1/128"]);
        assert_eq!(s.proxies.header, crate::client_addr::ProxyHeader::Forwarded);
        let file: FileConfig = toml::from_str("trusted_proxies = [\"10.0.0.0/8\"]").unwrap();
        let over = Overrides {
            trusted_proxies: Some(vec!["192.168.0.0/16".into(), "".into()]),
            ..Default::default()
        };
        let s = Settings::resolve(over, file).unwrap();
        assert_eq!(s.proxies.trusted.len(), 1);
        assert_eq!(s.proxies.trusted[0].to_string(), "192.168.0.0/16");
        for bad in ["10.0.0.0/40", "proxy.internal", "10.0.0.0/8/8"] {
            let over = Overrides {
                trusted_proxies: Some(vec![bad.into()]),
                ..Default::default()
            };
            let err = Settings::resolve(over, FileConfig::default()).unwrap_err();
            assert!(
                matches!(err, ConfigError::TrustedProxy { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(bad), "{err}");
        }
        let over = Overrides {
            proxy_header: Some("x-real-ip".into()),
            ..Default::default()
        };
        let err = Settings::resolve(over, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("x-real-ip"), "{err}");
        assert!(toml::from_str::<FileConfig>("trusted_proxies = \"10.0.0.0/8\"").is_err());
    }

    #[test]
    fn retention_comes_from_the_file_and_is_checked() {
        let s = Settings::resolve(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(s.retention, RetentionSettings::default());
        assert_eq!(s.retention.keep.events, time::Duration::days(90));
        assert_eq!(s.retention.keep.sessions, time::Duration::days(90));
        assert_eq!(s.retention.interval, std::time::Duration::from_secs(3600));
        let file: FileConfig = toml::from_str(
            "[retention]\nevents_days = 400\nsessions_days = 7\ninterval_minutes = 5",
        )
        .unwrap();
        let s = Settings::resolve(Overrides::default(), file).unwrap();
        assert_eq!(s.retention.keep.events, time::Duration::days(400));
        assert_eq!(s.retention.keep.sessions, time::Duration::days(7));
        assert_eq!(s.retention.keep.handoffs, time::Duration::days(90));
        assert_eq!(s.retention.keep.batch, 500);
        assert_eq!(s.retention.interval, std::time::Duration::from_secs(300));
        for (text, key) in [
            ("events_days = 0", "events_days"),
            ("sessions_days = 36501", "sessions_days"),
            ("codes_days = 0", "codes_days"),
            ("handoffs_days = 99999999999", "handoffs_days"),
            ("interval_minutes = 0", "interval_minutes"),
            ("batch_size = 0", "batch_size"),
        ] {
            let file: FileConfig = toml::from_str(&format!("[retention]\n{text}")).unwrap();
            let err = Settings::resolve(Overrides::default(), file).unwrap_err();
            assert!(
                matches!(err, ConfigError::Retention { .. }),
                "{text}: {err}"
            );
            assert!(err.to_string().contains(key), "{err}");
        }
        assert!(toml::from_str::<FileConfig>("[retention]\nevent_days = 5").is_err());
        assert!(toml::from_str::<FileConfig>("[retention]\nevents_days = -1").is_err());
        assert!(toml::from_str::<FileConfig>("[retention]\nevents_days = \"90\"").is_err());
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let err = toml::from_str::<FileConfig>("lissen = \"x\"").unwrap_err();
        assert!(err.message().contains("unknown field"), "{err}");
    }
}
