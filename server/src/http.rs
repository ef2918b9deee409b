//! HTTP wiring: the router, its middleware, health probes and the serve loop.

use std::{sync::Arc, time::Duration};

use app::{shell, App};
use axum::{
    extract::{FromRef, State},
    http::{header, HeaderName, HeaderValue, Request, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use storage::Database;
use tower_http::{
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{cli::CliError, config::Settings};

/// Everything a request handler may need.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Database,
    pub engine: Arc<domain::Engine>,
    pub settings: Arc<Settings>,
}

/// Opens the configured database and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> Result<Database, CliError> {
    if settings.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| CliError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
    }
    let db = Database::connect(&settings.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

/// The built site's file names, as `scripts/build-site.sh` wrote them to `assets.txt` at the
/// site's root (`stem vestibule-<hash>` for the JS and wasm, `css vestibule-<hash>.css`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// `vestibule-<hash>`: `<stem>.js` and `<stem>_bg.wasm`.
    pub stem: String,
    /// `vestibule-<hash>.css`.
    pub css: String,
    /// Whether the names carry content hashes (read from `assets.txt`), so that browsers may
    /// keep the files for good.
    pub hashed: bool,
}

impl Assets {
    /// Reads `site_root/assets.txt`; without one (a site built by hand, the tests' stand-ins),
    /// the plain names `vestibule.js`, `vestibule_bg.wasm` and `vestibule.css`, not cached for good.
    pub fn read(site_root: &std::path::Path) -> Self {
        let plain = Assets {
            stem: app::OUTPUT_NAME.to_owned(),
            css: format!("{}.css", app::OUTPUT_NAME),
            hashed: false,
        };
        let Ok(text) = std::fs::read_to_string(site_root.join("assets.txt")) else {
            return plain;
        };
        let value = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once(' '))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| is_file_name(v))
        };
        match (value("stem"), value("css")) {
            (Some(stem), Some(css)) => Assets {
                stem,
                css,
                hashed: true,
            },
            _ => {
                tracing::warn!(
                    path = %site_root.join("assets.txt").display(),
                    "assets.txt names no stem and css; using the plain file names"
                );
                plain
            }
        }
    }
}

/// A bare file name of letters, digits, `-`, `_` and `.` (what build-site.sh writes).
fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The Leptos options for the site: file names and where the built files are.
pub fn leptos_options(settings: &Settings) -> LeptosOptions {
    let assets = Assets::read(&settings.site_root);
    LeptosOptions::builder()
        .output_name(assets.stem.as_str())
        .site_root(settings.site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(settings.listen)
        .env(leptos::config::Env::PROD)
        .build()
}

/// Builds the whole router for `state`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let pkg_dir = state.settings.site_root.join("pkg");
    let assets = Assets::read(&state.settings.site_root);
    let site_assets = app::SiteAssets {
        css: assets.css.clone(),
    };
    let fallback_assets = site_assets.clone();
    let hashed = assets.hashed;
    let options = state.leptos_options.clone();
    let router_settings = state.settings.clone();
    let request_id = HeaderName::from_static("x-request-id");
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/texts/{file}", get(texts_script))
        .merge(crate::api::routes(&state))
        .merge(crate::handoff::routes(&state))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                // The console's pages and server functions reach the engine through this.
                let console = app::console::glue::ConsoleContext::new(
                    state.engine.clone(),
                    &state.settings.public_url,
                );
                move || {
                    provide_context(console.clone());
                    provide_context(site_assets.clone());
                }
            },
            move || shell(options.clone()),
        )
        .layer(axum::middleware::from_fn_with_state(
            crate::handoff::ConsoleGate::new(&state),
            crate::handoff::console_gate,
        ))
        .nest_service(
            "/pkg",
            tower::ServiceBuilder::new()
                // Hashed names change with the content: a browser may keep a file for a year
                // without asking again. Anything else (a missing file, a site without hashes)
                // is asked for again each time.
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    move |res: &axum::response::Response<_>| {
                        Some(HeaderValue::from_static(
                            if hashed && res.status().is_success() {
                                "public, max-age=31536000, immutable"
                            } else {
                                "no-cache"
                            },
                        ))
                    },
                ))
                // Never asked for again, so nothing to revalidate or resume: these headers
                // would only weigh on every first load.
                .map_response(move |mut res: axum::response::Response<_>| {
                    if hashed {
                        res.headers_mut().remove(header::LAST_MODIFIED);
                        res.headers_mut().remove(header::ACCEPT_RANGES);
                    }
                    res
                })
                .service(
                    ServeDir::new(pkg_dir)
                        .precompressed_br()
                        .precompressed_gzip(),
                ),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || provide_context(fallback_assets.clone()), shell
        ))
        .with_state(state)
        .layer(axum::middleware::map_response(client_errors_are_400))
        .layer(compress_pages());
    let metered = state_metrics_on(&router_settings);
    let router = with_security_headers(router, router_settings.public_url.starts_with("https://"));
    let router = if metered {
        router.layer(axum::middleware::from_fn(crate::metrics::track))
    } else {
        router
    };
    router
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            let client = crate::client_addr::ClientAddr::of(req.extensions())
                .map_or_else(|| "-".to_owned(), |c| c.0.to_string());
            let path = path_for_logs(req.uri().path());
            tracing::info_span!("request", id = %id, client = %client, method = %req.method(), path = %path)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::map_response(no_request_id_on_assets))
        .layer(axum::middleware::from_fn_with_state(
            router_settings.proxies.clone(),
            crate::client_addr::record,
        ))
}

/// The request path as logs show it. SECURITY: a login link's path is its token, so the token
/// never reaches a log line (the query string is never logged at all).
pub fn path_for_logs(path: &str) -> std::borrow::Cow<'_, str> {
    use crate::handoff::CONSOLE_PREFIX;
    match path.strip_prefix(CONSOLE_PREFIX) {
        Some(rest) if !rest.is_empty() => format!("{CONSOLE_PREFIX}[link]").into(),
        _ => path.into(),
    }
}

/// A script, style sheet or wasm module is the same for everyone and kept for good: its request
/// id (still in the logs) would only weigh on every first load.
async fn no_request_id_on_assets(
    mut response: axum::response::Response,
) -> axum::response::Response {
    if is_asset(response.headers()) {
        response.headers_mut().remove("x-request-id");
    }
    response
}

/// Whether a response is a script, style sheet or wasm module (by its type; sent with `nosniff`,
/// so never read as anything else).
fn is_asset(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            ["text/javascript", "text/css", "application/wasm"]
                .iter()
                .any(|t| v.starts_with(t))
        })
}

/// Brotli or gzip, as the browser accepts, for rendered pages and the texts scripts (the files
/// under /pkg are compressed ahead, by build-site.sh). Only `text/html` and `text/javascript`:
/// API answers stay as they are.
/// SECURITY: a page holds secrets (a TOTP key, recovery codes) but reflects nothing a third party
/// chooses (query parameters are read as closed sets, other sites cannot post to it), so its
/// compressed length gives nothing away (BREACH needs attacker-chosen text beside the secret).
fn compress_pages() -> CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{Predicate as _, SizeAbove};
    let html =
        |_: StatusCode, _: http::Version, headers: &http::HeaderMap, _: &http::Extensions| {
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html") || v.starts_with("text/javascript"))
        };
    // Quality 5: a page is compressed on every request; 5 gives most of what 11 would (a 4.7 KB
    // page: 1,654 bytes against 1,469) in a fortieth of the time (0.2 ms against 8 ms).
    CompressionLayer::new()
        .br(true)
        .gzip(true)
        .quality(tower_http::compression::CompressionLevel::Precise(5))
        .compress_when(SizeAbove::new(256).and(html))
}

/// Whether requests are measured: only when metrics are served.
fn state_metrics_on(settings: &Settings) -> bool {
    settings.metrics_addr.is_some()
}

/// `Strict-Transport-Security` on every answer when the public URL is https: a year, and for
/// the subdomains too.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Headers every response carries. Rendered pages set their own CSP, with a nonce, first.
/// With `https`, HSTS too.
fn with_security_headers(router: Router, https: bool) -> Router {
    let csp = HeaderValue::from_str(&app::security::content_security_policy(None))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    // A policy and a framing rule govern documents; a script, style sheet or wasm module (sent
    // with `nosniff`, so never read as a page) has no use for them, and they would add a quarter
    // of a KiB to each of the console's asset responses.
    let for_documents = move |value: HeaderValue| {
        move |res: &axum::response::Response| (!is_asset(res.headers())).then(|| value.clone())
    };
    // SECURITY: no framing, no MIME sniffing, no referrer that could carry a login link elsewhere.
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            for_documents(csp),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            for_documents(HeaderValue::from_static("DENY")),
        ))
        // SECURITY: answers carry session tokens, login links, codes, API keys and app
        // secrets; none may be kept by a browser or a proxy. Only what sets its own caching
        // (the hashed files under /pkg, the texts scripts) is cached; every other answer,
        // whichever door it came through, is `no-store`.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        // SECURITY: once a browser has seen the https service, it never tries plain http again.
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &axum::response::Response| https.then(|| HeaderValue::from_static(HSTS)),
        ))
}

/// Leptos answers a server-function call whose arguments do not decode with 500; that is the
/// caller's mistake, so it becomes 400 with the same body.
async fn client_errors_are_400(response: axum::response::Response) -> axum::response::Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    const CALLER_MISTAKES: [&[u8]; 3] = [b"Args|", b"MissingArg|", b"Deserialization|"];
    if CALLER_MISTAKES
        .iter()
        .any(|prefix| bytes.starts_with(prefix))
    {
        parts.status = StatusCode::BAD_REQUEST;
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The console island's texts in one language (`app::i18n::texts_script`): named after their
/// content, so kept for good like the files under /pkg, and sent with brotli at its highest
/// quality (compressed once) to browsers that take it (the others get gzip on the fly).
async fn texts_script(uri: axum::http::Uri, headers: http::HeaderMap) -> axum::response::Response {
    static BROTLI: std::sync::LazyLock<std::collections::HashMap<&'static str, Vec<u8>>> =
        std::sync::LazyLock::new(|| {
            app::i18n::Lang::ALL
                .into_iter()
                .map(app::i18n::texts_script)
                .filter_map(|script| {
                    let mut out = Vec::new();
                    let params = brotli::enc::BrotliEncoderParams {
                        quality: 11,
                        ..Default::default()
                    };
                    brotli::BrotliCompress(&mut script.body.as_bytes(), &mut out, &params)
                        .ok()
                        .map(|_| (script.path.as_str(), out))
                })
                .collect()
        });
    match app::i18n::find_texts_script(uri.path()) {
        Some(script) => {
            let kept = [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/javascript; charset=utf-8"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (header::VARY, HeaderValue::from_static("accept-encoding")),
            ];
            match BROTLI
                .get(script.path.as_str())
                .filter(|_| accepts_brotli(&headers))
            {
                Some(compressed) => (
                    kept,
                    [(header::CONTENT_ENCODING, HeaderValue::from_static("br"))],
                    compressed.clone(),
                )
                    .into_response(),
                None => (kept, script.body.clone()).into_response(),
            }
        }
        None => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
            "not found",
        )
            .into_response(),
    }
}

/// Whether `Accept-Encoding` names brotli without `q=0`.
fn accepts_brotli(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("br") && !refused
        })
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(db): State<Database>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(3), db.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": db.backend() })),
        ),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({ "status": "unavailable", "database": db.backend(), "error": "database unreachable" }),
                ),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "database": db.backend(), "error": "database timed out" }),
            ),
        ),
    }
}

/// A server bound to its address, ready to serve.
pub struct BoundServer {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    /// Set when this start created the demo data.
    pub demo: Option<crate::wiring::DemoCredentials>,
    /// Set when no demo data was wanted and the database holds no API key yet.
    pub needs_admin_key: bool,
    /// Where `GET /metrics` answers, when metrics are on.
    pub metrics_addr: Option<std::net::SocketAddr>,
    listener: tokio::net::TcpListener,
    metrics: Option<(
        tokio::net::TcpListener,
        metrics_exporter_prometheus::PrometheusHandle,
    )>,
}

impl BoundServer {
    /// Serves until `shutdown` completes.
    /// HTTP/1.1 and HTTP/2 (h2c with prior knowledge, or h2 by ALPN under TLS) on one port.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), CliError> {
        // Stopped with the server, so a test's servers leave nothing running behind them.
        let purge =
            crate::retention::spawn(self.state.engine.clone(), self.state.settings.retention);
        let _stop_purge = AbortOnDrop(purge);
        if let Some((listener, handle)) = self.metrics {
            let app =
                crate::metrics::router(handle, self.state.db.clone(), self.state.engine.clone());
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::warn!(error = %err, "the metrics listener stopped");
                }
            });
        }
        let app = router(self.state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        match &self.state.settings.tls {
            None => axum::serve(self.listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(CliError::Serve),
            Some(files) => {
                use axum::serve::ListenerExt as _;
                let config = crate::tls::load(&files.cert, &files.key)?;
                // `tap_io` only lends the listener axum's connect-info support.
                let listener = crate::tls::TlsListener::new(self.listener, config)
                    .map_err(CliError::Serve)?
                    .tap_io(|_| {});
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(CliError::Serve)
            }
        }
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the WAL's size is looked at, and the size from which it is checkpointed.
const WAL_CHECK_EVERY: Duration = Duration::from_millis(100);
const WAL_CHECKPOINT_AT: u64 = 4 * 1024 * 1024;

/// The WAL checkpoint mode: TRUNCATE unless `VESTIBULE_WAL_CHECKPOINT=passive` asks for the
/// alternative (kept for measuring the two against each other, see BENCHMARKS.md).
fn checkpoint_mode() -> storage::CheckpointMode {
    match std::env::var("VESTIBULE_WAL_CHECKPOINT") {
        Ok(text) => text.parse().unwrap_or_else(|err: String| {
            tracing::warn!(error = %err, "ignoring VESTIBULE_WAL_CHECKPOINT");
            storage::CheckpointMode::Truncate
        }),
        Err(_) => storage::CheckpointMode::Truncate,
    }
}

/// Opens the database and binds the listener (port 0 picks a free port).
pub async fn bind(settings: Settings) -> Result<BoundServer, CliError> {
    let db = open_database(&settings).await?;
    if let Database::Sqlite(sqlite) = &db {
        tokio::spawn(sqlite.clone().keep_wal_small(
            checkpoint_mode(),
            WAL_CHECK_EVERY,
            WAL_CHECKPOINT_AT,
        ));
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| CliError::Bind {
            addr: settings.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(CliError::Serve)?;
    let metrics = match settings.metrics_addr {
        None => None,
        Some(metrics_addr) => {
            let handle = crate::metrics::install().map_err(CliError::Usage)?;
            let listener = tokio::net::TcpListener::bind(metrics_addr)
                .await
                .map_err(|source| CliError::Bind {
                    addr: metrics_addr,
                    source,
                })?;
            Some((listener, handle))
        }
    };
    let metrics_addr = match &metrics {
        Some((listener, _)) => Some(listener.local_addr().map_err(CliError::Serve)?),
        None => None,
    };
    let mut settings = settings;
    // Port 0 picks a free port: the default public URL must name the port actually bound.
    let tls = settings.tls.is_some();
    if settings.listen.port() == 0
        && settings.public_url == crate::config::default_public_url_for(settings.listen, tls)
    {
        settings.public_url = crate::config::default_public_url_for(addr, tls);
    }
    if let Some(files) = &settings.tls {
        // Refuse a bad certificate at start, not at the first connection.
        crate::tls::load(&files.cert, &files.key)?;
    }
    let engine = crate::wiring::build_engine(&settings, db.clone()).await?;
    let demo = if settings.demo {
        crate::wiring::seed_demo(&engine, settings.demo_admin).await?
    } else {
        None
    };
    let needs_admin_key = crate::wiring::needs_first_admin_key(&engine, settings.demo).await?;
    let state = AppState {
        leptos_options: leptos_options(&settings),
        db,
        engine,
        settings: Arc::new(settings),
    };
    Ok(BoundServer {
        addr,
        state,
        demo,
        needs_admin_key,
        metrics_addr,
        listener,
        metrics,
    })
}

/// Opens the database, binds, prints the URL and serves until Ctrl-C or SIGTERM.
pub async fn serve(settings: Settings) -> Result<(), CliError> {
    let server = bind(settings).await?;
    let backend = server.state.db.backend();
    let scheme = if server.state.settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "Vestibule is listening on {scheme}://{} (database: {backend})",
        server.addr
    );
    println!("Public URL: {}", server.state.settings.public_url);
    if let Some(demo) = &server.demo {
        print_demo(demo, &server.state.settings.public_url);
    }
    if server.needs_admin_key {
        eprintln!(
            "{}",
            crate::wiring::first_admin_key_hint(&server.state.settings)
        );
    }
    let delivery = &server.state.settings.delivery;
    if delivery.smtp.is_none() {
        tracing::warn!("no smtp_url configured: email codes are only logged (development)");
    }
    if delivery.sms.is_none() {
        tracing::warn!("no sms_url configured: SMS codes are only logged (development)");
    }
    if let Some(metrics) = server.metrics_addr {
        println!("Metrics: http://{metrics}/metrics");
    }
    tracing::info!(addr = %server.addr, backend, "listening");
    server.run(shutdown_signal()).await
}

fn print_demo(demo: &crate::wiring::DemoCredentials, public_url: &str) {
    println!(
        "
First start: created demo data (shown only now; `--no-demo` skips this).
  user     login name: {login}   password: {password}
  app      app_key: {app_key}   app_secret: {app_secret}
  API key  {api_key}   (scopes: {scopes}{admin_hint})
Try it:
  curl -s -X POST {public_url}/session/generate/ -H 'Content-Type: application/json' \\
       -d '{{\"app_key\": \"{app_key}\", \"app_secret\": \"{app_secret}\"}}'
  curl -s -X POST {public_url}/v2/sessions -H 'Authorization: Bearer {api_key}' \\
       -H 'Content-Type: application/json' -d '{{\"checks\": {{\"user\": {{\"loginName\": \"{login}\"}}}}}}'
",
        login = demo.login_name,
        password = demo.password,
        app_key = demo.app_key,
        app_secret = demo.app_secret,
        api_key = demo.api_key,
        scopes = crate::admin_cli::scope_list(&demo.api_key_scopes),
        admin_hint = if demo.api_key_scopes.contains(&domain::model::Scope::Admin) {
            ""
        } else {
            "; `--demo-admin` adds admin"
        },
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_never_show_a_link_token() {
        assert_eq!(
            path_for_logs("/console/session/AbC123-secret_token"),
            "/console/session/[link]"
        );
        assert_eq!(path_for_logs("/console/session/"), "/console/session/");
        assert_eq!(path_for_logs("/v2/sessions/42"), "/v2/sessions/42");
        assert_eq!(path_for_logs("/console/api/step"), "/console/api/step");
    }
}
