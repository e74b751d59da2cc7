//! Command protocol types (reference §1.6, §1.7, §2.10).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::serde_util::{is_zero_i64, null_default};
use super::{GoTime, Text};

/// A command for an agent (`model_v2.Command`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Command {
    /// Command ID (UUID v4).
    pub id: Text,
    /// Target cluster.
    pub cluster_id: Text,
    /// Action (see reference §1.9).
    pub action: Text,
    /// Target kind.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub kind: Text,
    /// Target namespace.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub namespace: Text,
    /// Target name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub name: Text,
    /// Action-specific parameters.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "serde_json::Map::is_empty"
    )]
    pub params: CommandParams,
    /// `web` or `ai`.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub source: Text,
    /// Creator (never filled in v2.1).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub created_by: Text,
    /// Creation time.
    pub created_at: GoTime,
}

/// Response of GET /agent/commands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandResponse {
    /// A command is included.
    pub has_command: bool,
    /// The command, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
}

/// Body of POST /agent/result (agent `model.Result`); `cluster_id`, `exec_time_ms` and other extra keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandResultBody {
    /// Command ID.
    pub command_id: Text,
    /// Execution succeeded.
    pub success: bool,
    /// Output (e.g. log text).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub output: Text,
    /// Error message.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub error: Text,
    /// Execution time (zero when missing).
    pub executed_at: GoTime,
}

/// Stored command result (master `model.CommandResult`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandResult {
    /// Command ID.
    pub command_id: Text,
    /// Execution succeeded.
    pub success: bool,
    /// Output.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub output: Text,
    /// Error message.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub error: Text,
    /// Execution time as a Go duration (nanoseconds; always 0 in v2.1).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub exec_time: i64,
}

/// Status of a command in the bus (master `model.CommandStatus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandStatus {
    /// Command ID.
    pub command_id: Text,
    /// pending, running, success, failed or timeout.
    pub status: Text,
    /// Result, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CommandResult>,
    /// Creation time.
    pub created_at: GoTime,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<GoTime>,
    /// Finish time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<GoTime>,
}

/// Action-specific parameters of a [`Command`] (a JSON object).
pub type CommandParams = serde_json::Map<String, serde_json::Value>;

impl CommandResponse {
    /// The timeout answer `{"has_command": false}`.
    pub fn none() -> CommandResponse {
        CommandResponse::default()
    }

    /// An answer carrying one command.
    pub fn with_command(command: Command) -> CommandResponse {
        CommandResponse {
            has_command: true,
            command: Some(command),
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
            &Command::default(),
            &["action", "cluster_id", "created_at", "id"],
        );
        assert_keys(&CommandResponse::default(), &["has_command"]);
        assert_keys(
            &CommandResultBody::default(),
            &["command_id", "executed_at", "success"],
        );
        assert_keys(&CommandResult::default(), &["command_id", "success"]);
        assert_keys(
            &CommandStatus::default(),
            &["command_id", "created_at", "status"],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<Command>(r#"{"params":null,"created_at":null}"#);
        assert_default::<CommandResponse>(r#"{"command":null}"#);
        assert_default::<CommandResultBody>(r#"{"executed_at":null}"#);
        assert_default::<CommandResult>(r#"{}"#);
        assert_default::<CommandStatus>(
            r#"{"result":null,"created_at":null,"started_at":null,"finished_at":null}"#,
        );
    }

    #[test]
    fn empty_response() {
        assert_eq!(
            serde_json::to_string(&CommandResponse::none()).unwrap(),
            r#"{"has_command":false}"#
        );
        let r = CommandResponse::with_command(Command::default());
        assert!(r.has_command && r.command.is_some());
    }
}
