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
    generated(&format!("snapshot-{pods}.json.gz"), pods, 7, "bench")
}

/// Like [`snapshot_gz`] for another seed and cluster id: distinct pod names, UIDs and
/// IPs, the same realistic vocabulary (images, label keys, namespaces).
pub fn snapshot_gz_seeded(pods: usize, seed: u64, cluster_id: &str) -> Vec<u8> {
    generated(
        &format!("snapshot-{pods}-{cluster_id}-s{seed}.json.gz"),
        pods,
        seed,
        cluster_id,
    )
}

fn generated(file: &str, pods: usize, seed: u64, cluster_id: &str) -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cache = root.join("target/bench-data").join(file);
    if !cache.exists() {
        std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
        let tool = root.join("../shared/tools/gen_snapshot.py");
        let ok = Command::new("python3")
            .arg(&tool)
            .args([
                "snapshot",
                "--cluster-id",
                cluster_id,
                "--pods",
                &pods.to_string(),
                "--seed",
                &seed.to_string(),
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

/// Resident set size of a process (`VmRSS` of `/proc/<pid>/status`), in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:") * 1024
}

/// Peak resident set size of a process (`VmHWM`), in bytes.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:") * 1024
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
