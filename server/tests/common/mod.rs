//! Test harness shared by the admin API, rate-limit and OpenAPI tests: the real router on a
//! free port with a fresh database, SQLite always and PostgreSQL (one schema per server) when
//! `VESTIBULE_TEST_POSTGRES_URL` is set. [`TestServer::replica`] starts a second server on the
//! same database, as a second replica would be.

#![allow(dead_code)]

use std::{path::PathBuf, sync::Arc};

use domain::{input::Name, model::Scope, Engine};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use server::config::{FileConfig, Overrides, Settings};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_url() -> Option<String> {
    std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh directory under the system's temp dir, named by `what`, with a `site/pkg/` holding a
/// stand-in style sheet (what the gate pages link to).
pub fn temp_site_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vestibule-{what}-{}", unique()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    std::fs::write(dir.join("site/pkg/vestibule.css"), "body{}").unwrap();
    dir
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unique() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Where a server keeps its data; shared by replicas.
#[derive(Clone, Debug)]
struct Place {
    dir: PathBuf,
    database_url: Option<String>,
    schema: Option<String>,
}

pub struct TestServer {
    pub base: String,
    pub engine: Arc<Engine>,
    /// A key with the `admin` scope.
    pub admin_key: String,
    pub http: Client,
    place: Place,
    /// Only the first server of a database removes it.
    owns_place: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, FileConfig::default()).await
    }

    /// A server with these file settings (rate limits, say) on a fresh database.
    pub async fn start_with(backend: Backend, file: FileConfig) -> Self {
        let dir = temp_site_dir("admin");
        let (database_url, schema) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let url = postgres_url().expect("VESTIBULE_TEST_POSTGRES_URL");
                let name = format!("adm_{}", unique());
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let sep = if url.contains('?') { '&' } else { '?' };
                (
                    Some(format!("{url}{sep}options=-c%20search_path%3D{name}")),
                    Some(name),
                )
            }
        };
        let place = Place {
            dir,
            database_url,
            schema,
        };
        let mut srv = Self::boot(place, file, true).await;
        let (_, bearer) = srv
            .engine
            .create_api_key(Name::parse("admin tests").unwrap(), vec![Scope::Admin])
            .await
            .unwrap();
        srv.admin_key = bearer.expose().clone();
        srv
    }

    /// A second server on this server's database and data directory (another replica).
    pub async fn replica(&self, file: FileConfig) -> Self {
        let mut srv = Self::boot(self.place.clone(), file, false).await;
        srv.admin_key = self.admin_key.clone();
        srv
    }

    async fn boot(place: Place, file: FileConfig, owns_place: bool) -> Self {
        let over = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(place.dir.join("data")),
            site_root: Some(place.dir.join("site")),
            database_url: place.database_url.clone(),
            demo: Some(false),
            ..Overrides::default()
        };
        let settings = Settings::resolve(over, file).unwrap();
        let bound = server::http::bind(settings).await.unwrap();
        let base = format!("http://{}", bound.addr);
        let engine = bound.state.engine.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(bound.run(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            engine,
            admin_key: String::new(),
            http: Client::new(),
            place,
            owns_place,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new API key with these scopes: `(id, bearer)`.
    pub async fn new_key(&self, scopes: Vec<Scope>) -> (String, String) {
        let (key, bearer) = self
            .engine
            .create_api_key(Name::parse("other").unwrap(), scopes)
            .await
            .unwrap();
        (key.id, bearer.expose().clone())
    }

    /// A request with an optional bearer key and JSON body: status, headers and JSON body
    /// (`null` for an empty body).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, headers, value)
    }

    /// An admin call with the admin key: status and JSON body.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, value) = self
            .send(
                method,
                &format!("/admin/v1{path}"),
                Some(&self.admin_key),
                body,
            )
            .await;
        (status, value)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if !self.owns_place {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.place.dir);
        if let (Some(name), Some(url)) = (self.place.schema.take(), postgres_url()) {
            // Dropped from a plain thread: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                            .execute(&pool)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Asserts the contract's error shape, its status, gRPC code and id.
#[track_caller]
pub fn assert_error(res: &(StatusCode, Value), status: u16, code: i64, id: &str) {
    let (st, body) = res;
    assert_eq!(st.as_u16(), status, "{body}");
    assert_eq!(body["code"], json!(code), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.ends_with(&format!("({id})")), "{body}");
    let details = body["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{body}");
    assert_eq!(details[0]["id"], json!(id), "{body}");
    assert_eq!(
        details[0]["@type"],
        json!("type.googleapis.com/zitadel.v1.ErrorDetail"),
        "{body}"
    );
}

/// Runs `$name(Backend)` as a test on SQLite, and on PostgreSQL when it is configured.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if $crate::common::postgres_url().is_none() {
                    eprintln!("VESTIBULE_TEST_POSTGRES_URL is not set: skipped");
                    return;
                }
                super::$name($crate::common::Backend::Postgres).await
            })+
        }
    };
}
