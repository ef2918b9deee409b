//! The hosted page under a guessing attack: 200 wrong passwords for 50 login names from one
//! address, through one link and through fresh links. The link's own rules (three names, five
//! wrong passwords) and the page's rate limits (per link, per address, counted in the database)
//! refuse it, with 429, `Retry-After` and the page's own words; meanwhile a person at another
//! address signs in as usual.
//!
//! Clients bind to loopback addresses of their own: the attacker to 127.0.0.1 (one link) and
//! 127.0.0.3 (fresh links), the person to 127.0.0.2. Windows are an hour long so that a run
//! never straddles a window boundary in practice.

#[macro_use]
mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Backend, TestServer};
use domain::{
    input::{LoginName, Name, NewPassword},
    model::LoginPolicy,
    service::{NewApp, NewUser},
};
use reqwest::{header, redirect::Policy, Client, StatusCode};
use serde_json::{json, Value};
use server::{
    config::{FileConfig, RateLimits},
    ratelimit::Rule,
};

both_backends!(
    guessing_is_refused_while_another_address_signs_in,
    an_oversized_step_is_refused_with_its_id
);

const PW: &str = "correct horse battery";

fn rule(limit: u32) -> Rule {
    Rule {
        limit,
        window_secs: 3600,
    }
}

/// A browser whose connections come from `127.0.0.<last>`.
fn browser_at(last: u8) -> Client {
    Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .redirect(Policy::none())
        .build()
        .unwrap()
}

struct Site<'a> {
    srv: &'a TestServer,
    app_key: String,
    app_secret: String,
    /// The public URL's origin, which posts must come from.
    origin: String,
}

impl Site<'_> {
    /// A fresh login link: its token.
    async fn link(&self) -> String {
        let res = self
            .srv
            .http
            .post(self.srv.url("/session/generate/"))
            .json(&json!({"app_key": self.app_key, "app_secret": self.app_secret}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// The origin of the links' `base_url` (the public URL).
    async fn public_origin(&self) -> String {
        let res = self
            .srv
            .http
            .post(self.srv.url("/session/generate/"))
            .json(&json!({"app_key": self.app_key, "app_secret": self.app_secret}))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        let base = body["base_url"].as_str().unwrap();
        base.split_once("/console/").unwrap().0.to_owned()
    }

    /// Views the page as `browser`: the answer and the claim cookie (`name=value`) it set.
    async fn view(&self, browser: &Client, token: &str) -> (reqwest::Response, Option<String>) {
        let res = browser
            .get(self.srv.url(&format!("/console/session/{token}")))
            .send()
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("vestibule_claim_"))
            .map(|v| v.split(';').next().unwrap().to_owned());
        (res, cookie)
    }

    /// Posts a password step as the page's script does (`Accept: application/json`), or as a
    /// form without script (`text/html`), in `lang`.
    async fn password(
        &self,
        browser: &Client,
        token: &str,
        cookie: Option<&str>,
        name: &str,
        password: &str,
        accept: &str,
    ) -> reqwest::Response {
        let mut req = browser
            .post(self.srv.url("/console/api/step"))
            .header(header::ACCEPT, accept)
            .header(header::ORIGIN, &self.origin)
            .form(&[
                ("token", token),
                ("lang", "de"),
                ("op", "password"),
                ("login_name", name),
                ("password", password),
            ]);
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        req.send().await.unwrap()
    }
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", res.headers()))
}

/// A 429 for the page's script: `Retry-After` and the notice it shows, in seconds.
async fn throttled_notice(res: reqwest::Response) -> u64 {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds = retry_after(&res);
    assert!((1..=3600).contains(&seconds), "{seconds}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["notice"], json!({ "TooManyTries": seconds }), "{body}");
    seconds
}

async fn guessing_is_refused_while_another_address_signs_in(b: Backend) {
    let mut limits = RateLimits {
        console_per_address: rule(60),
        console_pages_per_address: rule(120),
        console_per_link: rule(30),
        generate_per_app: rule(10_000),
        ..RateLimits::default()
    };
    limits.console_names_per_link = 3;
    let file = FileConfig {
        rate_limits: Some(limits),
        ..FileConfig::default()
    };
    let srv = TestServer::start_with(b, file).await;
    for name in ["alice", "bob", "carol"] {
        srv.engine
            .create_user(NewUser {
                password: Some(NewPassword::parse(PW.into()).unwrap()),
                ..NewUser::named(LoginName::parse(name).unwrap())
            })
            .await
            .unwrap();
    }
    let (app, secret) = srv
        .engine
        .create_app(NewApp {
            name: Name::parse("Shop").unwrap(),
            redirect_uris: Vec::new(),
            policy: LoginPolicy::default(),
            branding: Default::default(),
        })
        .await
        .unwrap();
    let mut site = Site {
        srv: &srv,
        app_key: app.app_key.clone(),
        app_secret: secret.expose().clone(),
        origin: String::new(),
    };
    site.origin = site.public_origin().await;
    // Fifty names: two that exist (carol, the person, is not among them), 48 that do not.
    let names: Vec<String> = ["alice".to_owned(), "bob".to_owned()]
        .into_iter()
        .chain((0..48).map(|i| format!("guess{i}")))
        .collect();
    let json = "application/json";

    // One link, 127.0.0.1: 200 tries. The link takes three names and five wrong passwords,
    // then its budget of 30 requests (the page view included) runs out.
    let attacker = browser_at(1);
    let token = site.link().await;
    let (page, cookie) = site.view(&attacker, &token).await;
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = cookie.expect("the page view sets the claim cookie");
    let mut answered = Vec::new();
    let mut refused = 0;
    for i in 0..200 {
        let name = &names[i % names.len()];
        let res = site
            .password(
                &attacker,
                &token,
                Some(&cookie),
                name,
                "wrong password",
                json,
            )
            .await;
        if res.status() == StatusCode::OK {
            assert_eq!(refused, 0, "try {i} answered after a 429");
            let view: Value = res.json().await.unwrap();
            answered.push(view["notice"].clone());
        } else {
            throttled_notice(res).await;
            refused += 1;
        }
    }
    assert_eq!(
        answered.len(),
        29,
        "30 requests a link, one was the page view"
    );
    assert_eq!(refused, 171);
    assert_eq!(answered[0], json!({ "AttemptsLeft": 4 }), "{answered:?}");
    assert_eq!(answered[2], json!({ "AttemptsLeft": 2 }), "{answered:?}");
    // The fourth name on: refused alike, whether it exists (none of these does) or not.
    assert!(
        answered[3..].iter().all(|n| *n == json!("TooManyNames")),
        "{answered:?}"
    );
    // The link's page is throttled too.
    let (page, _) = site.view(&attacker, &token).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);

    // Fresh links, 127.0.0.3: a link per try. 60 posts and 120 page views an hour from one
    // address, then 429s.
    let attacker = browser_at(3);
    let (mut posts_ok, mut pages_ok) = (0, 0);
    let mut last_page = None;
    for i in 0..200 {
        let token = site.link().await;
        let (page, cookie) = site.view(&attacker, &token).await;
        if page.status() == StatusCode::OK {
            pages_ok += 1;
        } else {
            assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS, "view {i}");
            last_page = Some(page);
        }
        let name = &names[i % names.len()];
        let res = site
            .password(&attacker, &token, cookie.as_deref(), name, "wrong", json)
            .await;
        if res.status() == StatusCode::OK {
            assert!(i < 60, "post {i} answered");
            posts_ok += 1;
        } else {
            throttled_notice(res).await;
        }
    }
    assert_eq!((posts_ok, pages_ok), (60, 120));
    // Without script, the refusal is a page of its own in the page's language.
    let page = last_page.expect("a page view was refused");
    assert!(retry_after(&page) >= 1);
    assert_eq!(
        page.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/html; charset=utf-8"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Too many attempts"), "{html}");
    assert!(html.contains("Try again in"), "{html}");
    let token = site.link().await;
    let form = site
        .password(&attacker, &token, None, "alice", "wrong", "text/html")
        .await;
    assert_eq!(form.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&form) >= 1);
    let html = form.text().await.unwrap();
    assert!(html.contains("<html lang=\"de\""), "{html}");
    assert!(html.contains("Zu viele Versuche"), "{html}");

    // Meanwhile a person at 127.0.0.2 signs in as usual.
    let person = browser_at(2);
    let token = site.link().await;
    let (page, cookie) = site.view(&person, &token).await;
    assert_eq!(page.status(), StatusCode::OK);
    let res = site
        .password(&person, &token, cookie.as_deref(), "carol", PW, json)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.unwrap();
    // Signed in: done, or first offered a passkey (WebAuthn is on for this host).
    let signed_in = [
        json!({ "Done": { "redirect": null } }),
        json!("PasskeyOffer"),
    ];
    assert!(signed_in.contains(&view["step"]), "{view}");
    assert_eq!(view["notice"], Value::Null, "{view}");
}

/// A step larger than the gate reads (256 KiB) is refused with 413 and `REQ-Size01`, as JSON,
/// before it is counted or run; a step of ordinary size from the same browser still gets in.
async fn an_oversized_step_is_refused_with_its_id(b: Backend) {
    let srv = TestServer::start(b).await;
    let (app, secret) = srv
        .engine
        .create_app(NewApp {
            name: Name::parse("Shop").unwrap(),
            redirect_uris: Vec::new(),
            policy: LoginPolicy::default(),
            branding: Default::default(),
        })
        .await
        .unwrap();
    let mut site = Site {
        srv: &srv,
        app_key: app.app_key.clone(),
        app_secret: secret.expose().clone(),
        origin: String::new(),
    };
    site.origin = site.public_origin().await;
    let token = site.link().await;
    let browser = browser_at(1);
    let huge = "x".repeat(300 * 1024);
    let res = site
        .password(&browser, &token, None, "alice", &huge, "application/json")
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "REQ-Size01", "{body}");
    let res = site
        .password(&browser, &token, None, "alice", "short", "application/json")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
