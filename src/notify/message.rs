//! The channel-neutral notification message. The engine builds it, the outbox stores it
//! as JSON, and every channel renders it in its own format at send time, so a message
//! queued before a restart is sent exactly as it was decided.

use atlhyper_actors::model::Kind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For information only.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// The API and database text.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses the API text.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// New alerts started firing.
    Firing,
    /// Alerts that were notified stopped firing.
    Resolved,
    /// Alerts still firing after `repeat_interval`.
    Reminder,
    /// Several messages folded into one because a channel's budget overflowed.
    Digest,
    /// A test message asked for by an admin.
    Test,
}

impl MessageKind {
    /// The API and database text.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Firing => "firing",
            MessageKind::Resolved => "resolved",
            MessageKind::Reminder => "reminder",
            MessageKind::Digest => "digest",
            MessageKind::Test => "test",
        }
    }
}

/// The resource an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId {
    /// `Cluster`, `Node`, `Pod`, `Deployment`, `Command`, or an event's involved kind.
    pub kind: String,
    /// Empty for cluster-scoped resources.
    pub namespace: String,
    /// The name (the command id for `Command`).
    pub name: String,
}

impl ResourceId {
    /// `Kind/namespace/name`, or `Kind/name` when cluster-scoped: the identifier used in
    /// fingerprints, silences and messages.
    pub fn key(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The dashboard API path that shows this resource, ready to be appended to the
    /// operator's base URL; `None` for the kinds alerts do not link to (storage, config,
    /// policy, events) and for unknown kinds.
    pub fn link(&self, cluster_id: &str) -> Option<String> {
        let kind = match self.kind.as_str() {
            "Cluster" => return Some(format!("/api/v2/clusters/{cluster_id}/status")),
            "Command" => return Some(format!("/api/v2/commands/{}", self.name)),
            // A route's namespace is its domain.
            "Route" => {
                return Some(format!(
                    "/api/v2/slo/domains/{}?cluster_id={cluster_id}",
                    self.namespace
                ))
            }
            k => Kind::from_kind_name(k)?,
        };
        let linked = matches!(
            kind,
            Kind::Pod
                | Kind::Deployment
                | Kind::StatefulSet
                | Kind::DaemonSet
                | Kind::ReplicaSet
                | Kind::Job
                | Kind::CronJob
                | Kind::Service
                | Kind::Ingress
                | Kind::Node
        );
        if !linked {
            return None;
        }
        let plural = kind.plural();
        Some(if self.namespace.is_empty() {
            format!(
                "/api/v2/clusters/{cluster_id}/resources/{plural}/{}",
                self.name
            )
        } else {
            format!(
                "/api/v2/clusters/{cluster_id}/resources/{plural}/{}/{}",
                self.namespace, self.name
            )
        })
    }
}

/// One alert inside a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertLine {
    /// The alert history row's uid.
    pub alert_uid: String,
    /// What the alert is about.
    pub resource: ResourceId,
    /// `firing` or `resolved`.
    pub status: String,
    /// One sentence: what is wrong (or was), e.g. `cpu_usage 93.1 >= 90 for 5m`.
    pub description: String,
    /// The observed value, when the rule measures one.
    pub value: Option<f64>,
    /// When this firing episode started.
    pub fired_at: DateTime<Utc>,
    /// When it ended, for resolved alerts.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Enrichment from the latest snapshot, in display order: pod phase, restarts, node;
    /// deployment ready/replicas; node conditions; event reason, count and message.
    pub details: Vec<(String, String)>,
    /// [`ResourceId::link`].
    pub link: Option<String>,
}

/// One notification, before any channel formats it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Why it is sent.
    pub kind: MessageKind,
    /// The highest severity of its alerts.
    pub severity: Severity,
    /// One line, used as the email subject and the chat title,
    /// e.g. `[FIRING:3] prod-eu · node_cpu_high`.
    pub title: String,
    /// A short paragraph shown above the alerts (may be empty).
    pub summary: String,
    /// The cluster, empty for tests and digests spanning clusters.
    pub cluster_id: String,
    /// The rule's name, empty for tests and digests.
    pub rule: String,
    /// The alerts, at most [`MAX_LINES`] of them; `omitted` counts the rest.
    pub alerts: Vec<AlertLine>,
    /// Alerts left out of `alerts` to keep the message readable.
    pub omitted: usize,
    /// When the message was decided.
    pub at: DateTime<Utc>,
}

impl Message {
    /// The message `POST /api/v2/notify/channels/{type}/test` sends through the channel
    /// of type `channel` named `name`.
    pub fn test(channel: &str, name: &str, at: DateTime<Utc>) -> Message {
        Message {
            kind: MessageKind::Test,
            severity: Severity::Info,
            title: "[TEST] atlhyper-master notification test".into(),
            summary: format!(
                "A test message for the {channel} channel {name:?}. If you can read this, alerts will reach you here."
            ),
            cluster_id: String::new(),
            rule: String::new(),
            alerts: Vec::new(),
            omitted: 0,
            at,
        }
    }
}

/// Alerts listed in one message; chat robots truncate or refuse long messages, and the
/// dashboard holds the full list anyway.
pub const MAX_LINES: usize = 20;

/// An emoji for the severity, as v2.1's templates used (reference §7.3).
pub fn severity_emoji(s: Severity, kind: MessageKind) -> &'static str {
    match (kind, s) {
        (MessageKind::Resolved, _) => "✅",
        (_, Severity::Critical) => "🔴",
        (_, Severity::Warning) => "🟡",
        (_, Severity::Info) => "🟢",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, namespace: &str, name: &str) -> ResourceId {
        ResourceId {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    #[test]
    fn links_use_the_api_plural_of_the_kind() {
        let link = |r: ResourceId| r.link("c1");
        assert_eq!(
            link(id("Pod", "shop", "web-1")).as_deref(),
            Some("/api/v2/clusters/c1/resources/pods/shop/web-1")
        );
        assert_eq!(
            link(id("Node", "", "n1")).as_deref(),
            Some("/api/v2/clusters/c1/resources/nodes/n1")
        );
        assert_eq!(
            link(id("Cluster", "", "c1")).as_deref(),
            Some("/api/v2/clusters/c1/status")
        );
        assert_eq!(
            link(id("Command", "", "42")).as_deref(),
            Some("/api/v2/commands/42")
        );
        assert_eq!(
            link(id("Route", "shop.example.com", "/api")).as_deref(),
            Some("/api/v2/slo/domains/shop.example.com?cluster_id=c1")
        );
        for unlinked in ["PersistentVolume", "Secret", "Event", "pod", "Widget"] {
            assert_eq!(link(id(unlinked, "", "x")), None, "{unlinked}");
        }
    }
}
