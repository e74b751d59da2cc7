//! Ownership and leadership for replicas: one pass every `MASTER_LEASE_TTL / 5`.
//!
//! Each pass, on this replica's PostgreSQL lock session ([`crate::db::locks`]):
//! 1. counts the live replicas (the sessions of this installation);
//! 2. releases clusters that were forgotten, and clusters above this replica's fair share
//!    (`ceil(clusters / replicas)`: a replica that joins gets its share from the others);
//! 3. takes free clusters while under its share, in random order;
//! 4. takes the leadership if it is free.
//!
//! Each change is applied to [`Roles`] and to the cluster's actor ([`SetRole`]). A lost
//! session loses everything at once (the server released the locks with it): every cluster
//! becomes a follower here until a new session takes its share again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use tokio::sync::watch;
use tracing::{info, warn};

use atlhyper_actors::cluster::ClusterActor;
use atlhyper_actors::messages::SetRole;
use atlhyper_actors::registry::{ListClusters, Registry};

use super::Roles;
use crate::db::locks::{key, LockSession};
use crate::db::DbError;

/// The shortest time a pass may take before it counts as hung.
const PASS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the loop needs.
pub struct LeaseConfig {
    /// The PostgreSQL URL.
    pub dsn: String,
    /// `MASTER_REDIS_PREFIX`: the lock keys' and the session name's namespace.
    pub prefix: String,
    /// `MASTER_LEASE_TTL`.
    pub ttl: Duration,
}

#[derive(Default)]
struct Held {
    clusters: HashMap<Arc<str>, i64>,
    leader: bool,
}

struct Pass {
    acquired: Vec<Arc<str>>,
    released: Vec<Arc<str>>,
    leader: bool,
    peers: i64,
}

/// The name every replica of an installation gives its lock session.
pub fn session_name(prefix: &str) -> String {
    let mut name = format!("atlhyper-replica/{prefix}");
    name.truncate(63);
    name
}

/// Runs the loop until `shutdown`; dropping the session at the end frees every lock at
/// once, so that the other replicas take over at their next pass.
pub fn start(
    cfg: LeaseConfig,
    roles: Arc<Roles>,
    registry: Addr<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = (cfg.ttl / 5).max(Duration::from_millis(100));
    let leader_key = key(&cfg.prefix, "\u{0}leader");
    let app = session_name(&cfg.prefix);
    let keepalive = cfg.ttl.as_secs().max(2);
    actix_web::rt::spawn(async move {
        let mut session: Option<LockSession> = None;
        let mut held = Held::default();
        let mut addrs: HashMap<Arc<str>, Addr<ClusterActor>> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let clusters = match registry.send(ListClusters).await {
                Ok(list) => list,
                Err(_) => break,
            };
            addrs = clusters
                .into_iter()
                .map(|h| (Arc::<str>::from(h.info.cluster_id.as_str()), h.addr))
                .collect();
            let ids: Vec<Arc<str>> = addrs.keys().cloned().collect();
            let (dsn, prefix, app2) = (cfg.dsn.clone(), cfg.prefix.clone(), app.clone());
            let owned = held.clusters.clone();
            let was_leader = held.leader;
            let s = session.take();
            let blocking = tokio::task::spawn_blocking(move || {
                pass(
                    s, &dsn, &app2, keepalive, &prefix, leader_key, &owned, was_leader, &ids,
                )
            });
            // A pass that hangs (the database gone without a word) or fails must not leave
            // this replica acting as owner: everything is given up, as on a lost session
            // (a stuck session's locks die with it on the server).
            let joined = match tokio::time::timeout(cfg.ttl.max(PASS_TIMEOUT), blocking).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => (
                    None,
                    Err(DbError::Pool(format!("ownership pass failed: {e}"))),
                ),
                Err(_) => (
                    None,
                    Err(DbError::Pool("ownership pass timed out".to_owned())),
                ),
            };
            match joined {
                (s, Ok(p)) => {
                    session = s;
                    for id in &p.released {
                        held.clusters.remove(id);
                        set_role(&roles, &addrs, id, false);
                    }
                    for id in &p.acquired {
                        held.clusters.insert(Arc::clone(id), key(&cfg.prefix, id));
                        set_role(&roles, &addrs, id, true);
                    }
                    if !p.acquired.is_empty() || !p.released.is_empty() {
                        info!(
                            acquired = p.acquired.len(),
                            released = p.released.len(),
                            owned = held.clusters.len(),
                            replicas = p.peers,
                            "cluster ownership changed"
                        );
                    }
                    if p.leader != held.leader {
                        info!(leader = p.leader, "leadership changed");
                    }
                    held.leader = p.leader;
                    roles.set_leader(p.leader);
                    // Re-told every pass: an actor restarted, or forgotten and made again,
                    // must know it owns its cluster.
                    for id in held.clusters.keys() {
                        if let Some(a) = addrs.get(id) {
                            a.do_send(SetRole { owner: true });
                        }
                    }
                }
                (_, Err(e)) => {
                    if !held.clusters.is_empty() || held.leader {
                        warn!(error = %e, owned = held.clusters.len(), "lock session lost: every cluster and the leadership are given up");
                    }
                    session = None;
                    for (id, _) in std::mem::take(&mut held.clusters) {
                        set_role(&roles, &addrs, &id, false);
                    }
                    held.leader = false;
                    roles.set_leader(false);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Shutdown: hand everything over now.
        for (id, _) in std::mem::take(&mut held.clusters) {
            set_role(&roles, &addrs, &id, false);
        }
        roles.set_leader(false);
        drop(session);
        info!("ownership released");
    });
}

fn set_role(
    roles: &Roles,
    addrs: &HashMap<Arc<str>, Addr<ClusterActor>>,
    id: &Arc<str>,
    owner: bool,
) {
    roles.set_owned(id, owner);
    if let Some(a) = addrs.get(id) {
        a.do_send(SetRole { owner });
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one blocking pass over plain inputs"
)]
fn pass(
    session: Option<LockSession>,
    dsn: &str,
    app: &str,
    keepalive: u64,
    prefix: &str,
    leader_key: i64,
    owned: &HashMap<Arc<str>, i64>,
    was_leader: bool,
    ids: &[Arc<str>],
) -> (Option<LockSession>, Result<Pass, crate::db::DbError>) {
    let mut s = match session {
        Some(s) => s,
        None => match LockSession::connect(dsn, app, keepalive) {
            Ok(s) => s,
            Err(e) => return (None, Err(e)),
        },
    };
    let r = pass_on(&mut s, prefix, leader_key, owned, was_leader, ids);
    match r {
        Ok(p) => (Some(s), Ok(p)),
        // A failed query may mean a dead session: start a new one next time (the server
        // ends the old one, and its locks, when it notices).
        Err(e) => (None, Err(e)),
    }
}

fn pass_on(
    s: &mut LockSession,
    prefix: &str,
    leader_key: i64,
    owned: &HashMap<Arc<str>, i64>,
    was_leader: bool,
    ids: &[Arc<str>],
) -> Result<Pass, crate::db::DbError> {
    let peers = s.peers()?;
    let mut p = Pass {
        acquired: Vec::new(),
        released: Vec::new(),
        leader: was_leader,
        peers,
    };
    let known: std::collections::HashSet<&str> = ids.iter().map(|i| &**i).collect();
    let mut count = owned.len();
    for (id, k) in owned {
        if !known.contains(&**id) {
            s.unlock(*k)?;
            p.released.push(Arc::clone(id));
            count -= 1;
        }
    }
    let share = ids
        .len()
        .div_ceil(usize::try_from(peers).unwrap_or(1).max(1));
    if count > share {
        let mut mine: Vec<&Arc<str>> = owned.keys().filter(|id| known.contains(&***id)).collect();
        mine.sort();
        for id in mine.into_iter().take(count - share) {
            s.unlock(owned[id])?;
            p.released.push(Arc::clone(id));
            count -= 1;
        }
    }
    let mut free: Vec<&Arc<str>> = ids.iter().filter(|id| !owned.contains_key(*id)).collect();
    shuffle(&mut free);
    for id in free {
        if count >= share {
            break;
        }
        if s.try_lock(key(prefix, id))? {
            p.acquired.push(Arc::clone(id));
            count += 1;
        }
    }
    if !was_leader {
        p.leader = s.try_lock(leader_key)?;
    }
    Ok(p)
}

/// Fisher–Yates with OS randomness: replicas starting together spread over the clusters.
fn shuffle<T>(v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let mut b = [0u8; 8];
        let r = getrandom::fill(&mut b).map_or(i as u64, |()| u64::from_le_bytes(b));
        let j = usize::try_from(r % (i as u64 + 1)).unwrap_or(0);
        v.swap(i, j);
    }
}
