//! Clusters an admin manages: creation with its agent token (one transaction), token
//! rotation and revocation, and forgetting a cluster. The agent-token cache that the agent
//! port checks is updated after each stored change.

use actix::Addr;
use chrono::Utc;

use atlhyper_actors::messages::{ClusterStatusView, GetStatus};
use atlhyper_actors::registry::{
    ClusterInfo, ForgetCluster, ListClusters, Registry, UpsertCluster,
};

use crate::auth::{new_secret, secret_hash, AgentTokens};
use crate::db::clusters::ClusterRow;
use crate::db::{Db, DbError};

/// Prefix of agent tokens, so a leaked one is recognisable.
const AGENT_TOKEN_PREFIX: &str = "ata_";
/// Longest display name, environment and description.
const MAX_NAME: usize = 128;
const MAX_ENVIRONMENT: usize = 64;
const MAX_DESCRIPTION: usize = 1024;

/// A cluster an admin declares.
#[derive(Debug, Clone)]
pub struct NewCluster {
    /// The id agents will send (already validated as an id).
    pub cluster_id: String,
    /// Display name (the id when blank).
    pub name: String,
    /// Environment label.
    pub environment: String,
    /// Free text.
    pub description: String,
}

/// Why a cluster service call refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A field is too long.
    #[error("name (128), environment (64) or description (1024) too long")]
    TooLong,
    /// The id is taken.
    #[error("cluster {0:?} already exists; rotate its agent token instead")]
    Exists(String),
    /// No such cluster.
    #[error("cluster {0:?} is unknown")]
    NotFound(String),
    /// The cluster has no agent token to revoke.
    #[error("cluster {0:?} has no agent token")]
    NoToken(String),
    /// The random generator failed.
    #[error("random generator: {0}")]
    Random(String),
    /// The registry actor did not answer.
    #[error("registry: {0}")]
    Actor(#[from] actix::MailboxError),
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Every known cluster with its live status, as the registry lists them (the cluster
/// actors are asked side by side).
pub async fn live(
    registry: &Addr<Registry>,
) -> Result<Vec<(ClusterInfo, ClusterStatusView)>, actix::MailboxError> {
    let handles = registry.send(ListClusters).await?;
    let views =
        futures_util::future::join_all(handles.iter().map(|h| h.addr.send(GetStatus))).await;
    handles
        .into_iter()
        .zip(views)
        .map(|(h, v)| Ok((h.info, v?)))
        .collect()
}

fn new_agent_token() -> Result<(String, String), ClusterError> {
    let secret = new_secret(AGENT_TOKEN_PREFIX).map_err(|e| ClusterError::Random(e.to_string()))?;
    let hash = secret_hash(&secret);
    Ok((secret, hash))
}

/// Creates a cluster and its agent token in one transaction, tells the registry, and
/// returns the row with the token (shown once, never stored in clear).
pub async fn create(
    db: &Db,
    tokens: &AgentTokens,
    registry: &Addr<Registry>,
    new: NewCluster,
) -> Result<(ClusterRow, String), ClusterError> {
    let name = match new.name.trim() {
        "" => new.cluster_id.clone(),
        n => n.to_owned(),
    };
    if name.chars().count() > MAX_NAME
        || new.environment.chars().count() > MAX_ENVIRONMENT
        || new.description.chars().count() > MAX_DESCRIPTION
    {
        return Err(ClusterError::TooLong);
    }
    let (secret, hash) = new_agent_token()?;
    let row = db
        .clusters()
        .create_with_agent_token(
            &new.cluster_id,
            &name,
            &new.environment,
            &new.description,
            &hash,
            Utc::now(),
        )
        .await?
        .ok_or_else(|| ClusterError::Exists(new.cluster_id.clone()))?;
    tokens.set(&row.cluster_uid, hash);
    registry.send(UpsertCluster { info: row.info() }).await?;
    Ok((row, secret))
}

/// A new agent token for a known cluster; the old one stops working at once.
pub async fn rotate_agent_token(
    db: &Db,
    tokens: &AgentTokens,
    cluster_id: &str,
) -> Result<String, ClusterError> {
    let (secret, hash) = new_agent_token()?;
    if !db
        .clusters()
        .set_agent_token(cluster_id, &hash, Utc::now())
        .await?
    {
        return Err(ClusterError::NotFound(cluster_id.to_owned()));
    }
    tokens.set(cluster_id, hash);
    Ok(secret)
}

/// Revokes a cluster's agent token.
pub async fn revoke_agent_token(
    db: &Db,
    tokens: &AgentTokens,
    cluster_id: &str,
) -> Result<(), ClusterError> {
    let had = db.clusters().revoke_agent_token(cluster_id).await?;
    tokens.remove(cluster_id);
    if had {
        Ok(())
    } else {
        Err(ClusterError::NoToken(cluster_id.to_owned()))
    }
}

/// Forgets a cluster: its pending commands are cancelled and its row, token, events and
/// node metrics deleted (command history stays); its actor stops.
pub async fn delete(
    db: &Db,
    tokens: &AgentTokens,
    registry: &Addr<Registry>,
    cluster_id: &str,
) -> Result<(), ClusterError> {
    let existed = db.clusters().forget(cluster_id, Utc::now()).await?;
    tokens.remove(cluster_id);
    let known = registry
        .send(ForgetCluster {
            cluster_id: cluster_id.to_owned(),
        })
        .await?;
    if existed || known {
        Ok(())
    } else {
        Err(ClusterError::NotFound(cluster_id.to_owned()))
    }
}
