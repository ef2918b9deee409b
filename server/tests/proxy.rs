//! The client address behind reverse proxies, seen through the per-address rate limits of a real
//! server: a trusted proxy's `X-Forwarded-For` or `Forwarded` names the client, anybody else's
//! is ignored, IPv6 clients share a budget per /64, and `generate` spends the address's budget
//! only on failed app authentications.
//!
//! The test client connects from 127.0.0.1 (the trusted proxy in these tests) or from
//! 127.0.0.2, another loopback address that is not trusted. Windows are an hour long so a test
//! never straddles a window boundary in practice.

#[macro_use]
mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Backend, TestServer};
use domain::{
    input::Name,
    model::{LoginPolicy, Scope},
    service::NewApp,
};
use reqwest::{Client, StatusCode};
use serde_json::json;
use server::{
    config::{FileConfig, RateLimits},
    ratelimit::Rule,
};

both_backends!(
    a_trusted_proxy_names_the_client,
    headers_from_anybody_else_are_ignored,
    forwarded_header_and_ipv6_per_64,
    correct_generate_calls_are_not_limited_per_address,
);

fn rule(limit: u32) -> Rule {
    Rule {
        limit,
        window_secs: 3600,
    }
}

fn config(trusted: &[&str], header: Option<&str>, f: impl FnOnce(&mut RateLimits)) -> FileConfig {
    let mut limits = RateLimits::default();
    f(&mut limits);
    FileConfig {
        trusted_proxies: Some(trusted.iter().map(|t| (*t).to_owned()).collect()),
        proxy_header: header.map(str::to_owned),
        rate_limits: Some(limits),
        ..FileConfig::default()
    }
}

/// A client whose connections come from `127.0.0.<last>`.
fn client_from(last: u8) -> Client {
    Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

/// Creates a Session API session with `key`, sending `header: value` when given.
async fn create(
    srv: &TestServer,
    client: &Client,
    key: &str,
    header: Option<(&str, &str)>,
) -> StatusCode {
    let mut req = client
        .post(srv.url("/v2/sessions"))
        .bearer_auth(key)
        .json(&json!({}));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.unwrap().status()
}

async fn a_trusted_proxy_names_the_client(b: Backend) {
    let srv = TestServer::start_with(
        b,
        config(&["127.0.0.1/32"], None, |l| {
            l.session_api_per_address = rule(2);
        }),
    )
    .await;
    let (_, key) = srv.new_key(vec![Scope::Session]).await;
    let proxy = client_from(1);
    let xff = |v: &'static str| Some(("x-forwarded-for", v));
    for _ in 0..2 {
        assert!(create(&srv, &proxy, &key, xff("203.0.113.1"))
            .await
            .is_success());
    }
    assert_eq!(
        create(&srv, &proxy, &key, xff("203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another visitor behind the same proxy has a budget of its own.
    assert!(create(&srv, &proxy, &key, xff("203.0.113.2"))
        .await
        .is_success());
    // A chain: the right-most address that is not a trusted proxy wins, whatever the client
    // wrote to its left.
    assert_eq!(
        create(
            &srv,
            &proxy,
            &key,
            xff("198.51.100.7, 203.0.113.1, 127.0.0.1")
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "203.0.113.1 is the client and has spent its budget"
    );
    assert!(create(&srv, &proxy, &key, xff("203.0.113.1, 203.0.113.2"))
        .await
        .is_success());
    assert_eq!(
        create(&srv, &proxy, &key, xff("203.0.113.2")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "203.0.113.2 was counted twice: alone and at the end of the chain"
    );
    // Without a header the proxy itself is the client, with its own budget.
    assert!(create(&srv, &proxy, &key, None).await.is_success());
}

async fn headers_from_anybody_else_are_ignored(b: Backend) {
    let srv = TestServer::start_with(
        b,
        config(&["127.0.0.1/32"], None, |l| {
            l.session_api_per_address = rule(2);
        }),
    )
    .await;
    let (_, key) = srv.new_key(vec![Scope::Session]).await;
    // 127.0.0.2 is not a trusted proxy: a new X-Forwarded-For on every request does not buy
    // a new budget.
    let stranger = client_from(2);
    for (i, spoof) in ["203.0.113.10", "203.0.113.11", "203.0.113.12"]
        .into_iter()
        .enumerate()
    {
        let status = create(&srv, &stranger, &key, Some(("x-forwarded-for", spoof))).await;
        if i < 2 {
            assert!(status.is_success(), "{status}");
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    // Nor does the header the proxies do not set, from the trusted proxy itself.
    let proxy = client_from(1);
    for value in ["for=203.0.113.20", "for=203.0.113.21"] {
        assert!(create(&srv, &proxy, &key, Some(("forwarded", value)))
            .await
            .is_success());
    }
    assert_eq!(
        create(&srv, &proxy, &key, Some(("forwarded", "for=203.0.113.22"))).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    drop(srv);

    // No trusted proxies at all: the header never counts, not even from loopback.
    let srv = TestServer::start_with(
        b,
        config(&[], None, |l| {
            l.session_api_per_address = rule(1);
        }),
    )
    .await;
    let (_, key) = srv.new_key(vec![Scope::Session]).await;
    let proxy = client_from(1);
    assert!(create(
        &srv,
        &proxy,
        &key,
        Some(("x-forwarded-for", "203.0.113.30"))
    )
    .await
    .is_success());
    assert_eq!(
        create(
            &srv,
            &proxy,
            &key,
            Some(("x-forwarded-for", "203.0.113.31"))
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn forwarded_header_and_ipv6_per_64(b: Backend) {
    let srv = TestServer::start_with(
        b,
        config(&["127.0.0.1"], Some("forwarded"), |l| {
            l.session_api_per_address = rule(2);
        }),
    )
    .await;
    let (_, key) = srv.new_key(vec![Scope::Session]).await;
    let proxy = client_from(1);
    let fwd = |v: &'static str| Some(("forwarded", v));
    assert!(create(
        &srv,
        &proxy,
        &key,
        fwd("for=\"[2001:db8:1:2::1]:4711\";proto=https")
    )
    .await
    .is_success());
    assert!(
        create(&srv, &proxy, &key, fwd("for=\"[2001:db8:1:2:ffff::9]\""))
            .await
            .is_success()
    );
    // A third address of the same /64 shares its budget.
    assert_eq!(
        create(&srv, &proxy, &key, fwd("for=\"[2001:db8:1:2::abcd]\"")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The next /64 does not.
    assert!(create(&srv, &proxy, &key, fwd("for=\"[2001:db8:1:3::1]\""))
        .await
        .is_success());
    // A hidden client is counted as the proxy that hid it; X-Forwarded-For is not read here.
    for value in ["for=unknown", "for=_hidden"] {
        assert!(create(&srv, &proxy, &key, fwd(value)).await.is_success());
    }
    assert_eq!(
        create(
            &srv,
            &proxy,
            &key,
            Some(("x-forwarded-for", "203.0.113.40"))
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "counted as 127.0.0.1, the proxy, a third time"
    );
}

async fn correct_generate_calls_are_not_limited_per_address(b: Backend) {
    let srv = TestServer::start_with(
        b,
        config(&["127.0.0.1/32"], None, |l| {
            l.generate_per_address = rule(60);
            l.generate_per_app = rule(1000);
        }),
    )
    .await;
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
    let secret = secret.expose().clone();
    let backend = client_from(1);
    let generate = |secret: String, from: Option<&'static str>| {
        let mut req = backend
            .post(srv.url("/session/generate/"))
            .json(&json!({"app_key": app.app_key, "app_secret": secret}));
        if let Some(addr) = from {
            req = req.header("x-forwarded-for", addr);
        }
        async move { req.send().await.unwrap().status() }
    };
    // One app backend, one address, 70 visitors: none is refused.
    for i in 0..70 {
        assert_eq!(
            generate(secret.clone(), None).await,
            StatusCode::OK,
            "correct call {i}"
        );
    }
    // Wrong secrets from that address: 60 are answered, then refused.
    for i in 0..60 {
        assert_eq!(
            generate("wrong".into(), None).await,
            StatusCode::UNAUTHORIZED,
            "wrong call {i}"
        );
    }
    assert_eq!(
        generate("wrong".into(), None).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The correct secret still works from the same address.
    assert_eq!(generate(secret.clone(), None).await, StatusCode::OK);
    // Another client behind the proxy has its own budget of failures.
    assert_eq!(
        generate("wrong".into(), Some("203.0.113.50")).await,
        StatusCode::UNAUTHORIZED
    );
}
