//! The rules of sign-in: users, apps, sessions and their checks. No web framework, no database.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod clock;
pub mod crypto;
pub mod error;
pub mod input;
pub mod model;
pub mod notifier;
pub mod password;
pub mod service;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod totp;

pub use error::{DomainError, ErrorKind};
pub use service::{Config, Engine};
