//! Builds the engine the server and the CLI share: database, server key, code delivery, and the
//! demo data a first start creates.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use domain::{
    clock::SystemClock,
    crypto::{Rng, ServerKey, SystemRng},
    input::{LoginName, Name, NewPassword},
    model::{LoginPolicy, Scope},
    service::{NewApp, NewUser},
    DomainError, Engine,
};
use storage::Database;

use crate::{cli::CliError, config::Settings, notify::CodeSender};

/// Why the server key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the server key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the server key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the server key {path} is not 32 bytes of base64; restore the original file (TOTP secrets cannot be read without it)")]
    Malformed { path: PathBuf },
}

/// Reads the server key, or creates it (mode 0600) when the file does not exist yet.
pub fn load_or_create_key(path: &Path, rng: &dyn Rng) -> Result<ServerKey, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let malformed = || KeyError::Malformed {
                path: path.to_owned(),
            };
            let bytes = STANDARD.decode(text.trim()).map_err(|_| malformed())?;
            ServerKey::from_bytes(&bytes).map_err(|_| malformed())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create_key(path, rng),
        Err(source) => Err(KeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn create_key(path: &Path, rng: &dyn Rng) -> Result<ServerKey, KeyError> {
    let write_error = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    let key = ServerKey::generate(rng);
    let mut options = std::fs::OpenOptions::new();
    // SECURITY: create_new never overwrites a key another process wrote a moment ago; only the
    // owner may read the file.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            writeln!(file, "{}", STANDARD.encode(key.expose_bytes())).map_err(write_error)?;
            file.sync_all().map_err(write_error)?;
            tracing::info!(path = %path.display(), "created the server key");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create_key(path, rng)
        }
        Err(source) => Err(write_error(source)),
    }
}

/// Wires the engine over `db` with the configured key and code delivery.
pub async fn build_engine(settings: &Settings, db: Database) -> Result<Arc<Engine>, CliError> {
    let rng = Arc::new(SystemRng);
    let key = load_or_create_key(&settings.key_file, rng.as_ref())?;
    let sender = CodeSender::new(&settings.delivery)?;
    let engine = Engine::new(
        Arc::new(db),
        Arc::new(SystemClock),
        rng,
        Arc::new(sender),
        key,
        engine_config(settings),
    )?;
    engine.init_instance().await?;
    Ok(Arc::new(engine))
}

/// The engine's rules with the configured handoff timings.
fn engine_config(settings: &Settings) -> domain::Config {
    let seconds = |d: std::time::Duration| {
        time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    };
    let (rp_id, rp_origin) = webauthn_party(settings);
    domain::Config {
        handoff_link_ttl: seconds(settings.handoff.link_ttl),
        handoff_session_lifetime: seconds(settings.handoff.session_lifetime),
        max_session_lifetime: seconds(settings.max_session_lifetime),
        rp_id,
        rp_origin,
        rp_extra_origins: settings.webauthn.extra_origins.clone(),
        rp_name: settings.webauthn.rp_name.clone(),
        hosted_login_names: settings.rate_limits.console_names_per_link,
        ..domain::Config::default()
    }
}

/// The WebAuthn RP ID and origin from the public URL. Browsers refuse IP addresses as RP IDs, so
/// a server reached by address runs without WebAuthn (`SESSION-Wan00`) unless an RP ID is set.
fn webauthn_party(settings: &Settings) -> (String, String) {
    let Ok(url) = url::Url::parse(&settings.public_url) else {
        return (String::new(), String::new());
    };
    let origin = url.origin().ascii_serialization();
    if let Some(rp_id) = &settings.webauthn.rp_id {
        return (rp_id.clone(), origin);
    }
    match url.host() {
        Some(url::Host::Domain(host)) => (host.to_owned(), origin),
        _ => {
            tracing::warn!(
                public_url = %settings.public_url,
                "WebAuthn is off: the public URL is an IP address (set a host name or webauthn_rp_id)"
            );
            (String::new(), origin)
        }
    }
}

/// What a first start created, printed once so a newcomer can try the whole flow.
#[derive(Debug, Clone)]
pub struct DemoCredentials {
    pub login_name: String,
    pub password: String,
    pub app_key: String,
    pub app_secret: String,
    pub api_key: String,
    /// The demo API key's scopes.
    pub api_key_scopes: Vec<Scope>,
}

/// The demo user's login name.
pub const DEMO_LOGIN_NAME: &str = "demo";

/// Creates a demo user, app and API key when the database holds no user and no app at all.
/// The key may use the Session API; only with `admin` may it also use the admin API.
/// Returns `None` when there is data already (or another replica just created it).
pub async fn seed_demo(
    engine: &Engine,
    admin: bool,
) -> Result<Option<DemoCredentials>, DomainError> {
    if !engine.list_users(0, 1).await?.is_empty() || !engine.list_apps().await?.is_empty() {
        return Ok(None);
    }
    let password = readable_password(&SystemRng);
    let mut user = NewUser::named(LoginName::parse(DEMO_LOGIN_NAME)?);
    user.display_name = Some(domain::input::DisplayName::parse("Demo User")?);
    user.password = Some(NewPassword::parse(password.clone())?);
    match engine.create_user(user).await {
        Ok(_) => {}
        // Another replica seeded at the same moment.
        Err(DomainError::LoginNameTaken) => return Ok(None),
        Err(err) => return Err(err),
    }
    let (app, secret) = engine
        .create_app(NewApp {
            name: Name::parse("Demo app")?,
            redirect_uris: Vec::new(),
            policy: LoginPolicy::default(),
            branding: Default::default(),
        })
        .await?;
    // SECURITY: a demo key that could administer the service is made only when asked for.
    let scopes = if admin {
        vec![Scope::Session, Scope::Admin]
    } else {
        vec![Scope::Session]
    };
    let (_, api_key) = engine
        .create_api_key(Name::parse("demo")?, scopes.clone())
        .await?;
    Ok(Some(DemoCredentials {
        login_name: DEMO_LOGIN_NAME.to_owned(),
        password,
        app_key: app.app_key,
        app_secret: secret.into_inner(),
        api_key: api_key.into_inner(),
        api_key_scopes: scopes,
    }))
}

/// The CLI command that creates the first admin API key.
pub const FIRST_ADMIN_KEY_COMMAND: &str = "server apikey add --name admin --scope admin";

/// Whether this start should tell how to make the first admin key: no demo data was wanted
/// and the database holds no API key at all.
pub async fn needs_first_admin_key(engine: &Engine, demo: bool) -> Result<bool, DomainError> {
    Ok(!demo && engine.list_api_keys().await?.is_empty())
}

/// What a start without demo data and without any API key prints: how to create the first
/// admin key on the same database.
pub fn first_admin_key_hint(settings: &Settings) -> String {
    let why = if crate::config::demo_by_default(settings.listen) {
        "demo data is turned off".to_owned()
    } else {
        format!(
            "the listen address {} is not a loopback address; `--demo` would create it anyway",
            settings.listen
        )
    };
    format!(
        "No API key exists yet, and no demo data was created ({why}).
Create the first admin key with the CLI, on the same database as this server (give it the same \
--config, --data-dir or --database-url options, or the same environment):
  {FIRST_ADMIN_KEY_COMMAND}
It prints the key once; send it as `Authorization: Bearer <key>` to {public_url}/admin/v1.",
        public_url = settings.public_url,
    )
}

/// Four groups of five lowercase letters and digits (about 100 bits), easy to type.
pub fn readable_password(rng: &dyn Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    rng.fill_bytes(&mut bytes);
    let letters: Vec<char> = bytes
        .iter()
        // 256 is a multiple of 32, so the modulo keeps every letter equally likely.
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    letters
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let mut bytes = [0u8; 8];
        SystemRng.fill_bytes(&mut bytes);
        std::env::temp_dir()
            .join(format!("vestibule-key-{}", domain::crypto::to_hex(&bytes)))
            .join(name)
    }

    #[test]
    fn the_key_is_created_once_private_and_then_reused() {
        let path = temp_path("server.key");
        let first = load_or_create_key(&path, &SystemRng).unwrap();
        let again = load_or_create_key(&path, &SystemRng).unwrap();
        assert_eq!(first.expose_bytes(), again.expose_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_damaged_key_is_refused_not_replaced() {
        let path = temp_path("server.key");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "not base64!\n").unwrap();
        let err = load_or_create_key(&path, &SystemRng).unwrap_err();
        assert!(matches!(err, KeyError::Malformed { .. }), "{err}");
        std::fs::write(&path, format!("{}\n", STANDARD.encode([1u8; 16]))).unwrap();
        assert!(load_or_create_key(&path, &SystemRng).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            STANDARD.encode([1u8; 16])
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn demo_passwords_are_random_and_readable() {
        let a = readable_password(&SystemRng);
        let b = readable_password(&SystemRng);
        assert_ne!(a, b);
        assert_eq!(a.len(), 23);
        assert_eq!(a.split('-').count(), 4);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
    }
}
