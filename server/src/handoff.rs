//! The app handoff over HTTP: `POST /session/generate/`, `POST /session/validate/` (with an
//! optional long-poll) and the claim of a login link when a browser opens
//! `/console/session/<token>`. Handlers parse, call one engine method and map the answer; the
//! rules live in `domain::service::handoff`.
//!
//! Bodies may be JSON, `application/x-www-form-urlencoded` or `multipart/form-data` (the Ziqx
//! documentation asks for forms, its example sends JSON). Every error is JSON:
//! `{"status": "error", "error": "<stable id>", "message": "..."}`.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::post,
    Extension, Json, Router,
};
use domain::{
    input::Lifetime,
    service::{
        Browser, GenerateHandoff, HandoffCompletion, HandoffState, HandoffStatus,
        Next as LoginNext, ValidateHandoff, ValidateProof,
    },
    DomainError, ErrorKind,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use app::console::glue::ConsoleCookies;
use app::i18n::{gate::GatePage, Lang};

use crate::{
    http::AppState,
    ratelimit::{RateLimiter, RetryAfter, Rule},
};

/// Largest request body the handoff endpoints read.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Longest long-poll a validate call may ask for, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;
/// While long-polling, the status is re-read this often, to see changes made on other replicas
/// and links that expire; changes made in this process wake the poll at once.
const RECHECK: Duration = Duration::from_secs(1);
/// How often (seconds) one process deletes expired, unclaimed links.
const PURGE_EVERY_SECS: i64 = 60;
/// The hosted page's path prefix.
pub(crate) const CONSOLE_PREFIX: &str = "/console/session/";
/// Where the hosted page's server function is.
const CONSOLE_API_PREFIX: &str = "/console/api/";
/// Largest post the hosted page's server function takes (a WebAuthn registration is a few KiB).
const CONSOLE_BODY_LIMIT: usize = 256 * 1024;

/// What the handoff handlers share besides the app state.
#[derive(Debug, Clone)]
struct Handoff {
    limiter: RateLimiter,
    last_purge: Arc<AtomicI64>,
}

/// The routes of the app handoff, with and without the trailing slash of the Ziqx URLs.
pub fn routes(state: &AppState) -> Router<AppState> {
    let shared = Handoff {
        limiter: RateLimiter::new(state.db.clone()),
        last_purge: Arc::new(AtomicI64::new(0)),
    };
    Router::new()
        .route("/session/generate/", post(generate))
        .route("/session/generate", post(generate))
        .route("/session/validate/", post(validate))
        .route("/session/validate", post(validate))
        .layer(Extension(shared))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

// ----- errors -----

/// An error answer in the handoff's JSON shape.
#[derive(Debug)]
pub struct HandoffError {
    status: StatusCode,
    id: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl HandoffError {
    fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            id,
            message: message.into(),
            retry_after: None,
        }
    }

    fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "REQ-Body01", message)
    }

    fn missing(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ARG-Inval1",
            format!("{field}: is required"),
        )
    }

    fn rate_limited(retry: RetryAfter) -> Self {
        Self {
            retry_after: Some(retry.0),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE-Lim01",
                format!("Too many requests; try again in {} s", retry.0),
            )
        }
    }
}

impl From<DomainError> for HandoffError {
    fn from(err: DomainError) -> Self {
        let status = match err.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::InvalidArgument | ErrorKind::FailedPrecondition => StatusCode::BAD_REQUEST,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::AlreadyExists | ErrorKind::Aborted => StatusCode::CONFLICT,
            ErrorKind::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unimplemented | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, err.id(), err.message())
    }
}

impl IntoResponse for HandoffError {
    fn into_response(self) -> Response {
        let body = json!({ "status": "error", "error": self.id, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

// ----- bodies -----

/// The fields of a body, whatever its encoding; every value as text.
#[derive(Debug, Default)]
struct Fields(HashMap<String, String>);

impl Fields {
    fn insert(&mut self, name: String, value: String) -> Result<(), HandoffError> {
        if self.0.contains_key(&name) {
            return Err(HandoffError::malformed(format!(
                "the field {name} is given more than once"
            )));
        }
        self.0.insert(name, value);
        Ok(())
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    fn required(&mut self, name: &str) -> Result<String, HandoffError> {
        self.take(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| HandoffError::missing(name))
    }
}

async fn body_bytes(body: Body) -> Result<axum::body::Bytes, HandoffError> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        HandoffError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQ-Size01",
            format!("the body is larger than {BODY_LIMIT} bytes or could not be read"),
        )
    })
}

/// Reads a JSON, urlencoded or multipart body into fields; anything else is 415.
async fn read_fields(request: Request) -> Result<Fields, HandoffError> {
    let media = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let mut fields = Fields::default();
    match media.as_str() {
        "application/json" => {
            let bytes = body_bytes(request.into_body()).await?;
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| HandoffError::malformed(format!("the body is not valid JSON: {e}")))?;
            let Value::Object(map) = value else {
                return Err(HandoffError::malformed("the body must be a JSON object"));
            };
            for (name, value) in map {
                let text = match value {
                    Value::Null => continue,
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Array(_) | Value::Object(_) => {
                        return Err(HandoffError::malformed(format!(
                            "the field {name} must be a string or a number"
                        )))
                    }
                };
                fields.insert(name, text)?;
            }
        }
        "application/x-www-form-urlencoded" => {
            let bytes = body_bytes(request.into_body()).await?;
            for (name, value) in url::form_urlencoded::parse(&bytes) {
                fields.insert(name.into_owned(), value.into_owned())?;
            }
        }
        "multipart/form-data" => {
            let mut multipart = Multipart::from_request(request, &())
                .await
                .map_err(|e| HandoffError::malformed(format!("bad multipart body: {e}")))?;
            loop {
                let field = multipart
                    .next_field()
                    .await
                    .map_err(|e| HandoffError::malformed(format!("bad multipart body: {e}")))?;
                let Some(field) = field else { break };
                let name = field.name().unwrap_or_default().to_owned();
                let value = field
                    .text()
                    .await
                    .map_err(|e| HandoffError::malformed(format!("bad multipart field: {e}")))?;
                fields.insert(name, value)?;
            }
        }
        _ => {
            return Err(HandoffError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "REQ-Media01",
                "send application/json, application/x-www-form-urlencoded or multipart/form-data",
            ))
        }
    }
    Ok(fields)
}

/// The client's address as sessions record it (decided once, in [`crate::client_addr`]).
fn client_ip(request: &Request) -> Option<String> {
    crate::client_addr::ClientAddr::of(request.extensions()).map(|c| c.0.to_string())
}

fn rfc3339(at: time::OffsetDateTime) -> Option<String> {
    at.format(&Rfc3339).ok()
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ----- generate -----

async fn generate(
    State(state): State<AppState>,
    Extension(shared): Extension<Handoff>,
    request: Request,
) -> Result<Response, HandoffError> {
    let limits = state.settings.rate_limits;
    let address = crate::client_addr::rate_key_of(request.extensions());
    let mut fields = read_fields(request).await?;
    let app_key = fields.required("app_key")?;
    let app_secret = fields.required("app_secret")?;
    let app = match state.engine.authenticate_app(&app_key, &app_secret).await {
        Ok(app) => app,
        Err(err) => {
            // Only failures spend the address's budget: one app backend makes every visitor's
            // link from one address. SECURITY: app secrets are 256 random bits, so this limit
            // is not what stops guessing; it turns a client that keeps sending wrong
            // credentials away with 429.
            if matches!(err, DomainError::InvalidAppCredentials) {
                shared
                    .limiter
                    .check(
                        &format!("handoff.generate.failed.addr:{address}"),
                        limits.generate_per_address,
                    )
                    .await
                    .map_err(HandoffError::rate_limited)?;
            }
            return Err(err.into());
        }
    };
    shared
        .limiter
        .check(
            &format!("handoff.generate.app:{}", app.app().id),
            limits.generate_per_app,
        )
        .await
        .map_err(HandoffError::rate_limited)?;
    let lifetime = match fields.take("lifetime").filter(|v| !v.is_empty()) {
        None => None,
        Some(text) => {
            let seconds: i64 = text.trim().parse().map_err(|_| {
                HandoffError::new(
                    StatusCode::BAD_REQUEST,
                    "COMMAND-asEG4",
                    "lifetime: whole seconds expected",
                )
            })?;
            Some(Lifetime::from_seconds(seconds)?)
        }
    };
    let request = GenerateHandoff {
        redirect_uri: fields.take("redirect_uri"),
        state: fields.take("state"),
        login_hint: fields.take("login_hint"),
        ui_locales: fields.take("ui_locales"),
        lifetime,
        code_challenge: fields.take("code_challenge"),
        code_challenge_method: fields.take("code_challenge_method"),
    };
    let generated = state.engine.generate_handoff(&app, request).await?;
    purge_now_and_then(&state, &shared);
    let body = json!({
        "token": generated.token.expose(),
        "session_id": generated.session_id.expose(),
        "base_url": format!("{}{CONSOLE_PREFIX}", state.settings.public_url),
        "expires_at": rfc3339(generated.expires_at),
    });
    Ok(no_store(Json(body).into_response()))
}

/// Deletes expired unclaimed links at most once a minute per process, off the request path.
fn purge_now_and_then(state: &AppState, shared: &Handoff) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let last = shared.last_purge.load(Ordering::Relaxed);
    if now - last < PURGE_EVERY_SECS
        || shared
            .last_purge
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let engine = state.engine.clone();
    tokio::spawn(async move {
        match engine.purge_handoffs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "deleted expired login links"),
            Err(err) => tracing::warn!(error = %err, "could not purge login links"),
        }
    });
}

// ----- validate -----

fn parse_wait(text: &str) -> Result<u64, HandoffError> {
    let seconds: u64 = text.trim().parse().map_err(|_| {
        HandoffError::new(
            StatusCode::BAD_REQUEST,
            "ARG-Inval1",
            "wait: whole seconds from 0 to 30 expected",
        )
    })?;
    Ok(seconds.min(MAX_WAIT_SECS))
}

async fn validate(
    State(state): State<AppState>,
    Extension(shared): Extension<Handoff>,
    request: Request,
) -> Result<Response, HandoffError> {
    let query_wait = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == "wait")
            .map(|(_, value)| value.into_owned())
    });
    let mut fields = read_fields(request).await?;
    let session_id = fields.required("session_id")?;
    let wait = match fields.take("wait").or(query_wait) {
        Some(text) if !text.is_empty() => parse_wait(&text)?,
        _ => 0,
    };
    let mut take = |name: &str| fields.take(name).filter(|v| !v.is_empty());
    let (app_key, app_secret) = (take("app_key"), take("app_secret"));
    let (code, code_verifier) = (take("code"), take("code_verifier"));
    let proof = ValidateProof {
        app_key: app_key.as_deref(),
        app_secret: app_secret.as_deref(),
        code: code.as_deref(),
        code_verifier: code_verifier.as_deref(),
    };
    let found = state
        .engine
        .find_handoff_for_validate(&session_id, proof)
        .await?;
    shared
        .limiter
        .check(
            &format!("handoff.validate.app:{}", found.app().id),
            state.settings.rate_limits.validate_per_app,
        )
        .await
        .map_err(HandoffError::rate_limited)?;
    let status = wait_for_outcome(&state, &found, Duration::from_secs(wait)).await?;
    Ok(no_store(
        Json(status_json(&session_id, &status)).into_response(),
    ))
}

/// Reads the status until it leaves `pending` or `wait` has passed. Holds no database
/// connection and no thread while waiting: it sleeps on a broadcast of this process's changes
/// and re-reads the status every [`RECHECK`] for changes made elsewhere.
async fn wait_for_outcome(
    state: &AppState,
    found: &ValidateHandoff,
    wait: Duration,
) -> Result<HandoffStatus, HandoffError> {
    let deadline = Instant::now() + wait;
    // Subscribed before the first read, so a change between the read and the wait is not missed.
    let mut changes = state.engine.subscribe_handoff_changes();
    loop {
        let status = state.engine.handoff_status(found).await?;
        let now = Instant::now();
        if status.state != HandoffState::Pending || now >= deadline {
            return Ok(status);
        }
        let nap = tokio::time::sleep(RECHECK.min(deadline - now));
        tokio::pin!(nap);
        loop {
            tokio::select! {
                () = &mut nap => break,
                change = changes.recv() => match change {
                    Ok(id) if id == found.handoff_id() => break,
                    Ok(_) => {}
                    // Missed some: re-read to be safe.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        (&mut nap).await;
                        break;
                    }
                },
            }
        }
    }
}

fn status_json(session_id: &str, status: &HandoffStatus) -> Value {
    let mut body = json!({
        "status": status.state.as_str(),
        "session_id": session_id,
        "app_key": status.app_key,
        "verified_at": status.verified_at.and_then(rfc3339),
        "expires_at": status.expires_at.and_then(rfc3339),
        "factors": status.factors,
        "amr": status.amr,
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(user) = &status.user {
            map.insert(
                "user".into(),
                json!({
                    "id": user.id,
                    "login_name": user.login_name,
                    "display_name": user.display_name,
                    "email": user.email,
                    "phone": user.phone,
                }),
            );
        }
        if let Some(id) = &status.engine_session_id {
            map.insert("engine_session_id".into(), json!(id));
        }
    }
    body
}

// ----- the console: the gate in front of the hosted page -----

/// Middleware in front of the hosted page and its server function.
///
/// - A post to `/console/api/*` must come from our own origin (checked once here, for every
///   operation, before any of them runs).
/// - Posts and page views are throttled per client address and per link ([`ConsoleGate`]):
///   a refused post of the page's script gets 429 with the notice to show, a refused form
///   post or page view a 429 page of its own; both with `Retry-After`.
/// - A `GET /console/session/<token>` opens the login once, claiming nothing (the first step
///   the person takes binds the link to their browser): the claiming browser comes back in,
///   other browsers (once it is claimed), expired and unknown links get a page of their own. A finished login is sent on to the app's redirect
///   URI (or a signed-in page). Otherwise the opened login goes on to the page, which renders
///   it without opening it again.
pub async fn console_gate(
    State(gate): State<ConsoleGate>,
    mut request: Request,
    next: Next,
) -> Response {
    let state = gate.state.clone();
    let limits = state.settings.rate_limits;
    if request.method() == Method::POST && request.uri().path().starts_with(CONSOLE_API_PREFIX) {
        if let Some(refused) = origin_refusal(&state, request.headers()) {
            return refused;
        }
        // The post's fields (the link's token, the page's language), for its limits.
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, CONSOLE_BODY_LIMIT).await else {
            return HandoffError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "REQ-Size01",
                format!("the body is larger than {CONSOLE_BODY_LIMIT} bytes or could not be read"),
            )
            .into_response();
        };
        let field = |name: &str| {
            url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let (token, lang) = (field("token"), field("lang"));
        request = Request::from_parts(parts, Body::from(bytes));
        let address = crate::client_addr::rate_key_of(request.extensions());
        let throttled = gate
            .throttle(
                &format!("console.post.addr:{address}"),
                limits.console_per_address,
                token.as_deref(),
            )
            .await;
        if let Err(retry) = throttled {
            if !app::console::glue::wants_page(request.headers()) {
                return throttled_fetch(retry);
            }
            let lang = lang
                .as_deref()
                .and_then(Lang::from_tag)
                .unwrap_or_else(|| gate_lang(&request, None));
            return throttled_page(&state, retry, lang);
        }
        // The address the login's session records, should this post claim the link.
        if let Some(ip) = client_ip(&request) {
            request
                .extensions_mut()
                .insert(app::console::glue::ClientIp(ip));
        }
        return next.run(request).await;
    }
    let head = request.method() == Method::HEAD;
    if request.method() != Method::GET && !head {
        return next.run(request).await;
    }
    let Some(token) = request
        .uri()
        .path()
        .strip_prefix(CONSOLE_PREFIX)
        .filter(|t| !t.is_empty() && !t.contains('/'))
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    if head {
        // Link scanners and chat previews ask with HEAD: they get the headers of a page and
        // nothing else, and the link stays unclaimed for the person.
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return no_store(r);
    }
    let address = crate::client_addr::rate_key_of(request.extensions());
    let throttled = gate
        .throttle(
            &format!("console.page.addr:{address}"),
            limits.console_pages_per_address,
            Some(&token),
        )
        .await;
    if let Err(retry) = throttled {
        return throttled_page(&state, retry, gate_lang(&request, None));
    }
    let secure = state.settings.public_url.starts_with("https://");
    let mut cookies = ConsoleCookies::read(request.headers(), &token, secure);
    // A page view never claims, so the browser's agent is recorded by the server function
    // that does (the gate hands it the client address).
    let browser = Browser {
        secret: cookies.claim().map(str::to_owned),
        user_agent: None,
    };
    // A page view claims nothing (a mail scanner's fetch must not use the link up). A browser
    // new to the link gets the secret its first action will bind the link to; nothing is
    // stored for it until then.
    let login = match state.engine.open_login(&token, browser).await {
        Ok(login) => login,
        Err(err) => return link_problem_page(&state, &err, gate_lang(&request, None)),
    };
    if cookies.claim().is_none() {
        cookies.set_claim(state.engine.new_browser_secret().expose());
    }
    let lang = gate_lang(&request, login.ui_locales());
    // The page's <html lang> comes from here, decided once for the whole document.
    request.extensions_mut().insert(app::PageLang(lang));
    // Recovery codes a no-JavaScript enrollment just made are shown by the page once, even
    // though the login is already complete.
    let showing_codes = !cookies.recovery_codes().is_empty();
    let redirect_uri = login.redirect_uri().map(str::to_owned);
    let mut response = match state.engine.login_outcome(&login) {
        Some(LoginNext::Done(HandoffCompletion::Redirect(target))) if !showing_codes => {
            match HeaderValue::from_str(&target) {
                Ok(location) => {
                    let mut r = StatusCode::SEE_OTHER.into_response();
                    r.headers_mut().insert(header::LOCATION, location);
                    r
                }
                Err(_) => link_problem_page(&state, &DomainError::Internal, lang),
            }
        }
        Some(LoginNext::Done(HandoffCompletion::SignedIn)) if !showing_codes => {
            let css = css_name(&state);
            let home = login.branding().page_home();
            let news = gate_news(&request).map(|n| n.text(lang));
            html_page(
                StatusCode::OK,
                lang,
                app::console::gate::signed_in_document(lang, login.app_name(), home, news, &css),
            )
        }
        Some(LoginNext::Ended(_)) => link_problem_page(&state, &DomainError::HandoffEnded, lang),
        _ => {
            request
                .extensions_mut()
                .insert(app::console::glue::OpenedLogin::new(login));
            let page = next.run(request).await;
            allow_forms_to_reach(page, redirect_uri.as_deref())
        }
    };
    for cookie in cookies.take_set_cookies() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    no_store(response)
}

/// What the console gate holds: the app state and the hosted page's rate limiter.
#[derive(Clone)]
pub struct ConsoleGate {
    state: AppState,
    limiter: RateLimiter,
}

impl ConsoleGate {
    pub fn new(state: &AppState) -> Self {
        Self {
            state: state.clone(),
            limiter: RateLimiter::new(state.db.clone()),
        }
    }

    /// SECURITY: the hosted page's rate limits, counted in the database so that every replica
    /// shares them: one hit on the client address's counter (`address_key` under
    /// `address_rule`), then, when the request names its link, one on the link's (posts and
    /// views together). Counted before anything is read or hashed for the request. The link
    /// is counted under the SHA-256 of its token, which is never stored.
    async fn throttle(
        &self,
        address_key: &str,
        address_rule: Rule,
        token: Option<&str>,
    ) -> Result<(), RetryAfter> {
        self.limiter.check(address_key, address_rule).await?;
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let hash = domain::crypto::to_hex(&domain::crypto::sha256(token.as_bytes()));
            let rule = self.state.settings.rate_limits.console_per_link;
            self.limiter
                .check(&format!("console.link:{hash}"), rule)
                .await?;
        }
        Ok(())
    }
}

/// A throttled post of the page's script: 429 with a view whose notice the island shows over
/// the step it has (the view's step is a placeholder it ignores for this notice; see the
/// island's `swap`), worded in the page's language by the island.
fn throttled_fetch(retry: RetryAfter) -> Response {
    use app::console::wire::{EndReason, Notice, Step, StepView};
    let seconds = u32::try_from(retry.0).unwrap_or(u32::MAX);
    let placeholder = Step::End {
        reason: EndReason::Ended,
    };
    let view = StepView::with(placeholder, Some(Notice::TooManyTries(seconds)));
    let body = serde_json::to_string(&view).unwrap_or_default();
    let response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    retry_later(response, retry)
}

/// A throttled page view or form post without script: a page of its own saying how long to
/// wait, in `lang`, with `Retry-After`.
fn throttled_page(state: &AppState, retry: RetryAfter, lang: Lang) -> Response {
    let seconds = u32::try_from(retry.0).unwrap_or(u32::MAX);
    let html = app::console::gate::throttled_document(lang, seconds, &css_name(state));
    retry_later(html_page(StatusCode::TOO_MANY_REQUESTS, lang, html), retry)
}

/// A refusal of the rate limits: `Retry-After`, and kept by nobody.
fn retry_later(mut response: Response, retry: RetryAfter) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry.0));
    no_store(response)
}

/// SECURITY: state-changing requests from another origin (CSRF) are refused with 403 before
/// any console operation runs; `None` lets the request through.
fn origin_refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let ours = app::console::glue::origin_of(&state.settings.public_url).unwrap_or_default();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if app::console::glue::same_origin(&ours, text("origin"), text("sec-fetch-site")) {
        return None;
    }
    let refused = HandoffError::new(
        StatusCode::FORBIDDEN,
        "CONSOLE-Orig01",
        "requests from another origin are refused",
    );
    Some(refused.into_response())
}

/// Browsers apply the page's `form-action` to every redirect that follows a form post, so the
/// last step of a login without JavaScript (post, then 303 to the app) needs the app's origin
/// there. Only that one origin is added, and only on this login's page.
fn allow_forms_to_reach(mut page: Response, redirect_uri: Option<&str>) -> Response {
    let Some(origin) = redirect_uri
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin())
        .filter(url::Origin::is_tuple)
        .map(|o| o.ascii_serialization())
    else {
        return page;
    };
    let csp = page
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.replace(
                "form-action 'self'",
                &format!("form-action 'self' {origin}"),
            )
        });
    if let Some(value) = csp.and_then(|v| HeaderValue::from_str(&v).ok()) {
        page.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    page
}

/// What the last step did, for the signed-in page (the `n` the console's last answer put in the
/// page's address); only news, never an error.
fn gate_news(request: &Request) -> Option<app::console::wire::Notice> {
    let code = query_param(request, "n")?;
    app::console::wire::Notice::from_code(&code).filter(|n| !n.is_error())
}

/// The first value of `name` in the request's query string.
fn query_param(request: &Request, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The language of a gate page: the page's `?lang=` (the console's switcher), else the app's
/// `ui_locales`, else `Accept-Language`, else English.
fn gate_lang(request: &Request, ui_locales: Option<&str>) -> Lang {
    let chosen = query_param(request, "lang").and_then(|tag| Lang::from_tag(&tag));
    chosen.unwrap_or_else(|| {
        let accept = request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Lang::negotiate(ui_locales, accept)
    })
}

fn link_problem_page(state: &AppState, err: &DomainError, lang: Lang) -> Response {
    let (status, which) = match err {
        DomainError::HandoffLinkNotFound => (StatusCode::NOT_FOUND, GatePage::NotValid),
        DomainError::HandoffLinkExpired => (StatusCode::GONE, GatePage::Expired),
        DomainError::HandoffLinkUsed => (StatusCode::FORBIDDEN, GatePage::Used),
        DomainError::HandoffEnded => (StatusCode::GONE, GatePage::Ended),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, GatePage::Failed),
    };
    // A link that does not work names no app.
    let html = app::console::gate::gate_document(lang, which, "", &css_name(state));
    no_store(html_page(status, lang, html))
}

/// The style sheet's content-hashed name, from the built site (gate pages are rare: it is read
/// each time).
fn css_name(state: &AppState) -> String {
    crate::http::Assets::read(&state.settings.site_root).css
}

/// A static page without script, styled like the console, in `lang`.
fn html_page(status: StatusCode, lang: Lang, html: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_LANGUAGE, lang.code()),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_capped_and_checked() {
        assert_eq!(parse_wait("5").unwrap(), 5);
        assert_eq!(parse_wait("3600").unwrap(), MAX_WAIT_SECS);
        assert!(parse_wait("-1").is_err());
        assert!(parse_wait("soon").is_err());
    }
}
