//! A tiny round-robin TCP proxy: the load balancer in front of several master replicas
//! (the `rr-proxy` binary, and the replica tests, which run it in-process).
//!
//! Each accepted connection goes to the next backend in turn. A backend that refuses the
//! connection (or does not accept it within the connect timeout) is skipped and the next
//! ones are tried, as a load balancer does with a dead replica; when none accepts, the
//! client's connection is closed. Bytes are copied both ways until either side closes.
//! Balancing is per connection, not per request: a keep-alive client stays on one backend.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Connects to the backends from `start` on, in turn; the first that accepts.
async fn connect(backends: &[String], start: usize, timeout: Duration) -> Option<TcpStream> {
    for k in 0..backends.len() {
        let to = &backends[(start + k) % backends.len()];
        match tokio::time::timeout(timeout, TcpStream::connect(to.as_str())).await {
            Ok(Ok(s)) => return Some(s),
            Ok(Err(e)) => eprintln!("rr-proxy: {to}: {e}; trying the next backend"),
            Err(_) => eprintln!("rr-proxy: {to}: no answer in {timeout:?}; trying the next"),
        }
    }
    None
}

/// Proxies one client connection to the backend whose turn it is (or the next live one).
async fn serve(mut client: TcpStream, backends: Arc<Vec<String>>, start: usize, timeout: Duration) {
    let Some(mut backend) = connect(&backends, start, timeout).await else {
        eprintln!("rr-proxy: no backend accepted; closing the client's connection");
        return;
    };
    // Small request/response exchanges (agent calls, long polls): no Nagle delay.
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    // Either side may close or reset at any time; that just ends this connection.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}

/// Accepts on `listener` forever, each connection to the next of `backends`.
pub async fn run(listener: TcpListener, backends: Vec<String>, connect_timeout: Duration) {
    if backends.is_empty() {
        return;
    }
    let backends = Arc::new(backends);
    let timeout = connect_timeout.max(Duration::from_millis(1));
    let next = AtomicUsize::new(0);
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let start = next.fetch_add(1, Ordering::Relaxed) % backends.len();
                tokio::spawn(serve(client, Arc::clone(&backends), start, timeout));
            }
            // Out of file descriptors and the like: say so, wait a little, go on.
            Err(e) => {
                eprintln!("rr-proxy: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
