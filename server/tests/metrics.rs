//! `GET /metrics` on its own listen address: scraped after a few requests and parsed as the
//! Prometheus text format; the main listener does not serve it, and without `metrics_addr`
//! nothing listens.

use domain::{
    input::{LoginName, Name, NewPassword},
    model::Scope,
    service::NewUser,
};
use reqwest::{Client, StatusCode};
use serde_json::json;
use server::config::{FileConfig, Overrides, Settings};

const PW: &str = "metrics password 1";

fn settings(dir: &std::path::Path, metrics: bool) -> Settings {
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        metrics_addr: metrics.then(|| "127.0.0.1:0".to_owned()),
        data_dir: Some(dir.join("data")),
        site_root: Some(dir.join("site")),
        demo: Some(false),
        ..Overrides::default()
    };
    Settings::resolve(over, FileConfig::default()).unwrap()
}

fn temp_dir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("vestibule-metrics-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    dir
}

/// The value of the sample named `name` whose labels include all of `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_are_served_apart_and_parse() {
    let dir = temp_dir();
    let bound = server::http::bind(settings(&dir, true)).await.unwrap();
    let base = format!("http://{}", bound.addr);
    let metrics_url = format!("http://{}/metrics", bound.metrics_addr.unwrap());
    let engine = bound.state.engine.clone();
    let mut new = NewUser::named(LoginName::parse("mia").unwrap());
    new.password = Some(NewPassword::parse(PW.to_owned()).unwrap());
    engine.create_user(new).await.unwrap();
    let (_, key) = engine
        .create_api_key(Name::parse("m").unwrap(), vec![Scope::Session])
        .await
        .unwrap();
    let key = key.expose().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));
    let http = Client::new();

    assert!(http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let created = http
        .post(format!("{base}/v2/sessions"))
        .bearer_auth(&key)
        .json(&json!({"checks": {"user": {"loginName": "mia"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let wrong = http
        .post(format!("{base}/v2/sessions"))
        .bearer_auth(&key)
        .json(&json!({"checks": {"user": {"loginName": "mia"}, "password": {"password": "no"}}}))
        .send()
        .await
        .unwrap();
    assert!(wrong.status().is_client_error());
    // The main listener does not answer with metrics.
    let main = http.get(format!("{base}/metrics")).send().await.unwrap();
    let main_body = main.text().await.unwrap();
    assert!(!main_body.contains("vestibule_http_requests_total"));

    let answer = http.get(&metrics_url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = answer.text().await.unwrap();
    // Every line is a comment, blank, or `name{labels} value`.
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "not a sample line: {line}");
        assert!(line.starts_with("vestibule_"), "unexpected metric: {line}");
    }
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();

    let ok = |family| {
        sample(
            &scrape,
            "vestibule_http_requests_total",
            &[("family", family), ("status", "2xx")],
        )
    };
    assert!(ok("probe").unwrap() >= 1.0, "{text}");
    assert!(ok("session_api").unwrap() >= 1.0, "{text}");
    assert!(
        sample(
            &scrape,
            "vestibule_http_requests_total",
            &[("family", "session_api"), ("status", "4xx")]
        )
        .unwrap()
            >= 1.0
    );
    // Latency is a real histogram with buckets, per family.
    assert!(text.contains("vestibule_http_request_duration_seconds_bucket{family=\"session_api\""));
    assert!(
        sample(
            &scrape,
            "vestibule_http_request_duration_seconds",
            &[("family", "probe")]
        )
        .unwrap()
            >= 1.0
    );
    let checks = |factor, outcome| {
        sample(
            &scrape,
            "vestibule_checks_total",
            &[("factor", factor), ("outcome", outcome)],
        )
    };
    assert!(checks("user", "succeeded").unwrap() >= 1.0, "{text}");
    assert!(checks("password", "failed").unwrap() >= 1.0, "{text}");
    assert!(sample(&scrape, "vestibule_argon2_max_in_flight", &[]).unwrap() >= 1.0);
    assert!(sample(&scrape, "vestibule_argon2_started_total", &[]).unwrap() >= 1.0);
    assert!(sample(&scrape, "vestibule_argon2_waiting", &[]).is_some());
    assert!(
        sample(
            &scrape,
            "vestibule_db_connections_max",
            &[("pool", "writer")]
        )
        .unwrap()
            == 1.0
    );
    assert!(sample(&scrape, "vestibule_db_connections", &[("pool", "readers")]).is_some());
    assert!(sample(&scrape, "vestibule_sqlite_wal_bytes", &[]).is_some());

    let _ = tx.send(());
    running.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn no_metrics_listener_unless_configured() {
    let dir = temp_dir();
    let bound = server::http::bind(settings(&dir, false)).await.unwrap();
    assert!(bound.metrics_addr.is_none());
    drop(bound);
    let _ = std::fs::remove_dir_all(&dir);
}
