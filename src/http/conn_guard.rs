//! A deadline on every request head, not only a connection's first.
//!
//! actix-http arms `client_request_timeout` for the first request of a connection only. On
//! a kept-alive connection, a client that sends the next request's head a byte at a time
//! resets nothing and is never cut off (the keep-alive timer stops at the first byte), so
//! one slowloris client could hold a connection, and its memory, forever.
//!
//! The guard closes that gap from the outside:
//! - every accepted connection is registered ([`ConnGuard::on_connect`]) with a duplicate
//!   of its socket and a small shared state: how many of its requests are in progress, and
//!   since when it has had none;
//! - [`track`] (middleware, outermost on both ports) marks a request in progress from the
//!   moment its head is parsed until its response body is dropped (sent, or abandoned), so
//!   long polls, SSE streams and slow downloads are never touched;
//! - a sweep every second shuts down a connection that has had no request in progress for
//!   longer than [`IDLE_LIMIT`]. An honest idle connection is closed by actix at the
//!   keep-alive timeout (5 s) long before that; one still open must be sending a head
//!   that never completes.
//!
//! Shutting the socket down (both directions) makes actix's dispatcher see the end of the
//! stream and drop the connection; the duplicate descriptor is closed with it.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use bytes::Bytes;
use tracing::debug;

/// How long a connection may go without a request in progress: the keep-alive timeout
/// (5 s, actix's default) plus the head deadline (10 s). A head that has not completed by
/// then is a slowloris.
pub const IDLE_LIMIT: Duration = Duration::from_secs(15);

/// How often idle connections are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// One connection's state, shared by its requests and the sweep.
struct Conn {
    /// A duplicate of the connection's socket, to shut it down.
    socket: socket2::Socket,
    /// Requests of this connection in progress.
    active: AtomicU32,
    /// Milliseconds since `epoch` when it last had no request in progress.
    idle_since: AtomicU64,
    /// Set once it was shut down.
    closed: AtomicBool,
}

/// The registry of one server's connections and their sweep.
#[derive(Clone)]
pub struct ConnGuard {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    conns: Mutex<Vec<Weak<Conn>>>,
    /// Connections shut down by the sweep (tests, logs).
    cut: AtomicU64,
}

/// What the connection's extensions hold: dropped with the connection.
struct Registered(Arc<Conn>);

impl Default for ConnGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnGuard {
    /// A guard with no connections; [`ConnGuard::sweep_forever`] must run beside it.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                conns: Mutex::new(Vec::new()),
                cut: AtomicU64::new(0),
            }),
        }
    }

    /// A guard whose sweep runs on the current actix runtime until the guard is dropped.
    pub fn start() -> Self {
        let guard = Self::new();
        actix_web::rt::spawn(guard.clone().sweep_forever());
        guard
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `HttpServer::on_connect`: registers the connection (plain TCP or rustls).
    pub fn on_connect(&self, conn: &dyn std::any::Any, ext: &mut Extensions) {
        type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
        let tcp = if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            tcp
        } else if let Some(tls) = conn.downcast_ref::<Tls>() {
            (**tls).get_ref().0
        } else {
            return;
        };
        let Ok(socket) = socket2::SockRef::from(tcp).try_clone() else {
            // Out of descriptors: the connection is served without the guard.
            return;
        };
        let conn = Arc::new(Conn {
            socket,
            active: AtomicU32::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
            closed: AtomicBool::new(false),
        });
        self.lock().push(Arc::downgrade(&conn));
        ext.insert(Registered(conn));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Conn>>> {
        self.inner
            .conns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Shuts down connections idle past [`IDLE_LIMIT`] and forgets closed ones. Returns
    /// how many it shut down.
    pub fn sweep(&self) -> usize {
        let now = self.now_ms();
        let limit = u64::try_from(IDLE_LIMIT.as_millis()).unwrap_or(u64::MAX);
        let mut stale = Vec::new();
        self.lock().retain(|w| match w.upgrade() {
            Some(c) => {
                if c.active.load(Ordering::Acquire) == 0
                    && now.saturating_sub(c.idle_since.load(Ordering::Acquire)) > limit
                    && !c.closed.swap(true, Ordering::AcqRel)
                {
                    stale.push(c);
                    false
                } else {
                    true
                }
            }
            None => false,
        });
        for c in &stale {
            let _ = c.socket.shutdown(std::net::Shutdown::Both);
        }
        if !stale.is_empty() {
            debug!(
                connections = stale.len(),
                "connections without a complete request head cut off"
            );
        }
        self.inner
            .cut
            .fetch_add(stale.len() as u64, Ordering::Relaxed);
        stale.len()
    }

    /// Connections shut down by the sweep so far.
    pub fn cut(&self) -> u64 {
        self.inner.cut.load(Ordering::Relaxed)
    }

    /// Runs the sweep every second until the guard's last other handle is gone.
    pub async fn sweep_forever(self) {
        let weak = Arc::downgrade(&self.inner);
        drop(self);
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            ConnGuard { inner }.sweep();
        }
    }
}

/// Marks one request of a connection in progress until dropped.
struct InProgress {
    conn: Arc<Conn>,
    epoch: Instant,
}

impl InProgress {
    fn begin(conn: &Arc<Conn>, epoch: Instant) -> Self {
        conn.active.fetch_add(1, Ordering::AcqRel);
        Self {
            conn: Arc::clone(conn),
            epoch,
        }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.conn.idle_since.store(now, Ordering::Release);
        self.conn.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Middleware (outermost): the request is in progress until its response body is dropped.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Tracked>, actix_web::Error> {
    let epoch = req
        .app_data::<actix_web::web::Data<ConnGuard>>()
        .map(|g| g.inner.epoch);
    let mark = match (req.conn_data::<Registered>(), epoch) {
        (Some(Registered(conn)), Some(epoch)) => Some(InProgress::begin(conn, epoch)),
        _ => None,
    };
    let res = next.call(req).await?;
    Ok(res
        .map_into_boxed_body()
        .map_body(|_, body| Tracked { body, _mark: mark }))
}

/// A response body that keeps its request marked in progress while it is being sent.
pub struct Tracked {
    body: BoxBody,
    _mark: Option<InProgress>,
}

impl MessageBody for Tracked {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}
