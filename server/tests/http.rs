//! The real router on a free port with a fresh SQLite database per test.

use std::path::PathBuf;

use reqwest::{header, redirect::Policy, Client, StatusCode};
use server::config::{FileConfig, Overrides, Settings};

struct TestServer {
    base: String,
    dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "vestibule-http-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let site = dir.join("site/pkg");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("vestibule.css"), "body{}").unwrap();
        let over = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.join("data")),
            site_root: Some(dir.join("site")),
            ..Overrides::default()
        };
        let settings = Settings::resolve(over, FileConfig::default()).unwrap();
        let bound = server::http::bind(settings).await.unwrap();
        let base = format!("http://{}", bound.addr);
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(bound.run(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            dir,
            shutdown: Some(tx),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

#[tokio::test]
async fn health_and_readiness_answer_json() {
    let srv = TestServer::start().await;
    let res = client().get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
    let res = client().get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ready", "database": "sqlite"})
    );
    assert!(
        srv.dir.join("data/vestibule.db").exists(),
        "the SQLite file is created on first start"
    );
}

#[tokio::test]
async fn console_page_has_a_nonce_csp_matching_its_script() {
    let srv = TestServer::start().await;
    let res = client()
        .get(srv.url("/console/session/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(res.headers()[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    assert!(nonce.len() >= 16, "nonce too short: {nonce}");
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the header's nonce"
    );
    assert!(html.contains("name=\"login_name\""));

    // A fresh nonce per response.
    let again = client()
        .get(srv.url("/console/session/abc"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        again.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap(),
        csp
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let srv = TestServer::start().await;
    let res = client().get(srv.url("/healthz")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let res = client()
        .get(srv.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn unknown_pages_are_404_with_security_headers() {
    let srv = TestServer::start().await;
    let res = client().get(srv.url("/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    assert!(res.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn built_site_files_are_served() {
    let srv = TestServer::start().await;
    let res = client()
        .get(srv.url("/pkg/vestibule.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "body{}");
    let res = client()
        .get(srv.url("/pkg/missing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_name_server_function_answers_fetch_and_plain_posts() {
    let srv = TestServer::start().await;
    let url = srv.url("/api/console/login-name");
    // As the hydrated page sends it.
    let res = client()
        .post(&url)
        .header(header::ACCEPT, "application/json")
        .form(&[("token", "t1"), ("login_name", "  carol ")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<String>().await.unwrap(),
        "Hello, carol. Next: your password."
    );

    // As a browser without JavaScript sends it: answered with a redirect back to the page.
    let res = client()
        .post(&url)
        .header(header::ACCEPT, "text/html")
        .header(header::REFERER, srv.url("/console/session/t1"))
        .form(&[("token", "t1"), ("login_name", "carol")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let location = res.headers()[header::LOCATION].to_str().unwrap();
    assert_eq!(
        location,
        "/console/session/t1?reply=Hello%2C%20carol.%20Next%3A%20your%20password."
    );
}

#[tokio::test]
async fn bad_login_names_get_400_not_500() {
    let srv = TestServer::start().await;
    let url = srv.url("/api/console/login-name");
    let long = "x".repeat(201);
    for name in ["", "   ", long.as_str()] {
        let res = client()
            .post(&url)
            .header(header::ACCEPT, "application/json")
            .form(&[("token", "t1"), ("login_name", name)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "login name {name:?}");
    }
    // A missing field is the caller's mistake too.
    let res = client()
        .post(&url)
        .header(header::ACCEPT, "application/json")
        .form(&[("token", "t1")])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_client_error(),
        "missing field gave {}",
        res.status()
    );
}
