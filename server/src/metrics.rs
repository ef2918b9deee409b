//! Prometheus metrics on their own listen address (off unless `metrics_addr` is set): request
//! counts and latency per route family, check outcomes by factor and lockouts (counted by
//! `storage` as they are written), the argon2 queue, database pool use and the SQLite WAL size.
//!
//! Recording goes through the `metrics` facade; `metrics-exporter-prometheus` renders the text
//! format. Without an installed recorder every `metrics` call is a no-op.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use storage::Database;

/// Upper bounds of the latency buckets, in seconds: fine below 10 ms, where the API should be.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle (later calls reuse it).
pub fn install() -> Result<PrometheusHandle, String> {
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// The route family of a path, a small fixed set so that label values stay bounded.
pub fn route_family(path: &str) -> &'static str {
    const FAMILIES: &[(&str, &str)] = &[
        ("/v2/", "session_api"),
        ("/zitadel.", "connect"),
        ("/admin/", "admin_api"),
        ("/session/", "handoff"),
        ("/console/api/", "console_step"),
        ("/console/", "console_page"),
        ("/pkg/", "assets"),
    ];
    match path {
        "/healthz" | "/readyz" => return "probe",
        "/openapi.json" => return "openapi",
        "/v2/sessions" => return "session_api",
        "/session/generate" | "/session/validate" => return "handoff",
        _ => {}
    }
    FAMILIES
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or("other", |(_, family)| family)
}

/// Middleware: counts every request by route family and status class and records its latency.
/// 429 answers are also counted as rate-limit refusals.
pub async fn track(request: Request, next: Next) -> Response {
    let family = route_family(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let class = match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!("vestibule_http_request_duration_seconds", "family" => family)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("vestibule_http_requests_total", "family" => family, "status" => class)
        .increment(1);
    if status == StatusCode::TOO_MANY_REQUESTS {
        metrics::counter!("vestibule_rate_limited_total", "family" => family).increment(1);
    }
    response
}

/// What the scrape handler reads at scrape time.
#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    db: Database,
    engine: Arc<domain::Engine>,
}

/// The router of the metrics listener: `GET /metrics` only.
pub fn router(handle: PrometheusHandle, db: Database, engine: Arc<domain::Engine>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { handle, db, engine })
}

async fn scrape(State(scrape): State<Scrape>) -> impl IntoResponse {
    let queue = scrape.engine.password_hasher().queue();
    metrics::gauge!("vestibule_argon2_waiting").set(queue.waiting as f64);
    metrics::gauge!("vestibule_argon2_in_flight").set(queue.in_flight as f64);
    metrics::gauge!("vestibule_argon2_max_in_flight").set(queue.max_in_flight as f64);
    metrics::counter!("vestibule_argon2_started_total").absolute(queue.started);
    metrics::gauge!("vestibule_argon2_wait_seconds_total").set(queue.waited.as_secs_f64());
    for pool in scrape.db.pool_use() {
        let in_use = pool.open.saturating_sub(pool.idle);
        metrics::gauge!("vestibule_db_connections", "pool" => pool.pool, "state" => "in_use")
            .set(f64::from(in_use));
        metrics::gauge!("vestibule_db_connections", "pool" => pool.pool, "state" => "idle")
            .set(f64::from(pool.idle));
        metrics::gauge!("vestibule_db_connections_max", "pool" => pool.pool)
            .set(f64::from(pool.max));
    }
    if let Some(bytes) = scrape.db.wal_bytes() {
        metrics::gauge!("vestibule_sqlite_wal_bytes").set(bytes as f64);
    }
    scrape.handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        scrape.handle.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::route_family;

    #[test]
    fn paths_fall_into_a_few_families() {
        assert_eq!(route_family("/healthz"), "probe");
        assert_eq!(route_family("/v2/sessions"), "session_api");
        assert_eq!(route_family("/v2/sessions/abc"), "session_api");
        assert_eq!(
            route_family("/zitadel.session.v2.SessionService/CreateSession"),
            "connect"
        );
        assert_eq!(route_family("/session/generate/"), "handoff");
        assert_eq!(route_family("/console/api/step"), "console_step");
        assert_eq!(route_family("/console/session/x"), "console_page");
        assert_eq!(route_family("/anything/else"), "other");
    }
}
