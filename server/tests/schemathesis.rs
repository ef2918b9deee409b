//! Property-based check that the OpenAPI document and the server agree: `schemathesis run`
//! (from PyPI, installed into `.tools/venv` by `scripts/bootstrap.sh`, or the executable named
//! by `VESTIBULE_TEST_SCHEMATHESIS`) generates requests from the live `/openapi.json`, valid
//! ones and invalid ones, sends them to a fresh server and checks every answer:
//!
//! - no 5xx (`not_a_server_error`);
//! - the status, content type, headers and body are ones the document lists for the operation
//!   (`status_code_conformance`, `content_type_conformance`, `response_headers_conformance`,
//!   `response_schema_conformance`);
//! - a request the document forbids is refused, and one it allows is not refused as bad input
//!   (`negative_data_rejection`, `positive_data_acceptance`, and
//!   `valid_input_is_not_refused_as_malformed` from `tests/python/schemathesis_hooks.py`, which
//!   tells a refusal of malformed input from a failed precondition by the error id).
//!
//! The seed and the number of examples per operation are fixed, so a run is repeatable and
//! stays well under two minutes. Run it alone with
//! `cargo test -p server --test schemathesis -- --nocapture`.

#[allow(unused_macros)] // both_backends: one SQLite server is enough here
mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{Backend, TestServer};
use domain::model::Scope;
use server::{
    config::{FileConfig, RateLimits},
    ratelimit::Rule,
};

/// The seed of every run; change it to explore other inputs, keep it fixed in the suite.
const SEED: &str = "20261204";
/// Generated cases per operation and phase.
const MAX_EXAMPLES: &str = "12";
/// The checks that together mean "no 500 and no disagreement with the document".
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,\
positive_data_acceptance,valid_input_is_not_refused_as_malformed";

/// `VESTIBULE_TEST_SCHEMATHESIS`, else the bootstrap venv's `st`.
fn schemathesis() -> PathBuf {
    if let Ok(p) = std::env::var("VESTIBULE_TEST_SCHEMATHESIS") {
        return PathBuf::from(p);
    }
    let st = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/st");
    assert!(
        st.exists(),
        "{} is missing: run scripts/bootstrap.sh test or set VESTIBULE_TEST_SCHEMATHESIS",
        st.display()
    );
    st
}

/// Budgets no generated run reaches: the test is about the document, not about throttling
/// (tests/rate_limit.rs covers that, and the document's 429 answers are checked there).
fn unthrottled() -> FileConfig {
    let wide = Rule {
        limit: 1_000_000,
        window_secs: 60,
    };
    FileConfig {
        rate_limits: Some(RateLimits {
            generate_per_app: wide,
            generate_per_address: wide,
            validate_per_app: wide,
            session_api_per_key: wide,
            session_api_per_address: wide,
            admin_api_per_key: wide,
            admin_api_per_address: wide,
            ..RateLimits::default()
        }),
        ..FileConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_agree_with_the_document() {
    let st = schemathesis();
    let srv = TestServer::start_with(Backend::Sqlite, unthrottled()).await;
    // One key for both halves of the document: the admin API and the Session API.
    let (_, key) = srv.new_key(vec![Scope::Admin, Scope::SessionAll]).await;
    let work = std::env::temp_dir().join(format!("vestibule-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();

    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/schemathesis_hooks.py");
    let mut cmd = std::process::Command::new(st);
    cmd.current_dir(&work)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(srv.url("/openapi.json"))
        .args(["--url", &srv.base])
        .args(["--seed", SEED])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--checks", CHECKS])
        .args(["--workers", "2"])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "20"])
        .args(["--suppress-health-check", "all"])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        // Revoking an API key is left out: the run would revoke its own key once it has learnt
        // the key's id from a listing, and every later request would be a 401
        // (tests/admin_api.rs covers revocation).
        .args(["--exclude-operation-id", "revoke_api_key"]);
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("schemathesis runs");
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&work);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}\nschemathesis took {elapsed:.1?}");
    assert!(
        out.status.success(),
        "schemathesis found disagreements (exit {:?}): see its report above",
        out.status.code()
    );
    // A run that tested nothing would pass too: every operation but the one left out must have
    // been tested ("Selected: 60/61", "Tested: 60").
    let number_after = |label: &str| -> Vec<usize> {
        let at = report
            .find(label)
            .unwrap_or_else(|| panic!("no `{label}` in the summary"));
        report[at + label.len()..]
            .split(|c: char| c.is_whitespace())
            .find(|w| !w.is_empty())
            .unwrap_or_default()
            .split('/')
            .map(|n| n.parse().unwrap_or(0))
            .collect()
    };
    let selected = number_after("Selected:");
    let tested = number_after("Tested:");
    assert_eq!(selected.len(), 2, "{selected:?}");
    assert!(
        selected[1] > 50,
        "only {} operations in the document",
        selected[1]
    );
    assert_eq!(
        selected[0] + 1,
        selected[1],
        "more than one operation left out"
    );
    assert_eq!(
        tested,
        vec![selected[0]],
        "not every selected operation was tested"
    );
    assert!(
        elapsed < Duration::from_secs(120),
        "the run took {elapsed:?}, over the two-minute budget"
    );
}
