//! Fan-out of actor messages to subscribers, **latest wins per key**.
//!
//! A publisher never waits for a subscriber and a subscriber never grows a queue without
//! bound: each subscription holds at most one pending message per key (a cluster id, a
//! command id). A newer message for a key that is still pending replaces the older one in
//! place and the replacement is counted as *coalesced*. A subscription that also reaches
//! `max_keys` distinct pending keys drops its oldest key and counts it as *dropped*.
//!
//! actix's `Recipient::try_send` cannot express "replace what is queued for this key", so
//! subscribers drain a [`Subscription`] instead, as an async stream (`ctx.add_stream(...)`
//! inside an actor, or directly in an HTTP handler such as the SSE feed).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures_util::Stream;
use tokio::sync::Notify;

/// A message that can be coalesced: two messages with the same key are "the same thing, newer".
pub trait Keyed: Clone + Send + 'static {
    /// The coalescing key type.
    type Key: Eq + Hash + Clone + Send + 'static;
    /// The key of this message.
    fn key(&self) -> Self::Key;
}

/// How many distinct keys one subscription may hold pending before it drops the oldest.
/// Cluster-keyed topics never come near it; command-keyed topics could, under a storm.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Counters of one subscription, for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Messages handed to the subscriber.
    pub delivered: u64,
    /// Messages replaced by a newer one with the same key before delivery.
    pub coalesced: u64,
    /// Messages dropped because `max_keys` distinct keys were already pending.
    pub dropped: u64,
    /// Messages pending right now.
    pub pending: u64,
}

struct SlotState<M: Keyed> {
    order: VecDeque<M::Key>,
    pending: HashMap<M::Key, M>,
    closed: bool,
}

struct Slot<M: Keyed> {
    name: String,
    max_keys: usize,
    state: Mutex<SlotState<M>>,
    notify: Notify,
    delivered: AtomicU64,
    coalesced: AtomicU64,
    dropped: AtomicU64,
}

impl<M: Keyed> Slot<M> {
    fn lock(&self) -> MutexGuard<'_, SlotState<M>> {
        // A poisoned lock only means another thread panicked mid-update of plain data;
        // the queue is still structurally valid, so keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offer(&self, msg: M) {
        let key = msg.key();
        {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            if let Some(slot) = st.pending.get_mut(&key) {
                *slot = msg;
                self.coalesced.fetch_add(1, Ordering::Relaxed);
            } else {
                if st.order.len() >= self.max_keys {
                    if let Some(old) = st.order.pop_front() {
                        st.pending.remove(&old);
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                st.order.push_back(key.clone());
                st.pending.insert(key, msg);
            }
        }
        self.notify.notify_one();
    }

    fn take(&self) -> Result<Option<M>, Closed> {
        let mut st = self.lock();
        while let Some(key) = st.order.pop_front() {
            if let Some(m) = st.pending.remove(&key) {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(m));
            }
        }
        if st.closed {
            Err(Closed)
        } else {
            Ok(None)
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }
}

struct Closed;

/// A publish point. Cheap to clone; all clones share the subscriber list.
pub struct Topic<M: Keyed> {
    subs: Arc<Mutex<Vec<Weak<Slot<M>>>>>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl<M: Keyed> Clone for Topic<M> {
    fn clone(&self) -> Self {
        Self {
            subs: Arc::clone(&self.subs),
            closed: Arc::clone(&self.closed),
        }
    }
}

impl<M: Keyed> Default for Topic<M> {
    fn default() -> Self {
        Self {
            subs: Arc::new(Mutex::new(Vec::new())),
            closed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }
}

impl<M: Keyed> Topic<M> {
    /// A new topic with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    fn subs(&self) -> MutexGuard<'_, Vec<Weak<Slot<M>>>> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes with the default key bound. `name` labels the subscriber in metrics.
    pub fn subscribe(&self, name: &str) -> Subscription<M> {
        self.subscribe_bounded(name, DEFAULT_MAX_KEYS)
    }

    /// Subscribes holding at most `max_keys` distinct pending keys.
    pub fn subscribe_bounded(&self, name: &str, max_keys: usize) -> Subscription<M> {
        let slot = Arc::new(Slot {
            name: name.to_owned(),
            max_keys: max_keys.max(1),
            state: Mutex::new(SlotState {
                order: VecDeque::new(),
                pending: HashMap::new(),
                closed: self.closed.load(Ordering::SeqCst),
            }),
            notify: Notify::new(),
            delivered: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        self.subs().push(Arc::downgrade(&slot));
        Subscription { slot }
    }

    /// Offers `msg` to every live subscriber. Never blocks on a subscriber.
    pub fn publish(&self, msg: M) {
        let live: Vec<Arc<Slot<M>>> = {
            let mut subs = self.subs();
            subs.retain(|w| w.strong_count() > 0);
            subs.iter().filter_map(Weak::upgrade).collect()
        };
        for slot in live {
            slot.offer(msg.clone());
        }
    }

    /// Closes the topic: subscribers drain what is pending, then their streams end.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for slot in self.subs().iter().filter_map(Weak::upgrade) {
            slot.close();
        }
    }

    /// Stats of every live subscription, by subscriber name.
    pub fn stats(&self) -> Vec<(String, SubscriptionStats)> {
        self.subs()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| (s.name.clone(), stats_of(&s)))
            .collect()
    }
}

fn stats_of<M: Keyed>(slot: &Slot<M>) -> SubscriptionStats {
    SubscriptionStats {
        delivered: slot.delivered.load(Ordering::Relaxed),
        coalesced: slot.coalesced.load(Ordering::Relaxed),
        dropped: slot.dropped.load(Ordering::Relaxed),
        pending: slot.lock().pending.len() as u64,
    }
}

/// One subscriber's coalescing mailbox. Dropping it unsubscribes.
pub struct Subscription<M: Keyed> {
    slot: Arc<Slot<M>>,
}

impl<M: Keyed> Subscription<M> {
    /// The next message, waiting for one; `None` once the topic is closed and drained.
    pub async fn recv(&self) -> Option<M> {
        loop {
            let notified = self.slot.notify.notified();
            match self.slot.take() {
                Ok(Some(m)) => return Some(m),
                Ok(None) => notified.await,
                Err(Closed) => return None,
            }
        }
    }

    /// The next message if one is pending.
    pub fn try_recv(&self) -> Option<M> {
        self.slot.take().ok().flatten()
    }

    /// This subscription's counters.
    pub fn stats(&self) -> SubscriptionStats {
        stats_of(&self.slot)
    }

    /// The subscription as a stream, for `ctx.add_stream` or an SSE body.
    pub fn into_stream(self) -> impl Stream<Item = M> + Send + 'static
    where
        M: Sync,
        M::Key: Sync,
    {
        futures_util::stream::unfold(self, |sub| async move {
            let m = sub.recv().await?;
            Some((m, sub))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Msg(&'static str, u32);
    impl Keyed for Msg {
        type Key = &'static str;
        fn key(&self) -> &'static str {
            self.0
        }
    }

    #[test]
    fn latest_wins_per_key_and_is_counted() {
        let t = Topic::new();
        let s = t.subscribe("slow");
        t.publish(Msg("a", 1));
        t.publish(Msg("b", 1));
        t.publish(Msg("a", 2));
        t.publish(Msg("a", 3));
        assert_eq!(s.try_recv(), Some(Msg("a", 3)));
        assert_eq!(s.try_recv(), Some(Msg("b", 1)));
        assert_eq!(s.try_recv(), None);
        let st = s.stats();
        assert_eq!((st.delivered, st.coalesced, st.dropped), (2, 2, 0));
    }

    #[test]
    fn key_bound_drops_oldest() {
        let t = Topic::new();
        let s = t.subscribe_bounded("tiny", 2);
        t.publish(Msg("a", 1));
        t.publish(Msg("b", 1));
        t.publish(Msg("c", 1));
        assert_eq!(s.try_recv(), Some(Msg("b", 1)));
        assert_eq!(s.try_recv(), Some(Msg("c", 1)));
        assert_eq!(s.stats().dropped, 1);
    }

    #[test]
    fn dropped_subscription_is_pruned() {
        let t = Topic::new();
        let s = t.subscribe("gone");
        drop(s);
        t.publish(Msg("a", 1));
        assert!(t.stats().is_empty());
    }

    #[actix_rt::test]
    async fn recv_wakes_on_publish_and_ends_on_close() {
        let t = Topic::new();
        let s = t.subscribe("waiter");
        let t2 = t.clone();
        let h = tokio::spawn(async move {
            let first = s.recv().await;
            let second = s.recv().await;
            (first, second)
        });
        tokio::task::yield_now().await;
        t2.publish(Msg("x", 7));
        t2.close();
        let (first, second) = h.await.unwrap();
        assert_eq!(first, Some(Msg("x", 7)));
        assert_eq!(second, None);
    }
}
