//! The rules of sign-in: users, apps, sessions and their checks. No web framework, no database.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod model;
pub mod store;
