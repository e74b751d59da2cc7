//! The HTTP driver: one streaming `POST` to a provider, its refusal mapped to a
//! [`ProviderError`], its Server-Sent Events body turned into [`Chunk`]s by the format's
//! decoder, with an idle timeout and a size cap.
//!
//! Every error that leaves [`stream`] goes through [`sanitize`]: providers sometimes echo
//! the key they were sent, so it is replaced by `[REDACTED]` before the message is cut.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderValue, ACCEPT, RETRY_AFTER};
use serde_json::Value;

use super::anthropic::Anthropic;
use super::gemini::Gemini;
use super::json::{cut, error_message};
use super::openai::Openai;
use super::{ChatRequest, Chunk, Decode, Format, ProviderConfig, ProviderError, ProviderKind};

/// The model's answer as it streams: chunks, ending after the first `Err`.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, ProviderError>> + Send>>;

/// How much of a refusal's body is read: error bodies are a few hundred bytes; a proxy's
/// HTML error page beyond this adds nothing to a 300-character message.
const ERROR_BODY_LIMIT: usize = 4096;

/// The longest provider message kept in an error: enough for any real error text, short
/// enough for a log line and the chat's error event.
const MESSAGE_LIMIT: usize = 300;

/// Keys shorter than this are not redacted: replacing a short string (a placeholder such
/// as `none` for a local server) would mangle ordinary words in the message, and such a
/// key is no secret anyway.
const MIN_REDACTED_KEY: usize = 8;

/// Sends `req` to the provider `cfg` describes and returns its answer as a stream of
/// chunks.
///
/// `idle` bounds the wait for the response headers and for each piece of the body;
/// `max_bytes` caps the body. Errors never hold the API key.
pub async fn stream(
    client: &reqwest::Client,
    cfg: &ProviderConfig,
    req: &ChatRequest<'_>,
    idle: Duration,
    max_bytes: usize,
) -> Result<ChunkStream, ProviderError> {
    let opened = match cfg.kind {
        ProviderKind::Openai => stream_with::<Openai>(client, cfg, req, idle, max_bytes).await,
        ProviderKind::Anthropic => {
            stream_with::<Anthropic>(client, cfg, req, idle, max_bytes).await
        }
        ProviderKind::Gemini => stream_with::<Gemini>(client, cfg, req, idle, max_bytes).await,
    };
    let chunks = opened.map_err(|e| sanitize(e, &cfg.api_key))?;
    let key = cfg.api_key.clone();
    Ok(Box::pin(
        chunks.map(move |item| item.map_err(|e| sanitize(e, &key))),
    ))
}

/// [`stream`] for one format, before sanitizing.
async fn stream_with<F: Format>(
    client: &reqwest::Client,
    cfg: &ProviderConfig,
    req: &ChatRequest<'_>,
    idle: Duration,
    max_bytes: usize,
) -> Result<ChunkStream, ProviderError> {
    let built = F::request(cfg, req);
    let mut request = client
        .post(&built.url)
        .header(ACCEPT, "text/event-stream")
        .json(&built.body);
    for (name, value) in &built.headers {
        // The value is not quoted: it may be the key.
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| ProviderError::Transport(format!("invalid value for header {name}")))?;
        // Keeps the key out of reqwest's Debug output and out of HTTP/2 header tables.
        value.set_sensitive(true);
        request = request.header(*name, value);
    }
    let response = match tokio::time::timeout(idle, request.send()).await {
        Err(_) => return Err(ProviderError::Timeout(seconds(idle))),
        Ok(Err(e)) => return Err(transport(e)),
        Ok(Ok(response)) => response,
    };
    if !response.status().is_success() {
        return Err(refusal(response, idle).await);
    }
    let events = Box::pin(body(response, idle, max_bytes)).eventsource();
    Ok(Box::pin(decode(events, F::decoder())))
}

/// Maps a non-2xx response to its error, reading at most [`ERROR_BODY_LIMIT`] bytes of
/// the body for the provider's message.
async fn refusal(mut response: reqwest::Response, idle: Duration) -> ProviderError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(piece))) => {
                let room = ERROR_BODY_LIMIT - body.len();
                body.extend_from_slice(piece.get(..room).unwrap_or(&piece));
            }
            // The end, a broken body or a stall: the status alone still says enough.
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    let mut message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| error_message(&v))
        .unwrap_or_else(|| text.trim().to_owned());
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("no message").to_owned();
    }
    match status.as_u16() {
        status @ (401 | 403) => ProviderError::Unauthorized { status, message },
        429 => ProviderError::RateLimited {
            retry_after,
            message,
        },
        status => ProviderError::Upstream { status, message },
    }
}

/// The response body with an idle timeout between pieces and a running size cap; it ends
/// after its first error.
fn body(
    response: reqwest::Response,
    idle: Duration,
    max_bytes: usize,
) -> impl Stream<Item = Result<Bytes, ProviderError>> + Send {
    let start = (response.bytes_stream().boxed(), 0_usize, false);
    futures_util::stream::unfold(start, move |(mut bytes, seen, failed)| async move {
        if failed {
            return None;
        }
        let (item, seen) = match tokio::time::timeout(idle, bytes.next()).await {
            Err(_) => (Err(ProviderError::Timeout(seconds(idle))), seen),
            Ok(None) => return None,
            Ok(Some(Err(e))) => (Err(transport(e)), seen),
            Ok(Some(Ok(piece))) => {
                let seen = seen.saturating_add(piece.len());
                if seen > max_bytes {
                    (Err(ProviderError::TooLarge(max_bytes)), seen)
                } else {
                    (Ok(piece), seen)
                }
            }
        };
        let failed = item.is_err();
        Some((item, (bytes, seen, failed)))
    })
}

/// The decoder's state while it runs over the events.
struct Decoding<S, D> {
    events: S,
    decoder: D,
    pending: VecDeque<Chunk>,
    ended: bool,
}

/// Runs `decoder` over `events`: each event's chunks in order, then `finish()`'s at the
/// end of the body; nothing after the first error.
fn decode<S, D>(events: S, decoder: D) -> impl Stream<Item = Result<Chunk, ProviderError>> + Send
where
    S: Stream<Item = Result<Event, EventStreamError<ProviderError>>> + Unpin + Send,
    D: Decode + Send,
{
    let start = Decoding {
        events,
        decoder,
        pending: VecDeque::new(),
        ended: false,
    };
    futures_util::stream::unfold(start, |mut st| async move {
        loop {
            if let Some(chunk) = st.pending.pop_front() {
                return Some((Ok(chunk), st));
            }
            if st.ended {
                return None;
            }
            let step = match st.events.next().await {
                Some(Ok(event)) => st.decoder.event(&event.event, &event.data),
                Some(Err(e)) => Err(from_event_stream(e)),
                None => {
                    st.ended = true;
                    st.decoder.finish()
                }
            };
            match step {
                Ok(chunks) => st.pending.extend(chunks),
                Err(e) => {
                    st.ended = true;
                    return Some((Err(e), st));
                }
            }
        }
    })
}

/// Maps an event-stream error; the parser's error is not quoted, as it holds the rest of
/// the buffer.
fn from_event_stream(e: EventStreamError<ProviderError>) -> ProviderError {
    match e {
        EventStreamError::Transport(e) => e,
        EventStreamError::Utf8(_) => ProviderError::Malformed("the stream is not UTF-8".into()),
        EventStreamError::Parser(e) => {
            ProviderError::Malformed(format!("not a Server-Sent Events stream ({:?})", e.code))
        }
    }
}

/// A reqwest failure as `Transport`, with its causes ("connection refused") and without
/// its URL.
fn transport(e: reqwest::Error) -> ProviderError {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    ProviderError::Transport(message)
}

/// Whole seconds of `d`, rounded up so a sub-second timeout does not read "0 s".
fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Replaces the key in every message of `e`, then cuts the message to [`MESSAGE_LIMIT`]
/// characters (in that order, so a cut cannot leave part of the key unredacted).
fn sanitize(e: ProviderError, key: &str) -> ProviderError {
    let key = key.trim();
    let clean = |message: String| {
        let message = if key.len() >= MIN_REDACTED_KEY {
            message.replace(key, "[REDACTED]")
        } else {
            message
        };
        cut(&message, MESSAGE_LIMIT)
    };
    match e {
        ProviderError::Unauthorized { status, message } => ProviderError::Unauthorized {
            status,
            message: clean(message),
        },
        ProviderError::RateLimited {
            retry_after,
            message,
        } => ProviderError::RateLimited {
            retry_after,
            message: clean(message),
        },
        ProviderError::Upstream { status, message } => ProviderError::Upstream {
            status,
            message: clean(message),
        },
        ProviderError::Malformed(message) => ProviderError::Malformed(clean(message)),
        ProviderError::Transport(message) => ProviderError::Transport(clean(message)),
        e @ (ProviderError::Timeout(_) | ProviderError::TooLarge(_)) => e,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::json::parse_arguments;
    use super::super::{ProviderConfig, ProviderKind, Turn};
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const KEY: &str = "sk-test-0123456789abcdef";

    /// Serves one connection: reads the request head, then writes `head` and each of
    /// `body_pieces`, pausing `pause` between them, then holds the socket for `linger`.
    async fn serve(
        head: String,
        body_pieces: Vec<Vec<u8>>,
        pause: Duration,
        linger: Duration,
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0_u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                request.extend_from_slice(&buf[..n]);
            }
            socket.write_all(head.as_bytes()).await.unwrap();
            for piece in body_pieces {
                tokio::time::sleep(pause).await;
                if socket.write_all(&piece).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(linger).await;
        });
        format!("http://{addr}")
    }

    fn config(base_url: String) -> ProviderConfig {
        ProviderConfig {
            kind: ProviderKind::Openai,
            base_url,
            model: "gpt-test".into(),
            api_key: KEY.into(),
        }
    }

    async fn open(
        base_url: String,
        idle: Duration,
        max_bytes: usize,
    ) -> Result<ChunkStream, ProviderError> {
        let turns = [Turn::User("hi".into())];
        let req = ChatRequest {
            system: "be brief",
            turns: &turns,
            tools: &[],
            max_tokens: 100,
            allow_calls: true,
        };
        stream(
            &reqwest::Client::new(),
            &config(base_url),
            &req,
            idle,
            max_bytes,
        )
        .await
    }

    async fn collect(mut chunks: ChunkStream) -> Vec<Result<Chunk, ProviderError>> {
        let mut out = Vec::new();
        while let Some(item) = chunks.next().await {
            out.push(item);
        }
        out
    }

    fn sse_head() -> String {
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n".into()
    }

    #[tokio::test]
    async fn streams_an_answer() {
        let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n\
data: [DONE]\n\n";
        let url = serve(
            sse_head(),
            vec![body.to_vec()],
            Duration::ZERO,
            Duration::ZERO,
        )
        .await;
        let chunks = open(url, Duration::from_secs(5), 1 << 20).await.unwrap();
        assert_eq!(
            collect(chunks).await,
            vec![Ok(Chunk::Text("Hel".into())), Ok(Chunk::Text("lo".into()))]
        );
    }

    #[tokio::test]
    async fn rate_limited_with_retry_after() {
        let body = r#"{"error":{"message":"Rate limit reached for requests","type":"requests"}}"#;
        let head = format!(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let url = serve(head, vec![], Duration::ZERO, Duration::ZERO).await;
        let err = open(url, Duration::from_secs(5), 1 << 20)
            .await
            .err()
            .unwrap();
        assert_eq!(
            err,
            ProviderError::RateLimited {
                retry_after: Some(7),
                message: "Rate limit reached for requests".into()
            }
        );
    }

    #[tokio::test]
    async fn unauthorized_redacts_the_echoed_key() {
        let body =
            format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}. Check it."}}}}"#);
        let head = format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let url = serve(head, vec![], Duration::ZERO, Duration::ZERO).await;
        let err = open(url, Duration::from_secs(5), 1 << 20)
            .await
            .err()
            .unwrap();
        assert_eq!(
            err,
            ProviderError::Unauthorized {
                status: 401,
                message: "Incorrect API key provided: [REDACTED]. Check it.".into()
            }
        );
        assert!(!err.to_string().contains(KEY));
    }

    #[tokio::test]
    async fn refusal_with_a_text_body_is_cut() {
        let body = format!("<html>{}{KEY}</html>", "x".repeat(1000));
        let head = format!(
            "HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let url = serve(head, vec![], Duration::ZERO, Duration::ZERO).await;
        let err = open(url, Duration::from_secs(5), 1 << 20)
            .await
            .err()
            .unwrap();
        let ProviderError::Upstream { status, message } = err else {
            panic!("{err:?}")
        };
        assert_eq!(status, 502);
        assert_eq!(message.chars().count(), MESSAGE_LIMIT);
        assert!(message.starts_with("<html>xxx") && message.ends_with('…'));
    }

    #[tokio::test]
    async fn stalled_stream_times_out() {
        let first =
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n".to_vec();
        let url = serve(
            sse_head(),
            vec![first],
            Duration::ZERO,
            Duration::from_secs(5),
        )
        .await;
        let chunks = open(url, Duration::from_millis(300), 1 << 20)
            .await
            .unwrap();
        assert_eq!(
            collect(chunks).await,
            vec![Ok(Chunk::Text("Hi".into())), Err(ProviderError::Timeout(1))]
        );
    }

    #[tokio::test]
    async fn headers_that_never_come_time_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let err = open(url, Duration::from_millis(200), 1 << 20)
            .await
            .err()
            .unwrap();
        assert_eq!(err, ProviderError::Timeout(1));
        drop(listener);
    }

    #[tokio::test]
    async fn oversized_stream_is_cut() {
        let piece = format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
            "a".repeat(400)
        );
        let pieces = vec![piece.clone().into_bytes(); 10];
        let url = serve(sse_head(), pieces, Duration::from_millis(5), Duration::ZERO).await;
        let chunks = open(url, Duration::from_secs(5), 1000).await.unwrap();
        let items = collect(chunks).await;
        assert_eq!(items.last(), Some(&Err(ProviderError::TooLarge(1000))));
        assert!(items.len() <= 3, "{} items", items.len());
        assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn connection_refused_is_transport() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let err = open(url, Duration::from_secs(5), 1 << 20)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    }

    #[test]
    fn the_call_can_be_spawned() {
        fn is_send<T: Send>(_: &T) {}
        let turns = [Turn::User("hi".into())];
        let req = ChatRequest {
            system: "",
            turns: &turns,
            tools: &[],
            max_tokens: 1,
            allow_calls: true,
        };
        let client = reqwest::Client::new();
        let cfg = config(String::new());
        is_send(&stream(&client, &cfg, &req, Duration::ZERO, 0));
    }

    #[test]
    fn sanitize_redacts_before_cutting() {
        let message = format!("{}{KEY}", "x".repeat(295));
        let ProviderError::Upstream { message, .. } = sanitize(
            ProviderError::Upstream {
                status: 500,
                message,
            },
            KEY,
        ) else {
            panic!()
        };
        assert!(!message.contains("sk-test"));
        assert!(message.starts_with("xxxx") && message.chars().count() == MESSAGE_LIMIT);
        // A short key is no secret and would mangle words.
        let short = sanitize(ProviderError::Malformed("the key".into()), "key");
        assert_eq!(short, ProviderError::Malformed("the key".into()));
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(parse_arguments("null"), json!({}));
        assert_eq!(parse_arguments(r#"{"a":1}"#), json!({"a":1}));
        assert_eq!(parse_arguments("[1]"), json!({"_invalid_arguments": "[1]"}));
        let long = format!("{{\"a\":\"{}", "b".repeat(2000));
        let v = parse_arguments(&long);
        assert_eq!(
            v["_invalid_arguments"].as_str().unwrap().chars().count(),
            1000
        );
    }
}
