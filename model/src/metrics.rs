//! Node hardware metrics pushed by the node collector (reference §2.9).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::serde_util::{null_default, null_vec};
use super::{GoTime, Text};

/// Hardware metrics of one node (no optional keys; lists may be `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeMetricsSnapshot {
    /// Node name.
    pub node_name: Text,
    /// Collection time.
    pub timestamp: GoTime,
    /// Host name.
    pub hostname: Text,
    /// Operating system.
    pub os: Text,
    /// Kernel version.
    pub kernel: Text,
    /// Uptime in seconds.
    pub uptime: i64,
    /// CPU metrics.
    #[serde(default, deserialize_with = "null_default")]
    pub cpu: CpuMetrics,
    /// Memory metrics.
    #[serde(default, deserialize_with = "null_default")]
    pub memory: MemoryMetrics,
    /// Disks.
    #[serde(default, deserialize_with = "null_vec")]
    pub disks: Vec<DiskMetrics>,
    /// Network interfaces.
    #[serde(default, deserialize_with = "null_vec")]
    pub networks: Vec<NetworkMetrics>,
    /// Temperatures.
    #[serde(default, deserialize_with = "null_default")]
    pub temperature: TemperatureMetrics,
    /// Top processes.
    #[serde(default, deserialize_with = "null_vec")]
    pub processes: Vec<ProcessMetrics>,
}

/// CPU metrics of a node (Go `CPUMetrics`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuMetrics {
    /// Total usage, 0-100.
    pub usage_percent: f64,
    /// User time, 0-100.
    pub user_percent: f64,
    /// System time, 0-100.
    pub system_percent: f64,
    /// Idle time, 0-100.
    pub idle_percent: f64,
    /// I/O wait, 0-100.
    pub iowait_percent: f64,
    /// Usage per core.
    #[serde(default, deserialize_with = "null_vec")]
    pub per_core: Vec<f64>,
    /// 1-minute load average.
    pub load_1: f64,
    /// 5-minute load average.
    pub load_5: f64,
    /// 15-minute load average.
    pub load_15: f64,
    /// CPU model.
    pub model: Text,
    /// Physical cores.
    pub cores: i64,
    /// Hardware threads.
    pub threads: i64,
    /// Frequency in MHz.
    pub frequency: f64,
}

/// Memory metrics of a node (bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryMetrics {
    /// Total memory.
    pub total: i64,
    /// Used memory.
    pub used: i64,
    /// Available memory.
    pub available: i64,
    /// Free memory.
    pub free: i64,
    /// Usage, 0-100.
    pub usage_percent: f64,
    /// Page cache.
    pub cached: i64,
    /// Buffers.
    pub buffers: i64,
    /// Total swap.
    pub swap_total: i64,
    /// Used swap.
    pub swap_used: i64,
    /// Free swap.
    pub swap_free: i64,
    /// Swap usage, 0-100.
    pub swap_percent: f64,
}

/// Metrics of one disk / file system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskMetrics {
    /// Device.
    pub device: Text,
    /// Mount point.
    pub mount_point: Text,
    /// File system type.
    pub fs_type: Text,
    /// Total bytes.
    pub total: i64,
    /// Used bytes.
    pub used: i64,
    /// Available bytes.
    pub available: i64,
    /// Usage, 0-100.
    pub usage_percent: f64,
    /// Bytes read (cumulative).
    pub read_bytes: i64,
    /// Bytes written (cumulative).
    pub write_bytes: i64,
    /// Read rate, bytes/s.
    pub read_rate: f64,
    /// Write rate, bytes/s.
    pub write_rate: f64,
    /// Read operations per second.
    pub read_iops: f64,
    /// Write operations per second.
    pub write_iops: f64,
    /// I/O utilisation, 0-100.
    pub io_util: f64,
}

/// Metrics of one network interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkMetrics {
    /// Interface name.
    pub interface: Text,
    /// IP address.
    pub ip_address: Text,
    /// MAC address.
    pub mac_address: Text,
    /// `up` or `down`.
    pub status: Text,
    /// Link speed in Mbps.
    pub speed: i64,
    /// MTU.
    pub mtu: i64,
    /// Bytes received (cumulative).
    pub rx_bytes: i64,
    /// Bytes sent (cumulative).
    pub tx_bytes: i64,
    /// Packets received (cumulative).
    pub rx_packets: i64,
    /// Packets sent (cumulative).
    pub tx_packets: i64,
    /// Receive rate, bytes/s.
    pub rx_rate: f64,
    /// Send rate, bytes/s.
    pub tx_rate: f64,
    /// Receive errors.
    pub rx_errors: i64,
    /// Send errors.
    pub tx_errors: i64,
    /// Received packets dropped.
    pub rx_dropped: i64,
    /// Sent packets dropped.
    pub tx_dropped: i64,
}

/// Temperatures of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemperatureMetrics {
    /// CPU temperature, °C.
    pub cpu_temp: f64,
    /// Maximum CPU temperature, °C.
    pub cpu_temp_max: f64,
    /// Individual sensors.
    #[serde(default, deserialize_with = "null_vec")]
    pub sensors: Vec<SensorMetrics>,
}

/// One temperature sensor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SensorMetrics {
    /// Sensor name.
    pub name: Text,
    /// Sensor label.
    pub label: Text,
    /// Current temperature, °C.
    pub current: f64,
    /// Maximum temperature, °C.
    pub max: f64,
    /// Critical temperature, °C.
    pub critical: f64,
}

/// One of the top processes of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessMetrics {
    /// Process ID.
    pub pid: i64,
    /// Process name.
    pub name: Text,
    /// Command line.
    pub cmdline: Text,
    /// Owner.
    pub user: Text,
    /// Process status.
    pub status: Text,
    /// CPU usage, percent.
    pub cpu_percent: f64,
    /// Memory usage, percent.
    pub mem_percent: f64,
    /// Resident set size, bytes.
    pub mem_rss: i64,
    /// Thread count.
    pub threads: i64,
    /// Start time, unix seconds.
    pub start_time: i64,
}

/// One row of node-metrics history (API type).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsDataPoint {
    /// Sample time.
    pub timestamp: GoTime,
    /// Node name.
    pub node_name: Text,
    /// CPU usage percent.
    pub cpu_usage: f64,
    /// Memory usage percent.
    pub memory_usage: f64,
    /// Primary disk usage percent.
    pub disk_usage: f64,
    /// Primary disk read rate, bytes/s.
    pub disk_io_read: f64,
    /// Primary disk write rate, bytes/s.
    pub disk_io_write: f64,
    /// Primary interface receive rate, bytes/s.
    pub network_rx: f64,
    /// Primary interface send rate, bytes/s.
    pub network_tx: f64,
    /// CPU temperature, °C.
    pub cpu_temp: f64,
    /// 1-minute load average.
    pub load_1: f64,
}

/// Cluster-wide node metrics summary (API type).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterMetricsSummary {
    /// Nodes with metrics.
    pub total_nodes: i64,
    /// Online nodes.
    pub online_nodes: i64,
    /// Offline nodes.
    pub offline_nodes: i64,
    /// Average CPU usage.
    pub avg_cpu_usage: f64,
    /// Average memory usage.
    pub avg_memory_usage: f64,
    /// Average disk usage.
    pub avg_disk_usage: f64,
    /// Maximum CPU usage.
    pub max_cpu_usage: f64,
    /// Maximum memory usage.
    pub max_memory_usage: f64,
    /// Maximum disk usage.
    pub max_disk_usage: f64,
    /// Average CPU temperature.
    pub avg_cpu_temp: f64,
    /// Maximum CPU temperature.
    pub max_cpu_temp: f64,
    /// Total memory, bytes.
    pub total_memory: i64,
    /// Used memory, bytes.
    pub used_memory: i64,
    /// Total disk, bytes.
    pub total_disk: i64,
    /// Used disk, bytes.
    pub used_disk: i64,
    /// Total receive rate, bytes/s.
    pub total_network_rx: i64,
    /// Total send rate, bytes/s.
    pub total_network_tx: i64,
}

impl NodeMetricsSnapshot {
    /// The primary disk: the one mounted at `/`, otherwise the first (reference §2.9).
    pub fn primary_disk(&self) -> Option<&DiskMetrics> {
        self.disks
            .iter()
            .find(|d| d.mount_point == "/")
            .or_else(|| self.disks.first())
    }
}

/// The key metrics of one node (seed 001 §4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyMetrics {
    /// cpu.usage_percent.
    pub cpu: f64,
    /// memory.usage_percent.
    pub mem: f64,
    /// The primary disk's usage_percent.
    pub disk: f64,
    /// rx_rate summed over the interfaces other than `lo`.
    pub rx: f64,
    /// tx_rate summed over the interfaces other than `lo`.
    pub tx: f64,
    /// temperature.cpu_temp.
    pub temp: f64,
}

impl KeyMetrics {
    /// Extracts them from a snapshot.
    pub fn of(m: &NodeMetricsSnapshot) -> Self {
        let disk = m.primary_disk().map_or(0.0, |d| d.usage_percent);
        // Loopback traffic never leaves the node; counting it would inflate the chart.
        let (rx, tx) = m
            .networks
            .iter()
            .filter(|n| n.interface != "lo")
            .fold((0.0, 0.0), |(rx, tx), n| (rx + n.rx_rate, tx + n.tx_rate));
        Self {
            cpu: m.cpu.usage_percent,
            mem: m.memory.usage_percent,
            disk,
            rx,
            tx,
            temp: m.temperature.cpu_temp,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(
            &NodeMetricsSnapshot::default(),
            &[
                "cpu",
                "disks",
                "hostname",
                "kernel",
                "memory",
                "networks",
                "node_name",
                "os",
                "processes",
                "temperature",
                "timestamp",
                "uptime",
            ],
        );
        assert_keys(
            &CpuMetrics::default(),
            &[
                "cores",
                "frequency",
                "idle_percent",
                "iowait_percent",
                "load_1",
                "load_15",
                "load_5",
                "model",
                "per_core",
                "system_percent",
                "threads",
                "usage_percent",
                "user_percent",
            ],
        );
        assert_keys(
            &MemoryMetrics::default(),
            &[
                "available",
                "buffers",
                "cached",
                "free",
                "swap_free",
                "swap_percent",
                "swap_total",
                "swap_used",
                "total",
                "usage_percent",
                "used",
            ],
        );
        assert_keys(
            &DiskMetrics::default(),
            &[
                "available",
                "device",
                "fs_type",
                "io_util",
                "mount_point",
                "read_bytes",
                "read_iops",
                "read_rate",
                "total",
                "usage_percent",
                "used",
                "write_bytes",
                "write_iops",
                "write_rate",
            ],
        );
        assert_keys(
            &NetworkMetrics::default(),
            &[
                "interface",
                "ip_address",
                "mac_address",
                "mtu",
                "rx_bytes",
                "rx_dropped",
                "rx_errors",
                "rx_packets",
                "rx_rate",
                "speed",
                "status",
                "tx_bytes",
                "tx_dropped",
                "tx_errors",
                "tx_packets",
                "tx_rate",
            ],
        );
        assert_keys(
            &TemperatureMetrics::default(),
            &["cpu_temp", "cpu_temp_max", "sensors"],
        );
        assert_keys(
            &SensorMetrics::default(),
            &["critical", "current", "label", "max", "name"],
        );
        assert_keys(
            &ProcessMetrics::default(),
            &[
                "cmdline",
                "cpu_percent",
                "mem_percent",
                "mem_rss",
                "name",
                "pid",
                "start_time",
                "status",
                "threads",
                "user",
            ],
        );
        assert_keys(
            &MetricsDataPoint::default(),
            &[
                "cpu_temp",
                "cpu_usage",
                "disk_io_read",
                "disk_io_write",
                "disk_usage",
                "load_1",
                "memory_usage",
                "network_rx",
                "network_tx",
                "node_name",
                "timestamp",
            ],
        );
        assert_keys(
            &ClusterMetricsSummary::default(),
            &[
                "avg_cpu_temp",
                "avg_cpu_usage",
                "avg_disk_usage",
                "avg_memory_usage",
                "max_cpu_temp",
                "max_cpu_usage",
                "max_disk_usage",
                "max_memory_usage",
                "offline_nodes",
                "online_nodes",
                "total_disk",
                "total_memory",
                "total_network_rx",
                "total_network_tx",
                "total_nodes",
                "used_disk",
                "used_memory",
            ],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<NodeMetricsSnapshot>(
            r#"{"timestamp":null,"cpu":null,"memory":null,"disks":null,"networks":null,"temperature":null,"processes":null}"#,
        );
        assert_default::<CpuMetrics>(r#"{"per_core":null}"#);
        assert_default::<MemoryMetrics>(r#"{}"#);
        assert_default::<DiskMetrics>(r#"{}"#);
        assert_default::<NetworkMetrics>(r#"{}"#);
        assert_default::<TemperatureMetrics>(r#"{"sensors":null}"#);
        assert_default::<SensorMetrics>(r#"{}"#);
        assert_default::<ProcessMetrics>(r#"{}"#);
        assert_default::<MetricsDataPoint>(r#"{"timestamp":null}"#);
        assert_default::<ClusterMetricsSummary>(r#"{}"#);
    }

    #[test]
    fn null_sensor_list() {
        let t: TemperatureMetrics =
            serde_json::from_str(r#"{"cpu_temp":41.5,"cpu_temp_max":90,"sensors":null}"#).unwrap();
        assert!(t.sensors.is_empty());
        assert_eq!(t.cpu_temp_max, 90.0);
    }
}
