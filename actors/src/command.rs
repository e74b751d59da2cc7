//! Command lifecycle vocabulary shared by the actors, the store and the HTTP layer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::Kind;

/// Where a command is in its life.
///
/// `pending → running → success | failed | timeout`, and `pending → cancelled | expired`.
/// A `timeout` command still accepts a late result: the agent did run it, and the truth is
/// worth more than the timer's guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Stored and queued, not yet handed to an agent.
    Pending,
    /// Handed to an agent; waiting for its result.
    Running,
    /// The agent reported success.
    Success,
    /// The agent reported failure.
    Failed,
    /// No result arrived within the result timeout.
    Timeout,
    /// A user cancelled it while it was pending.
    Cancelled,
    /// Not picked up within the pending TTL.
    Expired,
}

impl CommandState {
    /// Every state, in lifecycle order.
    pub const ALL: [CommandState; 7] = [
        Self::Pending,
        Self::Running,
        Self::Success,
        Self::Failed,
        Self::Timeout,
        Self::Cancelled,
        Self::Expired,
    ];

    /// The stable lower-case name stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// True when no further transition is expected (a late result may still turn
    /// `timeout` into `success`/`failed`).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }

    /// States from which an agent result is accepted.
    pub const ACCEPTS_RESULT: &'static [CommandState] =
        &[Self::Pending, Self::Running, Self::Timeout];
}

impl fmt::Display for CommandState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`CommandState::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown command status {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for CommandState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// The default long-poll topic, used by the web console's operations.
pub const DEFAULT_TOPIC: &str = "ops";

/// Validates a long-poll topic name: 1–64 chars of `[A-Za-z0-9_.-]`.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 64
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Actions the v2.1 agent executes (reference §1.9).
pub const AGENT_ACTIONS: &[&str] = &[
    "scale",
    "restart",
    "delete",
    "cordon",
    "uncordon",
    "update_image",
    "get_logs",
    "get_configmap",
    "get_secret",
    "dynamic",
];

/// Actions v2.1's master accepted but its agent rejects with `unknown action`.
pub const UNSUPPORTED_ACTIONS: &[&str] = &["delete_pod", "exec", "drain"];

/// The `command` values the agent's `dynamic` action understands.
const DYNAMIC_COMMANDS: &[&str] = &["get", "list", "describe", "get_events"];

/// A command as a user asks for it, before it is stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandSpec {
    /// The action.
    pub action: String,
    /// Target kind (filled in for actions that imply one).
    pub kind: String,
    /// Target namespace.
    pub namespace: String,
    /// Target name.
    pub name: String,
    /// Action parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// Why a command was refused: `field` names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidCommand {
    /// `action`, `kind`, `namespace`, `name` or `params.<key>`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidCommand {
    InvalidCommand {
        field: field.into(),
        message: message.into(),
    }
}

impl CommandSpec {
    fn require(&self, field: &'static str, value: &str) -> Result<(), InvalidCommand> {
        if value.trim().is_empty() {
            return Err(invalid(field, format!("is required for {}", self.action)));
        }
        Ok(())
    }

    fn kind_is(&mut self, want: Kind) -> Result<(), InvalidCommand> {
        if self.kind.is_empty() {
            self.kind = want.as_str().to_owned();
        }
        if self.kind.parse() != Ok(want) {
            return Err(invalid(
                "kind",
                format!(
                    "{} applies to kind {want} only (the v2.1 agent acts on a {want}), not {:?}",
                    self.action, self.kind
                ),
            ));
        }
        self.kind = want.as_str().to_owned();
        Ok(())
    }

    fn int_param(
        &self,
        key: &str,
        required: bool,
        min: i64,
        max: i64,
    ) -> Result<(), InvalidCommand> {
        match self.params.get(key) {
            None | Some(serde_json::Value::Null) if !required => Ok(()),
            None | Some(serde_json::Value::Null) => Err(invalid(
                format!("params.{key}"),
                format!("is required for {}", self.action),
            )),
            Some(v) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(invalid(
                    format!("params.{key}"),
                    format!("must be an integer between {min} and {max}"),
                )),
            },
        }
    }

    fn str_param(&self, key: &str, required: bool) -> Result<(), InvalidCommand> {
        match self.params.get(key) {
            None | Some(serde_json::Value::Null) if !required => Ok(()),
            Some(serde_json::Value::String(s)) if !required || !s.trim().is_empty() => Ok(()),
            _ if required => Err(invalid(
                format!("params.{key}"),
                format!("a non-empty string is required for {}", self.action),
            )),
            _ => Err(invalid(format!("params.{key}"), "must be a string")),
        }
    }

    fn bool_param(&self, key: &str) -> Result<(), InvalidCommand> {
        match self.params.get(key) {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(_)) => Ok(()),
            _ => Err(invalid(format!("params.{key}"), "must be true or false")),
        }
    }

    /// Checks the action and its parameters against what the v2.1 agent runs
    /// (reference §1.9), filling in the kind an action implies.
    pub fn validate(&mut self) -> Result<(), InvalidCommand> {
        let action = self.action.trim().to_owned();
        self.action = action.clone();
        if UNSUPPORTED_ACTIONS.contains(&action.as_str()) {
            return Err(invalid(
                "action",
                format!("{action:?} is not supported: the v2.1 agent does not implement it"),
            ));
        }
        if !AGENT_ACTIONS.contains(&action.as_str()) {
            return Err(invalid(
                "action",
                format!(
                    "unknown action {action:?}; one of: {}",
                    AGENT_ACTIONS.join(", ")
                ),
            ));
        }
        for (field, v) in [
            ("kind", &self.kind),
            ("namespace", &self.namespace),
            ("name", &self.name),
        ] {
            if v.len() > 253 || v.chars().any(char::is_control) {
                return Err(invalid(
                    field,
                    "at most 253 characters, no control characters",
                ));
            }
        }
        match action.as_str() {
            "scale" => {
                self.kind_is(Kind::Deployment)?;
                self.require("namespace", &self.namespace)?;
                self.require("name", &self.name)?;
                self.int_param("replicas", true, 0, i64::from(i32::MAX))?;
            }
            "restart" => {
                self.kind_is(Kind::Deployment)?;
                self.require("namespace", &self.namespace)?;
                self.require("name", &self.name)?;
            }
            "update_image" => {
                self.kind_is(Kind::Deployment)?;
                self.require("namespace", &self.namespace)?;
                self.require("name", &self.name)?;
                self.str_param("image", true)?;
                self.str_param("container", false)?;
            }
            "delete" => {
                self.require("kind", &self.kind)?;
                self.require("name", &self.name)?;
                if !Kind::is_cluster_scoped_name(&self.kind) {
                    self.require("namespace", &self.namespace)?;
                }
                self.int_param("gracePeriodSeconds", false, 0, i64::MAX)?;
                self.bool_param("force")?;
            }
            "cordon" | "uncordon" => {
                self.kind_is(Kind::Node)?;
                self.require("name", &self.name)?;
            }
            "get_logs" => {
                self.kind_is(Kind::Pod)?;
                self.require("namespace", &self.namespace)?;
                self.require("name", &self.name)?;
                self.str_param("container", false)?;
                // The agent caps at 200 lines itself; more would silently be cut.
                self.int_param("tailLines", false, 1, 200)?;
                self.int_param("sinceSeconds", false, 0, i64::MAX)?;
                self.bool_param("timestamps")?;
                self.bool_param("previous")?;
            }
            "get_configmap" => {
                self.kind_is(Kind::ConfigMap)?;
                self.require("namespace", &self.namespace)?;
                self.require("name", &self.name)?;
            }
            "get_secret" => {
                self.kind_is(Kind::Secret)?;
                self.require("namespace", &self.namespace)?;
                self.require("name", &self.name)?;
            }
            "dynamic" => match self.params.get("command").and_then(|v| v.as_str()) {
                Some(c) if DYNAMIC_COMMANDS.contains(&c) => {}
                _ => {
                    return Err(invalid(
                        "params.command",
                        format!("must be one of: {}", DYNAMIC_COMMANDS.join(", ")),
                    ))
                }
            },
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn states_round_trip_through_strings() {
        for st in CommandState::ALL {
            assert_eq!(st.as_str().parse::<CommandState>().unwrap(), st);
        }
        assert!("done".parse::<CommandState>().is_err());
        assert!(!CommandState::Running.is_final());
        assert!(CommandState::Expired.is_final());
    }

    fn spec(
        action: &str,
        kind: &str,
        ns: &str,
        name: &str,
        params: serde_json::Value,
    ) -> CommandSpec {
        CommandSpec {
            action: action.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
            params: params.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn commands_are_validated_like_the_agent_runs_them() {
        let mut ok = spec(
            "scale",
            "",
            "shop",
            "web",
            serde_json::json!({"replicas": 3}),
        );
        ok.validate().unwrap();
        assert_eq!(ok.kind, "Deployment");
        let err = spec("scale", "Deployment", "shop", "web", serde_json::json!({}))
            .validate()
            .unwrap_err();
        assert_eq!(err.field, "params.replicas");
        let err = spec(
            "scale",
            "Deployment",
            "shop",
            "web",
            serde_json::json!({"replicas": -1}),
        )
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "params.replicas");
        let err = spec(
            "scale",
            "StatefulSet",
            "shop",
            "db",
            serde_json::json!({"replicas": 1}),
        )
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "kind");
        for a in UNSUPPORTED_ACTIONS {
            assert_eq!(
                spec(a, "Pod", "x", "y", serde_json::json!({}))
                    .validate()
                    .unwrap_err()
                    .field,
                "action"
            );
        }
        assert_eq!(
            spec("reboot", "", "", "", serde_json::json!({}))
                .validate()
                .unwrap_err()
                .field,
            "action"
        );
        spec("cordon", "", "", "node-1", serde_json::json!({}))
            .validate()
            .unwrap();
        spec("delete", "Node", "", "node-1", serde_json::json!({}))
            .validate()
            .unwrap();
        assert_eq!(
            spec("delete", "Pod", "", "p", serde_json::json!({}))
                .validate()
                .unwrap_err()
                .field,
            "namespace"
        );
        // Cluster-scoped in Kubernetes, so no namespace; the validator used to demand one
        // for PriorityClass, which the rule evaluator already knew to be cluster-scoped.
        for kind in [
            "PriorityClass",
            "priorityclass",
            "ClusterRole",
            "persistentvolume",
        ] {
            spec("delete", kind, "", "x", serde_json::json!({}))
                .validate()
                .unwrap();
        }
        assert_eq!(
            spec("delete", "Role", "", "x", serde_json::json!({}))
                .validate()
                .unwrap_err()
                .field,
            "namespace"
        );
        assert_eq!(
            spec(
                "update_image",
                "",
                "a",
                "b",
                serde_json::json!({"image": ""})
            )
            .validate()
            .unwrap_err()
            .field,
            "params.image"
        );
        assert_eq!(
            spec(
                "get_logs",
                "",
                "a",
                "b",
                serde_json::json!({"tailLines": 5000})
            )
            .validate()
            .unwrap_err()
            .field,
            "params.tailLines"
        );
        assert_eq!(
            spec(
                "dynamic",
                "",
                "",
                "",
                serde_json::json!({"command": "apply"})
            )
            .validate()
            .unwrap_err()
            .field,
            "params.command"
        );
    }

    #[test]
    fn topics_are_checked() {
        assert!(valid_topic("ops") && valid_topic("ai"));
        assert!(!valid_topic("") && !valid_topic("a b") && !valid_topic(&"x".repeat(65)));
    }
}
