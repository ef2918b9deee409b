//! Rate limits of the Session API (REST and Connect) and the admin API: 429 with `Retry-After`
//! in the contract's shape (Connect's on Connect routes), per API key and per client address,
//! and one counter for two servers on the same database.
//!
//! Windows are an hour long so a test never straddles a window boundary in practice.

#[macro_use]
mod common;

use common::{assert_error, Backend, TestServer};
use domain::model::Scope;
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use server::{
    config::{FileConfig, RateLimits},
    ratelimit::Rule,
};

both_backends!(
    per_key_on_rest_and_connect,
    per_address_before_the_key,
    admin_api_has_its_own_budget,
    replicas_share_the_counter,
);

const HOUR: u32 = 3600;

fn limits(f: impl FnOnce(&mut RateLimits)) -> FileConfig {
    let mut l = RateLimits::default();
    f(&mut l);
    FileConfig {
        rate_limits: Some(l),
        ..FileConfig::default()
    }
}

fn rule(limit: u32) -> Rule {
    Rule {
        limit,
        window_secs: HOUR,
    }
}

#[track_caller]
fn assert_retry_after(headers: &HeaderMap) {
    let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=u64::from(HOUR)).contains(&secs), "{secs}");
}

async fn create(srv: &TestServer, key: &str) -> (StatusCode, HeaderMap, Value) {
    srv.send(Method::POST, "/v2/sessions", Some(key), Some(json!({})))
        .await
}

async fn connect_create(srv: &TestServer, key: &str) -> (StatusCode, HeaderMap, Value) {
    srv.send(
        Method::POST,
        "/zitadel.session.v2.SessionService/CreateSession",
        Some(key),
        Some(json!({})),
    )
    .await
}

async fn per_key_on_rest_and_connect(b: Backend) {
    let srv = TestServer::start_with(b, limits(|l| l.session_api_per_key = rule(3))).await;
    let (_, key) = srv.new_key(vec![Scope::Session]).await;
    let (_, other) = srv.new_key(vec![Scope::Session]).await;
    for _ in 0..2 {
        let (st, _, v) = create(&srv, &key).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let (st, _, v) = connect_create(&srv, &key).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The fourth call of this key, over REST or Connect, is refused in that protocol's shape.
    let (st, headers, v) = create(&srv, &key).await;
    assert_retry_after(&headers);
    assert_error(&(st, v), 429, 8, "API-Rate01");
    let (st, headers, v) = connect_create(&srv, &key).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_retry_after(&headers);
    assert_eq!(v["code"], "resource_exhausted", "{v}");
    assert_eq!(v["message"], "Too many requests (API-Rate01)", "{v}");
    assert_eq!(v["details"][0]["type"], "zitadel.v1.ErrorDetail", "{v}");
    // GET counts too, and so does a refused call.
    let (st, _, _) = srv
        .send(Method::GET, "/v2beta/sessions/x", Some(&key), None)
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    // Another key has its own budget.
    let (st, _, v) = create(&srv, &other).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // A bad key is not counted as a key: it gets its 401.
    let (st, _, v) = create(&srv, "vst_unknown").await;
    assert_error(&(st, v), 401, 16, "AUTH-Key01");
}

async fn per_address_before_the_key(b: Backend) {
    let srv = TestServer::start_with(b, limits(|l| l.session_api_per_address = rule(2))).await;
    let (_, key) = srv.new_key(vec![Scope::Session]).await;
    let (st, _, _) = create(&srv, "vst_guess1").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, _) = create(&srv, &key).await;
    assert_eq!(st, StatusCode::CREATED);
    // The address is spent: even a good key, and guesses without one, wait now.
    let (st, headers, v) = create(&srv, &key).await;
    assert_retry_after(&headers);
    assert_error(&(st, v), 429, 8, "API-Rate01");
    let (st, _, v) = srv
        .send(Method::POST, "/v2/sessions", None, Some(json!({})))
        .await;
    assert_error(&(st, v), 429, 8, "API-Rate01");
    // Neither the handoff nor the probes nor the document are behind this limit.
    for path in ["/healthz", "/openapi.json"] {
        let (st, _, _) = srv.send(Method::GET, path, None, None).await;
        assert_eq!(st, StatusCode::OK, "{path}");
    }
}

async fn admin_api_has_its_own_budget(b: Backend) {
    let srv = TestServer::start_with(
        b,
        limits(|l| {
            l.admin_api_per_key = rule(2);
            l.session_api_per_key = rule(100);
        }),
    )
    .await;
    let (_, both) = srv.new_key(vec![Scope::Session, Scope::Admin]).await;
    for _ in 0..2 {
        let (st, _, _) = srv
            .send(Method::GET, "/admin/v1/users", Some(&both), None)
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    let (st, headers, v) = srv
        .send(Method::GET, "/admin/v1/apps", Some(&both), None)
        .await;
    assert_retry_after(&headers);
    assert_error(&(st, v), 429, 8, "API-Rate01");
    // The same key still reaches the Session API.
    let (st, _, v) = create(&srv, &both).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // The harness's admin key has its own budget.
    let (st, _) = srv.admin(Method::GET, "/users", None).await;
    assert_eq!(st, StatusCode::OK);
}

async fn replicas_share_the_counter(b: Backend) {
    let file = || limits(|l| l.session_api_per_key = rule(4));
    let a = TestServer::start_with(b, file()).await;
    let b2 = a.replica(file()).await;
    assert_ne!(a.base, b2.base);
    let (_, key) = a.new_key(vec![Scope::Session]).await;
    // Alternate between the two servers: four calls in all pass, whichever server takes them.
    for srv in [&a, &b2, &a, &b2] {
        let (st, _, v) = create(srv, &key).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    for srv in [&a, &b2] {
        let (st, headers, v) = create(srv, &key).await;
        assert_retry_after(&headers);
        assert_error(&(st, v), 429, 8, "API-Rate01");
    }
    // Parallel calls on both replicas never pass more than the limit in total.
    let (_, fresh) = a.new_key(vec![Scope::Session]).await;
    let calls = (0..12).map(|i| {
        let srv = if i % 2 == 0 { &a } else { &b2 };
        let key = fresh.clone();
        async move { create(srv, &key).await.0 }
    });
    let statuses = futures_join_all(calls).await;
    let passed = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((passed, refused), (4, 8), "{statuses:?}");
}

/// Runs the futures concurrently on this task (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut pending = handles;
    std::future::poll_fn(move |cx| {
        let mut done = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(outputs.iter_mut().map(|o| o.take().unwrap()).collect())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn api_limits_come_from_the_config_file() {
    let file: FileConfig = toml::from_str(
        "[rate_limits]\nsession_api_per_key = { limit = 7, window_secs = 10 }\n\
         admin_api_per_address = { limit = 0, window_secs = 60 }",
    )
    .unwrap();
    let over = server::config::Overrides::default();
    let s = server::config::Settings::resolve(over, file).unwrap();
    let defaults = server::config::RateLimits::default();
    assert_eq!(
        s.rate_limits.session_api_per_key,
        Rule {
            limit: 7,
            window_secs: 10
        }
    );
    assert_eq!(s.rate_limits.admin_api_per_address.limit, 0);
    assert_eq!(
        s.rate_limits.session_api_per_address,
        defaults.session_api_per_address
    );
    assert_eq!(s.rate_limits.admin_api_per_key, defaults.admin_api_per_key);
    assert!(toml::from_str::<FileConfig>(
        "[rate_limits]\nsession_api_per_key = { limit = 1, window = 10 }"
    )
    .is_err());
}
