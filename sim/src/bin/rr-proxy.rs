//! `rr-proxy`: a tiny round-robin TCP proxy, the load balancer in front of several master
//! replicas for a manual run.
//!
//! `rr-proxy --listen 127.0.0.1:9080 --to 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083`
//!
//! See `atlhyper_agent_sim::proxy`: per connection, in turn, skipping a backend that refuses.

use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;

/// A round-robin TCP proxy: each connection to --listen goes to the next --to backend.
#[derive(Debug, Parser)]
#[command(name = "rr-proxy", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9080")]
    listen: String,
    /// Comma-separated backends (host:port), used in turn.
    #[arg(long, value_delimiter = ',', required = true)]
    to: Vec<String>,
    /// How long to wait for a backend to accept before trying the next one.
    #[arg(long, default_value_t = 1000)]
    connect_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let backends: Vec<String> = args
        .to
        .iter()
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    if backends.is_empty() {
        return Err("--to: at least one backend is needed".into());
    }
    let listener = TcpListener::bind(args.listen.as_str()).await?;
    eprintln!(
        "rr-proxy: listening on {}, round-robin over {}",
        listener.local_addr()?,
        backends.join(", ")
    );
    let timeout = Duration::from_millis(args.connect_timeout_ms);
    tokio::select! {
        () = atlhyper_agent_sim::proxy::run(listener, backends, timeout) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
