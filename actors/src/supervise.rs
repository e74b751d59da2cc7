//! A supervisor that also survives panics, for the master's singleton actors (the
//! registry, the persisters, the notifier, the dispatcher, the cleaner).
//!
//! actix's [`Supervisor`](actix::Supervisor) restarts an actor that *stops*; a panic in a
//! handler unwinds through the supervisor's own task, so the actor, its mailbox and every
//! address to it die together, and each later `send` fails. [`start`] runs the same
//! context future inside `catch_unwind`: a panic is logged and counted
//! ([`panics`]), the context is restarted exactly as actix restarts a stopped actor
//! (spawned futures dropped, [`Supervised::restarting`] called, then
//! [`Actor::started`] again), and the same mailbox goes on serving the same addresses.
//! The message that panicked is lost; what the actor keeps in memory is rebuilt by its
//! `started` (each persister reloads its memory from the database there).
//!
//! Cluster actors are revived differently (the registry's vault, see
//! [`crate::registry`]): each is one of many, and a poisoned one is replaced, not
//! restarted in place.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use actix::prelude::*;
use futures_util::FutureExt as _;

/// The first wait before restarting after a panic.
const MIN_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);
/// The longest wait between restarts of an actor that keeps panicking.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);
/// A run this long without a panic resets the wait.
const QUIET: std::time::Duration = std::time::Duration::from_secs(60);

/// Panics caught, per actor name.
static PANICS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Panics caught since start, per actor name (`/metrics`).
pub fn panics() -> Vec<(&'static str, u64)> {
    PANICS
        .lock()
        .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
        .unwrap_or_default()
}

fn count(name: &'static str) {
    if let Ok(mut m) = PANICS.lock() {
        *m.entry(name).or_default() += 1;
    }
}

/// The text of a panic's payload.
fn message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Starts `f`'s actor under a supervisor that restarts it after a stop (as actix's does)
/// and after a panic in any of its handlers or futures; `name` labels the log line and
/// the count. Must run inside an actix system.
pub fn start<A, F>(name: &'static str, f: F) -> Addr<A>
where
    A: Supervised + Actor<Context = Context<A>>,
    F: FnOnce(&mut Context<A>) -> A,
{
    let mut ctx = Context::new();
    let act = f(&mut ctx);
    let addr = ctx.address();
    let mut fut = ctx.into_future(act);
    actix::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            let ran = std::time::Instant::now();
            match AssertUnwindSafe(&mut fut).catch_unwind().await {
                Ok(()) => {}
                Err(payload) => {
                    count(name);
                    tracing::error!(
                        actor = name,
                        panic = message(&*payload),
                        "actor panicked; restarting it on the same mailbox (the message it was handling is lost)"
                    );
                    // An actor that panics again at once (in `started`, say) must not spin:
                    // wait longer each time, back to the minimum after a quiet minute.
                    if ran.elapsed() > QUIET {
                        backoff = MIN_BACKOFF;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            // Stopped or panicked: restart unless nobody can send to it any more.
            if !fut.restart() {
                return;
            }
        }
    });
    addr
}

/// `actor.start_supervised("name")`: [`start`] for an actor value already built.
pub trait StartSupervised: Supervised + Actor<Context = Context<Self>> {
    /// Starts `self` under [`start`]'s supervisor.
    fn start_supervised(self, name: &'static str) -> Addr<Self> {
        start(name, |_| self)
    }
}

impl<A: Supervised + Actor<Context = Context<A>>> StartSupervised for A {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    /// Counts what it was told; loses its count on a panic and reloads it from `store`.
    struct Counter {
        count: u64,
        store: std::sync::Arc<std::sync::atomic::AtomicU64>,
        starts: u64,
    }

    impl Actor for Counter {
        type Context = Context<Self>;
        fn started(&mut self, _: &mut Context<Self>) {
            self.starts += 1;
            self.count = self.store.load(std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl Supervised for Counter {}

    #[derive(Message)]
    #[rtype(result = "(u64, u64)")]
    struct Add(u64);

    impl Handler<Add> for Counter {
        type Result = MessageResult<Add>;
        fn handle(&mut self, m: Add, _: &mut Context<Self>) -> MessageResult<Add> {
            self.count += m.0;
            if m.0 == 13 {
                panic!("unlucky number");
            }
            self.store
                .store(self.count, std::sync::atomic::Ordering::SeqCst);
            MessageResult((self.count, self.starts))
        }
    }

    #[actix_rt::test]
    async fn a_panicking_singleton_keeps_its_address_and_rebuilds_its_state() {
        let store = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let s = std::sync::Arc::clone(&store);
        let addr = start("counter", move |_| Counter {
            count: 0,
            store: s,
            starts: 0,
        });
        assert_eq!(addr.send(Add(2)).await.unwrap(), (2, 1));
        // The panicking message is lost (its sender sees the reply channel closed)...
        assert!(addr.send(Add(13)).await.is_err());
        // ...and the same address serves again, with the state its `started` rebuilt
        // (the panic's half-done +13 is gone).
        assert_eq!(addr.send(Add(3)).await.unwrap(), (5, 2));
        assert!(addr.connected());
        assert!(panics().contains(&("counter", 1)));
    }
}
