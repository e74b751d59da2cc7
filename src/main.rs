//! `atlhyper-master`: loads the settings, starts logging and runs until SIGTERM/SIGINT.
//! `atlhyper-master db copy --from sqlite:PATH --to postgres://…` moves an embedded
//! database up to PostgreSQL.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use atlhyper_master::config::Settings;
use atlhyper_master::db::{copy, Location};
use atlhyper_master::startup::Application;
use atlhyper_master::telemetry;

/// mimalloc (without transparent huge pages): measured against glibc malloc under the
/// simulator, see the README ("Benchmarks", soak) and `benches/soak.rs`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The AtlHyper master: cluster actors, agent protocol, dashboard API.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Configuration file (default: ./config.toml when it exists). Also MASTER_CONFIG.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Copies an embedded SQLite database into an empty PostgreSQL database: every table,
    /// id and sealed secret. Stop the master first, or accept that writes made during the
    /// copy stay behind. The master on PostgreSQL needs the same secret key
    /// (`secret.key` beside the SQLite file, or the same MASTER_SECRET_KEY).
    Copy {
        /// The source: `sqlite:PATH` (e.g. `sqlite:data/master.db`).
        #[arg(long, value_name = "sqlite:PATH")]
        from: String,
        /// The target: `postgres://user@host:5432/db` (must be empty).
        #[arg(long, value_name = "postgres://…")]
        to: String,
    },
}

fn location(arg: &str, what: &str) -> anyhow::Result<Location> {
    if let Some(path) = arg.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        anyhow::ensure!(!path.is_empty(), "{what}: sqlite: needs a file path");
        Ok(Location::Sqlite(PathBuf::from(path)))
    } else if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
        Ok(Location::Postgres(arg.to_owned()))
    } else {
        anyhow::bail!("{what}: expected sqlite:PATH or postgres://…")
    }
}

fn db_copy(from: &str, to: &str) -> anyhow::Result<()> {
    let (from, to) = (location(from, "--from")?, location(to, "--to")?);
    let started = std::time::Instant::now();
    let report = copy::copy(&from, &to)?;
    println!("{:<26} {:>12}", "table", "rows");
    for (table, rows) in &report.tables {
        println!("{table:<26} {rows:>12}");
    }
    let total: u64 = report.tables.iter().map(|(_, n)| n).sum();
    println!("{:<26} {total:>12}", "total");
    println!(
        "copied in {:.1} s; start the master with MASTER_DB_TYPE=postgres and the same secret key",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Db {
        command: DbCommand::Copy { from, to },
    }) = &cli.command
    {
        return db_copy(from, to);
    }
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    telemetry::init(&settings);
    let app = Application::build(settings).await?;
    app.run_until_stopped(true).await
}
