//! `atlhyper-master`: loads the settings, starts logging and runs until SIGTERM/SIGINT.

use std::path::PathBuf;

use clap::Parser;

use atlhyper_master::config::Settings;
use atlhyper_master::startup::Application;
use atlhyper_master::telemetry;

/// The AtlHyper master: cluster actors, agent protocol, dashboard API.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Configuration file (default: ./config.toml when it exists). Also MASTER_CONFIG.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    telemetry::init(&settings);
    let app = Application::build(settings).await?;
    app.run_until_stopped(true).await
}
