//! The standard `process_*` values, read by hand from `/proc` (Linux only: elsewhere the
//! files do not exist and the families are left out).

use std::fs;

/// `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat`. The kernel fixes it at 100
/// for userspace on every architecture this runs on, whatever its internal tick rate.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Resident set size.
    pub resident_bytes: u64,
    /// Virtual memory size.
    pub virtual_bytes: u64,
    /// OS threads.
    pub threads: u64,
    /// Start time, Unix seconds.
    pub start_time_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors (`None`: unlimited or unknown).
    pub max_fds: Option<u64>,
}

/// Reads `/proc/self`; `None` where there is no procfs. Blocking (file reads).
pub fn read() -> Option<ProcessStats> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let system = fs::read_to_string("/proc/stat").ok()?;
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_fds = fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    parse(&stat, &status, &system, &limits, open_fds)
}

/// Builds the stats from the text of `/proc/self/stat`, `/proc/self/status`, `/proc/stat`
/// and `/proc/self/limits`.
pub fn parse(
    stat: &str,
    status: &str,
    system: &str,
    limits: &str,
    open_fds: u64,
) -> Option<ProcessStats> {
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so the fields are
    // counted from the last `)`. `fields[0]` is field 3 (state) of proc(5).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let (utime, stime) = (field(14)?, field(15)?);
    let threads = field(20)?;
    let start_ticks = field(22)?;
    let virtual_bytes = field(23)?;
    let resident_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let boot_time: u64 = system
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let max_fds = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok());
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / CLOCK_TICKS_PER_SECOND,
        resident_bytes: resident_kib * 1024,
        virtual_bytes,
        threads,
        start_time_seconds: boot_time as f64 + start_ticks as f64 / CLOCK_TICKS_PER_SECOND,
        open_fds,
        max_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (atlhyper (m) x) S 1 4242 4242 0 -1 4194560 9000 0 12 0 \
        250 130 0 0 20 0 17 0 123456 1073741824 5000 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17630 0 0 0 17 1 0 0 0 0 0\n";
    const STATUS: &str = "Name:\tatlhyper-master\nVmPeak:\t 1100000 kB\n\
        VmSize:\t 1048576 kB\nVmRSS:\t   20480 kB\nThreads:\t17\n";
    const SYSTEM: &str = "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n";
    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            1024                 1048576              files     \n";

    #[test]
    fn parses_proc_files() {
        let Some(p) = parse(STAT, STATUS, SYSTEM, LIMITS, 12) else {
            panic!("the sample does not parse");
        };
        assert!((p.cpu_seconds - 3.8).abs() < 1e-9, "{p:?}");
        assert!(
            (p.start_time_seconds - 1_700_001_234.56).abs() < 1e-3,
            "{p:?}"
        );
        assert_eq!(p.resident_bytes, 20480 * 1024);
        assert_eq!(p.virtual_bytes, 1_073_741_824);
        assert_eq!(p.threads, 17);
        assert_eq!(p.open_fds, 12);
        assert_eq!(p.max_fds, Some(1024));
    }

    #[test]
    fn unlimited_fds_and_missing_fields() {
        let limits = "Max open files            unlimited            unlimited            files\n";
        let p = parse(STAT, STATUS, SYSTEM, limits, 3);
        assert_eq!(p.map(|p| p.max_fds), Some(None));
        assert_eq!(parse("4242 (x) S 1 2", STATUS, SYSTEM, "", 1), None);
        assert_eq!(parse(STAT, "Name:\tx\n", SYSTEM, "", 1), None);
        assert_eq!(parse(STAT, STATUS, "cpu 1\n", "", 1), None);
        assert_eq!(parse("garbage", STATUS, SYSTEM, "", 1), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let p = read();
        assert!(
            p.as_ref().is_some_and(|p| p.resident_bytes > 0
                && p.threads >= 1
                && p.open_fds >= 3
                && p.start_time_seconds > 1_600_000_000.0),
            "{p:?}"
        );
    }
}
