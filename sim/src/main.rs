//! `atlhyper-agent-sim`: see the library docs and `--help`.

use std::process::ExitCode;

use atlhyper_agent_sim::cli::Args;
use clap::Parser;

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &args.dump {
        return match atlhyper_agent_sim::dump(&cfg, dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match rt.block_on(atlhyper_agent_sim::run(cfg, ctrl_c)) {
        Ok(summary) => {
            println!("{summary}");
            if summary.errors > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
