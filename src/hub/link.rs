//! The Redis side of the hub: one publisher task (relays leave in the order they were
//! made), one subscriber task (relays arrive in the order Redis took them), blob keys for
//! bodies, and the link's health.
//!
//! Redis keys and channels, all under `MASTER_REDIS_PREFIX` (`P`):
//! - `P:relay`: the channel every replica publishes to and subscribes to;
//! - `P:snap:{cluster}`, `P:slo:{cluster}`: the latest relayed body of each kind (a flag
//!   byte, the receive time, the bytes as the agent sent them), kept 10 minutes.
//!
//! Both tasks survive Redis going away: the publisher drops what it cannot send (counted;
//! PostgreSQL holds everything that was acknowledged), the subscriber reconnects every
//! half second and, once back, asks the replica to resynchronise what it may have missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{Blob, BlobKind, Envelope, Relay};

/// How long a relayed body stays in Redis (a replica that was away for longer waits for
/// the next push).
const BLOB_TTL_MS: u64 = 10 * 60 * 1000;
/// Relays waiting for the publisher; beyond this they are dropped (Redis is down).
const QUEUE: usize = 10_000;
/// Bodies waiting for the publisher, in bytes; beyond this new ones are dropped.
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// A sign of life is relayed at most this often per cluster.
const TOUCH_EVERY: Duration = Duration::from_secs(1);
/// Pause between reconnection attempts of the subscriber.
const RECONNECT: Duration = Duration::from_millis(500);
/// Connection and response timeouts towards Redis.
const TIMEOUT: Duration = Duration::from_secs(2);

enum Out {
    Relay(Relay),
    Blob(BlobKind, String, Blob),
}

/// Counters of the link, for `/metrics`.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Relays published.
    pub sent: AtomicU64,
    /// Relays received from other replicas.
    pub received: AtomicU64,
    /// Relays that could not be published (Redis unreachable) or were dropped.
    pub failed: AtomicU64,
}

/// The link to Redis. See the module docs.
pub struct Link {
    client: redis::Client,
    prefix: String,
    replica: String,
    out: mpsc::Sender<Out>,
    out_rx: Mutex<Option<mpsc::Receiver<Out>>>,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    sub_trouble: Mutex<Option<String>>,
    pub_trouble: Mutex<Option<String>>,
    touches: Mutex<HashMap<String, Instant>>,
    /// Set while the subscription is down (the cluster actors read it).
    relay_down: Arc<AtomicBool>,
    /// Bytes of bodies waiting for the publisher.
    queued_bytes: Arc<AtomicUsize>,
    /// Counters.
    pub stats: LinkStats,
}

/// What the subscriber does with what arrives.
pub trait Receiver: Send + Sync + 'static {
    /// One relay from another replica, in arrival order. Must not block: spawn slow work.
    fn receive(&self, relay: Relay);
    /// The subscription is (re)established: catch up on what may have been missed.
    fn resync(&self);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    /// A link to `addr` (a `redis://` URL; its path selects the database). Nothing
    /// connects before [`Link::start`].
    pub fn new(addr: &str, prefix: &str, replica: &str) -> anyhow::Result<Arc<Link>> {
        let client = redis::Client::open(addr)
            .map_err(|e| anyhow::anyhow!("MASTER_REDIS_ADDR is not a valid Redis URL: {e}"))?;
        let (out, rx) = mpsc::channel(QUEUE);
        Ok(Arc::new(Link {
            client,
            prefix: prefix.to_owned(),
            replica: replica.to_owned(),
            out,
            out_rx: Mutex::new(Some(rx)),
            conn: tokio::sync::Mutex::new(None),
            sub_trouble: Mutex::new(Some("not connected to Redis yet".to_owned())),
            pub_trouble: Mutex::new(None),
            touches: Mutex::new(HashMap::new()),
            relay_down: Arc::new(AtomicBool::new(true)),
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            stats: LinkStats::default(),
        }))
    }

    /// This replica's name on the link.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    fn channel(&self) -> String {
        format!("{}:relay", self.prefix)
    }

    fn blob_key(&self, kind: BlobKind, cluster: &str) -> String {
        format!("{}:{}:{cluster}", self.prefix, kind.key_part())
    }

    /// Why the link is degraded, if it is.
    pub fn trouble(&self) -> Option<String> {
        lock(&self.sub_trouble)
            .clone()
            .or_else(|| lock(&self.pub_trouble).clone())
    }

    /// True while the subscription is up.
    pub fn subscribed(&self) -> bool {
        lock(&self.sub_trouble).is_none()
    }

    /// The flag set while the subscription is down.
    pub fn relay_down_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.relay_down)
    }

    fn set_sub_trouble(&self, why: Option<String>) -> bool {
        self.relay_down.store(why.is_some(), Ordering::Relaxed);
        let mut t = lock(&self.sub_trouble);
        let changed = *t != why;
        *t = why;
        changed
    }

    /// Starts the publisher and the subscriber (inside the actix System).
    pub fn start(self: &Arc<Self>, receiver: Arc<dyn Receiver>) {
        if let Some(rx) = lock(&self.out_rx).take() {
            let me = Arc::clone(self);
            actix_web::rt::spawn(async move { me.publisher(rx).await });
        }
        let me = Arc::clone(self);
        actix_web::rt::spawn(async move { me.subscriber(receiver).await });
    }

    pub(super) fn publish(&self, relay: Relay) {
        self.enqueue(Out::Relay(relay));
    }

    pub(super) fn publish_blob(&self, kind: BlobKind, cluster: &str, blob: Blob) {
        // While Redis is slow or away, bodies would pile up: past the bound they are
        // dropped (the next push of the cluster carries the same state).
        let size = blob.body.len();
        if self.queued_bytes.load(Ordering::Relaxed) + size > MAX_QUEUED_BYTES {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        self.enqueue(Out::Blob(kind, cluster.to_owned(), blob));
    }

    /// Relays a sign of life of `cluster`, at most once a second.
    pub fn touch(&self, cluster: &str) {
        let now = Instant::now();
        {
            let mut t = lock(&self.touches);
            if t.get(cluster)
                .is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY)
            {
                return;
            }
            if t.len() > 100_000 {
                t.retain(|_, at| now.duration_since(*at) < TOUCH_EVERY);
            }
            t.insert(cluster.to_owned(), now);
        }
        self.publish(Relay::Touch {
            c: cluster.to_owned(),
        });
    }

    fn enqueue(&self, out: Out) {
        if let Err(e) = self.out.try_send(out) {
            if let Out::Blob(_, _, b) = e.into_inner() {
                self.queued_bytes.fetch_sub(b.body.len(), Ordering::Relaxed);
            }
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The command connection, created on first use and after a failed creation.
    async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(500);
        let c = self.client.get_connection_manager_with_config(cfg).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn send(&self, out: Out) -> redis::RedisResult<()> {
        let mut c = self.conn().await?;
        let channel = self.channel();
        let (relay, blob) = match out {
            Out::Relay(r) => (r, None),
            Out::Blob(kind, cluster, blob) => {
                let relay = match kind {
                    BlobKind::Snapshot => Relay::Snapshot { c: cluster.clone() },
                    BlobKind::Slo => Relay::Slo { c: cluster.clone() },
                };
                (relay, Some((self.blob_key(kind, &cluster), blob)))
            }
        };
        let env = Envelope {
            o: self.replica.clone(),
            relay,
        };
        let payload = serde_json::to_vec(&env).map_err(|e| {
            redis::RedisError::from((redis::ErrorKind::TypeError, "encode", e.to_string()))
        })?;
        let mut pipe = redis::pipe();
        if let Some((key, blob)) = blob {
            pipe.cmd("SET")
                .arg(key)
                .arg(encode_blob(&blob))
                .arg("PX")
                .arg(BLOB_TTL_MS)
                .ignore();
        }
        pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
        pipe.query_async::<()>(&mut c).await
    }

    async fn publisher(self: Arc<Self>, mut rx: mpsc::Receiver<Out>) {
        while let Some(out) = rx.recv().await {
            let size = match &out {
                Out::Blob(_, _, b) => b.body.len(),
                Out::Relay(_) => 0,
            };
            let sent = self.send(out).await;
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            match sent {
                Ok(()) => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    if lock(&self.pub_trouble).take().is_some() {
                        info!("Redis publishing works again");
                    }
                }
                Err(e) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    let mut t = lock(&self.pub_trouble);
                    if t.is_none() {
                        warn!(error = %e, "cannot publish to Redis; relays are dropped until it is back");
                    }
                    *t = Some(format!("cannot publish to Redis: {e}"));
                }
            }
        }
    }

    async fn subscriber(self: Arc<Self>, receiver: Arc<dyn Receiver>) {
        loop {
            match self.subscribe_once(&receiver).await {
                Ok(()) => {
                    let why = "the Redis subscription ended".to_owned();
                    warn!("{why}; reconnecting");
                    self.set_sub_trouble(Some(why));
                }
                Err(e) => {
                    if self.set_sub_trouble(Some(format!("cannot subscribe to Redis: {e}"))) {
                        warn!(error = %e, "cannot subscribe to Redis; retrying");
                    }
                }
            }
            tokio::time::sleep(RECONNECT).await;
        }
    }

    async fn subscribe_once(&self, receiver: &Arc<dyn Receiver>) -> anyhow::Result<()> {
        let mut pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| anyhow::anyhow!("connection timed out"))??;
        tokio::time::timeout(TIMEOUT, pubsub.subscribe(self.channel()))
            .await
            .map_err(|_| anyhow::anyhow!("SUBSCRIBE timed out"))??;
        let mut stream = pubsub.into_on_message();
        if self.set_sub_trouble(None) {
            info!(replica = %self.replica, "subscribed to the Redis relay channel");
        }
        receiver.resync();
        while let Some(msg) = stream.next().await {
            let env: Envelope = match serde_json::from_slice(msg.get_payload_bytes()) {
                Ok(e) => e,
                Err(e) => {
                    warn!(error = %e, "unreadable relay ignored");
                    continue;
                }
            };
            if env.o == self.replica {
                continue;
            }
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            receiver.receive(env.relay);
        }
        Ok(())
    }

    /// The latest relayed body of `kind` for `cluster`.
    pub async fn fetch_blob(&self, kind: BlobKind, cluster: &str) -> anyhow::Result<Option<Blob>> {
        let mut c = self.conn().await?;
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.blob_key(kind, cluster))
            .query_async(&mut c)
            .await?;
        Ok(raw.and_then(decode_blob))
    }
}

/// Counts a failure and locks the key at the `max`-th failure within the window (counted
/// from the first failure); failures while locked are not counted.
const LOCKOUT_FAILED: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return 1
end
return 0
";

impl Link {
    fn lockout_keys(&self, key: &str) -> (String, String) {
        (
            format!("{}:login:fail:{key}", self.prefix),
            format!("{}:login:lock:{key}", self.prefix),
        )
    }
}

/// Millisecond arguments for Redis, at least 1.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The login lockout in Redis, shared by every replica.
pub struct SharedLogin(pub Arc<Link>);

impl crate::ratelimit::SharedLockout for SharedLogin {
    fn locked(
        &self,
        key: String,
    ) -> futures_util::future::BoxFuture<'static, Result<Option<Duration>, String>> {
        let link = Arc::clone(&self.0);
        Box::pin(async move {
            let (_, lock) = link.lockout_keys(&key);
            let mut c = link.conn().await.map_err(|e| e.to_string())?;
            let left: i64 =
                tokio::time::timeout(TIMEOUT, redis::cmd("PTTL").arg(lock).query_async(&mut c))
                    .await
                    .map_err(|_| "Redis timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
            Ok((left > 0).then(|| Duration::from_millis(left.unsigned_abs())))
        })
    }

    fn failed(
        &self,
        key: String,
        policy: crate::ratelimit::LockoutPolicy,
    ) -> futures_util::future::BoxFuture<'static, Result<bool, String>> {
        let link = Arc::clone(&self.0);
        Box::pin(async move {
            let (fail, lock) = link.lockout_keys(&key);
            let mut c = link.conn().await.map_err(|e| e.to_string())?;
            let locked: i64 = tokio::time::timeout(
                TIMEOUT,
                redis::cmd("EVAL")
                    .arg(LOCKOUT_FAILED)
                    .arg(2)
                    .arg(fail)
                    .arg(lock)
                    .arg(ms(policy.window))
                    .arg(policy.max_failures.max(1))
                    .arg(ms(policy.lock_for))
                    .query_async(&mut c),
            )
            .await
            .map_err(|_| "Redis timed out".to_owned())?
            .map_err(|e| e.to_string())?;
            Ok(locked == 1)
        })
    }

    fn succeeded(
        &self,
        key: String,
    ) -> futures_util::future::BoxFuture<'static, Result<(), String>> {
        let link = Arc::clone(&self.0);
        Box::pin(async move {
            let (fail, lock) = link.lockout_keys(&key);
            let mut c = link.conn().await.map_err(|e| e.to_string())?;
            tokio::time::timeout(
                TIMEOUT,
                redis::cmd("DEL")
                    .arg(fail)
                    .arg(lock)
                    .query_async::<()>(&mut c),
            )
            .await
            .map_err(|_| "Redis timed out".to_owned())?
            .map_err(|e| e.to_string())
        })
    }
}

fn encode_blob(blob: &Blob) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + blob.body.len());
    v.push(u8::from(blob.gzip));
    v.extend_from_slice(&blob.received_at.timestamp_millis().to_be_bytes());
    v.extend_from_slice(&blob.body);
    v
}

fn decode_blob(raw: Vec<u8>) -> Option<Blob> {
    let flag = *raw.first()?;
    let ms = i64::from_be_bytes(raw.get(1..9)?.try_into().ok()?);
    let received_at: DateTime<Utc> = DateTime::from_timestamp_millis(ms)?;
    let body = Bytes::from(raw).slice(9..);
    Some(Blob {
        gzip: flag == 1,
        received_at,
        body,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_blob_round_trips_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let blob = Blob {
            gzip: true,
            received_at: at,
            body: Bytes::from_static(b"\x1f\x8b body"),
        };
        let back = decode_blob(encode_blob(&blob)).unwrap();
        assert!(back.gzip);
        assert_eq!(back.received_at, at);
        assert_eq!(&back.body[..], b"\x1f\x8b body");
        assert!(decode_blob(vec![1, 2, 3]).is_none());
        assert!(decode_blob(Vec::new()).is_none());
    }
}
