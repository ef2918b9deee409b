//! `server user|app|apikey ...`: administration from the command line, on the same database as a
//! running server. Secrets are printed once; `--json` prints one JSON document for scripts.

use std::{io::BufRead, sync::Arc};

use clap::{Args, Subcommand, ValueEnum};
use domain::{
    input::{DisplayName, Email, HttpUrl, LoginName, Name, NewPassword, Phone},
    model::{ApiKey, App, LoginPolicy, Scope, User},
    service::{NewApp, NewUser},
    Engine,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use crate::{cli::CliError, config::Settings};

/// Opens the database (migrating it) and wires the engine for one command.
pub async fn engine(settings: Settings) -> Result<Arc<Engine>, CliError> {
    let db = crate::http::open_database(&settings).await?;
    crate::wiring::build_engine(&settings, db).await
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
}

/// Where a new password comes from.
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct PasswordSource {
    /// The password (visible to other local users in the process list; prefer --password-stdin)
    #[arg(long, value_name = "PW")]
    pub password: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
}

impl PasswordSource {
    fn read(self) -> Result<Option<NewPassword>, CliError> {
        let text = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::Usage(format!("cannot read the password: {e}")))?;
            Some(line.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            self.password
        };
        Ok(text.map(NewPassword::parse).transpose()?)
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user
    Add {
        #[arg(long, value_name = "NAME")]
        login_name: String,
        #[command(flatten)]
        password: PasswordSource,
        /// Email address (marked verified, so email codes can be enabled)
        #[arg(long, value_name = "E")]
        email: Option<String>,
        /// Phone number in international form, like +41791234567 (marked verified)
        #[arg(long, value_name = "P")]
        phone: Option<String>,
        #[arg(long, value_name = "D")]
        display_name: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Set a user's password (also ends a lockout of the password check)
    Passwd {
        /// Login name or id
        user: String,
        #[command(flatten)]
        password: PasswordSource,
        #[command(flatten)]
        output: Output,
    },
    /// End a user's lockout and reset the failure counters
    Unlock {
        /// Login name or id
        user: String,
        #[command(flatten)]
        output: Output,
    },
    /// List users ordered by login name
    List {
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an app; prints its app_key and app_secret (shown once)
    Add {
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Where to send people back after sign-in (repeatable; matched exactly)
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Require a second factor after the password
        #[arg(long)]
        require_second_factor: bool,
        /// Require the app secret on POST /session/validate/ too (recommended)
        #[arg(long)]
        require_secret_on_validate: bool,
        /// Passwordless: only a passkey completes a sign-in (users without one register one)
        #[arg(long)]
        passwordless: bool,
        /// Code-bound validate (recommended for apps that redirect back): the redirect carries
        /// a single-use code and POST /session/validate/ answers only to it (needs --redirect-uri)
        #[arg(long)]
        require_code_on_validate: bool,
        #[command(flatten)]
        output: Output,
    },
    /// List apps
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Replace an app's secret; the old one stops working at once
    RotateSecret {
        /// App id or app_key
        app: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// The Session API, for the sessions the key creates
    Session,
    /// The Session API for every session (a trusted custom login UI)
    #[value(name = "session_all")]
    SessionAll,
    /// The admin API
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; prints the key (shown once)
    Add {
        #[arg(long, value_name = "NAME")]
        name: String,
        /// What the key may call (repeatable) [default: session]
        #[arg(long = "scope", value_enum, value_name = "SCOPE")]
        scopes: Vec<ScopeArg>,
        #[command(flatten)]
        output: Output,
    },
    /// List API keys (never the keys themselves)
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Revoke an API key; it stops working at once
    Revoke {
        /// The key's id
        id: String,
        #[command(flatten)]
        output: Output,
    },
}

pub async fn user(engine: &Engine, command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add {
            login_name,
            password,
            email,
            phone,
            display_name,
            output,
        } => {
            let mut new = NewUser::named(LoginName::parse(login_name)?);
            new.password = password.read()?;
            new.email_verified = email.is_some();
            new.email = email.map(Email::parse).transpose()?;
            new.phone_verified = phone.is_some();
            new.phone = phone.map(Phone::parse).transpose()?;
            new.display_name = display_name.map(DisplayName::parse).transpose()?;
            let user = engine.create_user(new).await?;
            print(&output, user_json(&user), || {
                format!("created user {} (id {})", user.login_name, user.id)
            });
        }
        UserCommand::Passwd {
            user,
            password,
            output,
        } => {
            let password = password
                .read()?
                .ok_or_else(|| CliError::Usage("give --password or --password-stdin".into()))?;
            let user = find_user(engine, &user).await?;
            engine.set_password(&user.id, password).await?;
            print(
                &output,
                json!({ "id": user.id, "password_set": true }),
                || format!("password set for {}", user.login_name),
            );
        }
        UserCommand::Unlock { user, output } => {
            let user = find_user(engine, &user).await?;
            engine.unlock_user(&user.id).await?;
            print(&output, json!({ "id": user.id, "unlocked": true }), || {
                format!("unlocked {}", user.login_name)
            });
        }
        UserCommand::List {
            offset,
            limit,
            output,
        } => {
            let users = engine.list_users(offset, limit).await?;
            let text = || {
                let mut out = format!(
                    "{:<32}  {:<24}  {:<8}  {}",
                    "ID", "LOGIN NAME", "STATE", "EMAIL"
                );
                for u in &users {
                    let state = if u.locked_until.is_some() {
                        "locked"
                    } else {
                        u.state.as_str()
                    };
                    out.push_str(&format!(
                        "\n{:<32}  {:<24}  {:<8}  {}",
                        u.id,
                        u.login_name,
                        state,
                        u.email.as_deref().unwrap_or("-")
                    ));
                }
                out
            };
            print(
                &output,
                json!({ "users": users.iter().map(user_json).collect::<Vec<_>>() }),
                text,
            );
        }
    }
    Ok(())
}

pub async fn app(engine: &Engine, command: AppCommand) -> Result<(), CliError> {
    match command {
        AppCommand::Add {
            name,
            redirect_uris,
            require_second_factor,
            require_secret_on_validate,
            passwordless,
            require_code_on_validate,
            output,
        } => {
            let redirect_uris = redirect_uris
                .iter()
                .map(|u| HttpUrl::parse("redirect_uri", u))
                .collect::<Result<Vec<_>, _>>()?;
            let policy = LoginPolicy {
                require_second_factor,
                require_secret_on_validate,
                passwordless,
                require_code_on_validate,
                ..LoginPolicy::default()
            };
            let (app, secret) = engine
                .create_app(NewApp {
                    name: Name::parse(name)?,
                    redirect_uris,
                    policy,
                    branding: Default::default(),
                })
                .await?;
            let mut doc = app_json(&app);
            doc["app_secret"] = json!(secret.expose());
            print(&output, doc, || {
                format!(
                    "created app {} (id {})\napp_key:    {}\napp_secret: {}\nThe secret is shown only now; store it in the app's backend.",
                    app.name,
                    app.id,
                    app.app_key,
                    secret.expose()
                )
            });
        }
        AppCommand::List { output } => {
            let apps = engine.list_apps().await?;
            let text = || {
                let mut out = format!("{:<32}  {:<24}  {}", "ID", "APP KEY", "NAME");
                for a in &apps {
                    out.push_str(&format!("\n{:<32}  {:<24}  {}", a.id, a.app_key, a.name));
                }
                out
            };
            print(
                &output,
                json!({ "apps": apps.iter().map(app_json).collect::<Vec<_>>() }),
                text,
            );
        }
        AppCommand::RotateSecret { app, output } => {
            let app = match engine.find_app_by_key(&app).await? {
                Some(found) => found,
                None => engine.get_app(&app).await?,
            };
            let secret = engine.rotate_app_secret(&app.id).await?;
            print(
                &output,
                json!({ "id": app.id, "app_key": app.app_key, "app_secret": secret.expose() }),
                || {
                    format!(
                        "new secret for {} ({})\napp_secret: {}\nThe old secret no longer works.",
                        app.name,
                        app.app_key,
                        secret.expose()
                    )
                },
            );
        }
    }
    Ok(())
}

pub async fn api_key(engine: &Engine, command: ApiKeyCommand) -> Result<(), CliError> {
    match command {
        ApiKeyCommand::Add {
            name,
            scopes,
            output,
        } => {
            let mut scopes: Vec<Scope> = scopes
                .into_iter()
                .map(|s| match s {
                    ScopeArg::Session => Scope::Session,
                    ScopeArg::SessionAll => Scope::SessionAll,
                    ScopeArg::Admin => Scope::Admin,
                })
                .collect();
            if scopes.is_empty() {
                scopes.push(Scope::Session);
            }
            let (key, bearer) = engine.create_api_key(Name::parse(name)?, scopes).await?;
            let mut doc = api_key_json(&key);
            doc["key"] = json!(bearer.expose());
            print(&output, doc, || {
                format!(
                    "created API key {} (id {}, scopes {})\nkey: {}\nThe key is shown only now; send it as `Authorization: Bearer <key>`.",
                    key.name,
                    key.id,
                    scope_list(&key.scopes),
                    bearer.expose()
                )
            });
        }
        ApiKeyCommand::List { output } => {
            let keys = engine.list_api_keys().await?;
            let text = || {
                let mut out = format!(
                    "{:<32}  {:<24}  {:<14}  {}",
                    "ID", "NAME", "SCOPES", "STATE"
                );
                for k in &keys {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    out.push_str(&format!(
                        "\n{:<32}  {:<24}  {:<14}  {}",
                        k.id,
                        k.name,
                        scope_list(&k.scopes),
                        state
                    ));
                }
                out
            };
            print(
                &output,
                json!({ "api_keys": keys.iter().map(api_key_json).collect::<Vec<_>>() }),
                text,
            );
        }
        ApiKeyCommand::Revoke { id, output } => {
            engine.revoke_api_key(&id).await?;
            print(&output, json!({ "id": id, "revoked": true }), || {
                format!("revoked API key {id}")
            });
        }
    }
    Ok(())
}

async fn find_user(engine: &Engine, user: &str) -> Result<User, CliError> {
    if let Ok(name) = LoginName::parse(user) {
        if let Some(found) = engine.find_user_by_login_name(&name).await? {
            return Ok(found);
        }
    }
    Ok(engine.get_user(user).await?)
}

fn print(output: &Output, doc: Value, text: impl FnOnce() -> String) {
    if output.json {
        println!("{doc:#}");
    } else {
        println!("{}", text());
    }
}

fn rfc3339(at: time::OffsetDateTime) -> Value {
    at.format(&Rfc3339)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "login_name": user.login_name,
        "display_name": user.display_name,
        "email": user.email,
        "email_verified": user.email_verified,
        "phone": user.phone,
        "phone_verified": user.phone_verified,
        "state": user.state.as_str(),
        "locked_until": user.locked_until.map(rfc3339),
        "created_at": rfc3339(user.created_at),
    })
}

fn app_json(app: &App) -> Value {
    json!({
        "id": app.id,
        "app_key": app.app_key,
        "name": app.name,
        "redirect_uris": app.redirect_uris,
        "policy": app.policy,
        "created_at": rfc3339(app.created_at),
    })
}

fn api_key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "scopes": key.scopes,
        "created_at": rfc3339(key.created_at),
        "revoked_at": key.revoked_at.map(rfc3339),
    })
}

pub(crate) fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| match s {
            Scope::Session => "session",
            Scope::SessionAll => "session_all",
            Scope::Admin => "admin",
        })
        .collect::<Vec<_>>()
        .join(",")
}
