//! A rule's condition: `{metric, op, threshold, for, reasons?}`, validated once when the rule
//! is written so that evaluation never meets a bad one.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

pub use crate::units::format_duration;
use crate::units::parse_duration;

/// The window of `pod.recent_restarts`: long enough to span a CrashLoopBackOff's growing
/// back-off (capped at 5 minutes by the kubelet) several times, short enough that a pod
/// that recovered stops alerting within a quarter of an hour.
pub const RECENT_RESTARTS_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The `resource_type`s a rule can have, in the order the API lists them.
pub const RESOURCE_TYPES: [&str; 7] = [
    "cluster",
    "node",
    "deployment",
    "pod",
    "event",
    "command",
    "slo",
];

/// The longest `for`: the engine keeps a pending alert in memory for that long, and a
/// condition that must hold for more than a day is a report, not an alert.
pub const MAX_FOR: Duration = Duration::from_secs(24 * 3600);

/// The keys a condition object may have.
const FIELDS: [&str; 5] = ["metric", "op", "threshold", "for", "reasons"];

/// What a rule measures. Each metric belongs to one `resource_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `cluster.offline`: 1 while the cluster is offline. Evaluated by the engine from
    /// status changes, not from snapshots.
    ClusterOffline,
    /// `node.cpu_usage`: CPU usage in % (node metrics).
    NodeCpuUsage,
    /// `node.memory_usage`: memory usage in % (node metrics).
    NodeMemoryUsage,
    /// `node.disk_usage`: usage of the primary disk in % (node metrics).
    NodeDiskUsage,
    /// `node.temperature`: CPU temperature in °C (node metrics).
    NodeTemperature,
    /// `node.not_ready`: 1 when the node's Ready condition is not `True`, else 0.
    NodeNotReady,
    /// `deployment.unavailable_replicas`: desired replicas that are not available.
    DeploymentUnavailableReplicas,
    /// `pod.restarts`: the pod's total container restarts.
    PodRestarts,
    /// `pod.recent_restarts`: restarts within the last
    /// [`RECENT_RESTARTS_WINDOW`], tracked across snapshots.
    PodRecentRestarts,
    /// `pod.not_ready`: 1 when the pod is neither Succeeded nor Running with every container
    /// ready, else 0.
    PodNotReady,
    /// `event.count`: occurrences of the active Warning events with one involved object
    /// and reason.
    EventCount,
    /// `command.failed`: 1 for a command that finished unsuccessfully. Evaluated by the
    /// engine from command results, not from snapshots.
    CommandFailed,
    /// `slo.burn_rate_fast`: the smaller of a route's error-budget burn rates over 1 h and
    /// 5 min (so `>= 14.4` means both windows burn at least 14.4× too fast). Evaluated from
    /// the SLO persister's evaluations.
    SloBurnRateFast,
    /// `slo.burn_rate_medium`: the smaller of the burn rates over 6 h and 30 min.
    SloBurnRateMedium,
    /// `slo.burn_rate_slow`: the smaller of the burn rates over 3 d and 6 h.
    SloBurnRateSlow,
    /// `slo.p95_over_target`: a route's p95 latency over the last hour divided by its p95
    /// target (above 1: slower than the target).
    SloP95OverTarget,
    /// `cluster.agent_outdated`: 1 while the cluster's agent is older than the agent
    /// version policy's minimum, else 0. Evaluated by the notifier from what is known of
    /// the agent and the catalogue, not from snapshots.
    ClusterAgentOutdated,
}

impl Metric {
    /// The catalogue, grouped by resource type.
    pub const ALL: [Metric; 17] = [
        Metric::ClusterOffline,
        Metric::ClusterAgentOutdated,
        Metric::NodeCpuUsage,
        Metric::NodeMemoryUsage,
        Metric::NodeDiskUsage,
        Metric::NodeTemperature,
        Metric::NodeNotReady,
        Metric::DeploymentUnavailableReplicas,
        Metric::PodRestarts,
        Metric::PodRecentRestarts,
        Metric::PodNotReady,
        Metric::EventCount,
        Metric::CommandFailed,
        Metric::SloBurnRateFast,
        Metric::SloBurnRateMedium,
        Metric::SloBurnRateSlow,
        Metric::SloP95OverTarget,
    ];

    /// The API name, `<resource_type>.<measure>`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ClusterOffline => "cluster.offline",
            Metric::ClusterAgentOutdated => "cluster.agent_outdated",
            Metric::NodeCpuUsage => "node.cpu_usage",
            Metric::NodeMemoryUsage => "node.memory_usage",
            Metric::NodeDiskUsage => "node.disk_usage",
            Metric::NodeTemperature => "node.temperature",
            Metric::NodeNotReady => "node.not_ready",
            Metric::DeploymentUnavailableReplicas => "deployment.unavailable_replicas",
            Metric::PodRestarts => "pod.restarts",
            Metric::PodRecentRestarts => "pod.recent_restarts",
            Metric::PodNotReady => "pod.not_ready",
            Metric::EventCount => "event.count",
            Metric::CommandFailed => "command.failed",
            Metric::SloBurnRateFast => "slo.burn_rate_fast",
            Metric::SloBurnRateMedium => "slo.burn_rate_medium",
            Metric::SloBurnRateSlow => "slo.burn_rate_slow",
            Metric::SloP95OverTarget => "slo.p95_over_target",
        }
    }

    /// The `resource_type` whose rules may use this metric.
    pub fn resource_type(self) -> &'static str {
        match self {
            Metric::ClusterOffline | Metric::ClusterAgentOutdated => "cluster",
            Metric::NodeCpuUsage
            | Metric::NodeMemoryUsage
            | Metric::NodeDiskUsage
            | Metric::NodeTemperature
            | Metric::NodeNotReady => "node",
            Metric::DeploymentUnavailableReplicas => "deployment",
            Metric::PodRestarts | Metric::PodRecentRestarts | Metric::PodNotReady => "pod",
            Metric::EventCount => "event",
            Metric::CommandFailed => "command",
            Metric::SloBurnRateFast
            | Metric::SloBurnRateMedium
            | Metric::SloBurnRateSlow
            | Metric::SloP95OverTarget => "slo",
        }
    }

    /// True when the evaluator (`notify::rules::Evaluator::matches` in the master) evaluates it from a
    /// snapshot; `cluster.offline`, `cluster.agent_outdated` and `command.failed` are
    /// driven by the engine instead.
    pub fn from_snapshot(self) -> bool {
        !matches!(
            self,
            Metric::ClusterOffline | Metric::CommandFailed | Metric::ClusterAgentOutdated
        ) && !self.from_slo()
    }

    /// True when it is evaluated from the SLO persister's evaluations (burn rates, p95).
    pub fn from_slo(self) -> bool {
        self.resource_type() == "slo"
    }

    /// The windows a burn-rate metric takes the smaller burn rate of (long, short).
    pub fn burn_windows(self) -> Option<(&'static str, &'static str)> {
        match self {
            Metric::SloBurnRateFast => Some(("1h", "5m")),
            Metric::SloBurnRateMedium => Some(("6h", "30m")),
            Metric::SloBurnRateSlow => Some(("3d", "6h")),
            _ => None,
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The name without its resource type, as shown in descriptions (`cpu_usage`).
    fn measure(self) -> &'static str {
        let name = self.name();
        name.split_once('.').map_or(name, |(_, m)| m)
    }

    /// The unit printed after values and thresholds.
    fn unit(self) -> &'static str {
        match self {
            Metric::NodeCpuUsage | Metric::NodeMemoryUsage | Metric::NodeDiskUsage => "%",
            Metric::NodeTemperature => "°C",
            Metric::SloBurnRateFast
            | Metric::SloBurnRateMedium
            | Metric::SloBurnRateSlow
            | Metric::SloP95OverTarget => "×",
            _ => "",
        }
    }

    /// Every metric name, for error messages.
    fn known() -> String {
        Metric::ALL.map(Metric::name).join(", ")
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A comparison between the observed value and the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Every operator.
    pub const ALL: [Op; 6] = [Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Eq, Op::Ne];

    /// The API text.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Parses the API text.
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// True when `value op threshold`. A value that is not finite is missing data, and
    /// missing data never fires (not even `!=`).
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        if !value.is_finite() {
            return false;
        }
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated rule condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What is measured.
    pub metric: Metric,
    /// How the value compares to the threshold.
    pub op: Op,
    /// The threshold, in the metric's unit.
    pub threshold: f64,
    /// How long the condition must hold before the alert fires (zero: at once).
    pub for_: Duration,
    /// `event.count` only: the event reasons counted (case-sensitive, exact); empty means
    /// every reason.
    pub reasons: Vec<String>,
}

impl Condition {
    /// Validates a rule's condition against its `resource_type`.
    ///
    /// `top_level_for` is the rule's own `for` field. When it is present (and not empty) it
    /// **wins** over `condition.for`, which is still validated: the API documents `for` at
    /// the top level, and a client that sends both must not be rejected for it. An empty
    /// string counts as absent, as forms send it.
    ///
    /// Every error names its field: `condition.op: unknown operator "=>" (...)`.
    pub fn parse(
        resource_type: &str,
        v: &Value,
        top_level_for: Option<&str>,
    ) -> Result<Condition, String> {
        if !RESOURCE_TYPES.contains(&resource_type) {
            return Err(format!(
                "unknown resource_type {resource_type:?} (known: {})",
                RESOURCE_TYPES.join(", ")
            ));
        }
        let obj = v
            .as_object()
            .ok_or_else(|| "condition: must be a JSON object".to_owned())?;
        if let Some(key) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "condition.{key}: unknown field (known: {})",
                FIELDS.join(", ")
            ));
        }

        let metric = match present(obj, "metric") {
            None => {
                return Err(format!(
                    "condition.metric: required (known: {})",
                    Metric::known()
                ))
            }
            Some(Value::String(s)) => Metric::parse(s).ok_or_else(|| {
                format!(
                    "condition.metric: unknown metric {s:?} (known: {})",
                    Metric::known()
                )
            })?,
            Some(_) => return Err("condition.metric: must be a string".to_owned()),
        };
        if metric.resource_type() != resource_type {
            return Err(format!(
                "resource_type {resource_type:?} does not match condition.metric {:?} (a {} metric)",
                metric.name(),
                metric.resource_type()
            ));
        }

        let ops = Op::ALL.map(Op::as_str).join(", ");
        let op = match present(obj, "op") {
            None => return Err(format!("condition.op: required (one of {ops})")),
            Some(Value::String(s)) => Op::parse(s.trim())
                .ok_or_else(|| format!("condition.op: unknown operator {s:?} (one of {ops})"))?,
            Some(_) => return Err(format!("condition.op: must be a string (one of {ops})")),
        };

        let threshold = match present(obj, "threshold") {
            None => return Err("condition.threshold: required (a finite number)".to_owned()),
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite())
                .ok_or_else(|| "condition.threshold: must be a finite number".to_owned())?,
        };

        let inner_for = match present(obj, "for") {
            None => None,
            Some(Value::String(s)) => parse_for("condition.for", s)?,
            Some(_) => {
                return Err(
                    "condition.for: must be a duration string (use e.g. 30s, 5m, 1h)".to_owned(),
                )
            }
        };
        let outer_for = match top_level_for {
            Some(s) => parse_for("for", s)?,
            None => None,
        };
        let for_ = outer_for.or(inner_for).unwrap_or(Duration::ZERO);

        let reasons = match present(obj, "reasons") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                if !items.is_empty() && metric != Metric::EventCount {
                    return Err("condition.reasons: only valid for event.count".to_owned());
                }
                let mut reasons: Vec<String> = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(r) if !r.is_empty() => {
                            if !reasons.iter().any(|known| known == r) {
                                reasons.push(r.to_owned());
                            }
                        }
                        _ => {
                            return Err(format!(
                                "condition.reasons[{i}]: must be a non-empty string"
                            ))
                        }
                    }
                }
                reasons
            }
            Some(_) if metric != Metric::EventCount => {
                return Err("condition.reasons: only valid for event.count".to_owned())
            }
            Some(_) => return Err("condition.reasons: must be an array of strings".to_owned()),
        };

        Ok(Condition {
            metric,
            op,
            threshold,
            for_,
            reasons,
        })
    }

    /// The canonical JSON stored and returned by the API:
    /// `{"metric","op","threshold","for"}`, plus `reasons` when there are any. A whole
    /// threshold is written as an integer (`90`, not `90.0`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("metric".into(), self.metric.name().into());
        m.insert("op".into(), self.op.as_str().into());
        m.insert("threshold".into(), number(self.threshold));
        m.insert("for".into(), format_duration(self.for_).into());
        if !self.reasons.is_empty() {
            m.insert("reasons".into(), self.reasons.clone().into());
        }
        Value::Object(m)
    }

    /// One line for messages: `cpu_usage 93.1% >= 90% for 5m`.
    pub fn describe(&self, value: f64) -> String {
        let unit = self.metric.unit();
        let mut s = format!(
            "{} {}{unit} {} {}{unit}",
            self.metric.measure(),
            round1(value),
            self.op,
            self.threshold
        );
        if self.metric == Metric::PodRecentRestarts {
            s.push_str(" in the last ");
            s.push_str(&format_duration(RECENT_RESTARTS_WINDOW));
        }
        if !self.for_.is_zero() {
            s.push_str(" for ");
            s.push_str(&format_duration(self.for_));
        }
        s
    }
}

/// The value of `key`, treating `null` as absent.
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Parses a `for` duration: whole seconds, at most [`MAX_FOR`]; `""` is absent.
fn parse_for(field: &str, s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let d = parse_duration(s)
        .map_err(|_| format!("{field}: invalid duration {s:?} (use e.g. 30s, 5m, 1h)"))?;
    if d.subsec_nanos() != 0 {
        return Err(format!("{field}: {s:?} must be a whole number of seconds"));
    }
    if d > MAX_FOR {
        return Err(format!(
            "{field}: {s:?} is longer than the maximum of {}",
            format_duration(MAX_FOR)
        ));
    }
    Ok(Some(d))
}

/// A JSON number, integral when the value is a whole number that fits.
fn number(x: f64) -> Value {
    // 2^53: beyond it not every integer is exact, so keep the float.
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        Value::from(x as i64)
    } else {
        Value::from(x)
    }
}

/// The value rounded to one decimal, for display (`93.14` → `93.1`, `90.0` → `90`).
fn round1(x: f64) -> f64 {
    // `+ 0.0` turns -0.0 into 0.0 so that it does not print as "-0".
    (x * 10.0).round() / 10.0 + 0.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn parse(rt: &str, v: Value) -> Result<Condition, String> {
        Condition::parse(rt, &v, None)
    }

    fn err(rt: &str, v: Value) -> String {
        parse(rt, v).unwrap_err()
    }

    #[test]
    fn catalogue_is_consistent() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
            assert!(m.name().starts_with(&format!("{}.", m.resource_type())));
            assert!(RESOURCE_TYPES.contains(&m.resource_type()));
            assert_eq!(m.to_string(), m.name());
        }
        assert!(!Metric::ClusterOffline.from_snapshot());
        assert!(!Metric::CommandFailed.from_snapshot());
        assert!(Metric::EventCount.from_snapshot());
        assert_eq!(Metric::parse("node.cpu"), None);
        for rt in RESOURCE_TYPES {
            assert!(Metric::ALL.iter().any(|m| m.resource_type() == rt), "{rt}");
        }
    }

    #[test]
    fn operators_parse_and_compare() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.as_str()), Some(op));
        }
        assert_eq!(Op::parse("=>"), None);
        assert!(Op::Gt.holds(2.0, 1.0) && !Op::Gt.holds(1.0, 1.0));
        assert!(Op::Ge.holds(1.0, 1.0) && !Op::Ge.holds(0.9, 1.0));
        assert!(Op::Lt.holds(0.0, 1.0) && !Op::Lt.holds(1.0, 1.0));
        assert!(Op::Le.holds(1.0, 1.0) && !Op::Le.holds(1.1, 1.0));
        assert!(Op::Eq.holds(1.0, 1.0) && !Op::Eq.holds(0.0, 1.0));
        assert!(Op::Ne.holds(0.0, 1.0) && !Op::Ne.holds(1.0, 1.0));
        for op in Op::ALL {
            assert!(!op.holds(f64::NAN, 1.0), "{op}");
            assert!(!op.holds(f64::INFINITY, 1.0), "{op}");
        }
    }

    #[test]
    fn a_full_condition_parses_and_round_trips() {
        let c = parse(
            "node",
            json!({"metric": "node.cpu_usage", "op": ">=", "threshold": 90, "for": "5m"}),
        )
        .unwrap();
        assert_eq!(
            c,
            Condition {
                metric: Metric::NodeCpuUsage,
                op: Op::Ge,
                threshold: 90.0,
                for_: Duration::from_secs(300),
                reasons: vec![],
            }
        );
        let j = c.to_json();
        assert_eq!(
            j,
            json!({"metric": "node.cpu_usage", "op": ">=", "threshold": 90, "for": "5m"})
        );
        assert_eq!(
            j.to_string(),
            r#"{"for":"5m","metric":"node.cpu_usage","op":">=","threshold":90}"#
        );
        assert_eq!(parse("node", j).unwrap(), c);

        let e = parse(
            "event",
            json!({"metric": "event.count", "op": ">", "threshold": 2.5,
                   "reasons": ["BackOff", "FailedMount", "BackOff"]}),
        )
        .unwrap();
        assert_eq!(e.reasons, ["BackOff", "FailedMount"]);
        assert_eq!(e.for_, Duration::ZERO);
        let j = e.to_json();
        assert_eq!(
            j,
            json!({"metric": "event.count", "op": ">", "threshold": 2.5, "for": "0s",
                   "reasons": ["BackOff", "FailedMount"]})
        );
        assert_eq!(parse("event", j).unwrap(), e);
    }

    #[test]
    fn every_error_names_its_field() {
        let known_rt = "(known: cluster, node, deployment, pod, event, command, slo)";
        assert_eq!(
            err("x", json!({})),
            format!("unknown resource_type \"x\" {known_rt}")
        );
        assert_eq!(err("node", json!([1])), "condition: must be a JSON object");
        assert_eq!(err("node", json!("x")), "condition: must be a JSON object");
        assert!(err("node", json!({"metric": "node.cpu_usage", "foo": 1}))
            .starts_with("condition.foo: unknown field"));
        let e = err(
            "node",
            json!({"metric": "node.cpuu", "op": ">", "threshold": 1}),
        );
        assert!(
            e.starts_with("condition.metric: unknown metric \"node.cpuu\" (known: cluster.offline, cluster.agent_outdated, node.cpu_usage,"),
            "{e}"
        );
        assert!(err("node", json!({"op": ">"})).starts_with("condition.metric: required"));
        assert_eq!(
            err("node", json!({"metric": 3})),
            "condition.metric: must be a string"
        );
        assert_eq!(
            err("pod", json!({"metric": "node.cpu_usage", "op": ">", "threshold": 1})),
            "resource_type \"pod\" does not match condition.metric \"node.cpu_usage\" (a node metric)"
        );
        assert_eq!(
            err(
                "node",
                json!({"metric": "node.cpu_usage", "op": "=>", "threshold": 1})
            ),
            "condition.op: unknown operator \"=>\" (one of >, >=, <, <=, ==, !=)"
        );
        assert!(
            err("node", json!({"metric": "node.cpu_usage", "threshold": 1}))
                .starts_with("condition.op: required")
        );
        assert!(err(
            "node",
            json!({"metric": "node.cpu_usage", "op": 1, "threshold": 1})
        )
        .starts_with("condition.op: must be a string"));
        assert_eq!(
            err("node", json!({"metric": "node.cpu_usage", "op": ">"})),
            "condition.threshold: required (a finite number)"
        );
        for bad in [json!("90"), json!(true), json!([]), json!({})] {
            assert_eq!(
                err(
                    "node",
                    json!({"metric": "node.cpu_usage", "op": ">", "threshold": bad})
                ),
                "condition.threshold: must be a finite number"
            );
        }
        let base = json!({"metric": "node.cpu_usage", "op": ">", "threshold": 1});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert_eq!(
            err("node", with("for", json!("5x"))),
            "condition.for: invalid duration \"5x\" (use e.g. 30s, 5m, 1h)"
        );
        assert_eq!(
            err("node", with("for", json!("-5m"))),
            "condition.for: invalid duration \"-5m\" (use e.g. 30s, 5m, 1h)"
        );
        assert_eq!(
            err("node", with("for", json!("5"))),
            "condition.for: invalid duration \"5\" (use e.g. 30s, 5m, 1h)"
        );
        assert!(err("node", with("for", json!(300)))
            .starts_with("condition.for: must be a duration string"));
        assert_eq!(
            err("node", with("for", json!("25h"))),
            "condition.for: \"25h\" is longer than the maximum of 24h"
        );
        assert_eq!(
            err("node", with("for", json!("1500ms"))),
            "condition.for: \"1500ms\" must be a whole number of seconds"
        );
        assert_eq!(
            err("node", with("reasons", json!(["BackOff"]))),
            "condition.reasons: only valid for event.count"
        );
        assert_eq!(
            err("node", with("reasons", json!("BackOff"))),
            "condition.reasons: only valid for event.count"
        );
        let ev = json!({"metric": "event.count", "op": ">", "threshold": 1});
        let mut bad = ev.clone();
        bad["reasons"] = json!(["A", ""]);
        assert_eq!(
            err("event", bad),
            "condition.reasons[1]: must be a non-empty string"
        );
        let mut bad = ev.clone();
        bad["reasons"] = json!("A");
        assert_eq!(
            err("event", bad),
            "condition.reasons: must be an array of strings"
        );
        // The top-level `for` is validated under its own name.
        assert_eq!(
            Condition::parse("node", &base, Some("soon")).unwrap_err(),
            "for: invalid duration \"soon\" (use e.g. 30s, 5m, 1h)"
        );
    }

    #[test]
    fn null_and_empty_optional_fields_count_as_absent() {
        let c = parse(
            "node",
            json!({"metric": "node.disk_usage", "op": ">", "threshold": 80,
                   "for": null, "reasons": null}),
        )
        .unwrap();
        assert_eq!((c.for_, c.reasons.len()), (Duration::ZERO, 0));
        let c = parse(
            "node",
            json!({"metric": "node.disk_usage", "op": ">", "threshold": 80, "for": "", "reasons": []}),
        )
        .unwrap();
        assert_eq!(c.for_, Duration::ZERO);
        // A null metric is still missing.
        assert!(err("node", json!({"metric": null})).starts_with("condition.metric: required"));
    }

    #[test]
    fn top_level_for_wins_when_present() {
        let v = json!({"metric": "pod.restarts", "op": ">", "threshold": 3, "for": "5m"});
        let d = |top| Condition::parse("pod", &v, top).unwrap().for_;
        assert_eq!(d(None), Duration::from_secs(300));
        assert_eq!(d(Some("90s")), Duration::from_secs(90));
        assert_eq!(d(Some("0s")), Duration::ZERO);
        assert_eq!(d(Some("")), Duration::from_secs(300));
        // The inner one is still checked.
        let bad = json!({"metric": "pod.restarts", "op": ">", "threshold": 3, "for": "5x"});
        assert!(Condition::parse("pod", &bad, Some("1m"))
            .unwrap_err()
            .starts_with("condition.for:"));
    }

    #[test]
    fn durations_format_compactly_and_parse_back() {
        for (d, s) in [
            (0, "0s"),
            (45, "45s"),
            (90, "1m30s"),
            (300, "5m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (3661, "1h1m1s"),
            (86_400, "24h"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(d)), s);
            assert_eq!(parse_duration(s).unwrap(), Duration::from_secs(d));
        }
        let odd = Duration::new(1, 2_003_004);
        assert_eq!(format_duration(odd), "1s2ms3us4ns");
        assert_eq!(parse_duration(&format_duration(odd)).unwrap(), odd);
        // Go's long forms are accepted too.
        assert_eq!(
            parse(
                "node",
                json!({"metric": "node.not_ready", "op": "==", "threshold": 1, "for": "1h30m0s"})
            )
            .unwrap()
            .for_,
            Duration::from_secs(5400)
        );
    }

    #[test]
    fn descriptions_carry_units_and_duration() {
        let c = |m: &str, op: &str, t: f64, f: &str| {
            let rt = Metric::parse(m).unwrap().resource_type();
            parse(rt, json!({"metric": m, "op": op, "threshold": t, "for": f})).unwrap()
        };
        assert_eq!(
            c("node.cpu_usage", ">=", 90.0, "5m").describe(93.14),
            "cpu_usage 93.1% >= 90% for 5m"
        );
        assert_eq!(
            c("node.temperature", ">", 80.5, "0s").describe(81.0),
            "temperature 81°C > 80.5°C"
        );
        assert_eq!(
            c("deployment.unavailable_replicas", ">", 0.0, "2m").describe(2.0),
            "unavailable_replicas 2 > 0 for 2m"
        );
        assert_eq!(
            c("pod.recent_restarts", ">=", 3.0, "").describe(4.0),
            "recent_restarts 4 >= 3 in the last 15m"
        );
        assert_eq!(
            c("node.memory_usage", "<", 1.0, "").describe(-0.01),
            "memory_usage 0% < 1%"
        );
    }
}
