//! Wire types of the Session API (protojson conventions) and their mapping to the engine's types.
//!
//! Requests accept lowerCamelCase and the proto's snake_case names, 64-bit numbers as strings or
//! numbers, enums by name or number, durations like `"18000s"`, timestamps in RFC 3339 and bytes
//! in base64. Responses use lowerCamelCase, 64-bit numbers as strings and omit absent values.

mod mapping;
mod requests;
mod responses;
mod scalars;

pub use mapping::*;
pub use requests::*;
pub use responses::*;
pub use scalars::*;
