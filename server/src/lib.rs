//! Vestibule's server: configuration, command line, HTTP wiring and middleware.
// The console page's view type (its island's steps are one enum of eleven) is deeper than the
// default limit of 128 lets rustc lay out.
#![recursion_limit = "256"]
#![forbid(unsafe_code)]

pub mod admin_cli;
pub mod api;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod handoff;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod ratelimit;
pub mod retention;
pub mod telemetry;
pub mod tls;
pub mod wiring;
