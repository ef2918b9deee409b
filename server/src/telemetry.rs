//! Logging: `tracing` to standard error (standard output is for what commands print), with a
//! filter from `RUST_LOG` (default `info`).

use tracing_subscriber::{fmt, fmt::MakeWriter, EnvFilter};

/// The filter without `RUST_LOG`: info, with the database driver's and Leptos' chatter left out.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,leptos=warn";

/// Installs the global subscriber once; later calls (for example from tests) do nothing.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    init_with(filter, std::io::stderr);
}

/// [`init`] with a given filter and writer (a test that reads the log it wrote).
pub fn init_with<W>(filter: EnvFilter, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .try_init();
}
