//! Rate limits and login lockout, in memory.
//!
//! - **API and agent limits**: one token bucket per API token and per cluster. A bucket
//!   holds up to `burst` requests and refills at `rate` per second; `rate = 0` switches
//!   the limit off. A refused request learns how long until the next one is allowed.
//! - **Login lockout**: failures are counted per (username, IP) pair in a sliding window;
//!   the [`LockoutPolicy::max_failures`]-th failure locks the pair for
//!   [`LockoutPolicy::lock_for`]. A successful login clears the pair.
//! - **Bounded memory**: keys that carry no information any more (a full bucket, a pair
//!   with no recent failure and no lock) are swept out every [`SWEEP_EVERY`]; above
//!   [`MAX_KEYS`] tracked keys, what may be forgotten is forgotten at once.
//!
//! State is per process and lost on restart, which only forgives: a restart unlocks
//! every pair and refills every bucket.
//!
//! Every check has an `_at(.., now)` twin taking the clock reading, so tests can drive
//! time without sleeping.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The sliding window in which failed logins are counted: long enough to catch a slow
/// guesser, short enough that a user's occasional typos do not add up (issue 3 §6).
pub const LOGIN_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long a (user, IP) pair stays locked: makes online guessing useless (6 tries an
/// hour) while a real user locked by mistake waits at most half an hour (issue 3 §6).
pub const LOGIN_LOCK: Duration = Duration::from_secs(30 * 60);
/// Failures within [`LOGIN_WINDOW`] that lock the pair: a user mistyping twice is never
/// locked, a guesser is after a handful of tries (issue 3 §6).
pub const LOGIN_MAX_FAILURES: u32 = 5;
/// How often idle keys are swept: often enough that memory follows the active keys,
/// rare enough that the sweep's full scan costs nothing.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Most keys one limiter tracks. Far above the real number of tokens, clusters or
/// (user, IP) pairs active at once; only a flood of made-up keys gets here.
pub const MAX_KEYS: usize = 100_000;
/// Longest username kept as a lockout key, so a flood of huge names cannot use memory.
const MAX_KEY_NAME: usize = 256;

/// Locks a mutex, recovering from poisoning: the maps hold plain counters that stay
/// consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seconds for a `Retry-After` header: `d` rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// The login lockout windows (see the constants for the defaults and why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// How long a locked pair stays locked.
    pub lock_for: Duration,
    /// Failures within `window` that lock the pair.
    pub max_failures: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            window: LOGIN_WINDOW,
            lock_for: LOGIN_LOCK,
            max_failures: LOGIN_MAX_FAILURES,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets<K> {
    map: HashMap<K, Bucket>,
    last_sweep: Option<Instant>,
}

/// The key of a client address for per-IP limits: IPv4 as is, IPv6 by its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// How long credentials that authenticated pass the unauthenticated limit unchecked.
pub const KNOWN_FOR: Duration = Duration::from_secs(5 * 60);

/// Most credentials remembered; past it, the memory starts again (a flood of valid
/// credentials is not a threat this guards against).
const MAX_KNOWN: usize = 10_000;

/// The SHA-256 of credentials that recently authenticated (any port). A request carrying
/// one passes the per-IP limit on unauthenticated traffic without taking from it, so a
/// user or agent behind the same address as a flooder keeps working, while a made-up
/// token is charged like no token at all, before any lookup.
#[derive(Default)]
pub struct KnownCredentials {
    map: Mutex<HashMap<[u8; 32], Instant>>,
}

impl KnownCredentials {
    /// The digest a credential is remembered by.
    pub fn digest(credential: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(credential.as_bytes()).into()
    }

    /// Whether `digest` authenticated within [`KNOWN_FOR`].
    pub fn contains(&self, digest: &[u8; 32]) -> bool {
        lock(&self.map)
            .get(digest)
            .is_some_and(|at| at.elapsed() < KNOWN_FOR)
    }

    /// Remembers that `digest` authenticated now.
    pub fn insert(&self, digest: [u8; 32]) {
        let mut m = lock(&self.map);
        if m.len() >= MAX_KNOWN && !m.contains_key(&digest) {
            m.retain(|_, at| at.elapsed() < KNOWN_FOR);
            if m.len() >= MAX_KNOWN {
                m.clear();
            }
        }
        m.insert(digest, Instant::now());
    }

    /// Forgets `digest` (it was refused).
    pub fn remove(&self, digest: &[u8; 32]) {
        lock(&self.map).remove(digest);
    }
}

/// Credentials the per-IP limit charged before they were checked: the place that accepts
/// them calls [`confirm_credentials`], which gives the token back and remembers them.
pub struct Unconfirmed {
    digest: [u8; 32],
    ip: IpAddr,
    limits: Limits,
}

impl Unconfirmed {
    /// Charged to `ip` for credentials with this digest.
    pub fn new(digest: [u8; 32], ip: IpAddr, limits: Limits) -> Self {
        Self { digest, ip, limits }
    }
}

/// The request's credentials were accepted (agent token, session or API key): what the
/// per-IP limit took for them is given back, and they pass it freely for a while. Called
/// as soon as authentication succeeds, so a long poll counts from its first moment.
pub fn confirm_credentials(req: &actix_web::HttpRequest) {
    use actix_web::HttpMessage;
    let Some(u) = req.extensions_mut().remove::<Unconfirmed>() else {
        return;
    };
    u.limits.refund_unauthenticated(u.ip);
    u.limits.known.insert(u.digest);
}

/// A token bucket per key.
pub struct RateLimiter<K> {
    /// Requests per second; 0 = unlimited.
    rate: f64,
    /// Bucket size.
    burst: f64,
    state: Mutex<Buckets<K>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` requests per second with bursts of `burst` (at least 1); `rate = 0` allows
    /// everything.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            state: Mutex::new(Buckets {
                map: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// True when this limiter allows everything.
    pub fn is_off(&self) -> bool {
        self.rate <= 0.0
    }

    /// Takes one request from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// [`RateLimiter::check`] at the clock reading `now`.
    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.is_off() {
            return Ok(());
        }
        let mut st = lock(&self.state);
        self.maybe_sweep(&mut *st, now);
        let burst = self.burst;
        let b = st.map.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = self.refilled(b, now);
        b.at = now.max(b.at);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }

    /// Gives back one request taken from `key`'s bucket (never above the burst).
    pub fn refund(&self, key: &K) {
        if self.is_off() {
            return;
        }
        let mut st = lock(&self.state);
        if let Some(b) = st.map.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(self.burst);
        }
    }

    /// How many keys are tracked (tests, metrics).
    pub fn tracked(&self) -> usize {
        lock(&self.state).map.len()
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Drops full buckets: a missing bucket starts full, so they carry nothing.
    fn maybe_sweep(&self, st: &mut Buckets<K>, now: Instant) {
        let due = st
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
        if !due && st.map.len() < MAX_KEYS {
            return;
        }
        st.last_sweep = Some(now);
        let burst = self.burst;
        st.map.retain(|_, b| self.refilled(b, now) < burst);
        if st.map.len() >= MAX_KEYS {
            // Only a flood of distinct keys gets here; forgetting refills buckets, which
            // lets some requests through but never refuses a legitimate one.
            tracing::warn!(
                keys = st.map.len(),
                "rate limiter full: forgetting every bucket"
            );
            st.map.clear();
        }
    }
}

#[derive(Debug, Default)]
struct Pair {
    /// Failures within the window, oldest first (at most `max_failures`).
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

struct Pairs {
    map: HashMap<(String, String), Pair>,
    last_sweep: Option<Instant>,
}

/// Counts failed logins per (username, IP) and locks pairs that fail too often.
pub struct Lockout {
    policy: LockoutPolicy,
    state: Mutex<Pairs>,
}

impl Lockout {
    /// With the given windows.
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy: LockoutPolicy {
                max_failures: policy.max_failures.max(1),
                ..policy
            },
            state: Mutex::new(Pairs {
                map: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// The windows in force.
    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    fn key(username: &str, ip: &str) -> (String, String) {
        // Lower-cased: merging "Alice" and "alice" can only make the lockout stricter.
        let user: String = username.chars().take(MAX_KEY_NAME).collect();
        (user.to_lowercase(), ip.to_owned())
    }

    /// `Some(remaining)` while the pair is locked at `now`.
    pub fn locked_at(&self, username: &str, ip: &str, now: Instant) -> Option<Duration> {
        let st = lock(&self.state);
        st.map
            .get(&Self::key(username, ip))
            .and_then(|p| p.locked_until)
            .and_then(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Counts a failure at `now`; `true` when it locks the pair. Failures while the pair
    /// is locked are not counted (the login route refuses them before checking).
    pub fn failed_at(&self, username: &str, ip: &str, now: Instant) -> bool {
        let policy = self.policy;
        let mut st = lock(&self.state);
        sweep_pairs(&mut st, policy, now);
        let pair = st.map.entry(Self::key(username, ip)).or_default();
        if let Some(until) = pair.locked_until {
            if until > now {
                return false;
            }
            pair.locked_until = None;
        }
        while pair
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= policy.window)
        {
            pair.failures.pop_front();
        }
        pair.failures.push_back(now);
        if pair.failures.len() >= policy.max_failures as usize {
            pair.failures.clear();
            pair.locked_until = Some(now + policy.lock_for);
            true
        } else {
            false
        }
    }

    /// Forgets the pair's failures (and lock).
    pub fn succeeded(&self, username: &str, ip: &str) {
        lock(&self.state).map.remove(&Self::key(username, ip));
    }

    /// How many pairs are tracked (tests, metrics).
    pub fn tracked(&self) -> usize {
        lock(&self.state).map.len()
    }
}

/// Drops pairs with no lock in force and no failure inside the window.
fn sweep_pairs(st: &mut Pairs, policy: LockoutPolicy, now: Instant) {
    let due = st
        .last_sweep
        .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
    if !due && st.map.len() < MAX_KEYS {
        return;
    }
    st.last_sweep = Some(now);
    let live = |p: &Pair| {
        p.locked_until.is_some_and(|u| u > now)
            || p.failures
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < policy.window)
    };
    st.map.retain(|_, p| live(p));
    if st.map.len() >= MAX_KEYS {
        // A flood of distinct pairs: keep the locks, which matter, and forget the counts.
        st.map
            .retain(|_, p| p.locked_until.is_some_and(|u| u > now));
        tracing::warn!(
            locked = st.map.len(),
            "login lockout full: forgetting unlocked pairs"
        );
    }
}

/// A login lockout shared by several replicas (Redis; see `crate::hub::Link`). Keys are
/// `username:ip` with the username lower-cased; an `Err` makes the caller fall back to
/// this replica's own [`Lockout`].
pub trait SharedLockout: Send + Sync {
    /// `Some(remaining)` while the key is locked.
    fn locked(
        &self,
        key: String,
    ) -> futures_util::future::BoxFuture<'static, Result<Option<Duration>, String>>;
    /// Counts a failure; `true` when it locks the key.
    fn failed(
        &self,
        key: String,
        policy: LockoutPolicy,
    ) -> futures_util::future::BoxFuture<'static, Result<bool, String>>;
    /// Forgets the key's failures and lock.
    fn succeeded(
        &self,
        key: String,
    ) -> futures_util::future::BoxFuture<'static, Result<(), String>>;
}

/// The limiters. Cheap to clone.
#[derive(Clone)]
pub struct Limits {
    api: Arc<RateLimiter<i32>>,
    agent: Arc<RateLimiter<String>>,
    /// Unauthenticated requests per client IP (see `crate::http::middleware::guard_unauthenticated`).
    unauth: Arc<RateLimiter<IpAddr>>,
    /// Credentials that recently authenticated: let through the unauthenticated limit.
    known: Arc<KnownCredentials>,
    login: Arc<Lockout>,
    /// Replicas: the lockout every replica shares.
    shared: Option<Arc<dyn SharedLockout>>,
}

impl Default for Limits {
    /// No API or agent limit; the default login lockout.
    fn default() -> Self {
        Self::new(0, 1, 0, 1)
    }
}

impl Limits {
    /// `api_rate` requests per second per API token (bursts of `api_burst`) and
    /// `agent_rate` per cluster (bursts of `agent_burst`); a rate of 0 is unlimited. The
    /// login lockout uses the default windows.
    pub fn new(api_rate: u32, api_burst: u32, agent_rate: u32, agent_burst: u32) -> Self {
        Self {
            api: Arc::new(RateLimiter::new(api_rate, api_burst)),
            agent: Arc::new(RateLimiter::new(agent_rate, agent_burst)),
            unauth: Arc::new(RateLimiter::new(0, 1)),
            known: Arc::default(),
            login: Arc::new(Lockout::new(LockoutPolicy::default())),
            shared: None,
        }
    }

    /// The same limits with `rate` unauthenticated requests per second per client IP
    /// (bursts of `burst`); 0 is unlimited.
    pub fn with_unauthenticated(mut self, rate: u32, burst: u32) -> Self {
        self.unauth = Arc::new(RateLimiter::new(rate, burst));
        self
    }

    /// The same limits with the login lockout shared through `shared` (replicas).
    pub fn with_shared_lockout(mut self, shared: Arc<dyn SharedLockout>) -> Self {
        self.shared = Some(shared);
        self
    }

    fn shared_key(username: &str, ip: &str) -> String {
        let (user, ip) = Lockout::key(username, ip);
        format!("{user}:{ip}")
    }

    /// From `MASTER_API_RATE_*` and `MASTER_AGENT_RATE_*`.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        Self::new(
            s.api_rate_limit,
            s.api_rate_burst,
            s.agent_rate_limit,
            s.agent_rate_burst,
        )
        .with_unauthenticated(s.unauth_rate_limit, s.unauth_rate_burst)
    }

    /// The same limits with other lockout windows (tests).
    pub fn with_lockout(mut self, policy: LockoutPolicy) -> Self {
        self.login = Arc::new(Lockout::new(policy));
        self
    }

    /// `Err(retry_after)` when this API token is over its limit.
    pub fn check_api(&self, token_id: i32) -> Result<(), Duration> {
        self.api.check(&token_id)
    }

    /// `Err(retry_after)` when `ip` is over its limit of unauthenticated requests. IPv6
    /// addresses count per /64 (one host usually holds a whole /64).
    pub fn check_unauthenticated(&self, ip: IpAddr) -> Result<(), Duration> {
        self.unauth.check(&client_key(ip))
    }

    /// Gives back what [`Limits::check_unauthenticated`] took (the credentials were good).
    pub fn refund_unauthenticated(&self, ip: IpAddr) {
        self.unauth.refund(&client_key(ip));
    }

    /// The credentials' memory of recent successes.
    pub fn known_credentials(&self) -> &KnownCredentials {
        &self.known
    }

    /// True when unauthenticated requests are not limited.
    pub fn unauthenticated_off(&self) -> bool {
        self.unauth.is_off()
    }

    /// `Err(retry_after)` when this cluster's agent is over its limit.
    pub fn check_agent(&self, cluster_id: &str) -> Result<(), Duration> {
        if self.agent.is_off() {
            return Ok(());
        }
        self.agent.check(&cluster_id.to_owned())
    }

    /// `Some(remaining)` while (username, ip) is locked out.
    /// With replicas, the shared lockout decides (this replica's own one when Redis does
    /// not answer).
    pub async fn login_locked(&self, username: &str, ip: &str) -> Option<Duration> {
        if let Some(s) = &self.shared {
            match s.locked(Self::shared_key(username, ip)).await {
                Ok(left) => return left,
                Err(e) => {
                    tracing::warn!(error = %e, "shared login lockout unavailable; this replica's own is used")
                }
            }
        }
        self.login.locked_at(username, ip, Instant::now())
    }

    /// Counts a failed login; `true` when this failure locks the pair.
    pub async fn login_failed(&self, username: &str, ip: &str) -> bool {
        if let Some(s) = &self.shared {
            match s
                .failed(Self::shared_key(username, ip), self.login.policy())
                .await
            {
                Ok(locked) => return locked,
                Err(e) => {
                    tracing::warn!(error = %e, "shared login lockout unavailable; this replica's own is used")
                }
            }
        }
        self.login.failed_at(username, ip, Instant::now())
    }

    /// A successful login clears the pair's failures.
    pub async fn login_succeeded(&self, username: &str, ip: &str) {
        if let Some(s) = &self.shared {
            let _ = s.succeeded(Self::shared_key(username, ip)).await;
        }
        self.login.succeeded(username, ip);
    }

    /// The login lockout itself (its `_at` methods take the clock reading).
    pub fn lockout(&self) -> &Lockout {
        &self.login
    }

    /// The per-token API limiter.
    pub fn api(&self) -> &RateLimiter<i32> {
        &self.api
    }

    /// The per-cluster agent limiter.
    pub fn agent(&self) -> &RateLimiter<String> {
        &self.agent
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn short() -> LockoutPolicy {
        LockoutPolicy {
            window: 100 * MS,
            lock_for: 300 * MS,
            max_failures: 5,
        }
    }

    #[test]
    fn defaults_are_10_min_30_min_5_failures() {
        let p = LockoutPolicy::default();
        assert_eq!(p.window, Duration::from_secs(600));
        assert_eq!(p.lock_for, Duration::from_secs(1800));
        assert_eq!(p.max_failures, 5);
        assert_eq!(Limits::default().lockout().policy(), p);
    }

    #[test]
    fn fifth_failure_locks_the_pair_only() {
        let l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        for i in 0..4 {
            assert!(!l.failed_at("alice", "1.1.1.1", t + i * MS));
            assert_eq!(l.locked_at("alice", "1.1.1.1", t + i * MS), None);
        }
        assert!(l.failed_at("alice", "1.1.1.1", t + 5 * MS));
        let left = l.locked_at("alice", "1.1.1.1", t + 5 * MS).unwrap();
        assert_eq!(left, LOGIN_LOCK);
        // Other pairs are untouched; the name is case-insensitive.
        assert!(l.locked_at("alice", "2.2.2.2", t).is_none());
        assert!(l.locked_at("bob", "1.1.1.1", t).is_none());
        assert!(l.locked_at("ALICE", "1.1.1.1", t + 5 * MS).is_some());
        // Still locked 29 minutes later, free after 30.
        let later = t + 5 * MS + Duration::from_secs(29 * 60);
        assert_eq!(
            l.locked_at("alice", "1.1.1.1", later),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            l.locked_at("alice", "1.1.1.1", t + 5 * MS + LOGIN_LOCK),
            None
        );
    }

    #[test]
    fn failures_slide_out_of_the_window() {
        let l = Lockout::new(short());
        let t = Instant::now();
        for i in 0..4 {
            assert!(!l.failed_at("u", "ip", t + i * 10 * MS));
        }
        // The first failure (t) is 100 ms old at t+100: only 4 remain in the window.
        assert!(!l.failed_at("u", "ip", t + 100 * MS));
        assert!(l.locked_at("u", "ip", t + 100 * MS).is_none());
        assert!(l.failed_at("u", "ip", t + 101 * MS));
        assert!(l.locked_at("u", "ip", t + 101 * MS).is_some());
    }

    #[test]
    fn the_lock_expires_and_counting_restarts() {
        let l = Lockout::new(short());
        let t = Instant::now();
        for i in 0..5 {
            l.failed_at("u", "ip", t + i * MS);
        }
        assert_eq!(l.locked_at("u", "ip", t + 4 * MS), Some(300 * MS));
        // Failures during the lock are not counted and do not extend it.
        assert!(!l.failed_at("u", "ip", t + 50 * MS));
        assert_eq!(l.locked_at("u", "ip", t + 304 * MS), None);
        assert!(!l.failed_at("u", "ip", t + 305 * MS), "a fresh count");
        for i in 1..4 {
            assert!(!l.failed_at("u", "ip", t + (305 + i) * MS));
        }
        assert!(l.failed_at("u", "ip", t + 309 * MS));
    }

    #[actix_rt::test]
    async fn success_clears_the_pair() {
        let limits = Limits::default().with_lockout(short());
        for _ in 0..4 {
            assert!(!limits.login_failed("u", "ip").await);
        }
        limits.login_succeeded("u", "ip").await;
        for _ in 0..4 {
            assert!(!limits.login_failed("u", "ip").await);
        }
        assert!(limits.login_failed("u", "ip").await);
        assert!(limits.login_locked("u", "ip").await.is_some());
        limits.login_succeeded("u", "ip").await;
        assert!(limits.login_locked("u", "ip").await.is_none());
    }

    #[test]
    fn idle_pairs_are_swept_and_locks_kept() {
        let l = Lockout::new(LockoutPolicy {
            lock_for: 2 * SWEEP_EVERY,
            ..short()
        });
        let t = Instant::now();
        for i in 0..50 {
            l.failed_at(&format!("user{i}"), "ip", t);
        }
        for _ in 0..5 {
            l.failed_at("locked", "ip", t);
        }
        assert_eq!(l.tracked(), 51);
        // A sweep interval later every failure has left the window; the lock holds.
        l.failed_at("new", "ip", t + SWEEP_EVERY);
        assert_eq!(l.tracked(), 2);
        assert!(l.locked_at("locked", "ip", t + SWEEP_EVERY).is_some());
    }

    #[test]
    fn token_bucket_allows_the_burst_then_the_rate() {
        let r = RateLimiter::new(10, 3);
        let t = Instant::now();
        for _ in 0..3 {
            r.check_at(&1, t).unwrap();
        }
        let wait = r.check_at(&1, t).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        r.check_at(&2, t).unwrap(); // another key has its own bucket
        r.check_at(&1, t + 100 * MS).unwrap();
        let wait = r.check_at(&1, t + 150 * MS).unwrap_err();
        assert!((wait.as_secs_f64() - 0.05).abs() < 1e-6, "{wait:?}");
        // A long idle time refills only up to the burst.
        let t2 = t + Duration::from_secs(60);
        for _ in 0..3 {
            r.check_at(&1, t2).unwrap();
        }
        assert!(r.check_at(&1, t2).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
        // 1 request per second, burst 1: the second request waits one whole second.
        let r = RateLimiter::new(1, 1);
        let t = Instant::now();
        r.check_at(&"k", t).unwrap();
        let wait = r.check_at(&"k", t + 10 * MS).unwrap_err();
        assert!(wait < Duration::from_secs(1) && wait > Duration::from_millis(980));
        assert_eq!(retry_after_secs(wait), 1);
        // 2 per second, empty bucket: 0.5 s becomes 1 s.
        let r = RateLimiter::new(2, 1);
        r.check_at(&"k", t).unwrap();
        assert_eq!(retry_after_secs(r.check_at(&"k", t).unwrap_err()), 1);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let limits = Limits::new(0, 1, 0, 1);
        for _ in 0..10_000 {
            limits.check_api(1).unwrap();
            limits.check_agent("c").unwrap();
        }
        assert_eq!(limits.api().tracked(), 0);
        assert_eq!(limits.agent().tracked(), 0);
    }

    #[test]
    fn full_buckets_are_swept() {
        let r = RateLimiter::new(100, 2);
        let t = Instant::now();
        for k in 0..1000 {
            r.check_at(&k, t).unwrap();
        }
        assert_eq!(r.tracked(), 1000);
        // A minute later every bucket is full again and carries nothing.
        r.check_at(&5000, t + SWEEP_EVERY).unwrap();
        assert_eq!(r.tracked(), 1);
    }

    #[test]
    fn limits_are_per_token_and_per_cluster() {
        let limits = Limits::new(1, 2, 1, 1);
        limits.check_api(1).unwrap();
        limits.check_api(1).unwrap();
        assert!(limits.check_api(1).is_err());
        limits.check_api(2).unwrap();
        limits.check_agent("a").unwrap();
        assert!(limits.check_agent("a").is_err());
        limits.check_agent("b").unwrap();
    }
}
