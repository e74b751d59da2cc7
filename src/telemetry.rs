//! Logging: `tracing` to stdout, as text or JSON (`MASTER_LOG_FORMAT`), filtered by
//! `MASTER_LOG_LEVEL` (any `EnvFilter` directive, e.g. `info,atlhyper_master=debug`).

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber. A second call (tests) is a no-op.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
