//! Helpers shared by the benchmark binaries (`mod common;` in each).
#![allow(dead_code, reason = "each bench uses a subset")]

use std::path::PathBuf;
use std::process::Command;

/// `--name <n>` from the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A generated `pods`-pod v2.1 snapshot (gzip), made once by
/// `../shared/tools/gen_snapshot.py` and cached under `target/bench-data/`.
pub fn snapshot_gz(pods: usize) -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cache = root.join(format!("target/bench-data/snapshot-{pods}.json.gz"));
    if !cache.exists() {
        std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
        let tool = root.join("../shared/tools/gen_snapshot.py");
        let ok = Command::new("python3")
            .arg(&tool)
            .args([
                "snapshot",
                "--cluster-id",
                "bench",
                "--pods",
                &pods.to_string(),
                "--seed",
                "7",
                "--go-quirks",
                "--gzip",
                "-o",
            ])
            .arg(&cache)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "could not run {} (python3 and ../shared are needed)",
            tool.display()
        );
    }
    std::fs::read(cache).unwrap()
}
