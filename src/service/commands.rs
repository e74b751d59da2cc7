//! Commands: what a command row holds when an operator creates one, and the cancel rule.
//!
//! A command is committed before it is queued: `create` returns only after the row is
//! durable, then hands it to the cluster's actor, so an acknowledged command survives a
//! crash and is re-queued at startup.

use actix::Addr;
use chrono::Utc;

use atlhyper_actors::cluster::ClusterActor;
use atlhyper_actors::command::{valid_topic, CommandSpec, CommandState, DEFAULT_TOPIC};
use atlhyper_actors::messages::{
    CancelCommand, CancelOutcome, EnqueueCommand, QueuedCommand, WaitCommand,
};

use crate::db::commands::{CommandRow, NewCommand};
use crate::db::store::wire_command;
use crate::db::{to_db, Db, DbError};

/// What an operator asks for (already parsed from JSON).
#[derive(Debug, Clone)]
pub struct CommandRequest {
    /// The target cluster.
    pub cluster_id: String,
    /// The action (`restart`, `scale`, …).
    pub action: String,
    /// The target's kind.
    pub kind: String,
    /// The target's namespace.
    pub namespace: String,
    /// The target's name.
    pub name: String,
    /// Action parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The long-poll topic (`ops` when empty).
    pub topic: Option<String>,
}

/// Who creates it.
#[derive(Debug, Clone)]
pub struct Creator {
    /// User id.
    pub user_id: i32,
    /// User name (kept on the row: the user may be deleted later).
    pub username: String,
}

/// Why a command service call refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The spec does not validate; `field` names the offending one.
    #[error("{message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The topic is not a valid name.
    #[error("invalid topic: 1-64 characters of letters, digits, '_', '-' or '.'")]
    BadTopic,
    /// No such command.
    #[error("command {0:?} is unknown")]
    NotFound(String),
    /// Only a pending command can be cancelled; this one is in the given state.
    #[error("only a pending command can be cancelled; this one is {0}")]
    NotPending(String),
    /// The cluster's actor did not answer.
    #[error("cluster actor: {0}")]
    Actor(#[from] actix::MailboxError),
    /// The actor could not store the change.
    #[error("cluster actor: {0}")]
    Store(String),
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Validates `req`, commits the command as `pending` and queues it on `cluster`.
pub async fn create(
    db: &Db,
    cluster: &Addr<ClusterActor>,
    req: CommandRequest,
    by: Creator,
) -> Result<CommandRow, CommandError> {
    let mut spec = CommandSpec {
        action: req.action,
        kind: req.kind,
        namespace: req.namespace,
        name: req.name,
        params: req.params,
    };
    spec.validate().map_err(|e| CommandError::Invalid {
        message: e.to_string(),
        field: e.field,
    })?;
    let topic = req
        .topic
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
    if !valid_topic(&topic) {
        return Err(CommandError::BadTopic);
    }
    let created_at = Utc::now();
    // Commands an AI assistant proposes travel on their own topic and say so.
    let source = if topic == "ai" { "ai" } else { "web" };
    let row = db
        .commands()
        .create(NewCommand {
            command_id: uuid::Uuid::new_v4().to_string(),
            cluster_id: req.cluster_id,
            topic: topic.clone(),
            source: source.into(),
            user_id: Some(by.user_id),
            created_by: Some(by.username),
            action: spec.action,
            target_kind: spec.kind,
            target_namespace: spec.namespace,
            target_name: spec.name,
            params: serde_json::Value::Object(spec.params).to_string(),
            status: CommandState::Pending.as_str().into(),
            created_at: to_db(created_at),
        })
        .await?;
    tracing::info!(cluster_id = %row.cluster_id, command_id = %row.command_id, action = %row.action, "command created");
    cluster
        .send(EnqueueCommand {
            queued: QueuedCommand {
                command: wire_command(&row),
                topic,
                created_at,
            },
            mirrored: false,
        })
        .await?;
    Ok(row)
}

/// Waits up to `wait` (or until `stop` resolves) for the command to reach a final state,
/// and returns it as it is then (still pending or running when the wait ran out).
pub async fn wait_final(
    db: &Db,
    cluster: &Addr<ClusterActor>,
    command_id: &str,
    wait: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<CommandRow, CommandError> {
    let row = get(db, command_id).await?;
    if wait.is_zero() || row.state()?.is_final() {
        return Ok(row);
    }
    let woken = cluster
        .send(WaitCommand {
            command_id: command_id.to_owned(),
        })
        .await?;
    // Re-read after registering: the command may have finished in between.
    let row = get(db, command_id).await?;
    if row.state()?.is_final() {
        return Ok(row);
    }
    tokio::select! {
        _ = tokio::time::timeout(wait, woken) => {}
        () = stop => {}
    }
    get(db, command_id).await
}

/// Where a command stood when [`run`] stopped waiting.
#[derive(Debug)]
pub enum Ran {
    /// It reached a final state (success, failed, timeout or cancelled).
    Final(CommandRow),
    /// No agent picked it up in time: it was withdrawn (cancelled) rather than left to run
    /// after its caller gave up.
    NotPickedUp(CommandRow),
    /// An agent is running it but has not answered yet.
    StillRunning(CommandRow),
}

/// Creates a command for a caller that needs its answer (logs, a ConfigMap's data, an
/// assistant's tool), waits up to `wait` for it, and withdraws it when no agent picked it
/// up by then.
pub async fn run(
    db: &Db,
    cluster: &Addr<ClusterActor>,
    req: CommandRequest,
    by: Creator,
    wait: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Ran, CommandError> {
    let row = create(db, cluster, req, by).await?;
    let row = wait_final(db, cluster, &row.command_id, wait, stop).await?;
    Ok(match row.state()? {
        CommandState::Pending => match cancel(db, cluster, &row).await {
            Ok(cancelled) => Ran::NotPickedUp(cancelled),
            // Picked up in between: it is running now.
            Err(CommandError::NotPending(_)) => {
                let now = get(db, &row.command_id).await?;
                if now.state()?.is_final() {
                    Ran::Final(now)
                } else {
                    Ran::StillRunning(now)
                }
            }
            Err(e) => return Err(e),
        },
        CommandState::Running => Ran::StillRunning(row),
        _ => Ran::Final(row),
    })
}

/// True when a command's output may hold Secret values: `get_secret` (decoded values), or
/// any action on a Secret (a `dynamic` get or describe returns the object with its data).
/// Such output is shown to operators and above only, and never to the AI assistant.
pub fn output_is_secret(row: &CommandRow) -> bool {
    let secret = |k: &str| {
        k.trim().eq_ignore_ascii_case("secret") || k.trim().eq_ignore_ascii_case("secrets")
    };
    row.action == "get_secret"
        || secret(&row.target_kind)
        || serde_json::from_str::<serde_json::Value>(&row.params)
            .ok()
            .and_then(|p| p.get("kind").and_then(|k| k.as_str()).map(secret))
            .unwrap_or(false)
}

/// One command.
pub async fn get(db: &Db, command_id: &str) -> Result<CommandRow, CommandError> {
    db.commands()
        .get(command_id)
        .await?
        .ok_or_else(|| CommandError::NotFound(command_id.to_owned()))
}

/// Cancels a pending command: through its cluster's actor (which drops it from the
/// queue and stores the change), or straight in the database when the actor does not
/// hold it (stored but never queued). Anything but `pending` is refused.
pub async fn cancel(
    db: &Db,
    cluster: &Addr<ClusterActor>,
    row: &CommandRow,
) -> Result<CommandRow, CommandError> {
    let id = row.command_id.as_str();
    if row.state()? != CommandState::Pending {
        return Err(CommandError::NotPending(row.status.clone()));
    }
    let outcome = cluster
        .send(CancelCommand {
            command_id: id.to_owned(),
        })
        .await?
        .map_err(|e| CommandError::Store(e.to_string()))?;
    let cancelled = match outcome {
        CancelOutcome::Cancelled => true,
        CancelOutcome::NotPending => false,
        CancelOutcome::NotHere => {
            db.commands()
                .transition(
                    id,
                    &[CommandState::Pending],
                    CommandState::Cancelled,
                    Utc::now(),
                )
                .await?
        }
    };
    let now = get(db, id).await?;
    if cancelled {
        Ok(now)
    } else {
        Err(CommandError::NotPending(now.status))
    }
}
