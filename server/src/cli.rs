//! The command line: `server serve`, `server migrate`, and the global options they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{FileConfig, Overrides, Settings};

/// Vestibule: a self-hosted sign-in service.
///
/// Settings come from flags, then environment variables, then the TOML file given with
/// --config, then the defaults shown here.
#[derive(Debug, Parser)]
#[command(name = "server", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file (keys: listen, public_url, data_dir, database_url, site_root)
    #[arg(long, global = true, env = "VESTIBULE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the embedded database and the server key [default: ./data]
    #[arg(long, global = true, env = "VESTIBULE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://<data dir>/vestibule.db]
    #[arg(long, global = true, env = "DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// File holding the key that encrypts TOTP secrets; replicas must share it
    /// [default: <data dir>/server.key, created on first start]
    #[arg(long, global = true, env = "VESTIBULE_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server
    Serve(ServeArgs),
    /// Apply database migrations and exit
    Migrate,
    /// Manage users
    #[command(subcommand)]
    User(crate::admin_cli::UserCommand),
    /// Manage apps that send people here to sign in
    #[command(subcommand)]
    App(crate::admin_cli::AppCommand),
    /// Manage API keys for the Session and admin APIs
    #[command(subcommand)]
    Apikey(crate::admin_cli::ApiKeyCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "VESTIBULE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// PEM certificate chain: serve HTTPS, HTTP/2 and gRPC over TLS on the listener (with --tls-key)
    #[arg(
        long,
        env = "VESTIBULE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(
        long,
        env = "VESTIBULE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Address to serve Prometheus metrics on, at GET /metrics [default: no metrics]
    #[arg(long, env = "VESTIBULE_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// URL browsers use to reach this server [default: http://localhost:<port> on loopback]
    #[arg(long, env = "VESTIBULE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Directory holding the built site (pkg/ with JS, WASM, CSS) [default: target/site]
    #[arg(long, env = "VESTIBULE_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<PathBuf>,
    /// Create a demo user, app and API key (scope session) on a first start, whatever the
    /// listen address [default: only when listening on loopback]
    #[arg(long, env = "VESTIBULE_DEMO", conflicts_with = "no_demo")]
    pub demo: bool,
    /// Like --demo, and the demo API key also gets the admin scope
    #[arg(long, env = "VESTIBULE_DEMO_ADMIN", conflicts_with = "no_demo")]
    pub demo_admin: bool,
    /// Do not create demo data, even on loopback
    #[arg(long, env = "VESTIBULE_NO_DEMO")]
    pub no_demo: bool,
    /// Proxies whose X-Forwarded-For (or Forwarded) header names the client: addresses or CIDRs,
    /// comma-separated, like 10.0.0.0/8,::1 [default: none, the TCP peer is the client]
    #[arg(
        long,
        env = "VESTIBULE_TRUSTED_PROXIES",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// The header the trusted proxies set: x-forwarded-for or forwarded (RFC 7239)
    /// [default: x-forwarded-for]
    #[arg(long, env = "VESTIBULE_PROXY_HEADER", value_name = "HEADER")]
    pub proxy_header: Option<String>,
    /// Mail server for email codes: smtp://HOST:PORT (STARTTLS when offered), smtps://HOST:PORT
    /// (TLS), credentials as smtp://USER:PASSWORD@HOST [default: codes are only logged]
    #[arg(long, env = "VESTIBULE_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// Sender of email codes, like "Sign-in <login@example.com>" (required with --smtp-url)
    #[arg(long, env = "VESTIBULE_SMTP_FROM", value_name = "MAILBOX")]
    pub smtp_from: Option<String>,
    /// PEM file with a private CA that signed the mail server's certificate
    #[arg(long, env = "VESTIBULE_SMTP_CA_FILE", value_name = "FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// SMS provider URL receiving POST {"to", "text"} as JSON [default: codes are only logged]
    #[arg(long, env = "VESTIBULE_SMS_URL", value_name = "URL")]
    pub sms_url: Option<String>,
    /// Bearer token sent to the SMS provider
    #[arg(
        long,
        env = "VESTIBULE_SMS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub sms_token: Option<String>,
}

/// Errors a command reports before exiting with status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Key(#[from] crate::wiring::KeyError),
    #[error("code delivery: {0}")]
    Notify(#[from] crate::notify::NotifyError),
    #[error("{} ({})", .0.message(), .0.id())]
    Domain(#[from] domain::DomainError),
    #[error("{0}")]
    Usage(String),
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let file = FileConfig::load(cli.global.config.as_deref())?;
    let mut over = Overrides {
        data_dir: cli.global.data_dir,
        database_url: cli.global.database_url,
        key_file: cli.global.key_file,
        ..Overrides::default()
    };
    match cli.command {
        Command::Serve(args) => {
            over.listen = args.listen;
            over.tls_cert = args.tls_cert;
            over.tls_key = args.tls_key;
            over.metrics_addr = args.metrics_addr;
            over.public_url = args.public_url;
            over.site_root = args.site_root;
            over.demo = if args.no_demo {
                Some(false)
            } else {
                args.demo.then_some(true)
            };
            over.demo_admin = args.demo_admin.then_some(true);
            over.trusted_proxies = args.trusted_proxies;
            over.proxy_header = args.proxy_header;
            over.smtp_url = args.smtp_url;
            over.smtp_from = args.smtp_from;
            over.smtp_ca_file = args.smtp_ca_file;
            over.sms_url = args.sms_url;
            over.sms_token = args.sms_token;
            let settings = Settings::resolve(over, file)?;
            crate::http::serve(settings).await
        }
        Command::Migrate => {
            let settings = Settings::resolve(over, file)?;
            let db = crate::http::open_database(&settings).await?;
            println!("migrations applied ({})", db.backend());
            Ok(())
        }
        Command::User(command) => {
            let engine = crate::admin_cli::engine(Settings::resolve(over, file)?).await?;
            crate::admin_cli::user(&engine, command).await
        }
        Command::App(command) => {
            let engine = crate::admin_cli::engine(Settings::resolve(over, file)?).await?;
            crate::admin_cli::app(&engine, command).await
        }
        Command::Apikey(command) => {
            let engine = crate::admin_cli::engine(Settings::resolve(over, file)?).await?;
            crate::admin_cli::api_key(&engine, command).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let a = Cli::try_parse_from(["server", "--data-dir", "/d", "serve"]).unwrap();
        let b = Cli::try_parse_from(["server", "serve", "--data-dir", "/d"]).unwrap();
        assert_eq!(a.global.data_dir, b.global.data_dir);
        assert_eq!(a.global.data_dir, Some(PathBuf::from("/d")));
    }

    #[test]
    fn unknown_options_are_refused() {
        assert!(Cli::try_parse_from(["server", "serve", "--lisen", "x"]).is_err());
        assert!(Cli::try_parse_from(["server"]).is_err());
    }

    #[test]
    fn demo_and_proxy_options_parse() {
        let serve = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Serve(s)) => Ok(s),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err),
        };
        let s = serve(&["server", "serve", "--trusted-proxies", "10.0.0.0/8,::1"]).unwrap();
        assert_eq!(
            s.trusted_proxies,
            Some(vec!["10.0.0.0/8".to_owned(), "::1".to_owned()])
        );
        let s = serve(&["server", "serve", "--demo-admin"]).unwrap();
        assert!(s.demo_admin && !s.demo && !s.no_demo);
        assert!(serve(&["server", "serve", "--demo", "--no-demo"]).is_err());
        assert!(serve(&["server", "serve", "--demo-admin", "--no-demo"]).is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
