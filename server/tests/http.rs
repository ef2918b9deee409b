//! The real router on a free port with a fresh SQLite database per test.

use std::path::PathBuf;

use reqwest::{header, redirect::Policy, Client, StatusCode};
use server::config::{FileConfig, Overrides, Settings};

struct TestServer {
    base: String,
    /// The public URL (`http://localhost:<port>`): the origin the console accepts.
    public: String,
    demo: server::wiring::DemoCredentials,
    dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    async fn start() -> Self {
        Self::start_site(false).await
    }

    /// `hashed`: the site as build-site.sh lays it out, content-hashed names listed in
    /// `assets.txt`; else one unhashed style sheet, as a hand-made site would have.
    async fn start_site(hashed: bool) -> Self {
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
        if hashed {
            std::fs::write(
                dir.join("site/assets.txt"),
                format!("stem {STEM}\ncss {CSS}\n"),
            )
            .unwrap();
            std::fs::write(site.join(CSS), "body{color:red}").unwrap();
            std::fs::write(site.join(format!("{STEM}.js")), "export default 1;").unwrap();
            std::fs::write(site.join(format!("{STEM}_bg.wasm")), b"\0asm").unwrap();
        }
        let over = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.join("data")),
            site_root: Some(dir.join("site")),
            ..Overrides::default()
        };
        let settings = Settings::resolve(over, FileConfig::default()).unwrap();
        let bound = server::http::bind(settings).await.unwrap();
        let base = format!("http://{}", bound.addr);
        let public = bound.state.settings.public_url.clone();
        let demo = bound.demo.clone().expect("a fresh database gets demo data");
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(bound.run(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            public,
            demo,
            dir,
            shutdown: Some(tx),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh login link for the demo app: its token.
    async fn link(&self) -> String {
        let res = client()
            .post(self.url("/session/generate/"))
            .json(&serde_json::json!({
                "app_key": self.demo.app_key,
                "app_secret": self.demo.app_secret,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = res.json().await.unwrap();
        let base = body["base_url"].as_str().unwrap();
        assert_eq!(base, format!("{}/console/session/", self.public));
        body["token"].as_str().unwrap().to_owned()
    }

    /// Opens the link as a new browser would: the claim cookie it gets back.
    /// Views the page (which claims nothing), then takes the first step as the page's script
    /// does: that binds the link to this client. The claim cookie, as `name=value`.
    async fn claim(&self, token: &str) -> String {
        let res = client()
            .get(self.url(&format!("/console/session/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // The page view hands out the secret; the first step binds the link to it.
        let cookie = claim_cookie(&res).expect("the page view sets the claim cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let res = client()
            .post(self.url("/console/api/step"))
            .header(header::ACCEPT, "application/json")
            .header(header::ORIGIN, &self.public)
            .header(header::COOKIE, &cookie)
            .form(&[("token", token), ("op", "begin")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            claim_cookie(&res).is_none(),
            "the secret stays the page view's"
        );
        cookie
    }
}

/// The claim cookie a response sets, whole.
fn claim_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("vestibule_claim_"))
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The names of the stand-in hashed site.
const STEM: &str = "vestibule-0123456789abcdef";
const CSS: &str = "vestibule-fedcba9876543210.css";

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
    let token = srv.link().await;
    let cookie = srv.claim(&token).await;
    let res = client()
        .get(srv.url(&format!("/console/session/{token}")))
        .header(header::COOKIE, &cookie)
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
    assert!(html.contains("name=\"login_name\""), "{html}");
    assert!(!html.contains(&token[..20]) || html.contains("/console/api/"));

    // The same browser may reload; each response has a fresh nonce.
    let again = client()
        .get(srv.url(&format!("/console/session/{token}")))
        .header(header::COOKIE, cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
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
    let token = srv.link().await;
    let cookie = srv.claim(&token).await;
    let url = srv.url("/console/api/step");
    // As the hydrated page sends it: the next step as data.
    let res = client()
        .post(&url)
        .header(header::ACCEPT, "application/json")
        .header(header::ORIGIN, &srv.public)
        .header(header::COOKIE, &cookie)
        .form(&[
            ("token", token.as_str()),
            ("op", "login-name"),
            ("login_name", "  carol "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Password") && body.contains("carol"),
        "{body}"
    );

    // As a browser without JavaScript sends it: a redirect back to the page.
    let res = client()
        .post(&url)
        .header(header::ACCEPT, "text/html")
        .header(header::ORIGIN, "null")
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, &cookie)
        .form(&[
            ("token", token.as_str()),
            ("op", "login-name"),
            ("login_name", "carol"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let location = res.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(&format!("/console/session/{token}")),
        "{location}"
    );

    // SECURITY: another origin, or no proof of origin at all, is refused.
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
        (None, None),
    ] {
        let mut req = client()
            .post(&url)
            .header(header::ACCEPT, "application/json")
            .header(header::COOKIE, &cookie);
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        let res = req
            .form(&[
                ("token", token.as_str()),
                ("op", "login-name"),
                ("login_name", "carol"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin:?} {site:?}");
    }
}

#[tokio::test]
async fn bad_login_names_get_a_message_not_a_500() {
    let srv = TestServer::start().await;
    let token = srv.link().await;
    let cookie = srv.claim(&token).await;
    let url = srv.url("/console/api/step");
    let long = "x".repeat(201);
    for name in ["", "   ", long.as_str()] {
        let res = client()
            .post(&url)
            .header(header::ACCEPT, "application/json")
            .header(header::ORIGIN, &srv.public)
            .header(header::COOKIE, &cookie)
            .form(&[
                ("token", token.as_str()),
                ("op", "login-name"),
                ("login_name", name),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login name {name:?}");
        let body = res.text().await.unwrap();
        assert!(body.contains("LoginName"), "stays on the step: {body}");
        assert!(
            body.contains("Required") || body.contains("TooLong"),
            "{body}"
        );
    }
    // A missing field is the caller's mistake: 400, not 500.
    let res = client()
        .post(&url)
        .header(header::ACCEPT, "application/json")
        .header(header::ORIGIN, &srv.public)
        .header(header::COOKIE, &cookie)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn pages_are_compressed_and_name_the_hashed_assets() {
    let srv = TestServer::start_site(true).await;
    let token = srv.link().await;
    let page = srv.url(&format!("/console/session/{token}"));
    // The first visit claims the link; the same browser (its cookie) comes back for the others.
    let cookie = srv.claim(&token).await;
    let mut plain = String::new();
    for encoding in ["br", "gzip", "identity"] {
        let res = client()
            .get(&page)
            .header(header::ACCEPT_ENCODING, encoding)
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{encoding}");
        let sent = res
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap().to_owned());
        let vary = res.headers()[header::VARY].to_str().unwrap().to_lowercase();
        assert!(vary.contains("accept-encoding"), "{vary}");
        let body = res.bytes().await.unwrap();
        let html = match encoding {
            "br" => {
                assert_eq!(sent.as_deref(), Some("br"));
                let mut out = Vec::new();
                brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap();
                String::from_utf8(out).unwrap()
            }
            "gzip" => {
                use std::io::Read as _;
                assert_eq!(sent.as_deref(), Some("gzip"));
                let mut out = String::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_string(&mut out)
                    .unwrap();
                out
            }
            _ => {
                assert_eq!(sent, None);
                String::from_utf8(body.to_vec()).unwrap()
            }
        };
        assert!(html.contains("name=\"login_name\""), "{encoding}: {html}");
        if encoding != "identity" {
            assert!(
                body.len() < html.len() / 2,
                "{encoding}: {} of {}",
                body.len(),
                html.len()
            );
        }
        plain = html;
    }
    // The page names the hashed files, and no unhashed one.
    for name in [
        CSS.to_owned(),
        format!("{STEM}.js"),
        format!("{STEM}_bg.wasm"),
    ] {
        assert!(plain.contains(&format!("/pkg/{name}")), "{name} in {plain}");
    }
    assert!(!plain.contains("/pkg/vestibule.css"), "{plain}");
    assert!(!plain.contains("/pkg/vestibule.js"), "{plain}");

    // The island's texts are not in the page (neither in its props nor elsewhere) but in a
    // script of their own, named after its content and kept for good; each text the step shows
    // is in the page once.
    assert!(!plain.contains("Save your recovery codes"), "{plain}");
    assert_eq!(plain.matches("Login name or email").count(), 1, "{plain}");
    let texts = plain
        .split("src=\"/texts/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|name| format!("/texts/{name}"))
        .expect("the page loads its texts script");
    assert!(
        texts.starts_with("/texts/en-") && texts.ends_with(".js"),
        "{texts}"
    );
    let res = client()
        .get(srv.url(&texts))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        res.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let body = {
        use std::io::Read as _;
        let bytes = res.bytes().await.unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut out)
            .unwrap();
        out
    };
    assert!(body.starts_with("globalThis.__vestibuleTexts=["), "{body}");
    assert!(body.contains("Save your recovery codes"), "{body}");
    assert!(body.contains("{count} attempt left"), "{body}");
    // With brotli: compressed ahead, the same script.
    let res = client()
        .get(srv.url(&texts))
        .header(header::ACCEPT_ENCODING, "gzip;q=0.5, br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
    let bytes = res.bytes().await.unwrap();
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), body);
    let res = client()
        .get(srv.url(&texts))
        .header(header::ACCEPT_ENCODING, "br;q=0")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    let wrong = texts.replace("/texts/en-", "/texts/en-0");
    let res = client().get(srv.url(&wrong)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A JSON answer is left as it is.
    let res = client()
        .get(srv.url("/healthz"))
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_and_others_are_not() {
    let srv = TestServer::start_site(true).await;
    for name in [
        CSS.to_owned(),
        format!("{STEM}.js"),
        format!("{STEM}_bg.wasm"),
    ] {
        let res = client()
            .get(srv.url(&format!("/pkg/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{name}"
        );
        assert!(res.headers().get(header::LAST_MODIFIED).is_none(), "{name}");
        // Never sniffed into a document, so no document policy on it.
        assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            !name.ends_with(".css") || !res.headers().contains_key(header::CONTENT_SECURITY_POLICY),
            "{name}"
        );
    }
    let res = client()
        .get(srv.url("/pkg/vestibule-0000000000000000.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");

    // A site without assets.txt has no hashed names: its files are asked for again each time.
    let plain = TestServer::start().await;
    let res = client()
        .get(plain.url("/pkg/vestibule.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
}
