//! What every persister that flushes shares: the [`Flush`] message, the [`Handle`] that
//! sends it, and [`chain_pending`], the flush of a bus subscription.

use std::pin::Pin;

use actix::prelude::*;
use tokio::sync::oneshot;

use atlhyper_actors::bus::{Keyed, Subscription};

/// Replies once everything a persister received so far is committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush {
    /// Fired after the pending writes.
    pub done: oneshot::Sender<()>,
}

/// One pending write of persister `A`.
pub type Work<A> = Pin<Box<dyn ActorFuture<A, Output = ()>>>;

/// What a persister's `Flush` runs: the work of every message still pending on `sub`,
/// applied now and chained in order, then `done`. One chained future, because actix
/// polls several `ctx.wait` futures last-in first-out, so the writes and the reply must
/// not be queued separately.
pub fn chain_pending<A, M>(
    act: &mut A,
    sub: &Subscription<M>,
    mut apply: impl FnMut(&mut A, M) -> Option<Work<A>>,
    done: oneshot::Sender<()>,
) -> Work<A>
where
    A: Actor<Context = Context<A>>,
    M: Keyed,
{
    let mut chain: Work<A> = Box::pin(fut::ready(()));
    while let Some(m) = sub.try_recv() {
        if let Some(work) = apply(act, m) {
            chain = Box::pin(chain.then(move |(), _, _| work));
        }
    }
    Box::pin(chain.map(move |(), _, _| {
        let _ = done.send(());
    }))
}

/// Handle to a running persister that answers [`Flush`].
pub struct Handle<A: Actor> {
    addr: Option<Addr<A>>,
}

impl<A: Actor> Clone for Handle<A> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr.clone(),
        }
    }
}

impl<A: Actor> Default for Handle<A> {
    fn default() -> Self {
        Self { addr: None }
    }
}

impl<A> Handle<A>
where
    A: Actor<Context = Context<A>> + Handler<Flush>,
{
    /// The handle of the actor at `addr`.
    pub fn new(addr: Addr<A>) -> Self {
        Self { addr: Some(addr) }
    }

    /// The actor's address (tests that send it messages of their own).
    #[cfg(test)]
    pub(crate) fn addr(&self) -> Option<&Addr<A>> {
        self.addr.as_ref()
    }

    /// Waits until everything received so far is written (tests, shutdown).
    pub async fn flush(&self) {
        let Some(addr) = &self.addr else { return };
        let (tx, rx) = oneshot::channel();
        if addr.send(Flush { done: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }
}
