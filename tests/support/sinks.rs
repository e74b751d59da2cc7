//! Real local receivers for notifications, shared by test binaries with
//! `#[path = "../support/sinks.rs"] mod sinks;` (or `"support/sinks.rs"` from `tests/`):
//! - [`HttpSink`]: an HTTP server on 127.0.0.1, port 0, that records every request and
//!   answers from a script (Slack, webhook, DingTalk and Feishu all POST JSON);
//! - [`SmtpSink`]: an SMTP server on 127.0.0.1, port 0, speaking enough ESMTP for lettre
//!   with `smtp_tls: "none"` (no STARTTLS offered), recording every mail.
//!
//! Both must be started inside a tokio runtime with an actix `System`, as
//! `#[actix_web::test]` provides. Waiting is by polling with a deadline, never by sleeping
//! a fixed time.
#![allow(dead_code, reason = "shared by several test binaries")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// How often `wait_for` looks again.
const POLL: Duration = Duration::from_millis(10);

/// How an [`HttpSink`] answers one request.
#[derive(Debug, Clone)]
pub enum SinkReply {
    /// This status and an empty body.
    Status(u16),
    /// This status, these headers and an empty body.
    WithHeaders(u16, Vec<(String, String)>),
    /// This status and this JSON body.
    Json(u16, serde_json::Value),
}

/// One request an [`HttpSink`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (still percent-encoded), empty when there is none.
    pub query: String,
    /// The headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// The status the sink answered with.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body of {} {} is not JSON ({e}): {}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The decoded query parameters.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The decoded value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

#[derive(Default)]
struct HttpState {
    script: VecDeque<SinkReply>,
    received: Vec<Received>,
}

/// A real HTTP receiver; see the module docs. Stops when dropped.
pub struct HttpSink {
    addr: SocketAddr,
    state: Arc<Mutex<HttpState>>,
    handle: ServerHandle,
}

/// Serves every request on 127.0.0.1, port 0, with `handler` and `data` as its app data
/// (bodies up to 16 MiB), on one worker of the current actix system.
pub fn serve_all<T, F, Args>(data: web::Data<T>, handler: F) -> (SocketAddr, ServerHandle)
where
    T: ?Sized + Send + Sync + 'static,
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local server");
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .default_service(web::to(handler.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (addr, handle)
}

/// A request's headers as `(lower-case name, value)` pairs.
pub fn headers_of(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

impl HttpSink {
    /// Starts a sink on 127.0.0.1, port 0.
    pub async fn start() -> HttpSink {
        let state = Arc::new(Mutex::new(HttpState::default()));
        let (addr, handle) = serve_all(web::Data::from(Arc::clone(&state)), record);
        HttpSink {
            addr,
            state,
            handle,
        }
    }

    /// `http://127.0.0.1:<port><path>`; `path` starts with `/` and may carry a query.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues replies for the next requests, in order. Once they are used up the sink
    /// answers 200 `{"errcode":0,"code":0,"ok":true}`, which every channel reads as sent.
    pub fn script(&self, replies: Vec<SinkReply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Requests answered with a 2xx.
    pub fn ok_count(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .count()
    }

    /// Waits until at least `n` requests arrived and returns them all; panics after
    /// `within` with what did arrive.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = got
                    .iter()
                    .map(|r| format!("{} {}?{} -> {}", r.method, r.path, r.query, r.status))
                    .collect();
                panic!(
                    "HTTP sink: expected {n} request(s) within {within:?}, got {}: {seen:?}",
                    got.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        // `stop` sends the command at once; nobody needs to await the completion.
        drop(self.handle.stop(false));
    }
}

async fn record(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<HttpState>>,
) -> HttpResponse {
    let at = Instant::now();
    let mut state = state.lock().unwrap();
    let reply = state.script.pop_front().unwrap_or_else(|| {
        SinkReply::Json(
            200,
            serde_json::json!({"errcode": 0, "code": 0, "ok": true}),
        )
    });
    let (status, headers, json) = match reply {
        SinkReply::Status(s) => (s, Vec::new(), None),
        SinkReply::WithHeaders(s, h) => (s, h, None),
        SinkReply::Json(s, v) => (s, Vec::new(), Some(v)),
    };
    state.received.push(Received {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: headers_of(&req),
        body: body.to_vec(),
        status,
        at,
    });
    let mut resp = HttpResponse::build(StatusCode::from_u16(status).expect("valid status"));
    for (k, v) in headers {
        resp.insert_header((k, v));
    }
    match json {
        Some(v) => resp.json(v),
        None => resp.finish(),
    }
}

/// One mail an [`SmtpSink`] accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), in order, without angle brackets.
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, lines joined with CRLF.
    pub data: String,
    /// `user:password` when the client authenticated (PLAIN or LOGIN).
    pub auth: Option<String>,
}

impl Mail {
    /// The value of the first header `name` (any case), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        let prefix = format!("{}:", name.to_ascii_lowercase());
        unfolded
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }
}

struct SmtpState {
    mails: Mutex<Vec<Mail>>,
    /// The reply code to `DATA`, when the sink refuses mail.
    reject: Option<u16>,
}

/// A real SMTP receiver; see the module docs. Stops accepting when dropped.
pub struct SmtpSink {
    port: u16,
    state: Arc<SmtpState>,
    accept: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink that accepts every mail.
    pub async fn start() -> SmtpSink {
        Self::start_with(None).await
    }

    /// Starts a sink that answers `DATA` with `code` (e.g. 554 or 451).
    pub async fn start_rejecting(code: u16) -> SmtpSink {
        Self::start_with(Some(code)).await
    }

    async fn start_with(reject: Option<u16>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(SmtpState {
            mails: Mutex::new(Vec::new()),
            reject,
        });
        let shared = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    // A client that hangs up mid-conversation is its own business.
                    let _ = serve(stream, &state).await;
                });
            }
        });
        SmtpSink {
            port,
            state,
            accept,
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every accepted mail so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.state.mails.lock().unwrap().clone()
    }

    /// Waits until at least `n` mails arrived and returns them all; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.mails();
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "SMTP sink: expected {n} mail(s) within {within:?}, got {}",
                    got.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One SMTP conversation.
async fn serve(stream: TcpStream, state: &SmtpState) -> std::io::Result<()> {
    let (read, mut w) = stream.into_split();
    let mut r = BufReader::new(read);
    w.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut auth: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    while let Some(line) = read_line(&mut r).await? {
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE 10485760\r\n250 AUTH PLAIN LOGIN"
                .to_owned()
        } else if upper.starts_with("HELO") {
            "250 sink.test".to_owned()
        } else if upper.starts_with("AUTH PLAIN") {
            let initial = line[10..].trim().to_owned();
            let encoded = if initial.is_empty() {
                challenge(&mut w, &mut r, "").await?
            } else {
                initial
            };
            let decoded = decode(&encoded);
            let mut parts = decoded.split('\0').skip(1);
            let user = parts.next().unwrap_or("");
            let password = parts.next().unwrap_or("");
            auth = Some(format!("{user}:{password}"));
            "235 2.7.0 Authentication successful".to_owned()
        } else if upper.starts_with("AUTH LOGIN") {
            let initial = line[10..].trim().to_owned();
            let user = if initial.is_empty() {
                challenge(&mut w, &mut r, "VXNlcm5hbWU6").await?
            } else {
                initial
            };
            let password = challenge(&mut w, &mut r, "UGFzc3dvcmQ6").await?;
            auth = Some(format!("{}:{}", decode(&user), decode(&password)));
            "235 2.7.0 Authentication successful".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(address(&line[10..]));
            to.clear();
            "250 2.1.0 OK".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 5.5.1 MAIL first".to_owned()
            } else {
                to.push(address(&line[8..]));
                "250 2.1.5 OK".to_owned()
            }
        } else if upper == "DATA" {
            if let Some(code) = state.reject {
                format!("{code} {}.7.1 refused by the sink", code / 100)
            } else if to.is_empty() {
                "503 5.5.1 RCPT first".to_owned()
            } else {
                w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut lines = Vec::new();
                loop {
                    let Some(l) = read_line(&mut r).await? else {
                        return Ok(());
                    };
                    if l == "." {
                        break;
                    }
                    lines.push(l.strip_prefix('.').map(str::to_owned).unwrap_or(l));
                }
                state.mails.lock().unwrap().push(Mail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data: lines.join("\r\n"),
                    auth: auth.clone(),
                });
                "250 2.0.0 queued".to_owned()
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 OK".to_owned()
        } else if upper == "NOOP" {
            "250 2.0.0 OK".to_owned()
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            // STARTTLS included: this sink has no TLS, like a plain local relay.
            "502 5.5.1 command not implemented".to_owned()
        };
        w.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
    Ok(())
}

/// Sends a `334` challenge and reads the answer line.
async fn challenge(
    w: &mut OwnedWriteHalf,
    r: &mut BufReader<OwnedReadHalf>,
    text: &str,
) -> std::io::Result<String> {
    w.write_all(format!("334 {text}\r\n").as_bytes()).await?;
    Ok(read_line(r).await?.unwrap_or_default())
}

/// A line without its CRLF; `None` at end of stream.
async fn read_line(r: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if r.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// `<a@b>` or `a@b` followed by ESMTP parameters → `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(open), Some(close)) if open < close => arg[open + 1..close].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or("").to_owned(),
    }
}

fn decode(b64: &str) -> String {
    String::from_utf8_lossy(&BASE64.decode(b64.trim()).unwrap_or_default()).into_owned()
}
